import { mkdtemp, rm } from 'node:fs/promises';
import * as path from 'node:path';
import { simpleGit } from 'simple-git';
import { headCommit } from '../source/git.js';
import { byteOrder } from '../byte-order.js';
import { outputDirOf } from '../checkout/beneath.js';
import { type CheckoutLock, lockCheckout } from '../checkout/lock.js';
import { runNames } from '../checkout/names.js';
import { removeLeftovers } from '../checkout/state.js';
import { diff } from '../diff/compare.js';
import { allFindings } from '../diff/difference.js';
import type { Engine } from '../engine/engine.js';
import type { Project } from '../project/project.js';
import { type AttributionResult, attributeCauses, type Cause } from './attribution.js';
import { type BuildRun, type BuildRunOptions, differingArtifacts, logTail, runVerifyBuild } from './build-run.js';
import { applyVariations, type BuildConditions, controlConditions, type Variation, VARIATIONS } from './conditions.js';
import { quote } from '../quote.js';

export interface VerifyEngine {
  engine: Engine;
  /** the build image on this engine */
  image: string;
  imageId: string;
}

/** A setting of the build environment that changes how tools behave: listed in the report, never hidden. */
export interface EnvironmentSetting {
  name: string;
  value: string;
  /** where it comes from: the build image, the project file, the host, or krepro's normalizations */
  source: 'image' | 'project' | 'host' | 'normalization' | 'krepro';
  why: string;
  /** variations whose effect it may hide */
  masks?: string[];
}

export interface VerifyOptions {
  checkoutRoot: string;
  /** the commit to verify (its project file is the one `project` should come from); default HEAD */
  commit?: string;
  /** control build's engine, and the experiment's (the same one unless rebuilding independently) */
  engines: [VerifyEngine, VerifyEngine];
  variations: readonly Variation[];
  project: Project;
  /** the project's build environment, exactly as release uses it (buildEnvironment) */
  env: Readonly<Record<string, string>>;
  sourceDateEpoch: number;
  version: string;
  /** the settings of the build environment, for the report (image Env, normalizations) */
  settings?: readonly EnvironmentSetting[];
  /**
   * The engine's default seccomp profile with personality(ADDR_NO_RANDOMIZE) allowed (seccompWithPersonality):
   * without it the control build cannot switch randomization off, and `aslr` is not tested.
   */
  seccomp?: string;
  /** this checkout's hash and labels (checkoutStateNames): every object of the run carries them, plus a run id */
  checkoutHash: string;
  labels: Record<string, string>;
  /** a build under control conditions again, to tell nondeterminism from variation effects; on by default when builds differ */
  checkNoise?: boolean;
  /** find every cause (extra builds); default true */
  attribute?: boolean;
  /** where build outputs are kept; a temporary directory when absent */
  workDir?: string;
  /** the checkout lock, when the caller took it before preparing the engines; otherwise verify takes it */
  lock?: CheckoutLock;
  onProgress?: (e: VerifyProgress) => void;
  signal?: AbortSignal;
}

export type VerifyProgress =
  | { type: 'build-start'; id: string; label: string; variations: string[] }
  | { type: 'build-step'; id: string; label: string; step: 'sync' | 'build' | 'copy-output' | 'package' }
  | { type: 'build-done'; id: string; label: string; durationMs: number; exitCode: number };

/** Whether one variation took effect, as its probe saw it in the control and the experiment build. */
export interface VariationCheck {
  name: string;
  description: string;
  fix: string;
  tested: boolean;
  /** why it was not tested */
  reason?: string;
  probe: { control: string | null; experiment: string | null };
}

/** What `krepro diff` says about one cause of one artifact: control against the build that proves the cause. */
export interface Explanation {
  causes: { cause: string; title: string; fix: string; count: number }[];
  findings: { path: string; field: string; left: string | null; right: string | null; cause: string }[];
}

export interface ArtifactCause extends Cause {
  fix: string[];
  explanation: Explanation | null;
}

export interface BuildFailure {
  build: string;
  label: string;
  exitCode: number;
  log: string;
  logTail: string[];
}

export interface VerifyResult {
  schema: typeof VERIFY_SCHEMA;
  commit: string;
  sourceDateEpoch: number;
  status: 'reproducible' | 'not-reproducible' | 'build-failed';
  project: Project;
  settings: EnvironmentSetting[];
  variations: VariationCheck[];
  control: BuildRun;
  experiment?: BuildRun;
  noise?: BuildRun;
  /** every build, in the order run */
  builds: BuildRun[];
  differing: string[];
  causes: ArtifactCause[];
  attribution?: Omit<AttributionResult, 'causes'>;
  failure?: BuildFailure;
}

