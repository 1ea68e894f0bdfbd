import type { Span } from '../diff/types.js';
import type { Consequence, LocatedFinding } from './findings.js';

/** One build's findings against the control build. */
export interface Outcome {
  id: string;
  findings: readonly LocatedFinding[];
}

/** Builds with exactly these variations applied over the control conditions; `[]` is another noise build. */
export type BuildWith = (variations: readonly string[], purpose: string) => Promise<Outcome>;

/**
 * What one finding of control vs experiment ends with, exactly one of: a variation (its build alone shows the
 * finding), an interaction (only these variations together do), nondeterminism (the noise builds show it),
 * masked by noise (noise rewrites the place whole, so no build can show whether a variation changes it too), or a
 * consequence of other differences.
 */
export type Verdict =
  | { kind: 'variation' | 'interaction'; variations: string[]; build: string }
  | { kind: 'nondeterminism'; builds: string[]; note?: string }
  | { kind: 'masked-by-noise'; builds: string[] }
  | { kind: 'consequence'; of: Consequence };

/** A variation recognized by its value in the experiment's findings, and whether its build alone confirmed it. */
export interface Guess {
  /** The variation's name. */
  variation: string;
  /** Findings of the experiment that carry its value. */
  findings: number;
  /** The build with this variation alone. */
  build: string;
  /** Whether that build showed the findings. */
  confirmed: boolean;
}

/** The cause search's outcome. */
export interface AttributionResult {
  /** The findings judged: the experiment's, then (with `grows`) what later builds showed. */
  findings: LocatedFinding[];
  /** One per finding, in its order. */
  verdicts: Verdict[];
  /** The variations recognized by their values, each tried alone. */
  guesses: Guess[];
  /** A build with every variation but the causes found, showing nothing outside the noise mask. */
  cleared?: string;
  /** The noise builds the mask came from (another is made when a finding shows in no other build). */
  noise: string[];
  /** Builds attribution ran (guesses, clearing, search, extra noise). */
  builds: number;
}

export interface AttributionInput {
  /** the tested variations, in order */
  variations: readonly string[];
  /**
   * The experiment's findings: what gets a verdict. When the experiment build failed (its outputs cannot be
   * compared) they are its failure and what other builds show; `grows` then lets later builds add what they show.
   */
  experiment: Outcome;
  grows?: boolean;
  /** control again, once or more: the noise mask */
  noise: readonly Outcome[];
  /** the variations whose experiment values a finding carries (recognizer) */
  recognize: (f: LocatedFinding) => string[];
}

/** Noise covering this share of a member (and at least MIN_DENSE units) masks the whole member: map order, a compressed blob. */
const DENSE_SHARE = 0.25;
/** Noise builds attribution may add when a finding turns out to show without its variation. */
const MAX_EXTRA_NOISE = 2;
const MIN_DENSE = { line: 8, byte: 64 } as const;

const memberKey = (f: LocatedFinding) => `${f.artifact}\0${f.path.join('\0')}`;
const placeKey = (f: LocatedFinding) => (f.at ? `${memberKey(f)}\0@${f.at.unit}` : `${memberKey(f)}\0${f.field}`);

const isInsertion = (s: Span) => s.end < s.start;

/** Whether two spans of one member meet: lines (and columns of one line), bytes; an insertion meets a range it falls inside. */
export function spansMeet(a: Span, b: Span): boolean {
  if (a.unit !== b.unit) return false;
  if (isInsertion(a) && isInsertion(b)) return a.start === b.start;
  if (isInsertion(a)) return b.start < a.start && a.start <= b.end;
  if (isInsertion(b)) return spansMeet(b, a);
  if (a.start > b.end || b.start > a.end) return false;
  if (a.columns && b.columns && a.start === a.end && b.start === b.end) {
    const end = (c: [number, number]) => Math.max(c[1], c[0] + 1);
    return a.columns[0] < end(b.columns) && b.columns[0] < end(a.columns);
  }
  return true;
}

/** Two findings of two builds (each against the control build) are the same finding when their places meet. */
export function sameLocation(a: LocatedFinding, b: LocatedFinding): boolean {
  if (placeKey(a) !== placeKey(b)) return false;
  return !a.at || !b.at || spansMeet(a.at, b.at);
}

/** Findings of one build indexed by place, for quick `sameLocation` lookups. */
export class Places {
  private readonly byKey = new Map<string, LocatedFinding[]>();
  constructor(findings: Iterable<LocatedFinding>) {
    for (const f of findings) {
      const list = this.byKey.get(placeKey(f));
      if (list) list.push(f);
      else this.byKey.set(placeKey(f), [f]);
    }
  }
  matches(f: LocatedFinding): LocatedFinding[] {
    return (this.byKey.get(placeKey(f)) ?? []).filter((g) => sameLocation(f, g));
  }
}

