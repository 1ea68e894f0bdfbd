import { collect } from '../bytes.js';
import { classifyChanges, finding, type TokenClass, tokenFinding } from '../findings.js';
import { bounded } from '../locate.js';
import type { Difference, Finding, Location } from '../types.js';
import type { ContentComparator } from './types.js';

export type Op = ['=' | '-' | '+', string];

const TEXT_KINDS = new Set(['text', 'json', 'empty']);

/** Edits beyond this fall back to "replace the middle": a correct but not minimal diff, in bounded memory. */
const MAX_EDITS = 2000;
const CONTEXT_LINES = 3;
/** Findings kept per file: a regenerated file can change on every line. */
const MAX_FINDINGS = 20;

/**
 * Myers' O(ND) line diff on what remains after the common prefix and suffix. The trace keeps only the live
 * diagonals of each round, so memory is O(D²) for D ≤ MAX_EDITS.
 */
export function diffLines(a: string[], b: string[]): Op[] {
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf]) suf++;
  const A = a.slice(pre, a.length - suf);
  const B = b.slice(pre, b.length - suf);
  const middle = myers(A, B) ?? [...A.map((l): Op => ['-', l]), ...B.map((l): Op => ['+', l])];
  return [...a.slice(0, pre).map((l): Op => ['=', l]), ...middle, ...a.slice(a.length - suf).map((l): Op => ['=', l])];
}

function myers(a: string[], b: string[]): Op[] | undefined {
  const n = a.length;
  const m = b.length;
  const maxD = Math.min(n + m, MAX_EDITS);
  const off = maxD + 1;
  const v = new Int32Array(2 * maxD + 3);
  const trace: Int32Array[] = [];
  for (let d = 0; d <= maxD; d++) {
    trace.push(v.slice(off - d - 1, off + d + 2));
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[off + k - 1]! < v[off + k + 1]!) ? v[off + k + 1]! : v[off + k - 1]! + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      v[off + k] = x;
      if (x >= n && y >= m) return backtrack(trace, a, b);
    }
  }
  return undefined;
}

function backtrack(trace: Int32Array[], a: string[], b: string[]): Op[] {
  const ops: Op[] = [];
  let x = a.length;
  let y = b.length;
  for (let d = trace.length - 1; d >= 0; d--) {
    const vd = trace[d]!;
    const at = (k: number) => vd[k + d + 1]!;
    const k = x - y;
    const prevK = k === -d || (k !== d && at(k - 1) < at(k + 1)) ? k + 1 : k - 1;
    const prevX = at(prevK);
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      ops.push(['=', a[--x]!]);
      y--;
    }
    if (d > 0) ops.push(x === prevX ? ['+', b[--y]!] : ['-', a[--x]!]);
    x = prevX;
    y = prevY;
  }
  return ops.reverse();
}

/** Unified diff text (3 lines of context), cut after `maxLines` lines with a note saying so. */
export function unifiedDiff(ops: Op[], name1: string, name2: string, maxLines = 4000): string {
  const out = [`--- ${name1}`, `+++ ${name2}`];
  // Line numbers on each side before op j.
  const lineA = new Int32Array(ops.length + 1);
  const lineB = new Int32Array(ops.length + 1);
  ops.forEach(([op], j) => {
    lineA[j + 1] = lineA[j]! + (op === '+' ? 0 : 1);
    lineB[j + 1] = lineB[j]! + (op === '-' ? 0 : 1);
  });
  const changed = ops.flatMap(([op], j) => (op === '=' ? [] : [j]));
  let i = 0;
  let cut = false;
  while (i < changed.length && out.length < maxLines) {
    const first = changed[i++]!;
    let last = first;
    while (i < changed.length && changed[i]! - last <= 2 * CONTEXT_LINES) last = changed[i++]!;
    const start = Math.max(0, first - CONTEXT_LINES);
    const end = Math.min(ops.length, last + CONTEXT_LINES + 1);
    const countA = lineA[end]! - lineA[start]!;
    const countB = lineB[end]! - lineB[start]!;
    out.push(`@@ -${lineA[start]! + (countA ? 1 : 0)},${countA} +${lineB[start]! + (countB ? 1 : 0)},${countB} @@`);
    for (const [op, line] of ops.slice(start, end)) {
      if (out.length >= maxLines) {
        cut = true;
        break;
      }
      out.push(`${op === '=' ? ' ' : op}${line}`);
    }
  }
  if (cut || i < changed.length) out.push(`… diff cut after ${maxLines} lines (the per-member limit, maxDiffLines / --max-diff-lines)`);
  return `${out.join('\n')}\n`;
}

