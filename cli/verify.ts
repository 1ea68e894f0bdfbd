import { mkdir, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import {
  checkoutStateNames,
  ensureBuildImage,
  gitVersion,
  KreproError,
  openEngine,
  provenanceStatement,
  proxyEnv,
  redact,
  repositoryUri,
  transferImage,
  VARIATIONS,
  variationNamed,
  verifyRelease,
  verifyHtml,
  verifyReport,
  verifyText,
  type VerifyEngine,
} from '../lib/index.js';
import { packageRoot, proxiesFrom } from './build-options.js';
import { type CommandIO, EXIT, sourceDateEpochFor } from './io.js';

export const VERIFY_HELP = `Usage: krepro verify [options]

Proves the release of HEAD is reproducible, or shows why not. Builds the commit twice, each from a clean copy
of the sources in a fresh build container with its own fresh volume (no shared cache): a control build under
fixed, recorded conditions and an experiment build with the chosen variations applied. Each build runs the
release command, is staged and packed with krepro's archive core, and every tarball and binary is compared by
SHA-256/SHA-512. When they differ, the variations are bisected to find the cause, which is confirmed with its
own build and reported with a fix.

Variations (default: all):
${VARIATIONS.map((v) => `  ${v.name.padEnd(11)} ${v.description}`).join('\n')}

Options:
  --vary a,b         apply only these variations
  --no-vary a,b      apply all but these
  --command CMD      release command run in the build container (default: make cross)
  --check-noise      a third build under control conditions, to tell nondeterminism from variation effects
  --no-attribution   do not run extra builds to find the cause
  --engine URL       engine for the control build; given twice, the second runs the experiment build
                     (independent rebuild, with the same build image copied over by ID). Default:
                     DOCKER_HOST etc. Builds run without network: a verified build must be hermetic.
  --base-image IMG   base of the build image (default krepro-base:trixie)
  --json             print the report as JSON (schema ${'https://krepro.dev/schemas/verify-report/v1'})
  --html FILE        also write a self-contained HTML report
  -h, --help         show this help

Outputs in _output/verify/: each build's tarballs, binaries and log, and next to the control build's tarballs
krepro-provenance.intoto.json, an unsigned in-toto Statement v1 with a SLSA provenance v1 predicate.
Exit status: 0 reproducible, 1 not reproducible, 2 error, 130 interrupted.
`;

export async function verifyCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      vary: { type: 'string' },
      'no-vary': { type: 'string' },
      command: { type: 'string' },
      'check-noise': { type: 'boolean' },
      'no-attribution': { type: 'boolean' },
      engine: { type: 'string', multiple: true },
      'base-image': { type: 'string' },
      json: { type: 'boolean' },
      html: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    io.stdout.write(VERIFY_HELP);
    return EXIT.ok;
  }
  const list = (s: string | undefined) => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : []);
  let variations;
  try {
    const excluded = new Set(list(values['no-vary']).map((n) => variationNamed(n).name));
    variations = (values.vary ? list(values.vary).map(variationNamed) : [...VARIATIONS]).filter((v) => !excluded.has(v.name));
  } catch (err) {
    throw new KreproError('E_USAGE', (err as Error).message);
  }
  const engineUrls = values.engine ?? [];
  if (engineUrls.length > 2) throw new KreproError('E_USAGE', '--engine may be given at most twice (control, experiment)');
  const checkoutRoot = io.cwd;
  const sde = await sourceDateEpochFor(io, { repoDir: checkoutRoot });
  const version = io.env.KUBE_GIT_VERSION || (await gitVersion(checkoutRoot));
  const proxies = proxiesFrom(io.env);
  const dockerfileDir = path.join(packageRoot(), 'build-image');
  const baseImage = values['base-image'] ?? 'krepro-base:trixie';
  const { identity, names } = await checkoutStateNames(checkoutRoot, hostname(), dockerfileDir, baseImage);
  const log = (line: string) => io.stderr.write(`${redact(line, proxies)}\n`);
  const engines: VerifyEngine[] = [];
  for (const url of engineUrls.length ? engineUrls : [undefined]) {
    const engine = await openEngine({ env: io.env, ...(url ? { host: url } : {}), signal: io.signal });
    if (engines.length === 0) {
      const { imageId } = await ensureBuildImage(engine, {
        names,
        dockerfileDir,
        contextDir: path.join(identity.root, '_output', 'images', names.image.replace(/:/g, '_')),
        baseImage,
        proxies,
        onLog: log,
        signal: io.signal,
      });
      engines.push({ engine, image: names.image, imageId });
    } else {
      // The independent rebuild runs the very same build image (by ID), so only the build itself is compared.
      log(`copying ${names.image} to ${engine.endpoint}...`);
      const imageId = await transferImage(engines[0]!.engine, engine, names.image, { signal: io.signal });
      engines.push({ engine, image: names.image, imageId });
    }
  }
  const workDir = path.join(identity.root, '_output', 'verify');
  await rm(workDir, { recursive: true, force: true });
  await mkdir(workDir, { recursive: true });
  const started = Date.now();
  const env: Record<string, string> = {};
  for (const entry of proxyEnv(proxies)) {
    const i = entry.indexOf('=');
    env[entry.slice(0, i)] = entry.slice(i + 1);
  }
  const command = values.command ? ['sh', '-c', values.command] : ['make', 'cross'];
  const result = await verifyRelease({
    checkoutRoot: identity.root,
    engines: [engines[0]!, engines[1] ?? engines[0]!],
    variations,
    command,
    sourceDateEpoch: sde.seconds,
    version,
    env,
    checkoutHash: names.checkoutHash,
    labels: names.labels,
    checkNoise: values['check-noise'] ?? false,
    attribute: !values['no-attribution'],
    workDir,
    signal: io.signal,
    onProgress: (e) => {
      const t = ((Date.now() - started) / 1000).toFixed(0);
      if (e.type === 'build-start') log(`[${t}s] build ${e.label}${e.variations.length ? ` (varies ${e.variations.join(', ')})` : ''}...`);
      else if (e.type === 'build-done') log(`[${t}s] build ${e.label} done in ${(e.durationMs / 1000).toFixed(1)} s`);
      // Steps only on a terminal: piped logs stay one line per build.
      else if (io.stderr.isTTY) io.stderr.write(`[${t}s]   ${e.label}: ${e.step}\n`);
    },
  });
  const report = verifyReport(result);
  const tarsDir = path.join(result.control.dir, '_output', 'release-tars');
  const statement = provenanceStatement(result, {
    repositoryUri: await repositoryUri(identity.root),
    command,
    imageIds: [engines[0]!.imageId, (engines[1] ?? engines[0]!).imageId],
  });
  await writeFile(path.join(tarsDir, 'krepro-provenance.intoto.json'), `${JSON.stringify(statement, null, 2)}\n`);
  if (values.html) await writeFile(path.resolve(io.cwd, values.html), verifyHtml(report));
  io.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : verifyText(report));
  return result.reproducible ? EXIT.ok : EXIT.different;
}
