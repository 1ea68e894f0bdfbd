import { setMaxListeners } from 'node:events';
import { mkdir, rm } from 'node:fs/promises';
import * as path from 'node:path';
import type { SigningKey } from '../attest/keys.js';
import type { Backend, BuildPhase, PreparedEnvironment } from '../backend/backend.js';
import { byteOrder } from '../byte-order.js';
import { OUTPUT_DIR, pathBeneath } from '../checkout/beneath.js';
import { checkoutStateNames } from '../checkout/identity.js';
import { type CheckoutClaim, claimCheckout, shareCheckout } from '../checkout/claim.js';
import { newRun, type RunScope } from '../checkout/names.js';
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
import type { Verdict } from './attribution.js';
import { type BuildRun, differingArtifacts, logTail, runVerifyBuild } from './build-run.js';
import { applyVariations, type BuildConditions, controlConditions, controlFor, type Variation, VARIATIONS } from './conditions.js';
import { type Explained, explainDifferences } from './explain.js';
import { BUILD_FAILS } from './findings.js';
import { alsoVaries, choosePlan, hostDifferences, matrixBuilds, type PlanChoice, type PlanKind, type PlannedBuild } from './plan.js';
import { type EnvironmentSetting, verifySettings } from './settings.js';
import { limitBackend } from '../backend/limit.js';
import type { PoolEngine } from '../backend/pool/pool.js';

/** What verifyRelease verifies, where its builds run, and how far it searches. */
export interface VerifyOptions {
  /** The checkout (git work tree) of the project. */
  checkoutRoot: string;
  /** the commit to verify (its project file is the one `inputs.project` should come from); default HEAD */
  commit?: string;
  /** this machine's hostname (a checkout's state names include it) */
  hostname: string;
  /** where the control build runs, and the experiment (another backend for an independent rebuild); every other build runs on the control's */
  backends: { control: Backend; experiment: Backend };
  /** the environment every build runs in: made on each backend from the lock, or a Dockerfile image copied by ID */
  environment: EnvironmentSource;
  /** The variations the experiment build applies (VARIATIONS, or a choice of them). */
  variations: readonly Variation[];
  /** what to build and how to pack it: exactly what release uses (releaseInputs) */
  inputs: ReleaseInputs;
  /** a build under control conditions again, to tell nondeterminism from variation effects; on by default when builds differ */
  checkNoise?: boolean;
  /** how many noise builds make the noise mask (default 1): more where one pair cannot show the noise's extent */
  noiseBuilds?: number;
  /** find every cause (extra builds); default true */
  attribute?: boolean;
  /** where builds' outputs and logs are kept; emptied first. Default `_output/verify` in the checkout */
  workDir?: string;
  /** write the control build's recipe beside its outputs (locked environment only), signed with a key */
  provenance?: { signingKey?: SigningKey };
  /** How the builds are scheduled. Default: `matrix` when `jobs` ≥ n + 3 (n variations), else `adaptive`. */
  plan?: PlanKind;
  /** Builds at once on each backend. Default 1; in-memory builds are capped by the backend's memory too. */
  jobs?: number;
  /**
   * The matrix plan's builds, run elsewhere (`krepro verify --collect`: readBuildBundles), by planned ID: used in
   * place of building; nothing is built here, so what needs a second round stays unexplained, saying so.
   * Default: the builds run here.
   */
  collected?: { builds: ReadonlyMap<string, BuildRun>; environment: PreparedEnvironment };
  /** Each line of the builds' output. */
  onLog?: (line: string) => void;
  /** Each step, and each build as it starts, moves on and ends. */
  onProgress?: (e: VerifyProgress) => void;
  /** Aborts the verify; what it made on the backends is removed. */
  signal?: AbortSignal;
}

/** Progress of a verify: its steps, and each build as it starts, enters a phase and ends. */
export type VerifyProgress =
  | { type: 'step'; event: StepEvent }
  | { type: 'build-start'; id: string; label: string; variations: string[] }
  | { type: 'build-step'; id: string; label: string; step: BuildPhase | 'package' }
  | { type: 'build-done'; id: string; label: string; durationMs: number; exitCode: number };

