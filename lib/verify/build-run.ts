import { createWriteStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { byteOrder } from '../byte-order.js';
import { OUTPUT_DIR, pathBeneath } from '../checkout/beneath.js';
import type { RunNames } from '../checkout/names.js';
import type { Engine } from '../engine/engine.js';
import { runContainer } from '../engine/run.js';
import { type Artifact, outputArtifacts } from '../integrity/artifact.js';
import { hexDigest } from '../integrity/hash-stream.js';
import type { Project } from '../project/project.js';
import { imageBaseFrom } from '../image/server-images.js';
import { releaseFromBinaries } from '../release/from-binaries.js';
import { copyOutput } from '../sync/copy-output.js';
import { syncSources } from '../sync/source-sync.js';
import type { BuildConditions, Probes } from './conditions.js';
import { conditionsEnvironment, ProbeReader, wrappedCommand } from './wrapper.js';

/** An artifact of a verify build: `<output path>/<file>` (e.g. `_output/dockerized/bin/linux/amd64/kubectl`), or `release-tars/<name>`. */
export type VerifyArtifact = Artifact;

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
  /** what the effect probes saw in this build's container */
  probes: Probes;
  artifacts: VerifyArtifact[];
  /** where this run's outputs and log are kept */
  dir: string;
  log: string;
}

export interface BuildRunOptions {
  engine: Engine;
  image: string;
  /** clean copy of the sources (a git worktree of the commit) */
  sourceDir: string;
  project: Project;
  /** the project's build environment (buildEnvironment: what release uses), the same for every build */
  env: Readonly<Record<string, string>>;
  sourceDateEpoch: number;
  version: string;
  /** seccomp profile (JSON) that lets the control build switch address-space randomization off */
  seccomp?: string;
  /** names and labels of this verify run's objects */
  run: RunNames;
  workDir: string;
  onStep?: (step: 'sync' | 'build' | 'copy-output' | 'package') => void;
  signal?: AbortSignal;
}

const LOG_TAIL = 30;

/** The last lines of a build log, for reports. */
export async function logTail(log: string): Promise<string[]> {
  return (await readFile(log, 'utf8').catch(() => '')).trimEnd().split('\n').slice(-LOG_TAIL);
}

/**
 * One build of verify, isolated from every other: a fresh in-memory volume (so readdir order follows the creation
 * order the conditions ask for) kept mounted by a keeper container, the sources synced into it, the command run
 * in a fresh container under `conditions`, the outputs copied out, packed into release tarballs when the project is
 * Kubernetes-shaped, and every artifact hashed. Every object is named for this run and removed afterwards. A
 * failing command is a result (exitCode ≠ 0, no artifacts), not an exception.
 */
export async function runVerifyBuild(id: string, label: string, conditions: BuildConditions, variations: string[], opts: BuildRunOptions): Promise<BuildRun> {
  const started = Date.now();
  const dir = path.join(opts.workDir, id);
  await mkdir(dir, { recursive: true });
  const { engine, run } = opts;
  const volume = run.name(`verify-${id}`);
  const labels = run.labels;
  const signal = opts.signal ? { signal: opts.signal } : {};
  const mount = { type: 'volume' as const, source: volume, target: conditions.buildPath };
  const log = path.join(dir, 'build.log');
  await engine.volumes.create(volume, labels, { memory: { uid: conditions.uid, gid: conditions.gid }, ...signal });
  const keeper = await engine.containers
    .create({ image: opts.image, cmd: ['sleep', 'infinity'], name: run.name(`verify-${id}-keeper`), labels, network: 'none', mounts: [mount] }, signal)
    .catch(async (err: unknown) => {
      await engine.volumes.remove(volume).catch(() => {});
      throw err;
    });
  try {
    await keeper.start(signal);
    const access = { volume, image: opts.image, containerDir: conditions.buildPath, labels, ...signal };
    opts.onStep?.('sync');
    await syncSources(engine, { ...access, checkoutRoot: opts.sourceDir, owner: { uid: conditions.uid, gid: conditions.gid }, creationOrder: conditions.fileOrder, oneShot: true, via: keeper });
    opts.onStep?.('build');
    const out = createWriteStream(log);
    const probes = new ProbeReader(out);
    const commandStarted = Date.now();
    const env = conditionsEnvironment(conditions, opts.env);
    const exitCode = await runContainer(
      engine,
      {
        image: opts.image,
        name: run.name(`verify-${id}-build`),
        cmd: wrappedCommand(conditions, opts.project.command),
        env: Object.keys(env)
          .sort(byteOrder)
          .map((k) => `${k}=${env[k]}`),
        user: `${conditions.uid}:${conditions.gid}`,
        workingDir: conditions.buildPath,
        hostname: conditions.hostname,
        domainname: conditions.domainname,
        cpuset: conditions.cpuset,
        labels,
        mounts: [mount],
        ...(opts.seccomp ? { seccomp: opts.seccomp } : {}),
        // Hermetic: a build that needs the network cannot be verified, and an engine without a bridge can run it.
        network: 'none',
      },
      { stdout: probes, stderr: out, ...signal },
    );
    const commandMs = Date.now() - commandStarted;
    await new Promise<void>((resolve) => probes.end(resolve));
    await new Promise<void>((resolve) => out.end(resolve));
    const result = { id, label, conditions, variations, engine: engine.endpoint, exitCode, commandMs, probes: probes.probes, dir, log };
    if (exitCode !== 0) return { ...result, durationMs: Date.now() - started, artifacts: [] };
    opts.onStep?.('copy-output');
    await copyOutput(engine, { ...access, checkoutRoot: dir, paths: opts.project.outputs, skipMissing: true, via: keeper });
    const artifacts: VerifyArtifact[] = [];
    if (opts.project.release) {
      opts.onStep?.('package');
      const images = opts.project.images;
      const packed = await releaseFromBinaries({
        outputDir: await pathBeneath(dir, OUTPUT_DIR),
        sourceRoot: opts.sourceDir,
        version: opts.version,
        sourceDateEpoch: opts.sourceDateEpoch,
        images: images !== false,
        ...(images && images.binaries ? { imageBinaries: images.binaries } : {}),
        ...(images && images.registry ? { imageRegistry: images.registry } : {}),
        ...(images && images.base ? { imageBase: imageBaseFrom(images.base, opts.sourceDir) } : {}),
        ...signal,
      });
      artifacts.push(...packed.artifacts.map((t) => ({ name: `release-tars/${t.name}`, path: t.path, size: t.size, integrity: t.integrity })));
    }
    artifacts.push(...(await outputArtifacts(dir, opts.project.outputs, opts.signal)));
    return { ...result, durationMs: Date.now() - started, artifacts: artifacts.sort((a, b) => byteOrder(a.name, b.name)) };
  } finally {
    await keeper.remove().catch(() => {});
    await engine.volumes.remove(volume).catch(() => {});
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
