import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type Readable, Transform, type TransformCallback, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** The digests krepro records for every artifact: sha256 (what `sha256sum` and SLSA use) and sha512. */
export const ALGORITHMS = ['sha256', 'sha512'] as const;

/** A file's digests as krepro records them: lowercase hex, as `sha256sum` and `sha512sum` print them. */
export interface Digests {
  /** SHA-256 of the bytes: 64 lowercase hex digits. */
  readonly sha256: string;
  /** SHA-512 of the bytes: 128 lowercase hex digits. */
  readonly sha512: string;
}

/** A file's size and digests, computed in one streaming pass. */
export interface FileDigests {
  /** Size in bytes. */
  size: number;
  /** sha256 and sha512 of the bytes. */
  digests: Digests;
}

/**
 * The digests as a Subresource Integrity string, `sha256-<base64> sha512-<base64>`: what krepro-manifest.json
 * records, and what npm, ssri and browsers read.
 */
export function integrityOf(digests: Digests): string {
  return ALGORITHMS.map((a) => `${a}-${Buffer.from(digests[a], 'hex').toString('base64')}`).join(' ');
}

/**
 * Passes bytes through while hashing them, so an artifact is hashed on its way to disk, never read back.
 * After 'finish', `result()` gives the size and the digests.
 */
export class HashStream extends Transform {
  private readonly sha256 = createHash('sha256');
  private readonly sha512 = createHash('sha512');
  private size = 0;
  private digests?: Digests;

  /** The Transform hook (not called directly). */
  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.sha256.update(chunk);
    this.sha512.update(chunk);
    this.size += chunk.length;
    callback(null, chunk);
  }

  /** The Transform hook (not called directly). */
  override _flush(callback: TransformCallback): void {
    this.digests = { sha256: this.sha256.digest('hex'), sha512: this.sha512.digest('hex') };
    callback();
  }

  /** The size and digests of every byte that passed; throws before the stream has finished. */
  result(): FileDigests {
    if (!this.digests) throw new Error('HashStream.result() called before the stream finished');
    return { size: this.size, digests: this.digests };
  }
}

/**
 * Size and digests of a file on disk, read as a stream (never whole into memory). `signal` aborts the read.
 * Errors are the file system's (ENOENT, EISDIR…).
 */
export async function hashFile(file: string, signal?: AbortSignal): Promise<FileDigests> {
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