/** Whether one variation took effect, as its probe saw it in the control and the experiment build. */
export interface VariationCheck {
  /** The variation's name. */
  name: string;
  /** What it changes, in words. */
  description: string;
  /** What to change in the build when it is a cause. */
  fix: string;
  /** It took effect, so the verify tested it. */
  tested: boolean;
  /** why it was not tested */
  reason?: string;
  /** What its probe saw in the control and the experiment build; null when not seen. */
  probe: { control: string | null; experiment: string | null };
}

/** A build whose command failed. */
export interface BuildFailure {
  /** The build's id. */
  build: string;
  /** What the build was for: `control`, `experiment`… */
  label: string;
  /** The command's exit code. */
  exitCode: number;
  /** Where the build's log is. */
  log: string;
  /** The last lines of the log. */
  logTail: string[];
}

/** "The build fails when X": a build other than the control failed, and what its failure is attributed to. */
export interface FailureCause extends BuildFailure {
  /** A variation alone, only variations together, or nondeterminism (a noise build failed too). */
  kind: 'variation' | 'interaction' | 'nondeterminism';
  /** The variations it needs (none for nondeterminism). */
  variations: string[];
  /** Builds that prove it (the failing one last). */
  evidence: string[];
  /** What to change in the build, one line per variation. */
  fix: string[];
}

/** How the builds were scheduled, and where each ran. */
export interface PlanRecord {
  /** The plan followed. */
  kind: PlanKind;
  /** Why this plan, in words. */
  why: string;
  /** Builds at once on each backend. */
  jobs: number;
  /** Builds with their sources in memory at once, and why that many. */
  inMemory: { max: number; why: string };
  /** Where the builds came from: run here, or collected from bundles (`--collect`). */
  source: 'local' | 'bundles';
  /** Each round of builds started together, with its builds' ids and its time in milliseconds. */
  rounds: { round: number; builds: string[]; ms: number }[];
  /**
   * Findings a host difference could explain: builds that ran on another host (or, on a pool, another engine) than
   * the control build, what differs, and how many findings each build's verdicts rest on.
   */
  hosts: { build: string; differences: string[]; findings?: number }[];
  /** A pool's engines (`--pool`): each one's limit, builds, and whether it was lost mid-verify and why. */
  engines?: PoolEngine[];
}

/**
 * What verifyRelease found: the verdict, every build, every finding of control vs experiment with its verdict,
 * grouped by cause (Explained).
 */
export interface VerifyResult extends Explained {
  /** Always VERIFY_SCHEMA. */
  schema: typeof VERIFY_SCHEMA;
  /** The commit verified. */
  commit: string;
  /** SOURCE_DATE_EPOCH of every build, in seconds since 1970. */
  sourceDateEpoch: number;
  /** The verdict. */
  status: 'reproducible' | 'not-reproducible' | 'build-failed';
  /** The project file followed. */
  project: Project;
  /** Every setting the builds saw, with where it came from. */
  settings: EnvironmentSetting[];
  /** Each variation, and whether it was tested. */
  variations: VariationCheck[];
  /** The build under control conditions. */
  control: BuildRun;
  /** The build with every variation; absent when control failed. */
  experiment?: BuildRun;
  /** The builds under control conditions again that made the noise mask. */
  noise: BuildRun[];
  /** Every build, in the order run. */
  builds: BuildRun[];
  /** Artifacts that differ between control and experiment (or, when the experiment failed, in the other builds). */
  differing: string[];
  /** Builds that failed where the control build did not, each with its cause. */
  failures: FailureCause[];
  /** The control build's failure, for status build-failed. */
  failure?: BuildFailure;
  /** How the builds were scheduled, and where each ran. */
  plan: PlanRecord;
  /** the control build's recipe, when written */
  provenance?: { statement: string; envelope?: string; bundle?: string };
  /** what each step of the verify did */
  steps: StepRecord[];
}

/** The verify report's `schema` (schemas/verify-report.schema.json). */
export const VERIFY_SCHEMA = 'https://krepro.dev/schemas/verify-report/v3';

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
  /** another run may be using this checkout (verify --build): leave every object that is not this run's */
  shared: boolean;
  /** each backend as builds reach it: limited to the plan's jobs and memory */
  limited: Map<Backend, Backend>;
  environments: Map<Backend, PreparedEnvironment>;
  control: BuildConditions;
  plan?: PlanChoice & { jobs: number; inMemory: { max: number; why: string } };
  /** the planned builds to run (verify --build runs some of the matrix plan's) */
  only?: ReadonlySet<string>;
  rounds: Map<number, { builds: string[]; ms: number }>;
  /** builds started so far: the adaptive plan numbers them */
  started: number;
  builds: BuildRun[];
  controlRun?: BuildRun;
  experiment?: BuildRun;
  /** the matrix plan's single-variation builds, by variation */
  singles: Map<string, BuildRun>;
  variations: VariationCheck[];
  differing: string[];
  noise: BuildRun[];
  explained?: Explained;
  failures: FailureCause[];
  provenance?: { statement: string; envelope?: string; bundle?: string };
}

