import { mkdtemp, rm } from 'node:fs/promises';
import * as path from 'node:path';
import { simpleGit } from 'simple-git';
import { runGit } from '../source/git.js';
import { byteOrder } from '../byte-order.js';
import { runNames } from '../checkout/names.js';
import { diff } from '../diff/compare.js';
import type { Engine } from '../engine/engine.js';
import { allFindings } from '../diff/difference.js';
import { type ArtifactDifference, type BuildRun, type BuildRunOptions, differingArtifacts, runVerifyBuild } from './build-run.js';
import { applyVariations, type BuildConditions, CONTROL, COUPLED, type Variation } from './conditions.js';

export interface VerifyEngine {
  engine: Engine;
  /** the build image on this engine (made with ensureBuildImage) */
  image: string;
  imageId: string;
}

export interface VerifyOptions {
  checkoutRoot: string;
  /** control build's engine, and the experiment's (the same one unless rebuilding independently) */
  engines: [VerifyEngine, VerifyEngine];
  variations: readonly Variation[];
  command: string[];
  sourceDateEpoch: number;
  version: string;
  env?: Record<string, string>;
  /** this checkout's hash and labels (checkoutStateNames): every object of the run carries them, plus a run id */
  checkoutHash: string;
  labels: Record<string, string>;
  /** a third build under the control conditions, to tell nondeterminism from variation-driven differences */
  checkNoise?: boolean;
  /** find which variation causes a difference (extra builds) */
  attribute?: boolean;
  /** where build outputs are kept; a temporary directory when absent */
  workDir?: string;
  onProgress?: (e: VerifyProgress) => void;
  signal?: AbortSignal;
}

export type VerifyProgress =
  | { type: 'build-start'; id: string; label: string; variations: string[] }
  | { type: 'build-step'; id: string; label: string; step: 'sync' | 'build' | 'copy-output' | 'package' }
  | { type: 'build-done'; id: string; label: string; durationMs: number };

export interface Attribution {
  variations: string[];
  artifacts: string[];
  /** 1 when a confirmation build with only these variations reproduced every difference; lower otherwise */
  confidence: number;
  /** acts on the same artifacts as a known partner variation (build path and HOME), or only together with it */
  coupled: boolean;
  fix: string[];
}

/** What `krepro diff` says about one differing artifact: its causes with fixes, and the first findings. */
export interface Explanation {
  causes: { cause: string; title: string; fix: string; count: number }[];
  findings: { path: string; field: string; left: string | null; right: string | null; cause: string }[];
}

/** At most this many findings per artifact go into the report; the causes count them all. */
const FINDINGS_PER_ARTIFACT = 20;

async function explain(differing: ArtifactDifference[], signal?: AbortSignal): Promise<Record<string, Explanation>> {
  const out: Record<string, Explanation> = {};
  for (const d of differing) {
    if (!d.left || !d.right) continue;
    const report = await diff(d.left.path, d.right.path, { anyFile: true, ...(signal ? { signal } : {}) });
    out[d.name] = {
      causes: report.summary.causes.map((c) => ({ cause: c.cause, title: report.causes[c.cause]?.title ?? c.cause, fix: report.causes[c.cause]?.fix ?? '', count: c.count })),
      findings: allFindings(report.tree)
        .slice(0, FINDINGS_PER_ARTIFACT)
        .map((f) => ({ path: f.path.join(' → '), field: f.field, left: f.left, right: f.right, cause: f.cause })),
    };
  }
  return out;
}

export interface VerifyResult {
  schema: typeof VERIFY_SCHEMA;
  commit: string;
  sourceDateEpoch: number;
  reproducible: boolean;
  control: BuildRun;
  experiment: BuildRun;
  noise?: { run: BuildRun; differing: string[] };
  differing: ArtifactDifference[];
  /** krepro diff's explanation of each differing artifact, by artifact name */
  explanations: Record<string, Explanation>;
  attribution: Attribution[];
  /** builds run only to attribute a difference */
  attributionBuilds: BuildRun[];
}

export const VERIFY_SCHEMA = 'https://krepro.dev/schemas/verify-report/v1';

/**
 * Builds the commit twice from a clean copy, in fresh containers and volumes, once under the fixed control
 * conditions and once with every chosen variation applied; compares every artifact; and when they differ, bisects
 * the variation set to name the cause.
 */