function lines(text: string): string[] {
  const ls = text.split('\n');
  if (ls.at(-1) === '') ls.pop();
  return ls;
}

/** Explains changed line pairs: removed lines are paired in order with the added lines of the same hunk. */
export function explainLines(ops: Op[], path: string[], l: string[], r: string[]): Finding[] {
  if (l.length === r.length && [...l].sort().join('\n') === [...r].sort().join('\n')) {
    return [finding('locale', path, 'content', 'line order', null, null, `the same ${l.length} lines in a different order`)];
  }
  // The same change on many lines (one date everywhere) is one finding that counts its lines.
  const found = new Map<string, { f: Finding; line: number; more: number }>();
  let unexplained: [string, string, number] | undefined;
  let removed: string[] = [];
  let added: string[] = [];
  let lineL = 0;
  let lineR = 0;
  const flush = () => {
    for (let i = 0; i < Math.max(removed.length, added.length); i++) {
      const a = removed[i] ?? '';
      const b = added[i] ?? '';
      const line = i < removed.length ? lineL - removed.length + i + 1 : lineR - added.length + i + 1;
      const classes = classifyChanges(a, b);
      if (!classes.length) unexplained ??= [a, b, line];
      for (const c of classes) {
        const k = JSON.stringify([c.cause, c.left, c.right]);
        const seen = found.get(k);
        if (seen) seen.more++;
        else if (found.size < MAX_FINDINGS) found.set(k, { f: tokenFinding(c, path), line, more: 0 });
      }
    }
    removed = [];
    added = [];
  };
  for (const [op, line] of ops) {
    if (op === '=' && (removed.length || added.length)) flush();
    if (op !== '+') lineL++;
    if (op !== '-') lineR++;
    if (op === '-') removed.push(line);
    else if (op === '+') added.push(line);
  }
  flush();
  const findings: Finding[] = [...found.values()].map(({ f, line, more }) => ({ ...f, note: [`line ${line}${more ? ` and ${more} more` : ''}`, f.note].filter(Boolean).join('; ') }));
  if (unexplained) findings.push(finding('content', path, 'content', 'text', unexplained[0] || null, unexplained[1] || null, `line ${unexplained[2]}: the first changed line no rule explains`));
  return findings;
}

/** Equal characters between two changed runs of one line that still make them one run (`22:13` → `12:00`). */
const JOIN = 4;
/** Longer lines are not split into runs: the whole line is one finding. */
const MAX_RUN_LINE = 4096;
// Paths, dates and versions are one token each (a longer path is one change, not several); `=`, `:` and the like
// separate tokens, so `KEY=value` changes in its value.
const TOKEN = /[\w./~+-]+|\s+|[^\w./~+\s-]/g;

interface Run {
  /** [from, to) of each line */
  left: [number, number];
  right: [number, number];
}

