import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type Readable, Transform, type TransformCallback, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import ssri from 'ssri';

export type Integrity = ssri.Integrity;

/** The digests krepro records for every artifact: sha256 (what `sha256sum` and SLSA use) and sha512. */
export const ALGORITHMS = ['sha256', 'sha512'] as const;

/**
 * Passes bytes through while hashing them, so an artifact is hashed on its way to disk, never read back.
 * After 'finish', `result()` gives the size and an ssri Integrity.
 */
export class HashStream extends Transform {
  private readonly sha256 = createHash('sha256');
  private readonly sha512 = createHash('sha512');
  private size = 0;
  private integrity?: Integrity;

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.sha256.update(chunk);
    this.sha512.update(chunk);
    this.size += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.integrity = integrityFromDigests(this.sha256.digest('base64'), this.sha512.digest('base64'));
    callback();
  }

  result(): { size: number; integrity: Integrity } {
    if (!this.integrity) throw new Error('HashStream.result() called before the stream finished');
    return { size: this.size, integrity: this.integrity };
  }
}

function integrityFromDigests(sha256: string, sha512: string): Integrity {
  return ssri.parse(`sha256-${sha256} sha512-${sha512}`, { single: false }) as Integrity;
}

/** Lowercase hex as `sha256sum`/`sha512sum` print it. */
export function hexDigest(integrity: Integrity, algorithm: (typeof ALGORITHMS)[number]): string {
  const hash = (integrity as unknown as Record<string, ssri.Hash[] | undefined>)[algorithm]?.[0];
  if (!hash) throw new Error(`integrity ${integrity.toString()} has no ${algorithm}`);
  return hash.hexDigest();
}

/** Size and digests of a file on disk, read as a stream (never whole into memory). */
export async function hashFile(file: string, signal?: AbortSignal): Promise<{ size: number; integrity: Integrity }> {
  const hash = new HashStream();
  await pipeline(createReadStream(file), hash, new Writable({ write: (_chunk, _enc, cb) => cb() }), signal ? { signal } : {});
  return hash.result();
}

/**
 * Lowercase hex digests of a stream under each of `algorithms` (node:crypto names: sha256, sha384, sha512) and its
 * size, in one pass: what checking a file against lists that name different algorithms needs.
 */
export async function digestsOf(
  input: Readable,
  algorithms: readonly string[],
  opts: { signal?: AbortSignal; onBytes?: (bytes: number) => void } = {},
): Promise<{ size: number; hex: Record<string, string> }> {
  const hashes = algorithms.map((a) => [a, createHash(a)] as const);
  let size = 0;
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const [, h] of hashes) h.update(chunk);
      size += chunk.length;
      opts.onBytes?.(chunk.length);
      cb();
    },
  });
  await pipeline(input, sink, opts.signal ? { signal: opts.signal } : {});
  return { size, hex: Object.fromEntries(hashes.map(([a, h]) => [a, h.digest('hex')])) };
}
