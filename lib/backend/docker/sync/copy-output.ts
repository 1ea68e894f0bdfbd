import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import type { Stats } from 'node:fs';
import { chmod, copyFile, lstat, mkdir, mkdtemp, readlink, rename, rm, stat, symlink } from 'node:fs/promises';
import * as path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathBeneath } from '../../../checkout/beneath.js';
import type { Container, Engine } from '../../../engine/engine.js';
import { withVolumeHelper } from '../volume-access.js';
import { mapDiskFull } from '../../../disk-full.js';
import { KreproError } from '../../../errors.js';
import type { CopyResult } from '../../session.js';
import { isSafeRelativePath } from '../../../checkout/relative-path.js';
import { checkContainerDir } from './paths.js';
import { drain, readTar } from './tar-read.js';
import { quote } from '../../../quote.js';

export interface CopyOutputOptions {
  volume: string;
  /** Any local image; the helper container is only created, never started. */
  image: string;
  /** Where the volume is mounted in build containers, e.g. CONTAINER_SOURCE_DIR. */
  containerDir: string;
  checkoutRoot: string;
  /**
   * Follow an `_output` link git does not track: the user's own (e.g. `_output` on another disk). Every other link
   * on the way to an output path is refused; default false.
   */
  userOutputLink?: boolean;
  /** Checkout-relative paths to bring back; default `_output/dockerized/bin` (upstream's copy_output brings those binaries). */
  paths?: string[];
  /** Skip paths the build has not produced instead of failing (after `krepro run` of a command that builds nothing). */
  skipMissing?: boolean;
  labels?: Record<string, string>;
  /** Helper container name, unique to this run; random when absent. */
  containerName?: string;
  /** a container that has the volume mounted at containerDir, to read through instead of a new helper */
  via?: Container;
  signal?: AbortSignal;
  onProgress?: (e: CopyProgress) => void;
}

export interface CopyProgress {
  /** checkout-relative for copyOutput, relative to `dest` for extractOutputTar ('' is dest itself) */
  path: string;
  changed: boolean;
  /** file size; 0 for symlinks */
  bytes: number;
}

const DEFAULT_PATHS = ['_output/dockerized/bin'];

/**
 * Brings build results back from the data volume, as upstream's copy_output does with rsync, through getArchive of a
 * created-but-never-started helper. Files whose size and sha256 already match are left alone (their mtime too), like
 * `rsync -c`; nothing on the host is deleted. Each path is all-or-nothing: its archive is read and checked in full
 * before anything is put in place.
 */
export async function copyOutput(engine: Engine, opts: CopyOutputOptions): Promise<CopyResult> {
  const { signal } = opts;
  signal?.throwIfAborted();
  const containerDir = checkContainerDir(opts.containerDir);
  const paths = (opts.paths ?? DEFAULT_PATHS).map((p) => {
    const rel = p.replace(/\/+$/, '');
    if (!isSafeRelativePath(rel)) throw new KreproError('E_USAGE', `output path ${quote(p)} must be relative to the checkout, without . or .. parts`);
    return rel;
  });
  const call = signal ? { signal } : {};
  if ((await engine.volumes.inspect(opts.volume, call)) === undefined) {
    throw new KreproError('E_USAGE', `volume ${opts.volume} does not exist: there is no build output to copy (sync and build first)`);
  }

  const helperSpec = {
    volume: opts.volume,
    image: opts.image,
    mountPath: containerDir,
    cmd: ['/bin/sh'],
    ...(opts.labels ? { labels: opts.labels } : {}),
    ...(opts.containerName ? { name: opts.containerName } : {}),
    ...(opts.via ? { via: opts.via } : {}),
    ...call,
  };
  const copyAll = async (helper: Container): Promise<CopyResult> => {
    const total: CopyResult = { copied: 0, unchanged: 0, bytes: 0 };
    for (const rel of paths) {
      // Checked before each path: an earlier one may have brought a link that this one lies below.
      const dest = await pathBeneath(opts.checkoutRoot, rel, { userOutputLink: opts.userOutputLink ?? false });
      const archive = await helper.getArchive(`${containerDir}/${rel}`, call);
      if (archive === undefined) {
        if (opts.skipMissing) continue;
        throw new KreproError('E_IO', `${rel} does not exist in volume ${opts.volume} (${containerDir}/${rel}): has the build produced it?`, { path: rel });
      }
      const r = await extractOutputTar(archive.stream, dest, {
        ...(signal ? { signal } : {}),
        ...(opts.onProgress ? { onProgress: (e: CopyProgress) => opts.onProgress!({ ...e, path: e.path === '' ? rel : `${rel}/${e.path}` }) } : {}),
      });
      total.copied += r.copied;
      total.unchanged += r.unchanged;
      total.bytes += r.bytes;
    }
    return total;
  };
  // A full disk leaves the output in the volume: the copy can simply be done again once there is room.
  const fix = `free space there; the output is still in volume ${opts.volume}, and krepro copy-output brings it back`;
  return mapDiskFull((inner) => ({ target: opts.checkoutRoot, ...inner?.context, fix }), () => withVolumeHelper(engine, helperSpec, copyAll));
}

