import type { HostFacts } from '../backend/backend.js';
import { byteOrder } from '../byte-order.js';
import type { Cause, Outcome } from './attribution.js';

/** A single-variation build of the matrix plan's first round, with what it varies beyond its variation. */
export interface MatrixBuild {
  variation: string;
  /** variations it also differs from the control build in (the file order of a build on disk) */
  alsoVaries: readonly string[];
  outcome: Outcome;
}

export interface MatrixExplained {
  causes: Cause[];
  /** what no single-variation build and no noise shows: an interaction, for a second round */
  unexplained: string[];
}

/**
 * The matrix plan's first round, attributed: each target (what differs between control and experiment) that the
 * noise check shows is nondeterminism; else every single-variation build that shows it names a cause. A build that
 * also varies another condition (its file order, on disk) names its own variation only where the build of that
 * condition alone does not show the target too. What none shows needs variations together: a second round.
 */
export function explainByMatrix(targets: ReadonlySet<string>, noise: { id: string; control: string; noisy: ReadonlySet<string> } | undefined, singles: readonly MatrixBuild[]): MatrixExplained {
  const causes: Cause[] = [];
  const unexplained: string[] = [];
  const shownBy = (variation: string, artifact: string): boolean => singles.some((s) => s.variation === variation && s.outcome.differing.has(artifact));
  for (const artifact of [...targets].sort(byteOrder)) {
    if (noise?.noisy.has(artifact)) {
      causes.push({ artifact, kind: 'nondeterminism', variations: [], evidence: [noise.control, noise.id] });
      continue;
    }
    const by = singles.filter((s) => s.outcome.differing.has(artifact) && !s.alsoVaries.some((v) => shownBy(v, artifact)));
    for (const s of by) causes.push({ artifact, kind: 'variation', variations: [s.variation], evidence: [s.outcome.id] });
    if (by.length === 0) unexplained.push(artifact);
  }
  return { causes, unexplained };
}

/** The facts of two hosts that differ, as `name: reference → other`; none when both are one machine with the same facts. */
export function hostDifferences(reference: HostFacts, other: HostFacts): string[] {
  const keys = ['machine', 'kernel', 'cpus', 'memoryBytes', 'os', 'arch', 'engineVersion'] as const;
  return keys.filter((k) => reference[k] !== other[k]).map((k) => `${k}: ${reference[k]} → ${other[k]}`);
}