function backendsOf(c: VerifyContext): Backend[] {
  return [...new Set([c.opts.backends.control, c.opts.backends.experiment])];
}

interface BuildAsk {
  backend: Backend;
  label: string;
  variations: readonly Variation[];
  round: number;
  /** the plan's ID for it; default the next number */
  id?: string;
  /** the plan's conditions for it; default the control's with the variations applied */
  conditions?: BuildConditions;
  signal?: AbortSignal;
}

/** One build of the run, on `ask.backend` (or read from a collected bundle). A failing command is a result. */
async function build(c: VerifyContext, ask: BuildAsk): Promise<BuildRun> {
  const { opts } = c;
  const id = ask.id ?? String(++c.started);
  const { label } = ask;
  const names = ask.variations.map((v) => v.name);
  const round = c.rounds.get(ask.round) ?? { builds: [], ms: 0 };
  c.rounds.set(ask.round, round);
  round.builds.push(id);
  let b: BuildRun;
  const started = Date.now();
  if (opts.collected) {
    const found = opts.collected.builds.get(id);
    if (!found) throw new KreproError('E_USAGE', `no bundle holds build ${quote(id)} (${label}): collect the bundles of every build of the plan`);
    b = found;
  } else {
    opts.onProgress?.({ type: 'build-start', id, label, variations: names });
    const backend = c.limited.get(ask.backend) ?? ask.backend;
    const signal = ask.signal ?? opts.signal;
    b = await runVerifyBuild(id, label, ask.conditions ?? applyVariations(c.control, ask.variations), names, {
      backend,
      environment: c.environments.get(ask.backend)!,
      sources: { dir: c.sourceDir, commit: c.commit },
      inputs: opts.inputs,
      run: c.run,
      workDir: c.workDir,
      onStep: (step) => opts.onProgress?.({ type: 'build-step', id, label, step }),
      // Builds under the control conditions are the reference: on a pool they share one engine.
      ...(names.length === 0 ? { group: 'reference' } : {}),
      ...(signal ? { signal } : {}),
    });
    opts.onProgress?.({ type: 'build-done', id, label, durationMs: b.durationMs, exitCode: b.exitCode });
  }
  round.ms = Math.max(round.ms, Date.now() - started);
  c.builds.push(b);
  return b;
}

const tested = (c: VerifyContext): Variation[] => c.opts.variations.filter((v) => c.variations.find((x) => x.name === v.name)?.tested);

/** The matrix plan's first round, as planned from the control conditions and the chosen variations. */
export function planFor(control: BuildConditions, variations: readonly Variation[]): PlannedBuild[] {
  return matrixBuilds(control, variations);
}

/** Runs builds together; when the control build fails the others are stopped (nothing can be compared with it). */
async function runRound(c: VerifyContext, asks: BuildAsk[]): Promise<BuildRun[]> {
  const stop = new AbortController();
  const signal = c.opts.signal ? AbortSignal.any([c.opts.signal, stop.signal]) : stop.signal;
  // every build of the round listens on it, at every layer
  setMaxListeners(0, signal);
  const runs = asks.map(async (ask) => {
    const b = await build(c, { ...ask, signal });
    if (ask.id === 'control' || ask.label === 'control') {
      c.controlRun = b;
      if (b.exitCode !== 0) stop.abort(new BuildFailed(b));
    }
    return b;
  });
  const settled = await Promise.allSettled(runs);
  if (c.controlRun && c.controlRun.exitCode !== 0) throw new BuildFailed(c.controlRun);
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
  return settled.map((r) => (r as PromiseFulfilledResult<BuildRun>).value);
}

