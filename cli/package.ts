import { parseArgs } from 'node:util';
import * as path from 'node:path';
import { ATTESTATION_FILE, BUNDLE_FILE, CURRENT_GZIP_FORMAT, GZIP_FORMATS, gitWorkTreeOf, hexDigest, packageRelease, quote } from '../lib/index.js';
import { type CommandIO, EXIT, sourceDateEpochFor, writePath } from './io.js';
import { GZIP_LEVELS, integerOption } from './number-option.js';
import { byteProgress } from './progress.js';
import { SIGN_KEY_HELP, SIGN_KEY_OPTION, signingKeyOption } from './sign-key.js';

export const PACKAGE_HELP = `Usage: krepro package [options]

Packs a staged release (_output/release-stage) into deterministic tarballs in _output/release-tars:
kubernetes.tar.gz, kubernetes-{client,server,node,test}-<os>-<arch>.tar.gz for each staged platform,
kubernetes-manifests.tar.gz and kubernetes-src.tar.gz (from the git tree) when present, the SBOMs,
SHA256SUMS, SHA512SUMS, per-file .sha256/.sha512 and krepro-manifest.json. For each server image staged
for several platforms (server/<os>-<arch>/kubernetes/server/bin/<binary>.tar beside <binary>.docker_tag),
also <binary>.oci.tar: an OCI image layout whose index.json names an image index of the per-platform manifests
(skopeo copy --all oci-archive:<binary>.oci.tar:<tag> …). The same stage gives the same bytes on any
machine and Node runtime. The output directory is replaced only when everything was written.

SBOMs (SPDX 2.3 JSON, listed in the sums, manifest and signed statement like the tarballs):
  kubernetes-source.spdx.json   the commit's tree and the Go modules its go.mod, vendor/modules.txt and
                                go.sum declare (versions, go.sum hashes, declared licences); not with
                                --no-source
  kubernetes-release.spdx.json  every tarball and .oci.tar, the image archives and binaries in them, each Go
                                binary's toolchain and modules from its build info (ELF, Mach-O, PE)
  Their namespace and time follow from the commit (or, with --no-source, the artifacts' digests) and
  SOURCE_DATE_EPOCH: the same inputs give the same bytes, and 'krepro diff' of two shows a changed module
  as its version.

Options:
  --stage DIR        staged release (default: _output/release-stage)
  --out DIR          output directory (default: _output/release-tars)
  --source DIR       git checkout for kubernetes-src.tar.gz (default: the current directory, if it has a
                     .git; then git must work there, and HEAD must be a commit; --no-source to skip)
  --no-source        write no kubernetes-src.tar.gz
  --level N          gzip level 1-9 (default: 6)
  --mtime T          member mtime: seconds since 1970 or an ISO 8601 date with zone. Default:
                     $SOURCE_DATE_EPOCH, else the commit time of HEAD in --source
  --clamp-mtime      keep members' own mtimes when older than the mtime above
  --allow-external-symlinks
                     keep symlinks that point outside their tarball's tree (refused by default)
  --encoder V        pinned gzip format, as krepro-manifest.json's encoder.version names it:
                     2 (default): gzip members of 1 MiB input each, libdeflate 1.23 in WebAssembly,
                       the same bytes and speed on every Node runtime
                     1: the format of releases made before format 2 (their manifests have no
                       encoder.version): Chromium zlib's deflate, computed by node:zlib where it
                       matches, else by pako 3.0.3. Use it to reproduce such a release byte for byte
${SIGN_KEY_HELP}  --json             print the result (files, sizes, SRI integrity) as JSON on stdout
  -h, --help         show this help

Exit status: 0 written, 2 usage or environment error (the message names the file or value), 130 interrupted.
`;

export async function packageCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      stage: { type: 'string' },
      out: { type: 'string' },
      source: { type: 'string' },
      'no-source': { type: 'boolean' },
      level: { type: 'string' },
      mtime: { type: 'string' },
      'clamp-mtime': { type: 'boolean' },
      'allow-external-symlinks': { type: 'boolean' },
      encoder: { type: 'string' },
      json: { type: 'boolean' },
      ...SIGN_KEY_OPTION,
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    io.stdout.write(PACKAGE_HELP);
    return EXIT.ok;
  }
  const level = integerOption('level', values.level, GZIP_LEVELS) ?? 6;
  const encoder = values.encoder === undefined ? CURRENT_GZIP_FORMAT : GZIP_FORMATS.find((f) => String(f) === values.encoder);
  if (encoder === undefined) {
    io.stderr.write(`krepro package: --encoder must be a gzip format version, ${GZIP_FORMATS.join(' or ')} (krepro-manifest.json's encoder.version; 1 where it has none), got ${quote(values.encoder)}\n`);
    return EXIT.usage;
  }
  const sourceRoot = values['no-source'] ? undefined : path.resolve(io.cwd, values.source ?? '.');
  // Whether the default source is a git checkout is the file system's answer: never git's, which may be missing.
  const withSource = sourceRoot !== undefined && (values.source !== undefined || (await gitWorkTreeOf(sourceRoot)) !== undefined);
  if (sourceRoot !== undefined && !withSource) io.stderr.write(`note: no kubernetes-src.tar.gz: ${sourceRoot} is not a git checkout (--source DIR names one; --no-source says you meant it)\n`);
  const signingKey = await signingKeyOption(values, io);
  const sde = await sourceDateEpochFor(io, { mtime: values.mtime, repoDir: sourceRoot });

  const result = await packageRelease({
    stage: path.resolve(io.cwd, values.stage ?? '_output/release-stage'),
    out: await writePath(io, values.out ?? '_output/release-tars'),
    sourceDateEpoch: sde.seconds,
    ...(withSource ? { sourceRoot } : {}),
    level,
    encoder,
    clampMtime: values['clamp-mtime'] ?? false,
    allowExternalSymlinks: values['allow-external-symlinks'] ?? false,
    signal: io.signal,
    onProgress: byteProgress(io.stderr),
    ...(signingKey ? { signingKey } : {}),
  });
  if (values.json) {
    const attestation = signingKey ? { attestation: { file: ATTESTATION_FILE, bundle: BUNDLE_FILE, keyid: signingKey.keyid, algorithm: signingKey.algorithm } } : {};
    io.stdout.write(`${JSON.stringify({ out: result.out, sourceDateEpoch: { ...sde }, manifest: result.manifest, files: result.files, ...attestation }, null, 2)}\n`);
  } else {
    for (const t of result.artifacts) io.stdout.write(`${hexDigest(t.integrity, 'sha256')}  ${displayPath(io.cwd, t.path)}\n`);
    io.stderr.write(`wrote ${result.files.length} files to ${result.out} (SOURCE_DATE_EPOCH=${sde.seconds} from ${sde.origin})\n`);
    if (signingKey) io.stderr.write(`signed ${ATTESTATION_FILE} and ${BUNDLE_FILE} with key ${signingKey.keyid} (${signingKey.algorithm})\n`);
  }
  return EXIT.ok;
}

/** Relative when under the working directory (short, copy-pasteable), absolute otherwise. */
function displayPath(cwd: string, p: string): string {
  const rel = path.relative(cwd, p);
  return rel.startsWith('..') || path.isAbsolute(rel) ? p : rel;
}
