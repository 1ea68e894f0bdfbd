/** Thrown when input ends before a structure it declared; comparators turn it into a 'truncated' refusal. */
export class TruncatedError extends Error {
  constructor(
    message: string,
    readonly readBytes: number,
  ) {
    super(message);
    this.name = 'TruncatedError';
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * Pull-based reading of exact byte counts from an async chunk iterator. Nothing is buffered beyond the current
 * chunk, so a member body streams through however large it is declared.
 */
export class ByteReader {
  private buf: Buffer = EMPTY;
  private done = false;
  /** bytes handed out or skipped so far */
  position = 0;

  constructor(private readonly it: AsyncIterator<Buffer>) {}

  private async fill(): Promise<boolean> {
    while (this.buf.length === 0) {
      if (this.done) return false;
      const r = await this.it.next();
      if (r.done) {
        this.done = true;
        return false;
      }
      this.buf = r.value;
    }
    return true;
  }

  /** Up to `max` bytes as they come (one chunk or less); an empty buffer at the end. */
  async readSome(max: number): Promise<Buffer> {
    if (!(await this.fill())) return EMPTY;
    const out = this.buf.subarray(0, Math.min(max, this.buf.length));
    this.buf = this.buf.subarray(out.length);
    this.position += out.length;
    return out;
  }

  /** Exactly `n` bytes; null at a clean end before the first byte; TruncatedError if the end comes part way. */
  async readExact(n: number): Promise<Buffer | null> {
    const first = await this.readSome(n);
    if (first.length === n) return first;
    if (first.length === 0) return null;
    const parts = [first];
    let got = first.length;
    while (got < n) {
      const more = await this.readSome(n - got);
      if (more.length === 0) throw new TruncatedError(`input ends after ${got} of ${n} bytes`, got);
      parts.push(more);
      got += more.length;
    }
    return Buffer.concat(parts, n);
  }

  /** The next `n` bytes as chunks; TruncatedError when the input ends first. */
  async *take(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      const chunk = await this.readSome(Math.min(left, 1 << 20));
      if (chunk.length === 0) throw new TruncatedError(`input ends after ${n - left} of ${n} bytes`, n - left);
      left -= chunk.length;
      yield chunk;
    }
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.take(n));
  }

  /** Reads everything that is left; returns the count. */
  async drain(onChunk?: (c: Buffer) => void): Promise<number> {
    let n = 0;
    for (;;) {
      const c = await this.readSome(1 << 20);
      if (c.length === 0) return n;
      onChunk?.(c);
      n += c.length;
    }
  }
}

/** Reads a whole iterable into memory; only for inputs already known to be small (size checked by the caller). */
export async function collect(chunks: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of chunks) parts.push(c);
  return Buffer.concat(parts);
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}
