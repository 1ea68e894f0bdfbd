import type { MemberRecord } from './read/archive.js';
import type { ExcludeMatcher } from './exclude.js';
import type { Side } from './types.js';

/** Two members compared with each other; `how` says why when their names differ. */
export interface MemberPair {
  left: MemberRecord;
  right: MemberRecord;
  how?: { comment: string; rename?: { similarity: number } };
}

/** What pass 1 keeps of two archives' members: only what differs, and enough to judge their order. */
export interface Pairing {
  /** pairs that differ in a header field or in content; equal pairs are counted, not kept */
  pairs: MemberPair[];
  leftOnly: MemberRecord[];
  rightOnly: MemberRecord[];
  /** for each left member index, the index of the right member paired with it by name (-1: none) */
  rightOfLeft: Int32Array;
  /** members left out by the exclude globs, both sides */
  excluded: number;
}

/** Pairing key: "./a/" and "a" are the same member; the spelling difference is reported as a format finding. */
export function memberKey(name: string): string {
  // Fast path for the usual clean name: no copy per member.
  if (!/^\.\/|\/$|\/\/|(^|\/)\.\.?(\/|$)/.test(name)) return name;
  const n = name.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
  const parts: string[] = [];
  for (const p of n.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..' && parts.length && parts.at(-1) !== '..') parts.pop();
    else parts.push(p);
  }
  return parts.join('/') || '.';
}

/** A side this many members ahead of the other, in the same order, waits: unmatched records stay few. */
const MAX_AHEAD = 4096;

/**
 * Pairs members by name (the k-th occurrence of a name with the k-th) while both archives stream, so memory
 * follows the number of differing or unmatched members, not the archive's size: a pair whose headers and digests
 * are equal is dropped as soon as it is made. A side that runs ahead (the other is slower but in the same order)
 * waits for it; when both have many unmatched members their orders differ and neither waits.
 */
export class StreamPairer {
  private readonly waiting: [Map<string, MemberRecord | MemberRecord[]>, Map<string, MemberRecord | MemberRecord[]>] = [new Map(), new Map()];
  private readonly unmatched: [number, number] = [0, 0];
  private readonly done: [boolean, boolean] = [false, false];
  private readonly differing: MemberPair[] = [];
  private rightOfLeft = new Int32Array(1024).fill(-1);
  private excluded = 0;
  private wake: (() => void) | undefined;

  constructor(
    private readonly differs: (left: MemberRecord, right: MemberRecord) => boolean,
    private readonly exclude?: ExcludeMatcher,
  ) {}

  async add(side: Side, m: MemberRecord): Promise<void> {
    if (this.exclude?.(m.name)) {
      this.excluded++;
      return;
    }
    const s = side === 'left' ? 0 : 1;
    const key = memberKey(m.name);
    const other = this.waiting[1 - s]!;
    const found = other.get(key);
    let partner: MemberRecord | undefined;
    if (Array.isArray(found)) {
      partner = found.shift();
      if (found.length === 0) other.delete(key);
    } else if (found) {
      partner = found;
      other.delete(key);
    }
    if (partner) {
      this.unmatched[1 - s]!--;
      const [l, r] = s === 0 ? [m, partner] : [partner, m];
      this.link(l.index, r.index);
      if (this.differs(l, r)) this.differing.push({ left: l, right: r });
    } else {
      const mine = this.waiting[s]!;
      const list = mine.get(key);
      if (list === undefined) mine.set(key, m);
      else if (Array.isArray(list)) list.push(m);
      else mine.set(key, [list, m]);
      this.unmatched[s]!++;
    }
    this.wake?.();
    this.wake = undefined;
    while (this.unmatched[s]! > MAX_AHEAD && this.unmatched[1 - s]! <= MAX_AHEAD && !this.done[1 - s]) {
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  finish(side: Side): void {
    this.done[side === 'left' ? 0 : 1] = true;
    this.wake?.();
    this.wake = undefined;
  }

  private link(left: number, right: number): void {
    if (left >= this.rightOfLeft.length) {
      const grown = new Int32Array(Math.max(left + 1, this.rightOfLeft.length * 2)).fill(-1);
      grown.set(this.rightOfLeft);
      this.rightOfLeft = grown;
    }
    this.rightOfLeft[left] = right;
  }

  result(leftCount: number): Pairing {
    const rest = (s: 0 | 1) => [...this.waiting[s].values()].flat().sort((a, b) => a.index - b.index);
    const rightOfLeft = new Int32Array(leftCount).fill(-1);
    rightOfLeft.set(this.rightOfLeft.subarray(0, Math.min(leftCount, this.rightOfLeft.length)));
    return { pairs: this.differing.sort((a, b) => a.left.index - b.left.index), leftOnly: rest(0), rightOnly: rest(1), rightOfLeft, excluded: this.excluded };
  }
}

/**
 * Adds pairs made after pass 1 (an image's blobs by manifest position, renames by content) from the members
 * that found no partner by name.
 */
export function addPairs(pairing: Pairing, pairs: MemberPair[]): void {
  const used = new Set(pairs.flatMap((p) => [p.left, p.right]));
  pairing.pairs.push(...pairs);
  pairing.leftOnly = pairing.leftOnly.filter((m) => !used.has(m));
  pairing.rightOnly = pairing.rightOnly.filter((m) => !used.has(m));
}