/** verify, in order. */
export const VERIFY_STEPS: readonly Step<VerifyContext>[] = [
  // what killed runs of this checkout left on each backend
  {
    name: 'leftovers',
    skip: (c) => (c.opts.collected ? 'the builds ran elsewhere (collected from bundles)' : c.shared ? 'other runs may share this checkout (verify --build): `krepro clean` or the next verify removes leftovers' : undefined),
    run: async (c) => {
      for (const b of backendsOf(c)) await b.removeLeftovers(c.checkoutHash, signalOf(c.opts));
    },
  },
  // adaptive or matrix, how many builds at once, how many in memory
  { name: 'plan', run: (c) => choose(c) },
  // the environment on each backend: the same image ID everywhere
  { name: 'environment', skip: (c) => (c.opts.collected ? 'the builds ran elsewhere (collected from bundles)' : undefined), run: (c) => prepareEnvironments(c) },
  // a clean copy of the commit: no untracked or modified file of the checkout reaches a build
  {
    name: 'sources',
    skip: (c) => (c.opts.collected ? 'the builds ran elsewhere (collected from bundles)' : undefined),
    run: async (c) => {
      await runGit(c.opts.checkoutRoot, ['worktree', 'add', '--detach', '--force', c.sourceDir, c.commit], 'make a clean copy of the commit');
      c.worktree = true;
    },
  },
  // adaptive: control and experiment (together when jobs allow); matrix: every build of the first round at once
  {
    name: 'builds',
    run: async (c) => {
      const { backends, variations } = c.opts;
      if (c.plan!.kind === 'adaptive') {
        const asks: BuildAsk[] = [
          { backend: backends.control, label: 'control', variations: [], round: 1 },
          { backend: backends.experiment, label: 'experiment', variations, round: c.plan!.jobs >= 2 ? 1 : 2 },
        ];
        if (c.plan!.jobs >= 2) [, c.experiment] = await runRound(c, asks);
        else {
          await runRound(c, [asks[0]!]);
          [c.experiment] = await runRound(c, [asks[1]!]);
        }
        return;
      }
      const planned = planFor(c.control, variations).filter((p) => !c.only || c.only.has(p.id));
      const runs = await runRound(
        c,
        planned.map((p) => ({
          id: p.id,
          label: p.label,
          conditions: p.conditions,
          variations: variations.filter((v) => p.variations.includes(v.name)),
          backend: p.role === 'experiment' ? backends.experiment : backends.control,
          round: 1,
        })),
      );
      planned.forEach((p, i) => {
        const b = runs[i]!;
        if (p.role === 'experiment') c.experiment = b;
        else if (p.role === 'noise') c.noise.push(b);
        else if (p.role === 'variation') c.singles.set(p.id, b);
      });
    },
  },
  // each variation proved to take effect, or reported as not tested
  { name: 'variations', skip: (c) => (c.only ? 'builds only (verify --build)' : undefined), run: async (c) => void (c.variations = checkVariations(c.opts.variations, c.control, c.controlRun!, c.experiment!)) },
  // a failing experiment has no artifacts to compare: its failure is what differs
  { name: 'compare', skip: (c) => (c.only ? 'builds only (verify --build)' : undefined), run: async (c) => void (c.differing = c.experiment!.exitCode !== 0 ? [] : differingArtifacts(c.controlRun!, c.experiment!).map((d) => d.name)) },
  // control conditions again: what differs now is nondeterminism, which no variation can be blamed for
  {
    name: 'noise',
    skip: (c) =>
      c.only
        ? 'builds only (verify --build)'
        : targetsOf(c) === 0 && !c.opts.checkNoise
          ? 'the builds are identical (--check-noise runs it anyway)'
          : c.noise.length >= noiseBuildsOf(c)
            ? 'ran in the first round (matrix plan)'
            : c.opts.collected
              ? `the builds ran elsewhere: the noise mask has the bundles' ${c.noise.length} noise build${c.noise.length === 1 ? '' : 's'}`
              : undefined,
    run: async (c) => {
      const n = noiseBuildsOf(c);
      while (c.noise.length < n) {
        const label = `control again (noise check${n > 1 ? ` ${c.noise.length + 1} of ${n}` : ''})`;
        const [b] = await runRound(c, [{ backend: c.opts.backends.control, label, variations: [], round: c.rounds.size + 1 }]);
        c.noise.push(b!);
      }
    },
  },
  // every finding of control vs experiment (krepro diff), each with its cause; the builds attribution needs
  {
    name: 'attribution',
    skip: (c) => (c.only ? 'builds only (verify --build)' : targetsOf(c) === 0 ? 'no artifact differs' : undefined),
    run: async (c) => {
      c.explained = await explain(c);
      c.failures = c.opts.attribute === false ? await unattributedFailures(c) : await attributedFailures(c, c.explained);
    },
  },
  // the control build's recipe, beside its outputs: what it ran, in the environment the lock makes again
  {
    name: 'provenance',
    skip: (c) =>
      c.only
        ? 'builds only (verify --build)'
        : !c.opts.provenance
          ? 'no provenance asked for'
          : c.opts.environment.kind !== 'locked'
            ? 'a Dockerfile environment (--build-image-dir) cannot be made again from a recipe'
            : undefined,
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
      // Collected builds' outputs are in bundles, which are input: the recipe goes into this run's own directory.
      const beside = c.opts.collected ? path.join(c.workDir, 'control') : c.opts.inputs.project.release ? path.join(control.dir, '_output', 'release-tars') : control.dir;
      c.provenance = await writeProvenance(beside, recipeStatement(recipe, control.artifacts, 'verify'), c.opts.provenance?.signingKey);
    },
  },
];