export const VERIFY_SCHEMA = 'https://krepro.dev/schemas/verify-report/v2';

/** At most this many findings per cause go into the report; the causes count them all. */
const FINDINGS_PER_CAUSE = 20;

class BuildFailed extends Error {
  constructor(readonly run: BuildRun) {
    super(`${run.label} failed with exit code ${run.exitCode}`);
  }
}

/**
 * Builds the commit twice from a clean copy, each in fresh containers and volumes named for this run: once under
 * fixed control conditions, once with every chosen variation applied. Proves each variation took effect (its probe
 * differs) or reports it as not tested; compares every artifact; and when they differ finds every cause of every
 * difference, each proven by a build and explained by `krepro diff` of that build against the control build.
 * Holds the checkout lock for the whole run.
 */
export async function verifyRelease(opts: VerifyOptions): Promise<VerifyResult> {
  const git = simpleGit({ baseDir: opts.checkoutRoot });
  const commit = opts.commit ?? (await headCommit(opts.checkoutRoot));
  const lock = opts.lock ?? (await lockCheckout(opts.checkoutRoot, 'verify'));
  const signal = opts.signal ? { signal: opts.signal } : {};
  const workDir = opts.workDir ?? (await mkdtemp(path.join(await outputDirOf(opts.checkoutRoot), 'verify-')));
  const sourceDir = path.join(workDir, 'source');
  let worktree = false;
  try {
    for (const e of new Set(opts.engines)) await removeLeftovers(e.engine, opts.checkoutHash, signal);
    // A clean copy of the commit: no untracked or modified files of the host checkout reach either build.
    await git.raw(['worktree', 'add', '--detach', '--force', sourceDir, commit]);
    worktree = true;
    const run = runNames(opts.checkoutHash, opts.labels);
    const cpus = (await opts.engines[0].engine.info(signal)).cpus;
    const control: BuildConditions = { ...controlConditions(cpus), ...(opts.seccomp ? {} : { aslr: true }) };
    const builds: BuildRun[] = [];
    const build = async (engine: VerifyEngine, label: string, variations: readonly Variation[]): Promise<BuildRun> => {
      const id = String(builds.length + 1);
      const names = variations.map((v) => v.name);
      opts.onProgress?.({ type: 'build-start', id, label, variations: names });
      const runOptions: BuildRunOptions = {
        engine: engine.engine,
        image: engine.image,
        sourceDir,
        project: opts.project,
        env: opts.env,
        sourceDateEpoch: opts.sourceDateEpoch,
        version: opts.version,
        ...(opts.seccomp ? { seccomp: opts.seccomp } : {}),
        run,
        workDir,
        onStep: (step) => opts.onProgress?.({ type: 'build-step', id, label, step }),
        ...signal,
      };
      const b = await runVerifyBuild(id, label, applyVariations(control, variations), names, runOptions);
      builds.push(b);
      opts.onProgress?.({ type: 'build-done', id, label, durationMs: b.durationMs, exitCode: b.exitCode });
      if (b.exitCode !== 0) throw new BuildFailed(b);
      return b;
    };
    const base = { schema: VERIFY_SCHEMA as typeof VERIFY_SCHEMA, commit, sourceDateEpoch: opts.sourceDateEpoch, project: opts.project, settings: [...(opts.settings ?? [])] };
    const [controlEngine, experimentEngine] = opts.engines;
    let controlRun: BuildRun | undefined;
    try {
      controlRun = await build(controlEngine, 'control', []);
      const experiment = await build(experimentEngine, 'experiment', opts.variations);
      const variations = checkVariations(opts.variations, controlRun, experiment, opts.seccomp !== undefined);
      const tested = opts.variations.filter((v) => variations.find((c) => c.name === v.name)?.tested);
      const differing = differingArtifacts(controlRun, experiment).map((d) => d.name);
      const noise = differing.length > 0 || opts.checkNoise ? await build(controlEngine, 'control again (noise check)', []) : undefined;
      const noisy = new Set(noise ? differingArtifacts(controlRun, noise).map((d) => d.name) : []);
      const byId = new Map(builds.map((b) => [b.id, b]));
      let attribution: AttributionResult | undefined;
      if (differing.length > 0 && opts.attribute !== false) {
        attribution = await attributeCauses(
          tested.map((v) => v.name),
          { id: experiment.id, differing: new Set(differing) },
          noise ? { id: noise.id, control: controlRun.id, noisy } : undefined,
          async (names, purpose) => {
            const b = await build(controlEngine, purpose, names.map((n) => tested.find((v) => v.name === n)!));
            byId.set(b.id, b);
            return { id: b.id, differing: new Set(differingArtifacts(controlRun!, b).map((d) => d.name)) };
          },
        );
      }
      const causes = await explainCauses(attribution?.causes ?? [], controlRun, byId, opts.variations, opts.signal);
      return {
        ...base,
        status: differing.length === 0 ? 'reproducible' : 'not-reproducible',
        variations,
        control: controlRun,
        experiment,
        ...(noise ? { noise } : {}),
        builds,
        differing,
        causes,
        ...(attribution ? { attribution: { ...(attribution.cleared ? { cleared: attribution.cleared } : {}), unexplained: attribution.unexplained, builds: attribution.builds } } : {}),
      };
    } catch (err) {
      if (!(err instanceof BuildFailed)) throw err;
      const failed = err.run;
      return {
        ...base,
        status: 'build-failed',
        variations: [],
        control: controlRun ?? failed,
        builds,
        differing: [],
        causes: [],
        failure: { build: failed.id, label: failed.label, exitCode: failed.exitCode, log: failed.log, logTail: await logTail(failed.log) },
      };
    }
  } finally {
    if (worktree) await git.raw(['worktree', 'remove', '--force', sourceDir]).catch(() => {});
    if (opts.workDir === undefined) await rm(workDir, { recursive: true, force: true }).catch(() => {});
    if (!opts.lock) await lock.release();
  }
}