type Received =
  | { kind: 'dir'; rel: string }
  | { kind: 'file'; rel: string; temp: string; size: number; sha256: string; mode: 0o755 | 0o644 }
  | { kind: 'symlink'; rel: string; target: string };

/**
 * Extracts an archive as getArchive makes it (members rooted at `basename(dest)`) into `dest`. Hostile input is
 * refused with E_UNSAFE_PATH before anything is placed: absolute names, `..`, names outside that root, members below
 * a symlink of the same archive, and a symlink as the root itself. Symlinks are recreated as symlinks, and nothing
 * is ever written through one: a symlink found on the host where the archive has a directory is replaced by a
 * directory.
 */
export async function extractOutputTar(
  source: Readable,
  dest: string,
  opts: { signal?: AbortSignal; onProgress?: (e: CopyProgress) => void } = {},
): Promise<CopyResult> {
  // Staged next to dest (in its nearest existing ancestor, so a refused archive creates no directory) for
  // same-file-system renames.
  let anchor = path.dirname(path.resolve(dest));
  while (!(await exists(anchor))) anchor = path.dirname(anchor);
  const progress: Progress = { received: 0, placed: 0, placing: false };
  return mapDiskFull(
    () => ({
      target: dest,
      // Received bytes went to the staging directory; once placing, what the destination's disk took is what counts.
      written: progress.placing ? progress.placed : progress.received,
      ...(progress.member ? { at: progress.member.name, needed: { bytes: progress.member.size, what: 'that file alone is' } } : {}),
      kept: progress.placing ? 'the files put in place before it are the new ones, the others are as they were; the received copies were removed' : `${dest} was not changed and the received copies were removed`,
    }),
    async () => {
      let staging: string;
      try {
        staging = await mkdtemp(path.join(anchor, `.krepro-copy-${path.basename(dest)}-`));
      } catch (cause) {
        source.destroy();
        throw new KreproError('E_IO', `cannot create a staging directory in ${anchor}: ${(cause as Error).message}`, { path: anchor, cause });
      }
      try {
        const received = await receive(source, path.basename(dest), staging, progress, opts.signal);
        progress.placing = true;
        return await place(received, path.resolve(dest), staging, progress, opts);
      } finally {
        await rm(staging, { recursive: true, force: true });
      }
    },
  );
}

/** How far a copy got: what a full disk's message says (the member being written, and its size). */
interface Progress {
  received: number;
  /** bytes of files put in place so far */
  placed: number;
  placing: boolean;
  member?: { name: string; size: number };
}