export async function verifyRelease(opts: VerifyOptions): Promise<VerifyResult> {
  const git = simpleGit({ baseDir: opts.checkoutRoot });
  const commit = (await runGit(opts.checkoutRoot, ['rev-parse', '--verify', 'HEAD^{commit}'], `find the commit of ${opts.checkoutRoot} to verify`)).trim();
  const workDir = opts.workDir ?? (await mkdtemp(path.join(opts.checkoutRoot, '_output', 'verify-')).catch(async () => mkdtemp('/tmp/krepro-verify-')));
  const sourceDir = path.join(workDir, 'source');
  // A clean copy of the commit: no untracked or modified files of the host checkout reach either build.
  await git.raw(['worktree', 'add', '--detach', '--force', sourceDir, commit]);
  const objects = runNames(opts.checkoutHash, opts.labels);
  let counter = 0;
  const build = async (engine: VerifyEngine, label: string, variations: readonly Variation[]): Promise<BuildRun> => {
    const id = String(++counter);
    const names = variations.map((v) => v.name);
    opts.onProgress?.({ type: 'build-start', id, label, variations: names });
    const runOptions: BuildRunOptions = {
      engine: engine.engine,
      image: engine.image,
      sourceDir,
      command: opts.command,
      sourceDateEpoch: opts.sourceDateEpoch,
      version: opts.version,
      env: opts.env ?? {},
      run: objects,
      workDir,
      onStep: (step) => opts.onProgress?.({ type: 'build-step', id, label, step }),
      ...(opts.signal ? { signal: opts.signal } : {}),
    };
    const run = await runVerifyBuild(id, label, applyVariations(CONTROL, variations), names, runOptions);
    opts.onProgress?.({ type: 'build-done', id, label, durationMs: run.durationMs });
    return run;
  };
  try {
    const [controlEngine, experimentEngine] = opts.engines;
    const control = await build(controlEngine, 'control', []);
    const experiment = await build(experimentEngine, 'experiment', opts.variations);
    const differing = differingArtifacts(control, experiment);
    let noise: VerifyResult['noise'];
    if (opts.checkNoise) {
      const run = await build(controlEngine, 'noise check (control conditions again)', []);
      noise = { run, differing: differingArtifacts(control, run).map((d) => d.name) };
    }
    const attributionBuilds: BuildRun[] = [];
    const attribution =
      differing.length > 0 && opts.attribute !== false
        ? await attribute(control, differing, opts.variations, noise?.differing ?? [], async (vs) => {
            const run = await build(controlEngine, `attribution: ${vs.map((v) => v.name).join(', ')}`, vs);
            attributionBuilds.push(run);
            return run;
          })
        : [];
    const explanations = await explain(differing, opts.signal);
    return { schema: VERIFY_SCHEMA, commit, sourceDateEpoch: opts.sourceDateEpoch, reproducible: differing.length === 0, control, experiment, ...(noise ? { noise } : {}), differing, explanations, attribution, attributionBuilds };
  } finally {
    await git.raw(['worktree', 'remove', '--force', sourceDir]).catch(() => {});
    if (opts.workDir === undefined) await rm(workDir, { recursive: true, force: true }).catch(() => {});
  }
}

/**
 * Bisects the variation set: a half that, applied alone over the control conditions, reproduces a difference holds
 * a cause. Differences that the noise check also showed are nondeterminism, not any variation's doing.
 */
async function attribute(
  control: BuildRun,
  differing: ArtifactDifference[],
  variations: readonly Variation[],
  noisy: string[],
  buildWith: (vs: readonly Variation[]) => Promise<BuildRun>,
): Promise<Attribution[]> {
  const targets = new Set(differing.map((d) => d.name).filter((n) => !noisy.includes(n)));
  const results: Attribution[] = [];
  if (noisy.length > 0) {
    results.push({ variations: [], artifacts: noisy, confidence: 1, coupled: false, fix: ['pure nondeterminism (differs under identical conditions): look for map iteration, races, random or time-based values'] });
  }
  const diffOf = async (vs: readonly Variation[]) => new Set(differingArtifacts(control, await buildWith(vs)).map((d) => d.name).filter((n) => targets.has(n)));
  const culprit = (set: readonly Variation[], artifacts: Set<string>, confidence: number): Attribution => {
    const names = set.map((v) => v.name);
    return {
      variations: names,
      artifacts: [...artifacts].sort(byteOrder),
      confidence,
      // Only a pair that acts together (neither alone reproduces it) is reported as coupled.
      coupled: names.length > 1 && (names.length === 2 || COUPLED.some(([x, y]) => names.includes(x) && names.includes(y))),
      fix: set.map((v) => v.fix),
    };
  };
  // `found` are the differences `set` causes; `built` says whether `set` alone was built and showed them.
  const search = async (set: readonly Variation[], found: Set<string>, built: boolean, parent: readonly Variation[]): Promise<void> => {
    if (set.length === 1) {
      if (built) return void results.push(culprit(set, found, 1));
      const confirm = await diffOf(set);
      const confirmed = [...found].filter((n) => confirm.has(n));
      if (confirmed.length > 0) results.push(culprit(set, new Set(confirmed), confirmed.length === found.size ? 1 : 0.75));
      const left = [...found].filter((n) => !confirm.has(n));
      if (left.length > 0) results.push(culprit(parent, new Set(left), 0.5));
      return;
    }
    const half = Math.ceil(set.length / 2);
    const [a, b] = [set.slice(0, half), set.slice(half)];
    const fromA = await diffOf(a);
    if (fromA.size > 0) await search(a, fromA, true, set);
    const rest = new Set([...found].filter((n) => !fromA.has(n)));
    if (rest.size === 0) return;
    // Nothing from the first half: assume the second half alone does it (bisection), and confirm at the leaf.
    if (fromA.size === 0) return search(b, rest, false, set);
    const fromB = await diffOf(b);
    if (fromB.size > 0) await search(b, fromB, true, set);
    const unexplained = [...rest].filter((n) => !fromB.has(n));
    if (unexplained.length > 0) results.push(culprit(set, new Set(unexplained), 0.5));
  };
  if (targets.size > 0) await search(variations, targets, true, variations);
  // Bisection stops at the first variation that explains an artifact, so a known partner (HOME often lives under
  // the build path) could hide behind it: test the partner alone and report the pair as coupled when it also acts.
  for (const [x, y] of COUPLED) {
    for (const [found, partner] of [
      [x, y],
      [y, x],
    ] as const) {
      const hit = results.find((r) => r.variations.length === 1 && r.variations[0] === found);
      const candidate = variations.find((v) => v.name === partner);
      if (!hit || !candidate || results.some((r) => r.variations.includes(partner))) continue;
      const also = [...(await diffOf([candidate]))].filter((n) => hit.artifacts.includes(n));
      if (also.length === 0) continue;
      hit.coupled = true;
      results.push({ ...culprit([candidate], new Set(also), 1), coupled: true });
    }
  }
  return results;
}

export type { BuildConditions };
