import { datesIn, parseDate } from '../diff/findings.js';
import type { Variation } from './conditions.js';

/** What a recognizer reads of a finding: where, and its two sides. */
export interface Sides {
  field: string;
  left: string | null;
  right: string | null;
}

const DAY = 86_400_000;
const YEAR = /\b(19|20|21)\d\d\b/g;
const GROUP_WRITE = 0o020;

/**
 * The variations whose experiment values a finding's new side carries (and its old side does not): each variation's
 * marks, longest first, a matched stretch never matched again (so a shorter value inside a longer one is not
 * counted); then what only a comparison shows: a mode that gained group write (umask), a date or year a year ahead
 * (clock). Variations without values (file order, aslr, cpus, collation) are never recognized: the search finds them.
 */
export function recognizer(variations: readonly Variation[]): (f: Sides) => string[] {
  const literal = variations.flatMap((v) => v.marks.filter((m): m is string => typeof m === 'string').map((m) => ({ m, v: v.name }))).sort((a, b) => b.m.length - a.m.length);
  const patterns = variations.flatMap((v) => v.marks.filter((m): m is RegExp => m instanceof RegExp).map((m) => ({ m: new RegExp(m.source, `${m.flags.replace('g', '')}g`), v: v.name })));
  const names = new Set(variations.map((v) => v.name));
  const order = variations.map((v) => v.name);
  return (f) => {
    const right = f.right ?? '';
    const left = f.left ?? '';
    const found = new Set<string>();
    const taken: [number, number][] = [];
    const free = (from: number, to: number) => taken.every(([a, b]) => to <= a || from >= b);
    for (const { m, v } of literal) {
      if (left.includes(m)) continue;
      for (let i = right.indexOf(m); i >= 0; i = right.indexOf(m, i + 1)) {
        if (!free(i, i + m.length)) continue;
        taken.push([i, i + m.length]);
        found.add(v);
      }
    }
    for (const { m, v } of patterns) {
      m.lastIndex = 0;
      if (new RegExp(m.source, m.flags.replace('g', '')).test(left)) continue;
      for (const hit of right.matchAll(m)) {
        if (!free(hit.index, hit.index + hit[0].length)) continue;
        taken.push([hit.index, hit.index + hit[0].length]);
        found.add(v);
      }
    }
    if (names.has('umask') && gainedGroupWrite(f)) found.add('umask');
    if (names.has('clock') && yearAhead(left, right)) found.add('clock');
    return order.filter((v) => found.has(v));
  };
}

/** An octal mode (a tar header's, or `0664` in text) or `ls -l` mode string that gained group write. */
function gainedGroupWrite(f: Sides): boolean {
  if (f.left === null || f.right === null) return false;
  if (f.field === 'mode' && /^0?[0-7]{3,4}$/.test(f.left) && /^0?[0-7]{3,4}$/.test(f.right)) {
    const [l, r] = [parseInt(f.left, 8), parseInt(f.right, 8)];
    return (r & GROUP_WRITE) !== 0 && (l & GROUP_WRITE) === 0;
  }
  return /[-dl][r-][w-][xsS-]r-[xsS-]/.test(f.left) && /[-dl][r-][w-][xsS-]rw[xsS-]/.test(f.right);
}

/** A date on the new side a year (360–380 days) after the one at the same place on the old side, or year Y → Y + 1. */
function yearAhead(left: string, right: string): boolean {
  const dl = datesIn(left);
  const dr = datesIn(right);
  for (let i = 0; i < Math.min(dl.length, dr.length); i++) {
    const a = parseDate(dl[i]!);
    const b = parseDate(dr[i]!);
    if (a && b && b.wall - a.wall >= 360 * DAY && b.wall - a.wall <= 380 * DAY) return true;
  }
  const yl = [...left.matchAll(YEAR)].map((m) => Number(m[0]));
  const yr = [...right.matchAll(YEAR)].map((m) => Number(m[0]));
  return yl.some((y, i) => yr[i] === y + 1);
}
