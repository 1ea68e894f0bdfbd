import { createReadStream } from 'node:fs';
import { ByteReader, TruncatedError } from './bytes.js';
import type { Location } from './types.js';

/**
 * Bytes that can be read again from the start: a file, or a member of an archive (re-read by streaming the
 * archive up to it). Nothing is ever extracted: the second reading is what a content diff uses.
 */
export interface Source {
  /** label shown in reports */
  name: string;
  path: Location;
  open(): AsyncIterable<Buffer>;
}

export function fileSource(file: string, label: string, path: Location = [label]): Source {
  return { name: label, path, open: () => createReadStream(file, { highWaterMark: 1 << 20 }) };
}

/**
 * A source whose first reading is an already open stream (the member the caller's cursor is at), and later ones
 * come from `reopen`: a nested archive is scanned from the parent's stream, and only its second pass re-reads.
 */
export function onceThenReopen(name: string, path: Location, first: AsyncIterable<Buffer>, reopen: () => AsyncIterable<Buffer>): Source {
  let initial: AsyncIterable<Buffer> | undefined = first;
  return {
    name,
    path,
    open() {
      const it = initial ?? reopen();
      initial = undefined;
      return it;
    },
  };
}

/** Compares two byte streams in lockstep; stops at the first difference, so differing big files cost little. */
export async function sameBytes(a: AsyncIterable<Buffer>, b: AsyncIterable<Buffer>): Promise<boolean> {
  const ia = a[Symbol.asyncIterator]();
  const ib = b[Symbol.asyncIterator]();
  const ra = new ByteReader(ia);
  const rb = new ByteReader(ib);
  try {
    for (;;) {
      const ca = await ra.readSome(1 << 20);
      const cb = await rb.readExact(ca.length || 1);
      if (ca.length === 0) return cb === null;
      if (cb === null || !ca.equals(cb)) return false;
    }
  } catch (err) {
    if (err instanceof TruncatedError) return false;
    throw err;
  } finally {
    await Promise.all([ia.return?.(), ib.return?.()]);
  }
}
