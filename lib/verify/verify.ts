import { mkdir, rm } from 'node:fs/promises';
import * as path from 'node:path';
import type { SigningKey } from '../attest/keys.js';
import type { Backend, BuildPhase, PreparedEnvironment } from '../backend/backend.js';
import { byteOrder } from '../byte-order.js';
import { OUTPUT_DIR, pathBeneath } from '../checkout/beneath.js';
import { checkoutStateNames } from '../checkout/identity.js';
import { type CheckoutClaim, claimCheckout } from '../checkout/claim.js';
import { newRun, type RunScope } from '../checkout/names.js';
import { diff } from '../diff/compare.js';
import { allFindings } from '../diff/difference.js';
import { type EnvironmentSource, sourceVersion } from '../environment/source.js';
import { KreproError } from '../errors.js';
import { runPipeline, type Step, type StepEvent, type StepRecord } from '../pipeline/pipeline.js';
import type { Project } from '../project/project.js';
import type { ReleaseInputs } from '../project/inputs.js';
import { makeRecipe, recipeStatement } from '../provenance/recipe.js';
import { recipeSource } from '../provenance/source.js';
import { writeProvenance } from '../release/run-release.js';
import { headCommit, runGit } from '../source/git.js';
import { quote } from '../quote.js';
import { type AttributionResult, attributeCauses, type Cause } from './attribution.js';
import { type BuildRun, differingArtifacts, logTail, runVerifyBuild } from './build-run.js';
import { applyVariations, type BuildConditions, controlConditions, type Variation, VARIATIONS } from './conditions.js';
import { type EnvironmentSetting, verifySettings } from './settings.js';

export interface VerifyOptions {
  checkoutRoot: string;
  /** the commit to verify (its project file is the one `inputs.project` should come from); default HEAD */
  commit?: string;
  /** this machine's hostname (a checkout's state names include it) */
  hostname: string;
  /** where the control build runs, and the experiment (another backend for an independent rebuild); every other build runs on the control's */
  backends: { control: Backend; experiment: Backend };
  /** the environment every build runs in: made on each backend from the lock, or a Dockerfile image copied by ID */
  environment: EnvironmentSource;
  variations: readonly Variation[];
  /** what to build and how to pack it: exactly what release uses (releaseInputs) */
  inputs: ReleaseInputs;
  /** a build under control conditions again, to tell nondeterminism from variation effects; on by default when builds differ */
  checkNoise?: boolean;
  /** find every cause (extra builds); default true */
  attribute?: boolean;
  /** where builds' outputs and logs are kept; emptied first. Default `_output/verify` in the checkout */
  workDir?: string;
  /** write the control build's recipe beside its outputs (locked environment only), signed with a key */
  provenance?: { signingKey?: SigningKey };
  onLog?: (line: string) => void;
  onProgress?: (e: VerifyProgress) => void;
  signal?: AbortSignal;
}

export type VerifyProgress =
  | { type: 'step'; event: StepEvent }
  | { type: 'build-start'; id: string; label: string; variations: string[] }
  | { type: 'build-step'; id: string; label: string; step: BuildPhase | 'package' }
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
  /** the control build's recipe, when written */
  provenance?: { statement: string; envelope?: string; bundle?: string };
  /** what each step of the verify did */
  steps: StepRecord[];
}

export const VERIFY_SCHEMA = 'https://krepro.dev/schemas/verify-report/v2';

/** At most this many findings per cause go into the report; the causes count them all. */
const FINDINGS_PER_CAUSE = 20;

class BuildFailed extends Error {
  constructor(readonly run: BuildRun) {
    super(`${run.label} failed with exit code ${run.exitCode}`);
  }
}

