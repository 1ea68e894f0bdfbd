import type { Stats } from 'node:fs';
import { lstat, readlink, stat } from 'node:fs/promises';
import * as path from 'node:path';
import fg from 'fast-glob';
import { KreproError } from '../../../errors.js';
import { gitWorkTreeOf, runGit } from '../../../source/git.js';
import type { ManifestEntry } from './manifest.js';
import { isSafeRelativePath } from '../../../checkout/relative-path.js';
import { EXCLUDED_TOP, parentsOf } from './paths.js';

const STAT_CONCURRENCY = 64;

/**
 * The checkout's files as sync sees them: git's list when it is a work tree (tracked plus untracked-not-ignored:
 * exact and faster than walking; a git that is missing or refuses the checkout is an error), otherwise a walk of
 * everything; minus EXCLUDED_TOP; plus their parent directories.
 */
export async function scanSources(root: string, signal?: AbortSignal): Promise<Map<string, ManifestEntry>> {
  let rootStats: Stats;
  try {
    rootStats = await stat(root);
  } catch (cause) {
    throw new KreproError('E_USAGE', `checkout ${root} cannot be read: ${(cause as Error).message}`, { path: root, cause });
  }
  if (!rootStats.isDirectory()) throw new KreproError('E_USAGE', `checkout ${root} is not a directory`, { path: root });

  const listed = await listSourcePaths(root);
  signal?.throwIfAborted();
  const excluded = new Set(EXCLUDED_TOP);
  const rels = [...new Set(listed)].filter((p) => isSafeRelativePath(p) && !excluded.has(p.split('/', 1)[0]!));
  const found = new Map<string, ManifestEntry>();
  await forEachLimit(rels, STAT_CONCURRENCY, async (rel) => {
    signal?.throwIfAborted();
    const entry = await describe(root, rel);
    if (entry !== undefined) found.set(rel, entry);
  });
  // git lists files only, and a walk may list a directory after its files: add every parent as a directory.
  for (const rel of [...found.keys()]) {
    for (const dir of parentsOf(rel)) if (!found.has(dir)) found.set(dir, { type: 'dir' });
  }
  // A path below a symlink (git lists a tracked file whose directory became a symlink) would be written through it.
  for (const rel of [...found.keys()]) {
    if (parentsOf(rel).some((dir) => found.get(dir)?.type !== 'dir')) found.delete(rel);
  }
  return found;
}

async function listSourcePaths(root: string): Promise<string[]> {
  // A work tree is listed by git, or not at all: a walk would also send the files .gitignore leaves out.
  if ((await gitWorkTreeOf(root)) !== undefined) {
    const out = await runGit(root, ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], `list the files to sync from the git checkout ${root}`);
    return out.split('\0').filter((p) => p !== '');
  }
  try {
    return await fg('**', {
      cwd: root,
      dot: true,
      onlyFiles: false,
      followSymbolicLinks: false,
      ignore: EXCLUDED_TOP.flatMap((d) => [d, `${d}/**`]),
    });
  } catch (cause) {
    throw new KreproError('E_IO', `cannot walk ${root}: ${(cause as Error).message}`, { path: root, cause });
  }
}

/** Undefined for what is not synced: paths gone since listing, and sockets, FIFOs and devices (rsync skips them too). */
async function describe(root: string, rel: string): Promise<ManifestEntry | undefined> {
  const abs = path.join(root, rel);
  let st: Stats;
  try {
    st = await lstat(abs);
  } catch (cause) {
    // ENOTDIR: a tracked file whose directory has become a file.
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new KreproError('E_IO', `cannot stat ${abs}: ${(cause as Error).message}`, { path: abs, cause });
  }
  // Modes are normalized (exec bit only) so the volume does not depend on the host's umask.
  if (st.isFile()) return { type: 'file', size: st.size, mtimeMs: st.mtimeMs, mode: st.mode & 0o111 ? 0o755 : 0o644 };
  if (st.isDirectory()) return { type: 'dir' };
  if (st.isSymbolicLink()) {
    try {
      return { type: 'symlink', linkTarget: await readlink(abs) };
    } catch (cause) {
      throw new KreproError('E_IO', `cannot read symlink ${abs}: ${(cause as Error).message}`, { path: abs, cause });
    }
  }
  return undefined;
}

async function forEachLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
