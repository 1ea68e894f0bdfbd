import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { byteOrder } from '../byte-order.js';
import type { RunNames } from '../checkout/names.js';
import type { Engine } from '../engine/engine.js';
import { runContainer } from '../engine/run.js';
import { KreproError } from '../errors.js';
import { HashStream, hexDigest, type Integrity } from '../integrity/hash-stream.js';
import { releaseFromBinaries } from '../release/from-binaries.js';
import { copyOutput } from '../sync/copy-output.js';
import { syncSources } from '../sync/source-sync.js';
import type { BuildConditions } from './conditions.js';

export interface VerifyArtifact {
  /** `release-tars/<name>` or `bin/<os>/<arch>/<name>` */
  name: string;
  /** where the file is on this machine */
  path: string;
  size: number;
  integrity: Integrity;
}

export interface BuildRun {
  id: string;
  label: string;
  conditions: BuildConditions;
  /** which variations this run applied (empty for control runs) */
  variations: string[];
  engine: string;
  exitCode: number;
  durationMs: number;
  /** time spent in the build command itself; the rest of durationMs is sync, copy, staging and packing */
  commandMs: number;
  artifacts: VerifyArtifact[];
  /** where this run's outputs and log are kept */
  dir: string;
}

export interface BuildRunOptions {
  engine: Engine;
  image: string;
  /** clean copy of the sources (a git worktree of the commit) */
  sourceDir: string;
  command: string[];
  sourceDateEpoch: number;
  version: string;
  /** extra environment (KUBE_*, GO* …) given to both builds alike */
  env: Record<string, string>;
  /** names and labels of this verify run's objects */
  run: RunNames;
  workDir: string;
  onStep?: (step: 'sync' | 'build' | 'copy-output' | 'package') => void;
  signal?: AbortSignal;
}

/**
 * Sets the conditions up inside the container, where they must be real for the build: umask, HOME, and
 * libfaketime (its library path depends on the architecture, hence the glob).
 */
const WRAPPER = [
  'umask "$KREPRO_UMASK"',
  'mkdir -p "$HOME"',
  'if [ -n "$KREPRO_FAKETIME" ]; then for f in /usr/lib/*/faketime/libfaketime.so.1; do [ -e "$f" ] && export LD_PRELOAD="$f" FAKETIME="$KREPRO_FAKETIME"; done; fi',
  'unset KREPRO_UMASK KREPRO_FAKETIME',
  'exec "$@"',
].join('; ');

function environment(c: BuildConditions, opts: BuildRunOptions): string[] {
  const env: Record<string, string> = {
    ...opts.env,
    SOURCE_DATE_EPOCH: String(opts.sourceDateEpoch),
    KUBE_GIT_VERSION: opts.version,
    TZ: c.tz,
    LANG: c.locale,
    LC_ALL: c.locale,
    HOME: c.home,
    KREPRO_UMASK: c.umask,
    KREPRO_FAKETIME: c.clockOffset,
    ...(c.extraEnv ? { [c.extraEnv[0]]: c.extraEnv[1] } : {}),
  };
  return Object.keys(env)
    .sort(byteOrder)
    .map((k) => `${k}=${env[k]}`);
}

async function hashFile(file: string): Promise<{ size: number; integrity: Integrity }> {
  const hash = new HashStream();
  await pipeline(createReadStream(file), hash, async (src: AsyncIterable<Buffer>) => {
    for await (const _ of src);
  });
  return hash.result();
}

async function listFiles(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(path.join(dir, rel), { withFileTypes: true }).catch(() => [])) {
    const r = rel ? `${rel}/${d.name}` : d.name;
    if (d.isDirectory()) out.push(...(await listFiles(dir, r)));
    else if (d.isFile()) out.push(r);
  }
  return out.sort(byteOrder);
}

/**
 * One build of verify: a fresh volume and container under `conditions`, the command, the binaries copied out,
 * staged and packed with krepro's archive core, every artifact hashed. The volume is always removed.
 */
