import type { Refusal } from '../types.js';

/**
 * Thrown by a reader that stops on purpose (a limit, a corrupt structure); the comparator records it as a refusal
 * with `kind` and keeps what was read before it.
 */
export class RefusedError extends Error {
  constructor(
    readonly kind: Refusal['kind'],
    message: string,
  ) {
    super(message);
    this.name = 'RefusedError';
  }
}

/** The input is not the format asked for at its very start (not gzip, not tar): a usage error, not a refusal. */
export class NotArchiveError extends Error {
  /** the source's label, set by the reader that knows it */
  source?: string;
  constructor(message: string, source?: string) {
    super(message);
    if (source !== undefined) this.source = source;
    this.name = 'NotArchiveError';
  }
}

export function formatBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} bytes` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}
