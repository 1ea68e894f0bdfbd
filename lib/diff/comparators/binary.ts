import { ByteReader, hex } from '../bytes.js';
import { classifyChanges, finding, printable, tokenFinding } from '../findings.js';
import { bounded } from '../locate.js';
import type { ByteRange, Difference, Finding } from '../types.js';
import type { ContentComparator, ContentContext } from './types.js';

/** Equal bytes kept before a range, and equal bytes that close it (so nearby changes merge into one range). */
const CONTEXT = 48;
/** Bytes of a range itself kept for display; longer ranges are cut (all are counted). */
const SHOWN = 256;
/** Differing ranges whose offsets are kept (16 bytes each), for the ELF comparator to place them in sections. */
const MAX_INTERVALS = 1 << 16;

export interface ByteComparison {
  ranges: ByteRange[];
  /** every differing range as [start, end) pairs, flattened; past MAX_INTERVALS the last one grows to cover the rest */
  intervals: number[];
  rangeCount: number;
  differingBytes: number;
  sizes: [number, number];
  /**
   * With `maxRuns`: differing runs as [first, last] byte pairs (inclusive), flattened, split where RUN_GAP or more
   * equal bytes lie between (finer than `ranges`, so a random token beside a path are two runs); past `maxRuns` the
   * last one grows to cover the rest
   */
  runs: number[];
}

/** Equal bytes that end a run: fewer agree by chance inside a changed token, more separate two changes. */
const RUN_GAP = 8;

interface OpenRange {
  start: number;
  lastDiff: number;
  left: number[];
  right: number[];
  before: number;
}

/**
 * Streams both sides in lockstep and records differing ranges with printable context; memory is bounded by
 * `maxRanges`, whatever the sizes. `tap` sees every chunk of each side (the ELF comparator scans strings there).
 */
export async function compareBytes(
  left: AsyncIterable<Buffer>,
  right: AsyncIterable<Buffer>,
  maxRanges: number,
  tap?: { left?: (c: Buffer) => void; right?: (c: Buffer) => void },
  maxRuns = 0,
): Promise<ByteComparison> {
  const ra = new ByteReader(left[Symbol.asyncIterator]());
  const rb = new ByteReader(right[Symbol.asyncIterator]());
  const ranges: ByteRange[] = [];
  const intervals: number[] = [];
  let rangeCount = 0;
  let differingBytes = 0;
  let offset = 0;
  const ringL: number[] = [];
  const ringR: number[] = [];
  let open: OpenRange | undefined;
  const runs: number[] = [];
  let run: [number, number] | undefined;
  const endRun = () => {
    if (!run) return;
    if (runs.length < 2 * maxRuns) runs.push(run[0], run[1]);
    else runs[runs.length - 1] = run[1];
    run = undefined;
  };

  const close = () => {
    if (!open) return;
    rangeCount++;
    if (intervals.length < 2 * MAX_INTERVALS) intervals.push(open.start, open.lastDiff + 1);
    else intervals[intervals.length - 1] = open.lastDiff + 1;
    if (ranges.length < maxRanges) {
      ranges.push({ offset: open.start, length: open.lastDiff - open.start + 1, left: hex(Uint8Array.from(open.left)), right: hex(Uint8Array.from(open.right)), contextBefore: open.before });
    }
    open = undefined;
    // The rings hold bytes from before this range; the next range's context starts after it.
    ringL.length = 0;
    ringR.length = 0;
  };
  const push = (ring: number[], b: number) => {
    ring.push(b);
    if (ring.length > CONTEXT) ring.shift();
  };
  const step = (a: number | undefined, b: number | undefined) => {
    const differs = a !== b;
    if (differs) {
      differingBytes++;
      if (maxRuns) {
        if (run && offset - run[1] > RUN_GAP) endRun();
        run ??= [offset, offset];
        run[1] = offset;
      }
      if (!open) open = { start: offset, lastDiff: offset, left: [...ringL], right: [...ringR], before: ringL.length };
      open.lastDiff = offset;
    } else if (open && offset - open.lastDiff > CONTEXT) close();
    if (open && open.left.length < open.before + SHOWN + CONTEXT) {
      if (a !== undefined) open.left.push(a);
      if (b !== undefined) open.right.push(b);
    }
    if (!open) {
      if (a !== undefined) push(ringL, a);
      if (b !== undefined) push(ringR, b);
    }
    offset++;
  };

  let ca: Buffer = Buffer.alloc(0);
  let cb: Buffer = Buffer.alloc(0);
  for (;;) {
    if (ca.length === 0) {
      ca = await ra.readSome(1 << 16);
      if (ca.length) tap?.left?.(ca);
    }
    if (cb.length === 0) {
      cb = await rb.readSome(1 << 16);
      if (cb.length) tap?.right?.(cb);
    }
    if (ca.length === 0 && cb.length === 0) break;
    if (ca.length === 0 || cb.length === 0) {
      // One side ended: the rest of the other is one range (counted in full, shown up to SHOWN bytes).
      const rest = ca.length ? ca : cb;
      for (const byte of rest.subarray(0, SHOWN)) step(ca.length ? byte : undefined, cb.length ? byte : undefined);
      differingBytes += Math.max(0, rest.length - SHOWN);
      offset += Math.max(0, rest.length - SHOWN);
      if (run) run[1] = offset - 1;
      if (ca.length) ca = Buffer.alloc(0);
      else cb = Buffer.alloc(0);
      continue;
    }
    const n = Math.min(ca.length, cb.length);
    const a = ca.subarray(0, n);
    const b = cb.subarray(0, n);
    if (!open && a.equals(b)) {
      // Fast path: equal chunks only refresh the context ring.
      for (const byte of a.subarray(Math.max(0, n - CONTEXT))) {
        push(ringL, byte);
        push(ringR, byte);
      }
      offset += n;
    } else {
      for (let i = 0; i < n; i++) step(a[i], b[i]);
    }
    ca = ca.subarray(n);
    cb = cb.subarray(n);
  }
  close();
  endRun();
  return { ranges, intervals, rangeCount, differingBytes, sizes: [ra.position, rb.position], runs };
}

