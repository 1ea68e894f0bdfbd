import type { HostFacts } from '../backend/backend.js';
import type { BuildConditions } from '../backend/conditions.js';
import { KreproError } from '../errors.js';
import { quote } from '../quote.js';
import { applyVariations, type Variation } from './conditions.js';

/**
 * How verify schedules its builds. `adaptive`: few builds, one after another, each chosen from what the last one
 * showed (the guided search). `matrix`: control, noise check, experiment and every variation alone, all at once;
 * what no single-variation build or the noise explains (an interaction) gets a second round.
 */
export type PlanKind = 'adaptive' | 'matrix';

/** Every plan kind. */
export const PLAN_KINDS: readonly PlanKind[] = ['adaptive', 'matrix'];

/** What a build is for in a plan. */
export type BuildRole = 'control' | 'noise' | 'experiment' | 'variation' | 'search';

/** One build a plan asks for, as plain data (a CI job gets it as JSON): the same ID names the same build everywhere. */
export interface PlannedBuild {
  /** `control`, `noise`, `experiment`, or the variation's name: stable, so a CI matrix can list them */
  id: string;
  /** What it is for, in words. */
  label: string;
  /** Its role in the plan. */
  role: BuildRole;
  /** The variations applied. */
  variations: string[];
  /** The conditions it runs under. */
  conditions: BuildConditions;
}

export interface PlanChoice {
  kind: PlanKind;
  /** why this plan, in words */
  why: string;
}

/** The matrix plan needs n + 3 builds at once (control, noise check, experiment and each of n variations alone). */
export function matrixWidth(variations: number): number {
  return variations + 3;
}

/** The matrix plan when `jobs` can run all of its first round at once, else the adaptive one, unless one is asked for. */
export function choosePlan(asked: PlanKind | undefined, jobs: number, variations: number): PlanChoice {
  if (!Number.isInteger(jobs) || jobs < 1) throw new KreproError('E_USAGE', `--jobs must be a whole number ≥ 1, got ${quote(jobs)}`);
  const width = matrixWidth(variations);
  if (asked !== undefined) return { kind: asked, why: `--plan ${asked}` };
  if (jobs >= width) return { kind: 'matrix', why: `--jobs ${jobs} ≥ n + 3 = ${width}: every build of the first round at once` };
  return { kind: 'adaptive', why: `--jobs ${jobs} < n + 3 = ${width}: few builds, one after another` };
}

export function planKindNamed(name: string): PlanKind {
  const kind = PLAN_KINDS.find((k) => k === name);
  if (!kind) throw new KreproError('E_USAGE', `unknown plan ${quote(name)}; known: ${PLAN_KINDS.join(', ')}`);
  return kind;
}

/**
 * The matrix plan's first round. A build's file order needs an in-memory volume (readdir follows creation order
 * there; ext4 and overlay list by name hash), and memory caps how many builds run at once: only the builds whose
 * file order is compared need one — control, noise check, experiment and `file-order` alone. When `file-order` is
 * varied, every other single-variation build lists its files in the file system's order instead
 * (`fileOrder: 'filesystem'`), which the attribution accounts for (`alsoVaries`).
 */
export function matrixBuilds(control: BuildConditions, variations: readonly Variation[]): PlannedBuild[] {
  const fileOrderVaried = variations.some((v) => v.name === 'file-order');
  const builds: PlannedBuild[] = [
    { id: 'control', label: 'control', role: 'control', variations: [], conditions: control },
    { id: 'noise', label: 'control again (noise check)', role: 'noise', variations: [], conditions: control },
    { id: 'experiment', label: 'experiment', role: 'experiment', variations: variations.map((v) => v.name), conditions: applyVariations(control, variations) },
  ];
  for (const v of variations) {
    const conditions = applyVariations(control, [v]);
    const onDisk = fileOrderVaried && v.name !== 'file-order';
    builds.push({ id: v.name, label: `${v.name} alone`, role: 'variation', variations: [v.name], conditions: onDisk ? { ...conditions, fileOrder: 'filesystem' } : conditions });
  }
  return builds;
}

/** The variations a build differs from the control build in beyond those it was asked for: the file order of a build on disk. */
export function alsoVaries(build: { conditions: BuildConditions; variations: readonly string[] }): string[] {
  return build.conditions.fileOrder === 'filesystem' && !build.variations.includes('file-order') ? ['file-order'] : [];
}

/**
 * The `--build` values of a CI matrix for a plan: the noise check runs in the control's job (the control and noise
 * builds of one host are the reference), every other build in a job of its own.
 */
export function matrixJobs(builds: readonly PlannedBuild[]): string[] {
  const rest = builds.filter((b) => b.role !== 'control' && b.role !== 'noise').map((b) => b.id);
  return ['control,noise', ...rest];
}

/** The facts of two hosts that differ, as `name: reference → other`; none when both are one machine with the same facts. */
export function hostDifferences(reference: HostFacts, other: HostFacts): string[] {
  const keys = ['machine', 'kernel', 'cpus', 'memoryBytes', 'os', 'arch', 'engineVersion'] as const;
  return keys.filter((k) => reference[k] !== other[k]).map((k) => `${k}: ${reference[k]} → ${other[k]}`);
}