/** How much attribution has to explain: artifacts that differ between control and experiment, and failed builds. */
function targetsOf(c: VerifyContext): number {
  const failed = [c.experiment, ...c.noise, ...c.singles.values()].filter((b) => b !== undefined && b.exitCode !== 0).length;
  // A failing experiment hides every artifact: the single-variation builds show them, when there are any.
  const seen = c.experiment!.exitCode === 0 ? c.differing.length : [...c.singles.values()].filter((b) => b.exitCode === 0 && differingArtifacts(c.controlRun!, b).length > 0).length;
  return seen + failed;
}

const noiseBuildsOf = (c: VerifyContext): number => Math.max(1, c.opts.noiseBuilds ?? 1);

/**
 * Every finding with its verdict: the noise builds make the mask, the matrix plan's single-variation builds explain
 * what they show, and the adaptive search (the matrix plan's second round) builds one at a time on the control's
 * backend for the rest — nothing is built for collected bundles, where what needs a second round stays unexplained.
 */
async function explain(c: VerifyContext): Promise<Explained> {
  const pool = tested(c);
  const singles = [...c.singles].flatMap(([variation, build]) => (pool.some((v) => v.name === variation) ? [{ variation, alsoVaries: alsoVaries(build), build }] : []));
  const canBuild = c.opts.attribute !== false && !c.opts.collected;
  return explainDifferences({
    control: c.controlRun!,
    experiment: c.experiment!,
    noise: c.noise,
    singles,
    tested: pool,
    variations: c.opts.variations,
    attribute: c.opts.attribute !== false,
    ...(canBuild
      ? {
          build: async (vs: readonly Variation[], purpose: string) => {
            const [b] = await runRound(c, [{ backend: c.opts.backends.control, label: purpose, variations: vs, round: c.rounds.size + 1 }]);
            if (vs.length === 0) c.noise.push(b!);
            return b!;
          },
        }
      : {}),
    ...signalOf(c.opts),
  });
}

/** The plan, the jobs and how many builds memory lets hold their sources in RAM at once. */
async function choose(c: VerifyContext): Promise<void> {
  const { opts } = c;
  const jobs = opts.jobs ?? 1;
  const choice = opts.collected ? { kind: 'matrix' as const, why: '--collect' } : choosePlan(opts.plan, jobs, opts.variations.length);
  const inMemory = opts.collected ? { max: 0, why: 'no build ran here' } : await memoryCap(c, jobs);
  c.plan = { ...choice, jobs, inMemory };
  // The environment the bundles' builds ran in: the lock's (the plan digest covers it), under the bundles' image ID.
  if (opts.collected) c.environments.set(opts.backends.control, { ...opts.collected.environment, ...(opts.environment.kind === 'locked' ? { lock: opts.environment.lock } : {}) });
  for (const b of backendsOf(c)) c.limited.set(b, limitBackend(b, { jobs, inMemory: inMemory.max }));
}

/** At least this much memory is counted for an in-memory build: the build's own files beside its sources. */
const MIN_BUILD_MEMORY = 256 * 1024 * 1024;