/** The printable text of a range's window on one side (context included), for people. */
export function rangeText(hexWindow: string): string {
  return printable(Buffer.from(hexWindow, 'hex'));
}

/** The window for recognizers: other bytes become spaces, so a path after a NUL still starts a token. */
function tokenText(hexWindow: string): string {
  return Buffer.from(hexWindow, 'hex').toString('latin1').replace(/[^\x20-\x7e]/g, ' ');
}

/** Findings for ranges a recognizer explains; the rest are returned as unexplained. */
export function explainRanges(cmp: ByteComparison, ctx: ContentContext, explained: (r: ByteRange) => boolean = () => false): { findings: Finding[]; unexplained: ByteRange[] } {
  const findings: Finding[] = [];
  const unexplained: ByteRange[] = [];
  const seen = new Set<string>();
  for (const r of cmp.ranges) {
    if (explained(r)) continue;
    const classes = classifyChanges(tokenText(r.left), tokenText(r.right));
    if (!classes.length) unexplained.push(r);
    for (const c of classes) {
      const key = `${c.cause}\0${c.left}\0${c.right}`;
      if (seen.has(key)) continue;
      seen.add(key);
      findings.push(tokenFinding(c, ctx.path, `at byte 0x${r.offset.toString(16)}`));
    }
  }
  return { findings, unexplained };
}

export function rangeComments(cmp: ByteComparison): string[] {
  const out = [`${cmp.rangeCount} differing byte range${cmp.rangeCount === 1 ? '' : 's'}, ${cmp.differingBytes} bytes in all${cmp.rangeCount > cmp.ranges.length ? ` (first ${cmp.ranges.length} shown)` : ''}`];
  if (cmp.sizes[0] !== cmp.sizes[1]) out.push(`sizes differ: ${cmp.sizes[0]} vs ${cmp.sizes[1]} bytes, so offsets after the first change may be shifted`);
  return out;
}