/** What verify's steps share: the options, and what each step leaves for the next. */
interface VerifyContext {
  opts: VerifyOptions;
  commit: string;
  checkoutHash: string;
  run: RunScope;
  workDir: string;
  sourceDir: string;
  worktree: boolean;
  environments: Map<Backend, PreparedEnvironment>;
  control: BuildConditions;
  builds: BuildRun[];
  controlRun?: BuildRun;
  experiment?: BuildRun;
  variations: VariationCheck[];
  differing: string[];
  noise?: BuildRun;
  attribution?: AttributionResult;
  causes: ArtifactCause[];
  provenance?: { statement: string; envelope?: string; bundle?: string };
}

function backendsOf(c: VerifyContext): Backend[] {
  return [...new Set([c.opts.backends.control, c.opts.backends.experiment])];
}

/** One build of the run, on `backend`: a failing one ends the verify (BuildFailed). */
async function build(c: VerifyContext, backend: Backend, label: string, variations: readonly Variation[]): Promise<BuildRun> {
  const { opts } = c;
  const id = String(c.builds.length + 1);
  const names = variations.map((v) => v.name);
  opts.onProgress?.({ type: 'build-start', id, label, variations: names });
  const b = await runVerifyBuild(id, label, applyVariations(c.control, variations), names, {
    backend,
    environment: c.environments.get(backend)!,
    sources: { dir: c.sourceDir, commit: c.commit },
    inputs: opts.inputs,
    run: c.run,
    workDir: c.workDir,
    onStep: (step) => opts.onProgress?.({ type: 'build-step', id, label, step }),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  c.builds.push(b);
  opts.onProgress?.({ type: 'build-done', id, label, durationMs: b.durationMs, exitCode: b.exitCode });
  if (b.exitCode !== 0) throw new BuildFailed(b);
  return b;
}

const tested = (c: VerifyContext): Variation[] => c.opts.variations.filter((v) => c.variations.find((x) => x.name === v.name)?.tested);

/** verify, in order. */
export const VERIFY_STEPS: readonly Step<VerifyContext>[] = [
  // what killed runs of this checkout left on each backend
  {
    name: 'leftovers',
    run: async (c) => {
      for (const b of backendsOf(c)) await b.removeLeftovers(c.checkoutHash, signalOf(c.opts));
    },
  },
  // the environment on each backend: the same image ID everywhere
  { name: 'environment', run: (c) => prepareEnvironments(c) },
  // a clean copy of the commit: no untracked or modified file of the checkout reaches a build
  {
    name: 'sources',
    run: async (c) => {
      await runGit(c.opts.checkoutRoot, ['worktree', 'add', '--detach', '--force', c.sourceDir, c.commit], 'make a clean copy of the commit');
      c.worktree = true;
    },
  },
  { name: 'control', run: async (c) => void (c.controlRun = await build(c, c.opts.backends.control, 'control', [])) },
  { name: 'experiment', run: async (c) => void (c.experiment = await build(c, c.opts.backends.experiment, 'experiment', c.opts.variations)) },
  // each variation proved to take effect, or reported as not tested
  { name: 'variations', run: async (c) => void (c.variations = checkVariations(c.opts.variations, c.control, c.controlRun!, c.experiment!)) },
  { name: 'compare', run: async (c) => void (c.differing = differingArtifacts(c.controlRun!, c.experiment!).map((d) => d.name)) },
  // control conditions again: what differs now is nondeterminism, which no variation can be blamed for
  {
    name: 'noise',
    skip: (c) => (c.differing.length === 0 && !c.opts.checkNoise ? 'the builds are identical (--check-noise runs it anyway)' : undefined),
    run: async (c) => void (c.noise = await build(c, c.opts.backends.control, 'control again (noise check)', [])),
  },
  // every cause of every difference, each proven by a build
  {
    name: 'attribution',
    skip: (c) => (c.differing.length === 0 ? 'no artifact differs' : c.opts.attribute === false ? 'not asked for (--no-attribution)' : undefined),
    run: async (c) => {
      const controlRun = c.controlRun!;
      const pool = tested(c);
      const noisy = new Set(c.noise ? differingArtifacts(controlRun, c.noise).map((d) => d.name) : []);
      c.attribution = await attributeCauses(
        pool.map((v) => v.name),
        { id: c.experiment!.id, differing: new Set(c.differing) },
        c.noise ? { id: c.noise.id, control: controlRun.id, noisy } : undefined,
        async (names, purpose) => {
          const b = await build(c, c.opts.backends.control, purpose, names.map((n) => pool.find((v) => v.name === n)!));
          return { id: b.id, differing: new Set(differingArtifacts(controlRun, b).map((d) => d.name)) };
        },
      );
    },
  },
  // krepro diff of the control build against the build that proves each cause
  {
    name: 'explain',
    skip: (c) => (c.attribution === undefined || c.attribution.causes.length === 0 ? 'no cause to explain' : undefined),
    run: async (c) => void (c.causes = await explainCauses(c.attribution!.causes, c.controlRun!, new Map(c.builds.map((b) => [b.id, b])), c.opts.variations, c.opts.signal)),
  },
  // the control build's recipe, beside its outputs: what it ran, in the environment the lock makes again
  {
    name: 'provenance',
    skip: (c) => (!c.opts.provenance ? 'no provenance asked for' : c.opts.environment.kind !== 'locked' ? 'a Dockerfile environment (--build-image-dir) cannot be made again from a recipe' : undefined),
    run: async (c) => {
      const control = c.controlRun!;
      const environment = c.environments.get(c.opts.backends.control)!;
      const recipe = makeRecipe({
        source: await recipeSource(c.opts.checkoutRoot),
        inputs: c.opts.inputs,
        environment: { ...environment, lock: environment.lock! },
        container: { kind: 'controlled', conditions: control.conditions },
        ...(c.opts.inputs.project.release ? { packed: { bases: control.bases } } : {}),
      });
      const beside = c.opts.inputs.project.release ? path.join(control.dir, '_output', 'release-tars') : control.dir;
      c.provenance = await writeProvenance(beside, recipeStatement(recipe, control.artifacts, 'verify'), c.opts.provenance?.signingKey);
    },
  },
];

/**
 * Builds the commit twice from a clean copy, each in fresh objects named for this run: once under fixed control
 * conditions, once with every chosen variation applied. Proves each variation took effect (its probe differs) or
 * reports it as not tested; compares every artifact; and when they differ finds every cause of every difference,
 * each proven by a build and explained by `krepro diff` of that build against the control build. Holds the
 * claim on the checkout for the whole run.
 */
export async function verifyRelease(opts: VerifyOptions): Promise<VerifyResult> {
  const commit = opts.commit ?? (await headCommit(opts.checkoutRoot));
  const { identity, names } = await checkoutStateNames(opts.checkoutRoot, opts.hostname, await sourceVersion(opts.environment));
  // Before anything reaches a backend: a second verify of this checkout must not build its environment meanwhile.
  const lock: CheckoutClaim = await claimCheckout(identity.root, 'verify');
  const workDir = opts.workDir ?? (await pathBeneath(identity.root, `${OUTPUT_DIR}/verify`, { userOutputLink: true }));
  const c: VerifyContext = {
    opts,
    commit,
    checkoutHash: names.checkoutHash,
    run: newRun(names.checkoutHash, names.labels),
    workDir,
    sourceDir: path.join(workDir, 'source'),
    worktree: false,
    environments: new Map(),
    control: controlConditions(),
    builds: [],
    variations: [],
    differing: [],
    causes: [],
  };
  const { project, sourceDateEpoch } = opts.inputs;
  const steps: StepRecord[] = [];
  try {
    await rm(workDir, { recursive: true, force: true });
    await mkdir(workDir, { recursive: true });
    try {
      await runPipeline(VERIFY_STEPS, c, { ...signalOf(opts), records: steps, onStep: (event) => opts.onProgress?.({ type: 'step', event }) });
    } catch (err) {
      if (!(err instanceof BuildFailed)) throw err;
      const failed = err.run;
      return {
        schema: VERIFY_SCHEMA,
        commit,
        sourceDateEpoch,
        status: 'build-failed',
        project,
        settings: settingsOf(c),
        variations: [],
        control: c.controlRun ?? failed,
        builds: c.builds,
        differing: [],
        causes: [],
        failure: { build: failed.id, label: failed.label, exitCode: failed.exitCode, log: failed.log, logTail: await logTail(failed.log) },
        steps,
      };
    }
    const { attribution } = c;
    return {
      schema: VERIFY_SCHEMA,
      commit,
      sourceDateEpoch,
      status: c.differing.length === 0 ? 'reproducible' : 'not-reproducible',
      project,
      settings: settingsOf(c),
      variations: c.variations,
      control: c.controlRun!,
      experiment: c.experiment!,
      ...(c.noise ? { noise: c.noise } : {}),
      builds: c.builds,
      differing: c.differing,
      causes: c.causes,
      ...(attribution ? { attribution: { ...(attribution.cleared ? { cleared: attribution.cleared } : {}), unexplained: attribution.unexplained, builds: attribution.builds } } : {}),
      ...(c.provenance ? { provenance: c.provenance } : {}),
      steps,
    };
  } finally {
    if (c.worktree) await runGit(opts.checkoutRoot, ['worktree', 'remove', '--force', c.sourceDir], 'remove the clean copy').catch(() => {});
    await lock.release();
  }
}

/** The environment on the control backend, then on the experiment's: from the lock again (same ID), or copied by ID. */
async function prepareEnvironments(c: VerifyContext): Promise<void> {
  const { opts } = c;
  const prepare = { checkoutRoot: opts.checkoutRoot, hostname: opts.hostname, ...(opts.onLog ? { onLog: opts.onLog } : {}), ...signalOf(opts) };
  const [first, second] = [opts.backends.control, opts.backends.experiment];
  const made = await first.prepare(opts.environment, prepare);
  c.environments.set(first, made);
  if (second === first) return;
  const other = await second.prepare(opts.environment.kind === 'locked' ? opts.environment : { kind: 'copy', from: first, environment: made }, prepare);
  if (other.id !== made.id) throw new KreproError('E_ENVIRONMENT', `the lock made ${other.id} on ${second.name} but ${made.id} on ${first.name}: the environment is not reproducible here`);
  c.environments.set(second, other);
}

function settingsOf(c: VerifyContext): EnvironmentSetting[] {
  const environment = c.environments.get(c.opts.backends.control);
  return verifySettings(environment?.variables ?? [], c.opts.inputs.variables, c.opts.inputs.project.normalize);
}

/** The fields of the conditions a variation changes. */
function changedBy(v: Variation, control: BuildConditions): string[] {
  const varied = v.apply(control) as unknown as Record<string, unknown>;
  const base = control as unknown as Record<string, unknown>;
  return Object.keys({ ...base, ...varied }).filter((k) => JSON.stringify(base[k]) !== JSON.stringify(varied[k]));
}

/** Each chosen variation, tested or not: its probe must differ between control and experiment. */
function checkVariations(chosen: readonly Variation[], control: BuildConditions, controlRun: BuildRun, experiment: BuildRun): VariationCheck[] {
  return VARIATIONS.filter((v) => chosen.includes(v)).map((v) => {
    const probe = { control: controlRun.probes[v.name] ?? null, experiment: experiment.probes[v.name] ?? null };
    const common = { name: v.name, description: v.description, fix: v.fix, probe };
    const fields = changedBy(v, control);
    const unapplied = [...controlRun.unapplied, ...experiment.unapplied].find((u) => fields.includes(u.condition));
    if (unapplied) return { ...common, tested: false, reason: unapplied.reason };
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

function signalOf(o: { signal?: AbortSignal }): { signal?: AbortSignal } {
  return o.signal ? { signal: o.signal } : {};
}

export type { BuildConditions, EnvironmentSetting };
