import { lstat, readlink, realpath } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import * as path from 'node:path';
import fg from 'fast-glob';
import { KreproError } from '../errors.js';
import { byteOrder } from '../byte-order.js';
import { type Entry, normalizedMode } from './entry.js';

/** How planDirectory and planFiles walk a tree. */
export interface PlanOptions {
  /** Member path prefix, e.g. "kubernetes": every member lives under this one root. */
  prefix: string;
  /** Keep symlinks that point outside the archived tree instead of refusing them. */
  allowExternalSymlinks?: boolean;
}

interface Found {
  /** path relative to the walked root, POSIX separators, no trailing slash */
  rel: string;
  abs: string;
  stats: Stats;
}

/**
 * Walks `root` (the directory that becomes `prefix/`) and returns its members sorted by UTF-8 byte order, the root
 * itself first. Refuses what a release tarball must not carry, naming the path.
 */
export async function planDirectory(root: string, opts: PlanOptions): Promise<Entry[]> {
  const rootStats = await statOrFail(root);
  if (!rootStats.isDirectory()) throw new KreproError('E_STAGE', `not a directory: ${root}`, { path: root });
  let walked: { path: string; stats?: Stats }[];
  try {
    walked = await fg('**', { cwd: root, dot: true, onlyFiles: false, followSymbolicLinks: false, stats: true, unique: true });
  } catch (err) {
    throw new KreproError('E_IO', `cannot read ${root}: ${(err as Error).message}`, { path: root, cause: err });
  }
  const found: Found[] = walked.map((w) => ({ rel: w.path, abs: path.join(root, w.path), stats: w.stats! }));
  return classify(root, found, opts);
}

/**
 * Plans an explicit list of files under `root` (for example `git ls-files`), adding their parent directories.
 * Paths that no longer exist are skipped: a tracked file deleted in the work tree is not part of it.
 */
export async function planFiles(root: string, relPaths: string[], opts: PlanOptions): Promise<Entry[]> {
  const found: Found[] = [];
  const dirs = new Set<string>();
  for (const rel of relPaths) {
    const abs = path.join(root, rel);
    let stats: Stats;
    try {
      stats = await lstat(abs);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new KreproError('E_IO', `cannot stat ${abs}: ${(err as Error).message}`, { path: abs, cause: err });
    }
    found.push({ rel, abs, stats });
    for (let dir = path.posix.dirname(rel); dir !== '.'; dir = path.posix.dirname(dir)) dirs.add(dir);
  }
  for (const rel of dirs) found.push({ rel, abs: path.join(root, rel), stats: await statOrFail(path.join(root, rel)) });
  return classify(root, found, opts);
}

async function statOrFail(p: string): Promise<Stats> {
  try {
    return await lstat(p);
  } catch (err) {
    throw new KreproError('E_STAGE', `cannot read ${p}: ${(err as Error).message}`, { path: p, cause: err });
  }
}

async function classify(root: string, found: Found[], opts: PlanOptions): Promise<Entry[]> {
  found.sort((a, b) => byteOrder(a.rel, b.rel));
  const realRoot = await realpath(root);
  const entries: Entry[] = [{ type: 'directory', path: opts.prefix, mtime: seconds((await lstat(root)).mtimeMs) }];
  const firstByInode = new Map<string, string>();
  for (const { rel, abs, stats } of found) {
    const member = `${opts.prefix}/${rel}`;
    const mtime = seconds(stats.mtimeMs);
    if (stats.isDirectory()) {
      entries.push({ type: 'directory', path: member, mtime });
    } else if (stats.isFile()) {
      const mode = normalizedMode(stats.mode);
      const key = `${stats.dev}:${stats.ino}`;
      const first = stats.nlink > 1 ? firstByInode.get(key) : undefined;
      if (first !== undefined) {
        entries.push({ type: 'hardlink', path: member, target: first, mode, mtime });
      } else {
        if (stats.nlink > 1) firstByInode.set(key, member);
        entries.push({ type: 'file', path: member, mode, mtime, size: stats.size, source: { path: abs, size: stats.size, mtimeMs: stats.mtimeMs, ino: stats.ino } });
      }
    } else if (stats.isSymbolicLink()) {
      const target = await readlink(abs);
      if (!opts.allowExternalSymlinks) await assertInside(root, realRoot, rel, abs, target);
      entries.push({ type: 'symlink', path: member, target, mtime });
    } else {
      const kind = stats.isSocket() ? 'socket' : stats.isFIFO() ? 'FIFO' : stats.isBlockDevice() ? 'block device' : 'character device';
      throw new KreproError('E_UNSUPPORTED_FILE', `${abs} is a ${kind}; release tarballs may hold only files, directories and links`, { path: abs });
    }
  }
  return entries;
}

/** A symlink must resolve inside the tree, both by its text and, when its target exists, on the file system. */
async function assertInside(root: string, realRoot: string, rel: string, abs: string, target: string): Promise<void> {
  const lexical = path.posix.normalize(path.posix.join(path.posix.dirname(rel), target));
  const outside = path.posix.isAbsolute(target) || lexical === '..' || lexical.startsWith('../');
  let real: string | undefined;
  try {
    real = await realpath(abs);
  } catch {
    real = undefined; // dangling: only the text can be judged
  }
  const realOutside = real !== undefined && real !== realRoot && !real.startsWith(realRoot + path.sep);
  if (outside || realOutside) {
    throw new KreproError(
      'E_UNSAFE_PATH',
      `symlink ${abs} -> ${target} points outside ${root}; pass allowExternalSymlinks (--allow-external-symlinks) to keep it`,
      { path: abs },
    );
  }
}

function seconds(ms: number): number {
  return Math.floor(ms / 1000);
}