/** The differing bytes of a range on one side (up to 32): as text when they all print, else as hex. */
function rangeBytes(r: ByteRange, side: 'left' | 'right'): string {
  const b = Buffer.from(side === 'left' ? r.left : r.right, 'hex').subarray(r.contextBefore, r.contextBefore + Math.min(r.length, 32));
  const text = printable(b);
  const shown = !text.includes('.') || b.every((x) => x === 0x2e) ? text : [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');
  return r.length > 32 ? `${shown} …` : shown;
}

export function unexplainedFinding(ctx: ContentContext, cmp: ByteComparison, first: ByteRange): Finding {
  return finding('content', ctx.path, 'content', 'bytes', rangeBytes(first, 'left'), rangeBytes(first, 'right'), `${cmp.rangeCount} range(s) differ, the first at byte 0x${first.offset.toString(16)}`);
}

/** Context windows kept: with `every` one per located finding, so each can be classified and its values read. */
export function windowsKept(ctx: ContentContext): number {
  return ctx.every ? Math.max(ctx.limits.maxRanges, ctx.limits.maxLocated) : ctx.limits.maxRanges;
}

/** Bytes of context shown on each side of a located run. */
const RUN_CONTEXT = 16;

/**
 * DiffOptions.every for bytes: one finding per differing run, with its span, `field(offset)` naming where it is
 * (an ELF section), classified from the context window around it, and shown with a little context on each side.
 * `skip` leaves out runs another finding already explains (an ELF build ID note).
 */
export function locateRuns(cmp: ByteComparison, ctx: ContentContext, field: (offset: number) => string, skip: (start: number, window?: ByteRange) => boolean = () => false): Finding[] {
  const out: Finding[] = [];
  let w = 0;
  for (let i = 0; i < cmp.runs.length; i += 2) {
    const start = cmp.runs[i]!;
    const end = cmp.runs[i + 1]!;
    while (w < cmp.ranges.length && cmp.ranges[w]!.offset + cmp.ranges[w]!.length <= start) w++;
    const r = cmp.ranges[w];
    // A run past the bytes a long range keeps for display has no window of its own.
    const window = r && r.offset <= start && start - (r.offset - r.contextBefore) < Math.max(r.left.length, r.right.length) / 2 ? r : undefined;
    if (skip(start, window)) continue;
    let cause: Finding['cause'] = 'content';
    let left: string | null = null;
    let right: string | null = null;
    let note: string | undefined;
    if (window) {
      const c = classifyChanges(tokenText(window.left), tokenText(window.right))[0];
      if (c) cause = c.cause;
      const base = window.offset - window.contextBefore;
      const cut = (hexWindow: string) => printable(Buffer.from(hexWindow, 'hex').subarray(Math.max(0, start - RUN_CONTEXT - base), end + 1 + RUN_CONTEXT - base));
      [left, right, note] = [cut(window.left), cut(window.right), c?.note];
    }
    const where = `bytes 0x${start.toString(16)}–0x${end.toString(16)}${window ? '' : ' (past the context windows kept)'}`;
    out.push({ ...finding(cause, ctx.path, 'content', field(start), left, right, [where, note].filter(Boolean).join('; ')), at: { unit: 'byte', start, end, total: cmp.sizes[0] } });
  }
  return bounded(out, ctx.limits.maxLocated);
}

/** The fallback comparator: any two byte streams. */
export const binaryComparator: ContentComparator = {
  name: 'binary',
  recognizes: () => true,
  async compare(left, right, ctx): Promise<Difference> {
    const cmp = await compareBytes(left.open(), right.open(), windowsKept(ctx), undefined, ctx.every ? ctx.limits.maxLocated : 0);
    if (ctx.every) return { source1: left.name, source2: right.name, kind: 'binary', comments: rangeComments(cmp), findings: locateRuns(cmp, ctx, () => 'bytes'), ranges: cmp.ranges.slice(0, ctx.limits.maxRanges), details: [] };
    const { findings, unexplained } = explainRanges(cmp, ctx);
    if (unexplained.length && unexplained[0]) findings.push(unexplainedFinding(ctx, cmp, unexplained[0]));
    else if (cmp.rangeCount > cmp.ranges.length && findings.length === 0 && cmp.ranges[0]) findings.push(unexplainedFinding(ctx, cmp, cmp.ranges[0]));
    return { source1: left.name, source2: right.name, kind: 'binary', comments: rangeComments(cmp), findings, ranges: cmp.ranges, details: [] };
  },
};