/**
 * How many builds may keep their sources in memory at once: half the backend's memory over four times the commit's
 * tree (sources, objects and outputs), at least one.
 */
async function memoryCap(c: VerifyContext, jobs: number): Promise<{ max: number; why: string }> {
  if (jobs === 1) return { max: 1, why: 'one build at a time' };
  const facts = await c.opts.backends.control.facts(signalOf(c.opts));
  const tree = await treeBytes(c.opts.checkoutRoot, c.commit);
  const each = Math.max(MIN_BUILD_MEMORY, 4 * tree);
  const max = Math.max(1, Math.floor(facts.memoryBytes / 2 / each));
  const mib = (n: number): string => `${Math.round(n / 2 ** 20)} MiB`;
  return { max, why: `half of ${facts.backend}'s ${mib(facts.memoryBytes)} over ${mib(each)} per build (4 × the commit's ${mib(tree)} of files, at least ${mib(MIN_BUILD_MEMORY)})` };
}

/** The size of a commit's files, from git's own record of them. */
async function treeBytes(root: string, commit: string): Promise<number> {
  const listing = await runGit(root, ['ls-tree', '-r', '-l', '-z', commit], 'measure the commit');
  let total = 0;
  for (const entry of listing.split('\0')) {
    const size = Number(entry.split(/\s+/)[3]);
    if (Number.isFinite(size)) total += size;
  }
  return total;
}

/**
 * Builds the commit twice from a clean copy, each in fresh objects named for this run: once under fixed control
 * conditions, once with every chosen variation applied. Proves each variation took effect (its probe differs) or
 * reports it as not tested; compares every artifact; and when they differ finds every cause of every difference,
 * each proven by a build and explained by `krepro diff` of that build against the control build. The plan decides
 * how the builds are scheduled (see PlanKind). Holds the claim on the checkout for the whole run.
 */
export async function verifyRelease(opts: VerifyOptions): Promise<VerifyResult> {
  const c = await newContext(opts, 'verify', false);
  const { project, sourceDateEpoch } = opts.inputs;
  const steps: StepRecord[] = [];
  try {
    await rm(c.workDir, { recursive: true, force: true });
    await mkdir(c.workDir, { recursive: true });
    const plan = (): PlanRecord => planRecord(c, opts.collected ? 'bundles' : 'local');
    try {
      await runPipeline(VERIFY_STEPS, c, { ...signalOf(opts), records: steps, onStep: (event) => opts.onProgress?.({ type: 'step', event }) });
    } catch (err) {
      if (!(err instanceof BuildFailed)) throw err;
      const failed = err.run;
      return {
        schema: VERIFY_SCHEMA,
        commit: c.commit,
        sourceDateEpoch,
        status: 'build-failed',
        project,
        settings: settingsOf(c),
        variations: [],
        control: c.controlRun ?? failed,
        noise: [],
        builds: c.builds,
        differing: [],
        findings: [],
        causes: [],
        diffMs: {},
        failures: [],
        failure: { build: failed.id, label: failed.label, exitCode: failed.exitCode, log: failed.log, logTail: await logTail(failed.log) },
        plan: plan(),
        steps,
      };
    }
    const explained: Explained = c.explained ?? { findings: [], causes: [], diffMs: {} };
    const differing = [...new Set([...c.differing, ...explained.findings.map((f) => f.artifact).filter((a) => a !== BUILD_FAILS)])].sort(byteOrder);
    return {
      schema: VERIFY_SCHEMA,
      commit: c.commit,
      sourceDateEpoch,
      status: differing.length === 0 && c.failures.length === 0 && targetsOf(c) === 0 ? 'reproducible' : 'not-reproducible',
      project,
      settings: settingsOf(c),
      variations: c.variations,
      control: c.controlRun!,
      experiment: c.experiment!,
      noise: c.noise,
      builds: c.builds,
      differing,
      ...explained,
      failures: c.failures,
      ...(c.provenance ? { provenance: c.provenance } : {}),
      plan: plan(),
      steps,
    };
  } finally {
    await endContext(c);
  }
}

/** What `runPlannedBuilds` made: the builds, with what a bundle records of where and of what they are. */
export interface PlannedBuildsResult {
  /** The commit built. */
  commit: string;
  /** The environment the builds ran in. */
  environment: PreparedEnvironment;
  /** The builds, in the order run. */
  builds: BuildRun[];
  /** How the builds were scheduled, and where each ran. */
  plan: PlanRecord;
  /** where the builds' outputs are: remove it when done with them */
  workDir: string;
}