/**
 * The noise mask: every place where a build under control conditions differs from the control build. A member
 * whose noise covers a large share of it (a map printed in random order, a compressed stream with a random byte
 * near its start) is masked whole, so the holes noise happened to leave are not mistaken for causes.
 */
export class NoiseMask {
  private places = new Places([]);
  private readonly dense = new Set<string>();
  private readonly all: LocatedFinding[] = [];

  constructor(noise: Iterable<LocatedFinding>) {
    this.add(noise);
  }

  add(noise: Iterable<LocatedFinding>): void {
    this.all.push(...noise);
    this.places = new Places(this.all);
    const covered = new Map<string, { units: number; total: number; unit: Span['unit'] }>();
    for (const f of this.all) {
      if (!f.at) continue;
      const k = `${memberKey(f)}\0@${f.at.unit}`;
      const c = covered.get(k) ?? { units: 0, total: f.at.total, unit: f.at.unit };
      c.units += Math.max(1, f.at.end - f.at.start + 1);
      covered.set(k, c);
    }
    for (const [k, c] of covered) if (c.units >= Math.max(MIN_DENSE[c.unit], c.total * DENSE_SHARE)) this.dense.add(k);
  }

  covers(f: LocatedFinding): boolean {
    if (f.at && this.dense.has(`${memberKey(f)}\0@${f.at.unit}`)) return true;
    return this.places.matches(f).length > 0;
  }
}

/** The pure part shared by every plan: what a finished build shows, and the verdicts nothing needs a build for. */
export class Attributor {
  readonly mask: NoiseMask;
  private readonly values = new Map<LocatedFinding, string[]>();

  constructor(private readonly input: Pick<AttributionInput, 'recognize'>, noise: readonly Outcome[]) {
    this.mask = new NoiseMask(noise.flatMap((o) => o.findings));
  }

  carried(f: LocatedFinding): string[] {
    let v = this.values.get(f);
    if (!v) this.values.set(f, (v = this.input.recognize(f)));
    return v;
  }

  /** A finding that needs a cause: not a consequence, and outside the mask unless it carries an experiment value. */
  isPrimary(f: LocatedFinding): boolean {
    return !f.consequenceOf && (this.carried(f).length > 0 || !this.mask.covers(f));
  }

  /** The verdict of a finding that needs no build beyond the noise builds (a consequence, noise), else undefined. */
  settled(f: LocatedFinding, noiseBuilds: string[]): Verdict | undefined {
    if (f.consequenceOf) return { kind: 'consequence', of: f.consequenceOf };
    if (this.isPrimary(f)) return undefined;
    return f.opaque ? { kind: 'masked-by-noise', builds: noiseBuilds } : { kind: 'nondeterminism', builds: noiseBuilds };
  }

  /**
   * Whether a build shows finding `f` (of another build): a finding at the same place; where noise also changes
   * that place, only one that carries the same experiment value counts.
   */
  shows(places: Places, f: LocatedFinding): boolean {
    const found = places.matches(f);
    if (!this.mask.covers(f)) return found.length > 0;
    const want = this.carried(f);
    return found.some((g) => this.carried(g).some((v) => want.includes(v)));
  }

  placesOf(o: Outcome): Places {
    return new Places(o.findings);
  }
}

/** A finished build attribution may use: the variations it applied, and those it also differs in (alsoVaries). */
export interface FinishedBuild {
  variations: readonly string[];
  /** conditions it differs from the control in beyond its variations (a matrix build on disk: its file order) */
  alsoVaries?: readonly string[];
  outcome: Outcome;
}

/**
 * Given finished builds (each with the variations it applied), the verdict of every finding of the experiment that
 * one of them explains: the first single-variation build that shows it, else the smallest multi-variation build
 * (an interaction). A build that also varies another condition explains nothing the build of that condition alone
 * shows too. What none explains stays undefined (a plan builds more for it). The matrix plan's first round.
 */
