import { createWriteStream } from 'node:fs';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { KreproError } from '../errors.js';
import { HashStream, type Integrity } from '../integrity/hash-stream.js';
import type { ArchivePolicy, Entry, FileSource } from './entry.js';
import { type GzipEncoder, type GzipSpec, PinnedGzip } from './gzip.js';
import { MAX_MTIME, tarHeader } from './header.js';

export interface PackOptions {
  gzip: GzipSpec;
  /** a shared encoder (workers started once for many tarballs); otherwise each tarball starts its own */
  encoder?: GzipEncoder;
  signal?: AbortSignal;
  /** Called with the number of uncompressed bytes just read from a source file. */
  onBytes?: (n: number) => void;
}

export interface WrittenFile {
  path: string;
  size: number;
  integrity: Integrity;
}

const READ_CHUNK = 1 << 20;

/** tar-stream's per-entry writable (a streamx Writable; its typings omit the no-argument end()). */
type Sink = ReturnType<tar.Pack['entry']> & { end(): void };

/** Streams the entries as a tar into `pack`, reading each file once and checking it did not change meanwhile. */
async function feedTar(pack: tar.Pack, entries: Entry[], policy: ArchivePolicy, onBytes?: (n: number) => void): Promise<void> {
  if (!Number.isInteger(policy.mtime) || policy.mtime < 0 || policy.mtime > MAX_MTIME) {
    throw new KreproError('E_SOURCE_DATE_EPOCH', `archive mtime must be a whole number of seconds from 0 to ${MAX_MTIME}, got ${policy.mtime}`);
  }
  for (const entry of entries) {
    const header = tarHeader(entry, policy);
    if (entry.type !== 'file') {
      await new Promise<void>((resolve, reject) => pack.entry(header, '', (err) => (err ? reject(err) : resolve())));
      continue;
    }
    let sink!: Sink;
    const done = new Promise<void>((resolve, reject) => {
      sink = pack.entry(header, (err) => (err ? reject(err) : resolve())) as Sink;
    });
    // A failure reaches the caller once, through this function's throw and pack.destroy(); without these
    // listeners streamx would also raise it as an unhandled 'error' event and rejection.
    sink.on('error', () => {});
    done.catch(() => {});
    await copyFile(entry.source, sink, onBytes);
    sink.end();
    await done;
  }
  pack.finalize();
}

async function copyFile(source: FileSource, sink: Sink, onBytes?: (n: number) => void): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(source.path, 'r');
  } catch (err) {
    throw new KreproError('E_IO', `cannot open ${source.path}: ${(err as Error).message}`, { path: source.path, cause: err });
  }
  try {
    assertUnchanged(source, await handle.stat(), 'before it was read');
    let copied = 0;
    // Plain reads, not a ReadStream: a release has thousands of small files, and a stream per file costs more than
    // reading it. One byte more than planned is asked for, so a file that grew is noticed.
    for (;;) {
      const want = Math.min(READ_CHUNK, source.size - copied + 1);
      const { bytesRead, buffer } = await handle.read(Buffer.allocUnsafe(want), 0, want, null);
      if (bytesRead === 0) break;
      copied += bytesRead;
      if (copied > source.size) break;
      onBytes?.(bytesRead);
      if (!sink.write(bytesRead < want ? buffer.subarray(0, bytesRead) : buffer)) await drainOrClose(sink, source.path);
    }
    if (copied !== source.size) {
      throw new KreproError('E_FILE_CHANGED', `${source.path} changed while it was archived: planned ${source.size} bytes, read ${copied > source.size ? 'more' : copied}`, { path: source.path });
    }
    assertUnchanged(source, await handle.stat(), 'while it was read');
  } finally {
    await handle.close();
  }
}

/** Waits for room in the tar stream; if the consumer went away (abort, write error) stops reading instead of hanging. */
async function drainOrClose(sink: Sink, file: string): Promise<void> {
  const emitter = sink as unknown as NodeJS.EventEmitter;
  await new Promise<void>((resolve) => {
    const done = () => {
      emitter.off('drain', done);
      emitter.off('close', done);
      resolve();
    };
    emitter.on('drain', done);
    emitter.on('close', done);
  });
  if (sink.destroyed) throw new KreproError('E_IO', `stopped reading ${file}: the archive stream was closed`, { path: file });
}

function assertUnchanged(source: FileSource, now: { size: number; mtimeMs: number; ino: number }, when: string): void {
  if (now.size !== source.size || now.mtimeMs !== source.mtimeMs || now.ino !== source.ino) {
    throw new KreproError(
      'E_FILE_CHANGED',
      `${source.path} changed ${when}: size ${source.size} -> ${now.size}, mtime ${new Date(source.mtimeMs).toISOString()} -> ${new Date(now.mtimeMs).toISOString()}`,
      { path: source.path },
    );
  }
}

/** The uncompressed tar of `entries` as a stream (also what `diff` and tests compare). */
export function tarStream(entries: Entry[], policy: ArchivePolicy, onBytes?: (n: number) => void): Readable {
  const pack = tar.pack();
  feedTar(pack, entries, policy, onBytes).catch((err: unknown) => pack.destroy(err as Error));
  return pack as unknown as Readable;
}

/**
 * Writes entries as a pinned-gzip tarball to `dest`: tar → gzip → hash → temporary file → rename. On any failure
 * the temporary file is removed and `dest` is untouched.
 */
export async function writeTarball(entries: Entry[], policy: ArchivePolicy, dest: string, opts: PackOptions): Promise<WrittenFile> {
  const gzip = new PinnedGzip(opts.gzip, opts.encoder ? { encoder: opts.encoder } : {});
  const hash = new HashStream();
  return writeAtomically(dest, (out) => pipeline(tarStream(entries, policy, opts.onBytes), gzip, hash, out, opts.signal ? { signal: opts.signal } : {}), hash);
}

/** Writes a stream's bytes through `hash` to a temporary sibling of `dest`, then renames it into place. */
export async function writeAtomically(
  dest: string,
  write: (out: NodeJS.WritableStream) => Promise<void>,
  hash: HashStream,
): Promise<WrittenFile> {
  const temp = path.join(path.dirname(dest), `.${path.basename(dest)}.partial-${randomBytes(6).toString('hex')}`);
  try {
    await write(createWriteStream(temp, { mode: 0o644 }));
    await rename(temp, dest);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  return { path: dest, ...hash.result() };
}

/** Writes a small in-memory file (checksums, manifests) atomically, hashed like every other artifact. */
export async function writeSmallFile(dest: string, content: string | Buffer): Promise<WrittenFile> {
  const hash = new HashStream();
  return writeAtomically(dest, (out) => pipeline([Buffer.from(content)], hash, out), hash);
}