/**
 * Runs some builds of the matrix plan (`krepro verify --build`), for another machine to collect. Shares the claim
 * on the checkout with other such runs, so several run at once from one checkout: each in its own work directory
 * and clean copy, none removing another's objects. The caller moves the outputs away and removes `workDir`.
 */
export async function runPlannedBuilds(opts: VerifyOptions & { ids: readonly string[] }): Promise<PlannedBuildsResult> {
  const planned = planFor(controlConditions(), opts.variations);
  const unknown = opts.ids.filter((id) => !planned.some((p) => p.id === id));
  if (unknown.length > 0) throw new KreproError('E_USAGE', `no build ${unknown.map(quote).join(', ')} in the plan; its builds: ${planned.map((p) => p.id).join(', ')}`);
  const c = await newContext({ ...opts, plan: 'matrix', jobs: opts.jobs ?? opts.ids.length }, 'verify --build', true);
  c.only = new Set(opts.ids);
  let done = false;
  try {
    await mkdir(c.workDir, { recursive: true });
    await runPipeline(VERIFY_STEPS.filter((s) => ['plan', 'environment', 'sources', 'builds'].includes(s.name)), c, { ...signalOf(opts), onStep: (event) => opts.onProgress?.({ type: 'step', event }) });
    done = true;
    return { commit: c.commit, environment: c.environments.get(opts.backends.control)!, builds: c.builds, plan: planRecord(c, 'local'), workDir: c.workDir };
  } catch (err) {
    // A failing control build is a result here too: the bundle says so, and --collect reports it.
    if (err instanceof BuildFailed) {
      done = true;
      return { commit: c.commit, environment: c.environments.get(opts.backends.control)!, builds: c.builds, plan: planRecord(c, 'local'), workDir: c.workDir };
    }
    throw err;
  } finally {
    await endContext(c);
    if (!done) await rm(c.workDir, { recursive: true, force: true }).catch(() => {});
  }
}

interface OpenContext extends VerifyContext {
  claim: CheckoutClaim;
}

async function newContext(opts: VerifyOptions, command: string, shared: boolean): Promise<OpenContext> {
  const commit = opts.commit ?? (await headCommit(opts.checkoutRoot));
  const { identity, names } = await checkoutStateNames(opts.checkoutRoot, opts.hostname, await sourceVersion(opts.environment));
  // Before anything reaches a backend: a second verify of this checkout must not build its environment meanwhile.
  const claim: CheckoutClaim = shared ? await shareCheckout(identity.root, command) : await claimCheckout(identity.root, command);
  try {
    const run = newRun(names.checkoutHash, names.labels);
    // Runs sharing the checkout each have a directory of their own; a verify owns _output/verify and empties it.
    const workDir = opts.workDir ?? (await pathBeneath(identity.root, shared ? `${OUTPUT_DIR}/verify-builds/${run.runId}` : `${OUTPUT_DIR}/verify`, { userOutputLink: true }));
    return {
      claim,
      opts,
      commit,
      checkoutHash: names.checkoutHash,
      run,
      workDir,
      sourceDir: path.join(workDir, shared ? `source-${run.runId}` : 'source'),
      worktree: false,
      shared,
      limited: new Map(),
      environments: new Map(),
      control: await controlFor(identity.root, commit),
      rounds: new Map(),
      started: 0,
      builds: [],
      singles: new Map(),
      variations: [],
      differing: [],
      noise: [],
      failures: [],
    };
  } catch (err) {
    await claim.release();
    throw err;
  }
}

async function endContext(c: VerifyContext & { claim: CheckoutClaim }): Promise<void> {
  if (c.worktree) await runGit(c.opts.checkoutRoot, ['worktree', 'remove', '--force', c.sourceDir], 'remove the clean copy').catch(() => {});
  await c.claim.release();
}

