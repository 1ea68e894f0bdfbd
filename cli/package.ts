import * as path from 'node:path';
import { BUNDLE_FILE } from '../lib/api/attest.js';
import { CURRENT_GZIP_FORMAT, stagedTarballs } from '../lib/api/package.js';
import { ATTESTATION_FILE, packageRelease } from '../lib/index.js';
import { gitWorkTreeOf } from '../lib/source/git.js';
import { parseMtimeOption } from '../lib/source/source-date-epoch.js';
import { defineCommand, parseCommand, SIGNAL_EXITS } from './command.js';
import { showHelp } from './help.js';
import { type CommandIO, EXIT, originWords, sourceDateEpochFor, writePath } from './io.js';
import { encoderOption, GZIP_LEVELS, integerOption } from './number-option.js';
import { byteProgress } from './progress.js';
import { SIGN_KEY_OPTION, signingKeyOption } from './sign-key.js';
import { uiFor } from './ui.js';

export const PACKAGE = defineCommand({
  name: 'package',
  summary: 'pack _output/release-stage into deterministic release tarballs and checksums',
  usage: ['package [options]'],
  description: `Packs a staged release (_output/release-stage) into deterministic tarballs in _output/release-tars:
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
  as its version.`,
  options: {
    stage: { type: 'string', value: 'DIR', help: 'staged release (default: _output/release-stage)' },
    out: { type: 'string', value: 'DIR', help: 'output directory (default: _output/release-tars)' },
    source: { type: 'string', value: 'DIR', help: 'git checkout for kubernetes-src.tar.gz (default: the current directory, if it has a .git; then git must work there, and HEAD must be a commit; --no-source to skip)' },
    'no-source': { type: 'boolean', help: 'write no kubernetes-src.tar.gz' },
    level: { type: 'string', value: 'N', complete: ['1', '2', '3', '4', '5', '6', '7', '8', '9'], help: 'gzip level 1-9 (default: 6)' },
    mtime: { type: 'string', value: 'T', complete: 'none', help: 'member mtime: seconds since 1970 or an ISO 8601 date with zone. Default: $SOURCE_DATE_EPOCH, else the commit time of HEAD in --source' },
    'clamp-mtime': { type: 'boolean', help: "keep members' own mtimes when older than the mtime above" },
    'allow-external-symlinks': { type: 'boolean', help: "keep symlinks that point outside their tarball's tree (refused by default)" },
    encoder: {
      type: 'string',
      value: 'V',
      complete: ['2', '1'],
      help: `pinned gzip format, as krepro-manifest.json's encoder.version names it:
2 (default): gzip members of 1 MiB input each, libdeflate 1.23 in WebAssembly, the same bytes and speed on every Node runtime
1: the format of releases made before format 2 (their manifests have no encoder.version): Chromium zlib's deflate, computed by node:zlib where it matches, else by pako 3.0.3. Use it to reproduce such a release byte for byte`,
    },
    ...SIGN_KEY_OPTION,
    json: { type: 'boolean', help: 'print the result (files, sizes, SRI integrity) as JSON on stdout' },
  },
  examples: [
    { command: 'krepro package --mtime 2024-05-01T00:00:00Z --no-source', does: 'pack the stage with every member dated 1 May 2024, without a source tarball' },
    { command: 'krepro package --sign-key release.pem && krepro check --key release.pub _output/release-tars', does: 'pack and sign, then check the directory against its sums, manifest and signed statement' },
  ],
  exits: [
    [0, 'written'],
    [2, 'usage or environment error (the message names the file or value)'],
    ...SIGNAL_EXITS,
  ],
});

export async function packageCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommand(PACKAGE, argv);
  if (values.help) return showHelp(PACKAGE, io);
  const ui = uiFor(io, values);
  const level = integerOption('level', values.level, GZIP_LEVELS) ?? 6;
  const encoder = encoderOption(values.encoder) ?? CURRENT_GZIP_FORMAT;
  const sourceRoot = values['no-source'] ? undefined : path.resolve(io.cwd, values.source ?? '.');
  // Whether the default source is a git checkout is the file system's answer: never git's, which may be missing.
  const withSource = sourceRoot !== undefined && (values.source !== undefined || (await gitWorkTreeOf(sourceRoot)) !== undefined);
  // A mistyped --mtime is said first; then nothing to package, before SOURCE_DATE_EPOCH or a key is looked for.
  if (values.mtime !== undefined) parseMtimeOption(values.mtime);
  const stage = path.resolve(io.cwd, values.stage ?? '_output/release-stage');
  await stagedTarballs(stage, withSource);
  if (sourceRoot !== undefined && !withSource) ui.note(`note: no kubernetes-src.tar.gz: ${sourceRoot} is not a git checkout (--source DIR names one; --no-source says you meant it)`);
  const signingKey = await signingKeyOption(values, io);
  const sde = await sourceDateEpochFor(io, { mtime: values.mtime, repoDir: sourceRoot });

  const result = await packageRelease({
    stage,
    out: await writePath(io, values.out ?? '_output/release-tars'),
    sourceDateEpoch: sde.seconds,
    ...(withSource ? { sourceRoot } : {}),
    level,
    encoder,
    clampMtime: values['clamp-mtime'] ?? false,
    allowExternalSymlinks: values['allow-external-symlinks'] ?? false,
    signal: io.signal,
    onProgress: byteProgress(ui.progressStream),
    trace: ui.trace,
    ...(signingKey ? { signingKey } : {}),
  });
  if (values.json) {
    const attestation = signingKey ? { attestation: { file: ATTESTATION_FILE, bundle: BUNDLE_FILE, keyid: signingKey.keyid, algorithm: signingKey.algorithm } } : {};
    io.stdout.write(`${JSON.stringify({ out: result.out, sourceDateEpoch: { ...sde }, manifest: result.manifest, files: result.files, ...attestation }, null, 2)}\n`);
  } else {
    for (const t of result.artifacts) io.stdout.write(`${t.digests.sha256}  ${displayPath(io.cwd, t.path)}\n`);
    ui.note(`wrote ${result.files.length} files to ${result.out} (SOURCE_DATE_EPOCH=${sde.seconds} from ${originWords(sde)})`);
    if (signingKey) ui.note(`signed ${ATTESTATION_FILE} and ${BUNDLE_FILE} with key ${signingKey.keyid} (${signingKey.algorithm})`);
  }
  return EXIT.ok;
}

/** Relative when under the working directory (short, copy-pasteable), absolute otherwise. */
function displayPath(cwd: string, p: string): string {
  const rel = path.relative(cwd, p);
  return rel.startsWith('..') || path.isAbsolute(rel) ? p : rel;
}
