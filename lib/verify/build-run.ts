import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { byteOrder } from '../byte-order.js';
import { OUTPUT_DIR, pathBeneath } from '../checkout/beneath.js';
import type { RunScope } from '../checkout/names.js';
import type { Backend, BuildContainer, BuildPhase, HostFacts, PreparedEnvironment } from '../backend/backend.js';
import type { BuildConditions, Probes, Unapplied } from '../backend/conditions.js';
import type { Artifact } from '../integrity/artifact.js';
import type { ReleaseInputs } from '../project/inputs.js';
import { releaseArtifacts } from '../release/artifacts.js';
import { type ImageBaseFile, releaseFromBinaries } from '../release/from-binaries.js';

/** An artifact of a verify build: a release tarball by file name, an output file by checkout-relative path. */
export type VerifyArtifact = Artifact;

/** One build verify ran, and what it gave. */
export interface BuildRun {
  /** Unique within the verify: part of its objects' names and its directory. */
  id: string;
  /** What it is for people: `control`, `experiment`, `noise`, `only tz`… */
  label: string;
  /** The conditions it ran under. */
  conditions: BuildConditions;
  /** which variations this run applied (empty for control runs) */
  variations: string[];
  /** the backend it ran on */
  engine: string;
  /** facts about where it ran: never part of the conditions or a recipe */
  host: HostFacts;
  /** conditions the backend could not apply */
  unapplied: Unapplied[];
  /** The build command's exit code. */
  exitCode: number;
  /** The whole build, in milliseconds: sources in, the command, outputs out, packing. */
  durationMs: number;
  /** time spent in the build command itself; the rest of durationMs is sync, copy, staging and packing */
  commandMs: number;
  /** what the effect probes saw in this build's container */
  probes: Probes;
  /** Its artifacts: the release files and the output files. */
  artifacts: VerifyArtifact[];
  /** the server images' bases, by digest (for the recipe) */
  bases: ImageBaseFile[];
  /** where this run's outputs and log are kept */
  dir: string;
  /** Path of the build's log (`build.log` in `dir`), probes taken out. */
  log: string;
}

export interface VerifyBuildOptions {
  backend: Backend;
  environment: PreparedEnvironment;
  /** clean copy of the sources (a git worktree of the commit) */
  sources: { dir: string; commit: string };
  inputs: ReleaseInputs;
  /** names and labels of this verify run's objects */
  run: RunScope;
  workDir: string;
  onStep?: (step: BuildPhase | 'package') => void;
  /** builds of one group run on one machine of a pool (the control and noise builds) */
  group?: string;
  signal?: AbortSignal;
}

const LOG_TAIL = 30;

/** The last lines of a build log, for reports. */
export async function logTail(log: string): Promise<string[]> {
  return (await readFile(log, 'utf8').catch(() => '')).trimEnd().split('\n').slice(-LOG_TAIL);
}

/**
 * One build of verify: the backend runs it (hermetic, under `conditions`), then its binaries are packed into release
 * tarballs as release packs them when the project is Kubernetes-shaped, and every artifact is hashed. A failing
 * command is a result (exitCode ≠ 0, no artifacts), not an exception.
 */
export async function runVerifyBuild(id: string, label: string, conditions: BuildConditions, variations: string[], opts: VerifyBuildOptions): Promise<BuildRun> {
  const started = Date.now();
  const { inputs } = opts;
  const container: BuildContainer = { kind: 'controlled', conditions };
  const result = await opts.backend.build(
    {
      id,
      environment: opts.environment,
      sources: opts.sources,
      command: inputs.project.command,
      variables: inputs.variables,
      container,
      // Hermetic: a build that needs the network cannot be verified, and an engine without a bridge can run it.
      network: 'none',
      outputs: inputs.project.outputs,
      dir: path.join(opts.workDir, id),
      run: opts.run,
    },
    { ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.onStep ? { onProgress: opts.onStep } : {}), ...(opts.group ? { group: opts.group } : {}) },
  );
  const run = { id, label, conditions, variations, engine: result.host.backend, host: result.host, unapplied: result.unapplied, exitCode: result.exitCode, commandMs: result.commandMs, probes: result.probes, dir: result.dir, log: result.log };
  if (result.exitCode !== 0 || !inputs.project.release) return { ...run, artifacts: releaseArtifacts(undefined, result.outputs), bases: [], durationMs: Date.now() - started };
  opts.onStep?.('package');
  const packed = await releaseFromBinaries({
    outputDir: await pathBeneath(result.dir, OUTPUT_DIR),
    sourceRoot: opts.sources.dir,
    version: inputs.version,
    sourceDateEpoch: inputs.sourceDateEpoch,
    packaging: inputs.packaging,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  return { ...run, artifacts: releaseArtifacts(packed.packaged, result.outputs), bases: packed.bases, durationMs: Date.now() - started };
}

export interface ArtifactDifference {
  name: string;
  left?: VerifyArtifact;
  right?: VerifyArtifact;
}

/** Artifacts present on one side only, or with another digest. */
export function differingArtifacts(a: { artifacts: readonly VerifyArtifact[] }, b: { artifacts: readonly VerifyArtifact[] }): ArtifactDifference[] {
  const left = new Map(a.artifacts.map((x) => [x.name, x]));
  const right = new Map(b.artifacts.map((x) => [x.name, x]));
  const names = [...new Set([...left.keys(), ...right.keys()])].sort(byteOrder);
  return names
    .filter((n) => {
      const l = left.get(n);
      const r = right.get(n);
      return !l || !r || l.digests.sha256 !== r.digests.sha256;
    })
    .map((n) => ({ name: n, ...(left.has(n) ? { left: left.get(n)! } : {}), ...(right.has(n) ? { right: right.get(n)! } : {}) }));
}