export async function runVerifyBuild(id: string, label: string, conditions: BuildConditions, variations: string[], opts: BuildRunOptions): Promise<BuildRun> {
  const started = Date.now();
  const dir = path.join(opts.workDir, id);
  await mkdir(dir, { recursive: true });
  // Named for this verify run and this build: no other run, of this checkout or another, can share or delete it.
  const volume = opts.run.name(`verify-${id}`);
  const labels = opts.run.labels;
  const signal = opts.signal ? { signal: opts.signal } : {};
  await opts.engine.volumes.create(volume, labels, signal);
  try {
    const access = { volume, image: opts.image, containerDir: conditions.buildPath, labels, ...signal };
    opts.onStep?.('sync');
    await syncSources(opts.engine, { ...access, checkoutRoot: opts.sourceDir, owner: { uid: conditions.uid, gid: conditions.gid }, containerName: opts.run.name(`verify-${id}-sync`) });
    const log = createWriteStream(path.join(dir, 'build.log'));
    opts.onStep?.('build');
    const commandStarted = Date.now();
    const exitCode = await runContainer(
      opts.engine,
      {
        image: opts.image,
        name: opts.run.name(`verify-${id}-build`),
        cmd: ['sh', '-c', WRAPPER, 'krepro-build', ...opts.command],
        env: environment(conditions, opts),
        user: `${conditions.uid}:${conditions.gid}`,
        workingDir: conditions.buildPath,
        hostname: conditions.hostname,
        domainname: conditions.domainname,
        ...(conditions.cpuset !== undefined ? { cpuset: conditions.cpuset } : {}),
        labels,
        mounts: [{ type: 'volume', source: volume, target: conditions.buildPath }],
        // Hermetic: a build that needs the network cannot be verified, and an engine without a bridge can run it.
        network: 'none',
      },
      { stdout: log, stderr: log, ...signal },
    );
    const commandMs = Date.now() - commandStarted;
    await new Promise<void>((resolve) => log.end(resolve));
    if (exitCode !== 0) {
      throw new KreproError('E_BUILD_FAILED', `${label} build failed with exit code ${exitCode}; its log is ${path.join(dir, 'build.log')}`, { exitCode, path: path.join(dir, 'build.log') });
    }
    opts.onStep?.('copy-output');
    await copyOutput(opts.engine, { ...access, checkoutRoot: dir, paths: ['_output/dockerized/bin'], containerName: opts.run.name(`verify-${id}-copy`) });
    opts.onStep?.('package');
    const output = path.join(dir, '_output');
    const packed = await releaseFromBinaries({ outputDir: output, sourceRoot: opts.sourceDir, version: opts.version, sourceDateEpoch: opts.sourceDateEpoch, ...signal });
    const artifacts: VerifyArtifact[] = packed.tarballs.map((t) => ({ name: `release-tars/${t.name}`, path: t.path, size: t.size, integrity: t.integrity }));
    const binDir = path.join(output, 'dockerized', 'bin');
    for (const rel of await listFiles(binDir)) artifacts.push({ name: `bin/${rel}`, path: path.join(binDir, rel), ...(await hashFile(path.join(binDir, rel))) });
    return { id, label, conditions, variations, engine: opts.engine.endpoint, exitCode, durationMs: Date.now() - started, commandMs, artifacts, dir };
  } finally {
    await opts.engine.volumes.remove(volume).catch(() => {});
  }
}

export interface ArtifactDifference {
  name: string;
  left?: VerifyArtifact;
  right?: VerifyArtifact;
}

/** Artifacts present on one side only, or with another digest. */
export function differingArtifacts(a: BuildRun, b: BuildRun): ArtifactDifference[] {
  const left = new Map(a.artifacts.map((x) => [x.name, x]));
  const right = new Map(b.artifacts.map((x) => [x.name, x]));
  const names = [...new Set([...left.keys(), ...right.keys()])].sort(byteOrder);
  return names
    .filter((n) => {
      const l = left.get(n);
      const r = right.get(n);
      return !l || !r || hexDigest(l.integrity, 'sha256') !== hexDigest(r.integrity, 'sha256');
    })
    .map((n) => ({ name: n, ...(left.has(n) ? { left: left.get(n)! } : {}), ...(right.has(n) ? { right: right.get(n)! } : {}) }));
}