async function receive(source: Readable, rootName: string, staging: string, progress: Progress, signal?: AbortSignal): Promise<Received[]> {
  const received: Received[] = [];
  const files = new Map<string, Extract<Received, { kind: 'file' }>>();
  const symlinks = new Set<string>();
  let temps = 0;
  await readTar(source, signal, async (header, entry) => {
    const rel = memberPath(header.name, rootName);
    for (let dir = rel; dir !== ''; ) {
      dir = parentOf(dir);
      if (symlinks.has(dir)) throw unsafe(header.name, `lies below the symlink ${rootName}/${dir}`);
    }
    switch (header.type) {
      case 'directory':
        await drain(entry);
        received.push({ kind: 'dir', rel });
        return;
      case 'file':
      case 'contiguous-file': {
        const temp = path.join(staging, String(temps++));
        progress.member = { name: header.name, size: header.size ?? 0 };
        const { size, sha256 } = await writeTemp(entry, temp, progress, signal);
        if (size !== header.size) throw new KreproError('E_IO', `${header.name}: expected ${header.size} bytes, got ${size}`);
        const file = { kind: 'file' as const, rel, temp, size, sha256, mode: header.mode & 0o111 ? (0o755 as const) : (0o644 as const) };
        received.push(file);
        files.set(rel, file);
        return;
      }
      case 'symlink':
        await drain(entry);
        if (rel === '') throw unsafe(header.name, 'is a symlink; the output root must be a directory or a file');
        symlinks.add(rel);
        received.push({ kind: 'symlink', rel, target: header.linkname ?? '' });
        return;
      case 'link': {
        // The engine writes a second name of an inode as a hard link to the first: copy that file's staged bytes.
        await drain(entry);
        const first = files.get(memberPath(header.linkname ?? '', rootName));
        if (first === undefined) throw new KreproError('E_UNSUPPORTED_FILE', `${header.name} is a hard link to ${header.linkname}, which is not an earlier file of the archive`);
        const temp = path.join(staging, String(temps++));
        await copyFile(first.temp, temp);
        const file = { ...first, rel, temp };
        received.push(file);
        files.set(rel, file);
        return;
      }
      default:
        await drain(entry);
        throw new KreproError('E_UNSUPPORTED_FILE', `${header.name} is a ${header.type}; build output may hold only files, directories and links`);
    }
  });
  return received;
}

/** The member's path below the archive root ('' for the root), or E_UNSAFE_PATH. */
function memberPath(name: string, rootName: string): string {
  if (name.startsWith('/')) throw unsafe(name, 'is absolute');
  const parts = name.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.includes('..')) throw unsafe(name, 'contains ..');
  if (parts[0] !== rootName) throw unsafe(name, `is outside the archive root ${rootName}/`);
  return parts.slice(1).join('/');
}

function unsafe(name: string, why: string): KreproError {
  return new KreproError('E_UNSAFE_PATH', `refusing build output member ${quote(name)}: it ${why}; nothing was copied`, { path: name });
}

function parentOf(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i < 0 ? '' : rel.slice(0, i);
}

async function writeTemp(entry: Readable, temp: string, progress: Progress, signal?: AbortSignal): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  const hasher = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      progress.received += chunk.length;
      cb(null, chunk);
    },
  });
  const out = createWriteStream(temp, { flags: 'wx', mode: 0o600 });
  try {
    await (signal ? pipeline(entry, hasher, out, { signal }) : pipeline(entry, hasher, out));
  } catch (cause) {
    signal?.throwIfAborted();
    if (cause instanceof KreproError) throw cause; // the engine went away: the seam said so
    throw new KreproError('E_IO', `cannot receive into ${temp}: ${(cause as Error).message}`, { path: temp, cause });
  }
  return { size, sha256: hash.digest('hex') };
}