export function explainFindings(input: AttributionInput, builds: readonly FinishedBuild[]): (Verdict | undefined)[] {
  const a = new Attributor(input, input.noise);
  const noiseIds = input.noise.map((o) => o.id);
  const ordered = [...builds].sort((x, y) => x.variations.length - y.variations.length);
  const places = ordered.map((b) => a.placesOf(b.outcome));
  const alone = (v: string, f: LocatedFinding) => ordered.some((b, j) => b.variations.length === 1 && b.variations[0] === v && a.shows(places[j]!, f));
  return input.experiment.findings.map((f) => {
    const s = a.settled(f, noiseIds);
    if (s) return s;
    const i = ordered.findIndex((b, j) => b.variations.length > 0 && fits(a, f, b.variations) && a.shows(places[j]!, f) && !(b.alsoVaries ?? []).some((v) => alone(v, f)));
    if (i < 0) return undefined;
    const b = ordered[i]!;
    return { kind: b.variations.length === 1 ? 'variation' : 'interaction', variations: [...b.variations], build: b.outcome.id };
  });
}

/** A finding that carries experiment values is only given to a build applying one of them. */
function fits(a: Attributor, f: LocatedFinding, variations: readonly string[]): boolean {
  const carried = a.carried(f);
  return carried.length === 0 || carried.some((v) => variations.includes(v));
}

/**
 * The adaptive plan: finds the cause of every finding of control vs experiment with few builds, one at a time.
 *
 * 1. Consequences and findings in the noise mask are settled without builds.
 * 2. Guesses: each variation whose unique experiment value a finding carries is built alone; the findings that
 *    build shows are its (k recognizable causes: k builds).
 * 3. A build with every variation not yet found must show nothing outside the mask; what it shows is bisected over
 *    those variations (a half that alone shows nothing sends the search to the other half, confirmed at the leaf;
 *    only-together is an interaction), and the loop repeats. Before anything is found the experiment is that build.
 *    A build that shows a finding without the variation it was given to means noise the mask missed: one more
 *    noise build widens the mask, and what it covers becomes nondeterminism.
 * 4. What still has no cause gets one more noise build, then a bisect from the experiment over every variation (an
 *    interaction with a variation found before); what no build shows but the experiment is nondeterminism.
 *
 * Builds: k + 1 for k recognizable causes (k + 4 with control, experiment and one noise build); each cause the
 * search finds among n variations adds at most ⌈log₂ n⌉ + 2; at most MAX_EXTRA_NOISE noise builds more.
 */