/** The changed runs of a line pair, by a token diff (words, spaces and single punctuation characters). */
export function changedRuns(a: string, b: string): Run[] {
  if (a.length > MAX_RUN_LINE || b.length > MAX_RUN_LINE) return [{ left: [0, a.length], right: [0, b.length] }];
  const runs: Run[] = [];
  let ca = 0;
  let cb = 0;
  let open: Run | undefined;
  for (const [op, tok] of diffLines(a.match(TOKEN) ?? [], b.match(TOKEN) ?? [])) {
    if (op === '=') {
      ca += tok.length;
      cb += tok.length;
      continue;
    }
    if (!open || ca - open.left[1] >= JOIN || cb - open.right[1] >= JOIN) {
      open = { left: [ca, ca], right: [cb, cb] };
      runs.push(open);
    }
    if (op === '-') ca += tok.length;
    else cb += tok.length;
    open.left[1] = ca;
    open.right[1] = cb;
  }
  return runs;
}

/** Token sets' likeness (Dice coefficient of the longest common token subsequence): 1 same, 0 nothing shared. */
function likeness(a: string, b: string): number {
  const ta = a.match(TOKEN) ?? [];
  const tb = b.match(TOKEN) ?? [];
  if (ta.length + tb.length === 0) return 1;
  const common = diffLines(ta, tb).filter(([op]) => op === '=').length;
  return (2 * common) / (ta.length + tb.length);
}

/** Lines at least this alike are the same line changed; less alike, one was removed and another added. */
const SAME_LINE = 0.4;
/** Hunks larger than this (removed × added) pair in order, to bound the work. */
const MAX_PAIRING = 400;

/**
 * Which removed line of a hunk became which added line: the order-keeping pairing of the most alike lines (a
 * small dynamic programme over the hunk), so `PWD=/a` pairs with `PWD=/b` even when lines were added before it.
 * Yields [removed index, added index] in order, either undefined for a line on one side only.
 */
function pairLines(removed: string[], added: string[]): [number | undefined, number | undefined][] {
  const m = removed.length;
  const n = added.length;
  if (m === 0 || n === 0 || m * n > MAX_PAIRING) {
    return Array.from({ length: Math.max(m, n) }, (_, k) => [k < m ? k : undefined, k < n ? k : undefined]);
  }
  const like = removed.map((a) => added.map((b) => likeness(a, b)));
  const best = Array.from({ length: m + 1 }, () => new Float64Array(n + 1));
  for (let i = 1; i <= m; i++) {
    for (let j = 1; j <= n; j++) {
      const pair = like[i - 1]![j - 1]! >= SAME_LINE ? best[i - 1]![j - 1]! + like[i - 1]![j - 1]! : -1;
      best[i]![j] = Math.max(best[i - 1]![j]!, best[i]![j - 1]!, pair);
    }
  }
  const out: [number | undefined, number | undefined][] = [];
  let i = m;
  let j = n;
  while (i > 0 || j > 0) {
    if (i > 0 && j > 0 && like[i - 1]![j - 1]! >= SAME_LINE && best[i]![j] === best[i - 1]![j - 1]! + like[i - 1]![j - 1]!) out.push([--i, --j]);
    else if (j > 0 && (i === 0 || best[i]![j] === best[i]![j - 1])) out.push([undefined, --j]);
    else out.push([--i, undefined]);
  }
  return out.reverse();
}

/** [from, to) widened to whole whitespace-separated words, so a date or path is shown and classified whole. */
function words(s: string, [from, to]: [number, number]): string {
  let i = from;
  let j = to;
  while (i > 0 && !/\s/.test(s[i - 1]!)) i--;
  while (j < s.length && !/\s/.test(s[j]!)) j++;
  return s.slice(i, j);
}

/** The recognized change whose left (or right) token lies in the run. */
function classOf(classes: TokenClass[], a: string, b: string, run: Run): TokenClass | undefined {
  const inside = (s: string, token: string, [from, to]: [number, number]) => {
    const at = token ? s.indexOf(token) : -1;
    return at >= 0 && at < Math.max(to, from + 1) && at + token.length > from;
  };
  return classes.find((c) => inside(a, c.left, run.left) || inside(b, c.right, run.right));
}

/**
 * DiffOptions.every for text: one finding per changed run of a line pair (removed and added lines of a hunk are
 * paired in order), per removed line and per added line, each with its span in the left file. A file whose lines
 * are only reordered is one finding over the whole file with the cause `locale` (collation or listing order).
 */