function planRecord(c: VerifyContext, source: PlanRecord['source']): PlanRecord {
  const control = c.controlRun;
  const engines = c.opts.backends.control.engines?.();
  const hosts = control ? c.builds.filter((b) => b !== control).flatMap((b) => {
    // On a pool, another engine is a difference of its own even on the same machine (its storage, its daemon).
    const differences = [...(engines && b.engine !== control.engine ? [`engine: ${control.engine} → ${b.engine}`] : []), ...hostDifferences(control.host, b.host)];
    return differences.length ? [{ build: b.id, differences, findings: shownBy(c, b.id) }] : [];
  }) : [];
  return {
    kind: c.plan?.kind ?? (c.opts.collected ? 'matrix' : c.opts.plan ?? 'adaptive'),
    why: c.plan?.why ?? '',
    jobs: c.plan?.jobs ?? c.opts.jobs ?? 1,
    inMemory: c.plan?.inMemory ?? { max: 1, why: '' },
    source,
    rounds: [...c.rounds].sort(([a], [b]) => a - b).map(([round, r]) => ({ round, builds: r.builds, ms: r.ms })),
    hosts,
    ...(engines ? { engines } : {}),
  };
}

/** How many findings a build's verdicts rest on: what a host difference of that build could explain. */
function shownBy(c: VerifyContext, build: string): number {
  if (build === c.experiment?.id) return c.explained?.findings.length ?? c.differing.length;
  return (c.explained?.findings ?? []).filter((f) => {
    const v = f.verdict;
    if (v === null || v.kind === 'consequence') return false;
    return 'build' in v ? v.build === build : v.builds.includes(build);
  }).length;
}

/** A failure's cause: the variations that make the build fail, or nondeterminism, with the builds that show it. */
type FailureVerdict = Pick<FailureCause, 'kind' | 'variations' | 'evidence'>;

/** Failing builds as they are, when attribution did not run (--no-attribution): the variations each applied. */
async function unattributedFailures(c: VerifyContext): Promise<FailureCause[]> {
  const failed = c.builds.filter((b) => b !== c.controlRun && b.exitCode !== 0);
  const verdicts: FailureVerdict[] = failed.map((b) => ({ kind: b.variations.length === 0 ? 'nondeterminism' : b.variations.length === 1 ? 'variation' : 'interaction', variations: b.variations, evidence: [b.id] }));
  return failureCauses(verdicts, new Map(failed.map((b) => [b.id, b])), c.opts.variations);
}

/** The failures among the findings, as their verdicts say: "the build fails when X". */
async function attributedFailures(c: VerifyContext, explained: Explained): Promise<FailureCause[]> {
  const failures = explained.findings.filter((f) => f.artifact === BUILD_FAILS);
  if (failures.some((f) => f.verdict === null)) return unattributedFailures(c);
  const verdicts = failures.flatMap((f): FailureVerdict[] => failureVerdict(f.verdict!, c.experiment!.id));
  return failureCauses(verdicts, new Map(c.builds.map((b) => [b.id, b])), c.opts.variations);
}

function failureVerdict(v: Verdict, experiment: string): FailureVerdict[] {
  if (v.kind === 'variation' || v.kind === 'interaction') return [{ kind: v.kind, variations: v.variations, evidence: [v.build] }];
  // the noise builds that failed too, else (seen in the experiment only) the experiment
  if (v.kind === 'nondeterminism' || v.kind === 'masked-by-noise') return [{ kind: 'nondeterminism', variations: [], evidence: [experiment, ...v.builds] }];
  return [];
}

/** Failures attributed: "the build fails when X", with the end of the failing build's log. */
async function failureCauses(verdicts: readonly FailureVerdict[], builds: ReadonlyMap<string, BuildRun>, variations: readonly Variation[]): Promise<FailureCause[]> {
  const out: FailureCause[] = [];
  for (const cause of verdicts) {
    const failed = [...cause.evidence].reverse().map((id) => builds.get(id)).find((b) => b !== undefined && b.exitCode !== 0);
    if (!failed) continue;
    const fix = cause.kind === 'nondeterminism' ? ['the build fails under identical conditions: a flaky step (races, timeouts, network)'] : cause.variations.map((n) => `the build must not depend on ${variations.find((v) => v.name === n)?.description ?? n}`);
    out.push({ kind: cause.kind, variations: cause.variations, evidence: cause.evidence, fix, build: failed.id, label: failed.label, exitCode: failed.exitCode, log: failed.log, logTail: await logTail(failed.log) });
  }
  return out;
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

function signalOf(o: { signal?: AbortSignal }): { signal?: AbortSignal } {
  return o.signal ? { signal: o.signal } : {};
}

export type { BuildConditions, EnvironmentSetting };
