import { byteOrder } from '../byte-order.js';

/** One attribution build: its id, and the artifacts that differ from the control build. */
export interface Outcome {
  id: string;
  differing: ReadonlySet<string>;
}

/** Builds with exactly these variations applied over the control conditions. */
export type BuildWith = (variations: readonly string[], purpose: string) => Promise<Outcome>;

export interface Cause {
  artifact: string;
  /**
   * `variation`: applying this one variation alone reproduces the difference; `interaction`: only these variations
   * together do; `nondeterminism`: the artifact differs between two builds under identical conditions.
   */
  kind: 'variation' | 'interaction' | 'nondeterminism';
  variations: string[];
  /** builds whose difference from the control build proves this cause */
  evidence: string[];
}

export interface AttributionResult {
  causes: Cause[];
  /** a build with every variation except the causes found, where none of the explained artifacts differs */
  cleared?: string;
  /** artifacts that still differ although every variation found was left out (should stay empty) */
  unexplained: string[];
  builds: number;
}

/**
 * Finds every cause of every difference, not only the first. Repeats: build with every variation except the causes
 * found so far; for the artifacts that still differ, bisect the remaining variations down to one whose build alone
 * reproduces a difference (a half that alone shows nothing sends the search to the other half, confirmed at the
 * leaf); record what that variation alone changes. When no single variation reproduces it, the smallest set that
 * did is reported as an interaction. Builds: at most ⌈log2 n⌉ + 2 per cause among n variations.
 *
 * `experiment` is the build with all `variations` applied; `noisy` are artifacts that differed under identical
 * conditions (a nondeterministic build), which no variation can be blamed for. `only`: the artifacts to find causes
 * for (the matrix plan's second round: what its first round left unexplained); default every one that differs.
 */
export async function attributeCauses(
  variations: readonly string[],
  experiment: Outcome,
  noise: { id: string; noisy: ReadonlySet<string>; control: string } | undefined,
  buildWith: BuildWith,
  only?: ReadonlySet<string>,
): Promise<AttributionResult> {
  const causes: Cause[] = [];
  const noisy = noise?.noisy ?? new Set<string>();
  for (const artifact of [...noisy].sort(byteOrder)) {
    if (!only || only.has(artifact)) causes.push({ artifact, kind: 'nondeterminism', variations: [], evidence: noise ? [noise.control, noise.id] : [] });
  }
  const relevant = (o: Outcome): Set<string> => new Set([...o.differing].filter((a) => !noisy.has(a) && (!only || only.has(a))));
  let builds = 0;
  const build: BuildWith = async (vs, purpose) => {
    builds++;
    return buildWith(vs, purpose);
  };

  const found: string[] = [];
  let last = experiment;
  let remaining = relevant(experiment);
  let cleared: string | undefined;
  while (remaining.size > 0) {
    const pool = variations.filter((v) => !found.includes(v));
    const hit = await bisect(pool, last, remaining, build, relevant);
    for (const artifact of [...hit.artifacts].sort(byteOrder)) {
      causes.push({ artifact, kind: hit.variations.length === 1 ? 'variation' : 'interaction', variations: hit.variations, evidence: [hit.evidence] });
    }
    found.push(...hit.variations);
    const rest = variations.filter((v) => !found.includes(v));
    if (rest.length === 0) {
      remaining = new Set();
      break;
    }
    last = await build(rest, `every variation except ${found.join(', ')}`);
    remaining = relevant(last);
    if (remaining.size === 0) cleared = last.id;
  }
  const explained = new Set(causes.map((c) => c.artifact));
  const unexplained = [...remaining, ...[...relevant(experiment)].filter((a) => !explained.has(a))];
  return { causes: sortCauses(causes), ...(cleared ? { cleared } : {}), unexplained: [...new Set(unexplained)].sort(byteOrder), builds };
}

interface Hit {
  variations: string[];
  /** what these variations alone change (restricted to relevant artifacts) */
  artifacts: Set<string>;
  evidence: string;
}

/**
 * Narrows `pool`, whose build together (`shown`) changed some of `wanted`, to one variation that alone does. Returns
 * the smallest set seen to cause it as an interaction when the halves only act together.
 */
async function bisect(pool: readonly string[], shown: Outcome, wanted: ReadonlySet<string>, build: BuildWith, relevant: (o: Outcome) => Set<string>): Promise<Hit> {
  let set = [...pool];
  let target = intersect(relevant(shown), wanted);
  // The last set whose own build showed a wanted difference, with that build.
  let proven = { set, outcome: shown };
  while (set.length > 1) {
    const half = Math.ceil(set.length / 2);
    const [a, b] = [set.slice(0, half), set.slice(half)];
    const ra = await build(a, `bisect: ${a.join(', ')}`);
    const hits = intersect(relevant(ra), target);
    if (hits.size > 0) {
      set = a;
      target = hits;
      proven = { set: a, outcome: ra };
    } else {
      set = b; // a alone changes none of them: assume b does, and confirm at the leaf
    }
  }
  if (proven.set === set) return { variations: set, artifacts: relevant(proven.outcome), evidence: proven.outcome.id };
  const solo = await build(set, `confirm: ${set[0]} alone`);
  if (intersect(relevant(solo), target).size > 0) return { variations: set, artifacts: relevant(solo), evidence: solo.id };
  // Neither half alone: the difference needs variations from both.
  return { variations: proven.set, artifacts: intersect(relevant(proven.outcome), target), evidence: proven.outcome.id };
}

function intersect(a: ReadonlySet<string>, b: ReadonlySet<string>): Set<string> {
  return new Set([...a].filter((x) => b.has(x)));
}

function sortCauses(causes: Cause[]): Cause[] {
  return causes.sort((x, y) => byteOrder(x.artifact, y.artifact) || byteOrder(x.variations.join(','), y.variations.join(',')));
}

/** The worst case of attributeCauses for k causes among n variations (README: "how many builds"). */
export function worstCaseBuilds(k: number, n: number): number {
  return k * (Math.ceil(Math.log2(Math.max(n, 1))) + 2);
}