/** Each chosen variation, tested or not: its probe must differ between control and experiment. */
function checkVariations(chosen: readonly Variation[], control: BuildRun, experiment: BuildRun, canDisableAslr: boolean): VariationCheck[] {
  return VARIATIONS.filter((v) => chosen.includes(v)).map((v) => {
    const probe = { control: control.probes[v.name] ?? null, experiment: experiment.probes[v.name] ?? null };
    const common = { name: v.name, description: v.description, fix: v.fix, probe };
    if (v.name === 'aslr' && !canDisableAslr) {
      return { ...common, tested: false, reason: 'the control build cannot switch address-space randomization off: no seccomp profile allowing personality(ADDR_NO_RANDOMIZE) was given (--seccomp-profile)' };
    }
    if (v.tookEffect(probe.control ?? undefined, probe.experiment ?? undefined)) return { ...common, tested: true };
    const reason =
      probe.control === null || probe.experiment === null
        ? 'its effect probe did not run in the build container'
        : `it did not take effect in this build environment: the probe saw ${quote(probe.control)} in both builds${v.name === 'file-order' ? ' (no directory of the sources has two entries?)' : ''}`;
    return { ...common, tested: false, reason };
  });
}

/** Each cause with its fix, and krepro diff of the control artifact against the one in the build that proves it. */
async function explainCauses(causes: Cause[], control: BuildRun, builds: ReadonlyMap<string, BuildRun>, variations: readonly Variation[], signal?: AbortSignal): Promise<ArtifactCause[]> {
  const out: ArtifactCause[] = [];
  for (const cause of causes) {
    const fix = cause.kind === 'nondeterminism' ? ['pure nondeterminism (differs under identical conditions): look for map iteration, races, random or time-based values'] : cause.variations.map((n) => variations.find((v) => v.name === n)?.fix ?? n);
    const proof = builds.get(cause.evidence[cause.evidence.length - 1] ?? '');
    const left = control.artifacts.find((a) => a.name === cause.artifact);
    const right = proof?.artifacts.find((a) => a.name === cause.artifact);
    let explanation: Explanation | null = null;
    if (left && right) {
      const report = await diff(left.path, right.path, { anyFile: true, ...(signal ? { signal } : {}) });
      explanation = {
        causes: report.summary.causes.map((c) => ({ cause: c.cause, title: report.causes[c.cause]?.title ?? c.cause, fix: report.causes[c.cause]?.fix ?? '', count: c.count })),
        findings: allFindings(report.tree)
          .slice(0, FINDINGS_PER_CAUSE)
          .map((f) => ({ path: f.path.join(' → '), field: f.field, left: f.left, right: f.right, cause: f.cause })),
      };
    }
    out.push({ ...cause, fix, explanation });
  }
  return out.sort((a, b) => byteOrder(a.artifact, b.artifact));
}

export type { BuildConditions };
