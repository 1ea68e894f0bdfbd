/**
 * Pairing of members present on one side only by how alike their contents are, as diffoscope pairs renamed files
 * (it uses TLSH): identical contents first, then the most similar pairs. Similarity is the Jaccard index of the
 * two contents' sets of 8-byte shingles, estimated from bottom-k MinHash sketches, so each member is read once
 * and only k numbers are kept per member whatever its size.
 */
export const RENAME_METHOD = 'renamed members are paired by content: identical digests first, then the most similar pairs by the Jaccard index of 8-byte shingles (bottom-64 MinHash), at least 0.5';

const K = 64;
const SHINGLE = 8;
export const MIN_SIMILARITY = 0.5;

function mix(h: number): number {
  // murmur3's finalizer: spreads the rolling hash so the k smallest values are a uniform sample.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The k smallest distinct hashes of a stream's 8-byte windows (a polynomial rolling hash), ascending. */
export async function sketch(chunks: AsyncIterable<Buffer>): Promise<Uint32Array> {
  const B = 0x01000193;
  let drop = 1; // B^(SHINGLE-1), the weight of the byte leaving the window
  for (let i = 1; i < SHINGLE; i++) drop = Math.imul(drop, B);
  const ring = new Uint8Array(SHINGLE);
  const best: number[] = [];
  let h = 0;
  let n = 0;
  const offer = (v: number) => {
    if (best.length === K && v >= best[K - 1]!) return;
    let lo = 0;
    let hi = best.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (best[mid]! < v) lo = mid + 1;
      else hi = mid;
    }
    if (best[lo] === v) return;
    best.splice(lo, 0, v);
    if (best.length > K) best.pop();
  };
  for await (const chunk of chunks) {
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      const slot = n % SHINGLE;
      if (n >= SHINGLE) h = (h - Math.imul(ring[slot]!, drop)) | 0;
      h = (Math.imul(h, B) + b) | 0;
      ring[slot] = b;
      n++;
      if (n >= SHINGLE) offer(mix(h));
    }
  }
  // Shorter than one shingle: the content itself is the one shingle.
  if (n > 0 && n < SHINGLE) offer(mix(h));
  return Uint32Array.from(best);
}

/** Estimated Jaccard index of two sketches: the share of the union's k smallest hashes that both sets hold. */
export function similarity(a: Uint32Array, b: Uint32Array): number {
  if (a.length === 0 || b.length === 0) return a.length === b.length ? 1 : 0;
  let i = 0;
  let j = 0;
  let union = 0;
  let both = 0;
  while (union < K && (i < a.length || j < b.length)) {
    const x = i < a.length ? a[i]! : Infinity;
    const y = j < b.length ? b[j]! : Infinity;
    if (x === y) {
      both++;
      i++;
      j++;
    } else if (x < y) i++;
    else j++;
    union++;
  }
  return both / union;
}

export interface RenameCandidate<T> {
  item: T;
  digest: string;
  /** read only for candidates that found no identical partner */
  sketch?: Uint32Array;
}

export interface RenamePair<T> {
  left: T;
  right: T;
  similarity: number;
}

/** Identical digests pair first (similarity 1); callers then sketch what is left and call `pairSimilar`. */
export function pairIdentical<T>(left: RenameCandidate<T>[], right: RenameCandidate<T>[]): { pairs: RenamePair<T>[]; left: RenameCandidate<T>[]; right: RenameCandidate<T>[] } {
  const byDigest = new Map<string, RenameCandidate<T>[]>();
  for (const r of right) byDigest.set(r.digest, [...(byDigest.get(r.digest) ?? []), r]);
  const pairs: RenamePair<T>[] = [];
  const restL: RenameCandidate<T>[] = [];
  for (const l of left) {
    const match = byDigest.get(l.digest)?.shift();
    if (match) pairs.push({ left: l.item, right: match.item, similarity: 1 });
    else restL.push(l);
  }
  const used = new Set(pairs.map((p) => p.right));
  return { pairs, left: restL, right: right.filter((r) => !used.has(r.item)) };
}

/** Best pairs first (ties in input order); each candidate is used once; pairs under MIN_SIMILARITY are not made. */
export function pairSimilar<T>(left: RenameCandidate<T>[], right: RenameCandidate<T>[]): RenamePair<T>[] {
  const scored: { i: number; j: number; s: number }[] = [];
  left.forEach((l, i) =>
    right.forEach((r, j) => {
      const s = similarity(l.sketch ?? new Uint32Array(), r.sketch ?? new Uint32Array());
      if (s >= MIN_SIMILARITY) scored.push({ i, j, s });
    }),
  );
  scored.sort((x, y) => y.s - x.s || x.i - y.i || x.j - y.j);
  const usedL = new Set<number>();
  const usedR = new Set<number>();
  const out: RenamePair<T>[] = [];
  for (const { i, j, s } of scored) {
    if (usedL.has(i) || usedR.has(j)) continue;
    usedL.add(i);
    usedR.add(j);
    out.push({ left: left[i]!.item, right: right[j]!.item, similarity: s });
  }
  return out;
}