export function locateLines(ops: Op[], path: Location, l: string[], r: string[], max: number): Finding[] {
  const total = l.length;
  // Only reordered: one finding over the whole file, since where the hunks fall is itself random (an order by
  // address, by map iteration, by directory listing), so the places differ between builds though the cause does not.
  if (l.length === r.length && [...l].sort().join('\n') === [...r].sort().join('\n')) {
    return [{ ...finding('locale', path, 'content', 'line order', null, null, `the same ${total} lines in a different order`), at: { unit: 'line', start: 1, end: total, total } }];
  }
  const out: Finding[] = [];
  let removed: string[] = [];
  let added: string[] = [];
  let lineL = 0;
  const flush = () => {
    const first = lineL - removed.length + 1;
    let next = first;
    for (const [i, j] of pairLines(removed, added)) {
      const a = i === undefined ? undefined : removed[i];
      const b = j === undefined ? undefined : added[j];
      if (i !== undefined) next = first + i + 1;
      if (a !== undefined && b !== undefined) {
        const classes = classifyChanges(a, b);
        for (const run of changedRuns(a, b)) {
          const [wl, wr] = [words(a, run.left), words(b, run.right)];
          const c = classOf(classes, a, b, run) ?? classifyChanges(wl, wr)[0];
          const cause = c?.cause ?? 'content';
          const note = [`line ${first + i!}, columns ${run.left[0] + 1}–${run.left[1]}`, c?.note].filter(Boolean).join('; ');
          out.push({ ...finding(cause, path, 'content', c?.field ?? 'text', wl, wr, note), at: { unit: 'line', start: first + i!, end: first + i!, columns: run.left, total } });
        }
      } else if (a !== undefined) {
        out.push({ ...finding('content', path, 'content', 'line', a, null, `line ${first + i!} only in left`), at: { unit: 'line', start: first + i!, end: first + i!, total } });
      } else {
        // An added line sits before the next left line: the same place whatever else the hunk holds.
        out.push({ ...finding('content', path, 'content', 'line', null, b!, `added before line ${next} of left`), at: { unit: 'line', start: next, end: next - 1, total } });
      }
    }
    removed = [];
    added = [];
  };
  for (const [op, line] of ops) {
    if (op === '=' && (removed.length || added.length)) flush();
    if (op !== '+') lineL++;
    if (op === '-') removed.push(line);
    else if (op === '+') added.push(line);
  }
  flush();
  return bounded(out, max);
}

/** UTF-8 when it is valid, else ISO 8859-1 (every byte a character), so any text file diffs as lines. */
export function decodeText(bytes: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return bytes.toString('latin1');
  }
}

export const textComparator: ContentComparator = {
  name: 'text',
  recognizes: (l, r, ctx) => TEXT_KINDS.has(l) && TEXT_KINDS.has(r) && Math.max(...ctx.sizes) <= ctx.limits.maxTextBytes,
  async compare(left, right, ctx): Promise<Difference> {
    const [a, b] = await Promise.all([collect(left.open()), collect(right.open())]);
    const la = lines(decodeText(a));
    const lb = lines(decodeText(b));
    const ops = diffLines(la, lb);
    const comments: string[] = [];
    if (a.length && b.length && a.at(-1) !== b.at(-1) && (a.at(-1) === 10 || b.at(-1) === 10)) comments.push('only one side ends with a newline');
    const findings = ctx.every ? locateLines(ops, ctx.path, la, lb, ctx.limits.maxLocated) : explainLines(ops, ctx.path, la, lb);
    if (findings.length === 0) findings.push(finding('content', ctx.path, 'content', 'text', null, null, comments[0] ?? 'line endings or encoding differ'));
    return { source1: left.name, source2: right.name, kind: 'text', comments, findings, unified_diff: unifiedDiff(ops, left.name, right.name, ctx.limits.maxDiffLines), details: [] };
  },
};
