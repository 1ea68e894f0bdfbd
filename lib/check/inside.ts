import { constants } from 'node:fs';
import { type FileHandle, lstat, open, readlink } from 'node:fs/promises';
import * as path from 'node:path';
import { KreproError } from '../errors.js';

/**
 * A name from a list (`SHA256SUMS`, the manifest, a signed subject) as a path below the directory, '/'-separated
 * with `.` and empty parts dropped (`sha256sum ./*` writes `./name`); or why it cannot be one.
 */
export function nameInside(name: string): { name: string } | { outside: string } {
  if (name.includes('\0')) return { outside: 'the name holds a NUL byte' };
  if (name.startsWith('/')) return { outside: 'an absolute path' };
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) return { outside: 'a path that leaves the directory (..)' };
  if (parts.length === 0) return { outside: 'names the directory itself' };
  return { name: parts.join('/') };
}

export type Opened =
  | { kind: 'file'; handle: FileHandle; size: number }
  | { kind: 'missing' }
  /** `at` is the part of the name that is a symbolic link: never followed, wherever it points */
  | { kind: 'link'; at: string }
  | { kind: 'not-a-file'; what: string };

/**
 * Opens `name` (from {@link nameInside}) below `root` (a real path) for reading without following any symbolic link
 * and without blocking on a FIFO or a device: each parent is checked with lstat and the file is opened O_NOFOLLOW.
 * Node has no openat(2) or RESOLVE_BENEATH, so a parent swapped for a link between the lstat and the open would
 * go unseen by the walk; on Linux the opened descriptor's own path (/proc/self/fd) is compared too, which catches it.
 */
export async function openInside(root: string, name: string): Promise<Opened> {
  const parts = name.split('/');
  for (let i = 1; i < parts.length; i++) {
    const rel = parts.slice(0, i).join('/');
    const st = await lstat(path.join(root, rel)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return undefined;
      throw unreadable(root, rel, err);
    });
    if (st === undefined) return { kind: 'missing' };
    if (st.isSymbolicLink()) return { kind: 'link', at: rel };
    if (!st.isDirectory()) return { kind: 'missing' };
  }
  const full = path.join(root, name);
  let handle: FileHandle;
  try {
    handle = await open(full, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { kind: 'missing' };
    if (code === 'ELOOP' || code === 'EMLINK') return { kind: 'link', at: name };
    throw unreadable(root, name, err as NodeJS.ErrnoException);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) {
      await handle.close();
      return { kind: 'not-a-file', what: st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : 'a device' };
    }
    const real = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => undefined);
    if (real !== undefined && real !== full) {
      await handle.close();
      return { kind: 'link', at: name };
    }
    return { kind: 'file', handle, size: st.size };
  } catch (err) {
    await handle.close().catch(() => {});
    throw err;
  }
}

function unreadable(root: string, name: string, err: NodeJS.ErrnoException): KreproError {
  const file = path.join(root, name);
  return new KreproError('E_IO', `cannot read ${file}: ${err.code ?? err.message}`, { path: file, cause: err });
}

/**
 * The whole of a small file (a list) opened by {@link openInside}, refused when it is over `limit` bytes: a list
 * is kilobytes, and a hostile directory must not make krepro read gigabytes into memory.
 */
export async function readSmall(opened: Extract<Opened, { kind: 'file' }>, file: string, limit: number): Promise<Buffer> {
  try {
    if (opened.size > limit) throw new KreproError('E_CHECK', `${file} is ${opened.size} bytes; a list krepro reads may be at most ${limit} bytes`, { path: file });
    let buf = Buffer.alloc(opened.size + 1);
    let length = 0;
    for (;;) {
      if (length === buf.length) buf = Buffer.concat([buf, Buffer.alloc(Math.min(buf.length, limit + 1 - buf.length))]);
      const { bytesRead } = await opened.handle.read(buf, length, buf.length - length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > limit) throw new KreproError('E_CHECK', `${file} grew past ${limit} bytes while it was read`, { path: file });
    }
    return buf.subarray(0, length);
  } finally {
    await opened.handle.close();
  }
}
