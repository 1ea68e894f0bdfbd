import { byteOrder } from '../byte-order.js';
import { CAUSES, type CauseId } from '../diff/findings.js';
import type { Verdict } from './attribution.js';
import type { Variation } from './conditions.js';
import type { LocatedFinding } from './findings.js';

/**
 * One cause of a verify: the findings it explains (indices into the result's findings) and the consequences that
 * follow from them, with the builds that prove it and its fix. `consequence` gathers only consequences whose
 * origin has no cause of its own (a checksum of a member of another file).
 */
export interface CauseGroup {
  /** The variations joined with `+` (`tz`, `locale+umask`), or the kind for the others. */
  id: string;
  /** What explains the findings (see Verdict). */
  kind: 'variation' | 'interaction' | 'nondeterminism' | 'masked-by-noise' | 'consequence';
  /** The variations it needs (none but for a variation or interaction). */
  variations: string[];
  /** The builds that prove it. */
  evidence: string[];
  /** What to change in the build: the variations' fixes, or what krepro diff recognized. */
  fix: string[];
  /** The findings it explains: indices into Explained.findings. */
  findings: number[];
  /** The consequences that follow from them: indices into Explained.findings. */
  consequences: number[];
  /** The artifacts its findings are in. */
  artifacts: string[];
}

const ORDER: CauseGroup['kind'][] = ['variation', 'interaction', 'nondeterminism', 'masked-by-noise', 'consequence'];
const NOISE_FIX = 'make the build deterministic under identical conditions: look for map iteration, races, random values and the current time';

function idOf(v: Verdict): string {
  if (v.kind === 'variation' || v.kind === 'interaction') return v.variations.join('+');
  return v.kind;
}

/** The catalogue fixes of what krepro diff recognized in these findings, most frequent first. */
function diffFixes(findings: LocatedFinding[]): string[] {
  const counts = new Map<CauseId, number>();
  for (const f of findings) if (f.diffCause !== 'content') counts.set(f.diffCause, (counts.get(f.diffCause) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]).map(([c]) => `${CAUSES[c].title}: ${CAUSES[c].fix}`);
}

/**
 * Groups the findings of control vs experiment by verdict: one group per variation, interaction, nondeterminism and
 * masked by noise, causes first (variations in their order), each consequence under the first cause of what it
 * follows from. Findings without a verdict (attribution off) are in no group.
 */
export function groupCauses(findings: readonly LocatedFinding[], verdicts: readonly (Verdict | undefined)[], variations: readonly Variation[]): CauseGroup[] {
  const groups = new Map<string, CauseGroup>();
  const consequences: number[] = [];
  verdicts.forEach((v, i) => {
    if (!v) return;
    if (v.kind === 'consequence') return void consequences.push(i);
    const id = idOf(v);
    let g = groups.get(id);
    if (!g) {
      const vs = v.kind === 'variation' || v.kind === 'interaction' ? v.variations : [];
      g = { id, kind: v.kind, variations: [...vs], evidence: [], fix: [], findings: [], consequences: [], artifacts: [] };
      groups.set(id, g);
    }
    const proof = 'build' in v ? [v.build] : v.builds;
    for (const b of proof) if (!g.evidence.includes(b)) g.evidence.push(b);
    g.findings.push(i);
  });
  const rank = (g: CauseGroup) => ORDER.indexOf(g.kind) * 1000 + (g.variations[0] ? variations.findIndex((v) => v.name === g.variations[0]) : 0);
  const list = [...groups.values()].sort((a, b) => rank(a) - rank(b) || byteOrder(a.id, b.id));
  // Where each place's causes are, for consequences: a binary (artifact and member path), or a whole artifact.
  const byPlace = new Map<string, CauseGroup[]>();
  const add = (k: string, g: CauseGroup) => {
    const gs = byPlace.get(k) ?? [];
    if (!gs.includes(g)) gs.push(g);
    byPlace.set(k, gs);
  };
  for (const g of list) {
    for (const i of g.findings) {
      const f = findings[i]!;
      add(`${f.artifact}\0${f.path.join('\0')}`, g);
      add(f.artifact, g);
    }
  }
  let orphans: CauseGroup | undefined;
  for (const i of consequences) {
    const of = (verdicts[i] as Extract<Verdict, { kind: 'consequence' }>).of;
    const owner = byPlace.get(of.path.length ? `${of.artifact}\0${of.path.join('\0')}` : of.artifact)?.sort((a, b) => list.indexOf(a) - list.indexOf(b))[0];
    if (owner) owner.consequences.push(i);
    else (orphans ??= { id: 'consequence', kind: 'consequence', variations: [], evidence: [], fix: [], findings: [], consequences: [], artifacts: [] }).consequences.push(i);
  }
  if (orphans) list.push(orphans);
  for (const g of list) {
    const own = g.findings.map((i) => findings[i]!);
    g.artifacts = [...new Set([...g.findings, ...g.consequences].map((i) => findings[i]!.artifact))].sort(byteOrder);
    if (g.kind === 'variation' || g.kind === 'interaction') g.fix = g.variations.map((n) => variations.find((v) => v.name === n)?.fix ?? n);
    else if (g.kind === 'nondeterminism') g.fix = [NOISE_FIX, ...diffFixes(own)];
    else if (g.kind === 'masked-by-noise') g.fix = [`first ${NOISE_FIX}, then verify again: noise rewrites these places whole, so no build can show whether a variation changes them too`, ...diffFixes(own)];
    else g.fix = ['fix the differences of the files these describe'];
  }
  return list;
}
