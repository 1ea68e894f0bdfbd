import { open, type FileHandle } from 'node:fs/promises';
import type * as tar from 'tar-stream';
import { KreproError } from '../errors.js';

/** What was seen of a file when it was planned, so a change while it is copied into a tar is caught. */
export interface SeenFile {
  path: string;
  size: number;
  mtimeMs: number;
  /** checked when known */
  ino?: number;
}

export type TarHeader = Parameters<tar.Pack['entry']>[0];

/** tar-stream's per-entry writable (a streamx Writable; its typings omit the no-argument end()). */
type Sink = ReturnType<tar.Pack['entry']> & { end(): void };

const READ_CHUNK = 1 << 20;
/** Files up to this size are read with one call (most source files): cheaper than a stream per file. */
const SMALL_FILE = 256 * 1024;

/** Adds a member without a body (directory, symlink, hard link) or with a small in-memory one. */
export function appendEntry(pack: tar.Pack, header: TarHeader, body?: Buffer | string): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error | null): void => (err ? reject(err) : resolve());
    if (body === undefined) pack.entry(header, done);
    else pack.entry(header, body, done);
  });
}

/**
 * Streams one file into the tar as a member with `header` (whose size must be `seen.size`), reading it once, never
 * whole, and failing with E_FILE_CHANGED when it is not what was planned: a tar member's size is fixed before its
 * bytes are read, so a file that grows, shrinks or is replaced meanwhile would otherwise corrupt the archive.
 */
export async function appendFile(pack: tar.Pack, header: TarHeader, seen: SeenFile, onBytes?: (n: number) => void): Promise<void> {
  if (seen.size <= SMALL_FILE) {
    const body = await withOpen(seen, async (handle) => {
      const data = await handle.readFile();
      if (data.length !== seen.size) throw changedSize(seen, data.length);
      assertUnchanged(seen, await handle.stat(), 'while it was read');
      return data;
    });
    onBytes?.(body.length);
    return appendEntry(pack, header, body);
  }
  let sink!: Sink;
  const done = new Promise<void>((resolve, reject) => {
    sink = pack.entry(header, (err) => (err ? reject(err) : resolve())) as Sink;
  });
  // A failure reaches the caller once, through this function's throw and pack.destroy(); without these listeners
  // streamx would also raise it as an unhandled 'error' event and rejection.
  sink.on('error', () => {});
  done.catch(() => {});
  await copyInto(seen, sink, onBytes);
  sink.end();
  await done;
}

/** Opens the file, checks it is still what was planned, and runs `use`; the handle is always closed. */
async function withOpen<T>(seen: SeenFile, use: (handle: FileHandle) => Promise<T>): Promise<T> {
  let handle: FileHandle;
  try {
    handle = await open(seen.path, 'r');
  } catch (err) {
    const gone = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new KreproError(gone ? 'E_FILE_CHANGED' : 'E_IO', `cannot open ${seen.path}${gone ? ' (deleted since it was listed; run again)' : ''}: ${(err as Error).message}`, { path: seen.path, cause: err });
  }
  try {
    assertUnchanged(seen, await handle.stat(), 'before it was read');
    return await use(handle);
  } finally {
    await handle.close();
  }
}

function changedSize(seen: SeenFile, read: number | 'more'): KreproError {
  return new KreproError('E_FILE_CHANGED', `${seen.path} changed while it was read: planned ${seen.size} bytes, read ${read}`, { path: seen.path });
}

async function copyInto(seen: SeenFile, sink: Sink, onBytes?: (n: number) => void): Promise<void> {
  await withOpen(seen, async (handle) => {
    let copied = 0;
    // Plain reads, not a ReadStream: a release has thousands of files, and a stream per file costs more than
    // reading it. One byte more than planned is asked for, so a file that grew is noticed.
    for (;;) {
      const want = Math.min(READ_CHUNK, seen.size - copied + 1);
      const { bytesRead, buffer } = await handle.read(Buffer.allocUnsafe(want), 0, want, null);
      if (bytesRead === 0) break;
      copied += bytesRead;
      if (copied > seen.size) break;
      onBytes?.(bytesRead);
      if (!sink.write(bytesRead < want ? buffer.subarray(0, bytesRead) : buffer)) await drainOrClose(sink, seen.path);
    }
    if (copied !== seen.size) {
      sink.destroy();
      throw changedSize(seen, copied > seen.size ? 'more' : copied);
    }
    assertUnchanged(seen, await handle.stat(), 'while it was read');
  });
}

/** Waits for room in the tar stream; if the consumer went away (abort, write error) stops reading instead of hanging. */
async function drainOrClose(sink: Sink, file: string): Promise<void> {
  const emitter = sink as unknown as NodeJS.EventEmitter;
  await new Promise<void>((resolve) => {
    const done = (): void => {
      emitter.off('drain', done);
      emitter.off('close', done);
      resolve();
    };
    emitter.on('drain', done);
    emitter.on('close', done);
  });
  if (sink.destroyed) throw new KreproError('E_IO', `stopped reading ${file}: the tar stream was closed`, { path: file });
}

function assertUnchanged(seen: SeenFile, now: { size: number; mtimeMs: number; ino: number }, when: string): void {
  if (now.size !== seen.size || now.mtimeMs !== seen.mtimeMs || (seen.ino !== undefined && now.ino !== seen.ino)) {
    throw new KreproError(
      'E_FILE_CHANGED',
      `${seen.path} changed ${when}: size ${seen.size} -> ${now.size}, mtime ${new Date(seen.mtimeMs).toISOString()} -> ${new Date(now.mtimeMs).toISOString()}`,
      { path: seen.path },
    );
  }
}