export async function attributeFindings(input: AttributionInput, buildWith: BuildWith, given: readonly (Verdict | undefined)[] = []): Promise<AttributionResult> {
  const a = new Attributor(input, input.noise);
  const noise = input.noise.map((o) => o.id);
  const findings = [...input.experiment.findings];
  // What an earlier round explained (the matrix plan's single-variation builds) stays, and its variations are found.
  const verdicts: (Verdict | undefined)[] = findings.map((f, i) => given[i] ?? a.settled(f, noise));
  const found = [...new Set(verdicts.flatMap((v) => (v?.kind === 'variation' ? v.variations : [])))];
  const open = () => findings.filter((_, i) => verdicts[i] === undefined);
  let builds = 0;
  const build: BuildWith = async (vs, purpose) => {
    builds++;
    return buildWith(vs, purpose);
  };
  /** Gives every open finding `o` shows to `variations`; returns how many. */
  const explainBy = (o: Outcome, variations: readonly string[], only?: ReadonlySet<LocatedFinding>): number => {
    const places = a.placesOf(o);
    let n = 0;
    findings.forEach((f, i) => {
      if (verdicts[i] !== undefined || (only && !only.has(f)) || !fits(a, f, variations) || !a.shows(places, f)) return;
      verdicts[i] = { kind: variations.length === 1 ? 'variation' : 'interaction', variations: [...variations], build: o.id };
      n++;
    });
    return n;
  };

  // 2. Guesses, in the variations' order.
  const guesses: Guess[] = [];
  for (const v of input.variations) {
    const carrying = open().filter((f) => a.carried(f).includes(v));
    if (carrying.length === 0) continue;
    const o = await build([v], `guess: ${v} alone (its value is in ${carrying.length} finding${carrying.length === 1 ? '' : 's'})`);
    const confirmed = explainBy(o, [v]) > 0;
    guesses.push({ variation: v, findings: carrying.length, build: o.id, confirmed });
    if (confirmed) found.push(v);
  }

  // Noise the first noise builds did not show: one more noise build joins the mask (at most MAX_EXTRA_NOISE).
  let extraNoise = 0;
  const moreNoise = async (why: string): Promise<boolean> => {
    if (extraNoise >= MAX_EXTRA_NOISE) return false;
    extraNoise++;
    const o = await build([], `control again (noise check: ${why})`);
    noise.push(o.id);
    a.mask.add(o.findings);
    // What the wider mask covers was noise after all, whatever build showed it before (unless it carries a value).
    findings.forEach((f, i) => {
      const v = verdicts[i];
      if (v === undefined || v.kind === 'variation' || v.kind === 'interaction') verdicts[i] = a.settled(f, noise) ?? v;
    });
    const still = new Set(verdicts.flatMap((v) => (v && 'variations' in v ? v.variations : [])));
    found.splice(0, found.length, ...found.filter((v) => still.has(v)));
    return true;
  };

  // 3. Every other variation; search what it still shows. A build without a variation that still shows a finding
  // given to it contradicts that: noise the mask missed, checked with another noise build.
  let cleared: string | undefined;
  if (open().length > 0 || found.length > 0) {
    let first = true;
    for (;;) {
      const rest = input.variations.filter((v) => !found.includes(v));
      if (rest.length === 0) break;
      // Before anything is found, every variation is the experiment itself: no build needed.
      const o = first && found.length === 0 ? input.experiment : await build(rest, found.length ? `every variation except ${found.join(', ')}` : 'every variation');
      first = false;
      const places = a.placesOf(o);
      const contradicted = findings.some((f, i) => {
        const v = verdicts[i];
        return v !== undefined && 'variations' in v && !v.variations.every((x) => rest.includes(x)) && a.isPrimary(f) && a.shows(places, f);
      });
      if (contradicted && (await moreNoise('a finding shows without the variation it was given to'))) continue;
      const shown = o.findings.filter((f) => a.isPrimary(f));
      // A failed experiment compared nothing: what a build with fewer variations shows joins the findings.
      if (input.grows) for (const f of shown) if (!findings.some((g) => sameLocation(f, g))) (findings.push(f), verdicts.push(undefined));
      if (shown.length === 0) {
        cleared = o.id;
        break;
      }
      const hit = await bisect(rest, o, shown, build, a);
      explainBy(hit.outcome, hit.variations, hit.variations.length > 1 ? new Set(findings.filter((f) => hit.targets.some((t) => sameLocation(f, t)))) : undefined);
      found.push(...hit.variations);
    }
  }

  // 4. Without a cause yet: noise the noise builds missed, or an interaction with a cause found before.
  if (open().length > 0) await moreNoise('a difference no other build showed');
  while (open().length > 0) {
    const targets = open();
    const hit = await bisect(input.variations, input.experiment, targets, build, a);
    // No build with fewer variations showed them: seen in the experiment only (nondeterminism, below).
    if (hit.outcome === input.experiment || explainBy(hit.outcome, hit.variations, new Set(targets)) === 0) break;
  }
  const note = 'differs in the experiment build only, in no build with fewer variations and no noise build: nondeterminism the noise builds did not happen to show';
  return {
    findings,
    verdicts: verdicts.map((v) => v ?? { kind: 'nondeterminism', builds: noise, note }),
    guesses,
    ...(cleared ? { cleared } : {}),
    noise,
    builds,
  };
}

interface Hit {
  variations: string[];
  /** the build that shows the targets with exactly these variations */
  outcome: Outcome;
  /** the findings the search followed */
  targets: LocatedFinding[];
}

/**
 * Narrows `pool`, whose build together (`shown`) shows `wanted`, to one variation whose build alone shows some of
 * them; the smallest set seen to show them is an interaction when no single variation does.
 */
async function bisect(pool: readonly string[], shown: Outcome, wanted: LocatedFinding[], build: BuildWith, a: Attributor): Promise<Hit> {
  let set = [...pool];
  let target = wanted;
  let proven = { set, outcome: shown, target };
  while (set.length > 1) {
    const half = Math.ceil(set.length / 2);
    const [first, second] = [set.slice(0, half), set.slice(half)];
    const o = await build(first, `bisect: ${first.join(', ')}`);
    const places = a.placesOf(o);
    const hits = target.filter((f) => a.shows(places, f));
    if (hits.length > 0) {
      set = first;
      target = hits;
      proven = { set, outcome: o, target };
    } else {
      set = second; // the first half alone shows none of them: assume the second does, and confirm at the leaf
    }
  }
  if (proven.set === set) return { variations: set, outcome: proven.outcome, targets: proven.target };
  const solo = await build(set, `confirm: ${set[0]} alone`);
  const places = a.placesOf(solo);
  const hits = target.filter((f) => a.shows(places, f));
  if (hits.length > 0) return { variations: set, outcome: solo, targets: hits };
  // Neither half alone: the difference needs variations from both.
  return { variations: proven.set, outcome: proven.outcome, targets: proven.target };
}

/** The worst case of the search for k causes among n variations (README, --help): ⌈log₂ n⌉ + 2 per cause. */
export function worstCaseBuilds(k: number, n: number): number {
  return k * (Math.ceil(Math.log2(Math.max(n, 1))) + 2);
}