/** Puts the received members in place, in archive order (parents first), skipping what already matches. */
async function place(
  received: Received[],
  dest: string,
  staging: string,
  progress: Progress,
  opts: { signal?: AbortSignal; onProgress?: (e: CopyProgress) => void },
): Promise<CopyResult> {
  const result: CopyResult = { copied: 0, unchanged: 0, bytes: 0 };
  const ensured = new Set<string>();
  const abs = (rel: string): string => (rel === '' ? dest : path.join(dest, rel));
  let temps = 0;

  /** Makes rel a real directory: anything else found there (file, symlink) is replaced, never followed. */
  const ensureDir = async (rel: string): Promise<void> => {
    if (ensured.has(rel)) return;
    if (rel !== '') await ensureDir(parentOf(rel));
    const at = abs(rel);
    // dest itself may be the user's own symlink to a directory (e.g. _output on another disk); below it, nothing is followed.
    const st = rel === '' ? await statOrUndefined(at, stat) : await statOrUndefined(at, lstat);
    if (!st?.isDirectory()) {
      if (st !== undefined) await rm(at, { force: true });
      await mkdir(at, { recursive: rel === '', mode: 0o755 });
    }
    ensured.add(rel);
  };
  /** A file or symlink now takes `rel`: directories cached at or below it no longer exist. */
  const forget = (rel: string): void => {
    for (const d of ensured) if (d === rel || d.startsWith(`${rel}/`) || rel === '') ensured.delete(d);
  };
  const clearForFile = async (at: string, st: Stats | undefined): Promise<void> => {
    // rename() cannot replace a directory with a file; everything there came from an earlier copy of this output.
    if (st?.isDirectory()) await rm(at, { recursive: true, force: true });
  };
  const prepareParent = async (rel: string): Promise<void> => {
    if (rel === '') await mkdir(path.dirname(dest), { recursive: true });
    else await ensureDir(parentOf(rel));
  };

  for (const r of received) {
    opts.signal?.throwIfAborted();
    try {
      if (r.kind === 'dir') {
        await ensureDir(r.rel);
        continue;
      }
      await prepareParent(r.rel);
      const at = abs(r.rel);
      const st = await statOrUndefined(at, lstat);
      let changed: boolean;
      if (r.kind === 'file') {
        changed = !(st?.isFile() && st.size === r.size && (st.mode & 0o111 ? 0o755 : 0o644) === r.mode && (await sha256File(at)) === r.sha256);
        if (changed) {
          progress.member = { name: r.rel === '' ? path.basename(dest) : `${path.basename(dest)}/${r.rel}`, size: r.size };
          await clearForFile(at, st);
          await chmod(r.temp, r.mode);
          await moveInto(r.temp, at);
          result.bytes += r.size;
          progress.placed += r.size;
        }
      } else {
        changed = !(st?.isSymbolicLink() && (await readlink(at)) === r.target);
        if (changed) {
          await clearForFile(at, st);
          const temp = path.join(staging, `link-${temps++}`);
          await symlink(r.target, temp);
          await moveInto(temp, at);
        }
      }
      if (changed) {
        forget(r.rel);
        result.copied++;
      } else {
        result.unchanged++;
      }
      opts.onProgress?.({ path: r.rel, changed, bytes: r.kind === 'file' ? r.size : 0 });
    } catch (cause) {
      if (cause instanceof KreproError) throw cause;
      throw new KreproError('E_IO', `cannot put ${abs(r.rel)} in place: ${(cause as Error).message}`, { path: abs(r.rel), cause });
    }
  }
  return result;
}

/**
 * Renames a staged file or link into place. Where the destination is on another file system than the staging
 * directory (a mount point, or the user's link to another disk, at or below the output path), rename cannot cross
 * it (EXDEV): the staged copy is then copied beside the destination first, on its file system, and renamed there.
 */
async function moveInto(temp: string, at: string): Promise<void> {
  try {
    await rename(temp, at);
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
  }
  const near = path.join(path.dirname(at), `.krepro-copy-${path.basename(at)}-${randomBytes(6).toString('hex')}`);
  try {
    if ((await lstat(temp)).isSymbolicLink()) await symlink(await readlink(temp), near);
    else await copyFile(temp, near);
    await rename(near, at);
  } catch (err) {
    await rm(near, { force: true });
    throw err;
  }
}

async function statOrUndefined(p: string, how: typeof lstat): Promise<Stats | undefined> {
  try {
    return await how(p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

async function exists(p: string): Promise<boolean> {
  return (await statOrUndefined(p, stat)) !== undefined;
}

async function sha256File(p: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(p)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
