import { createReadStream } from 'node:fs';
import { lstat, open, readlink, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import type Docker from 'dockerode';
import fg from 'fast-glob';
import { simpleGit } from 'simple-git';
import * as tar from 'tar-stream';
import { byteOrder } from '../byte-order.js';
import { KreproError } from '../errors.js';

/** What the volume holds for one synced path, as last sent; compared with the host to decide what to send. */
export type ManifestEntry =
  | { type: 'file'; size: number; mtimeMs: number; mode: 0o755 | 0o644 }
  | { type: 'symlink'; linkTarget: string }
  | { type: 'dir' };

export interface SyncOwner {
  uid: number;
  gid: number;
}

export interface SyncOptions {
  checkoutRoot: string;
  volume: string;
  /** Any local image with /bin/sh, xargs and find, for a short-lived helper container. */
  image: string;
  /** Where the volume is mounted in build containers, e.g. CONTAINER_SOURCE_DIR. */
  containerDir: string;
  /** Owner of everything written into the volume, so the (non-root) build user can write there. */
  owner: SyncOwner;
  /** Set on the helper container (and on the volume if the mount has to create it), so `clean` finds both. */
  labels?: Record<string, string>;
  /** Helper container name; a leftover container of that name (killed run) is replaced. Random when absent. */
  containerName?: string;
  /** Order in which files are created in the volume: byte order (default), or reversed, one of verify's variations. */
  creationOrder?: 'sorted' | 'reversed';
  signal?: AbortSignal;
  onProgress?: (e: SyncProgress) => void;
}

export type SyncProgress =
  | { phase: 'scan'; files: number }
  | {
      phase: 'plan';
      /** 'missing' (first sync) and 'unreadable' both mean the source part of the volume is wiped and resent. */
      manifest: 'ok' | 'missing' | 'unreadable';
      send: number;
      sendBytes: number;
      delete: number;
      unchanged: number;
    }
  | { phase: 'delete'; paths: number; wipe: boolean }
  | { phase: 'send'; path: string; files: number; bytes: number; totalFiles: number; totalBytes: number };

/** Counts are of files and symlinks; directories are bookkeeping. */
export interface SyncResult {
  scanned: number;
  sent: number;
  /** bytes of file content sent */
  sentBytes: number;
  deleted: number;
  unchanged: number;
  /** size of the tar stream sent (content, headers and manifest); 0 when nothing changed */
  tarBytes: number;
}

/**
 * Never synced, as upstream's rsync filters `- /_output/ - /_tmp/` leave them out. `.git` is skipped too (as upstream
 * did until ~2018): the version is computed on the host and passed in, so the build never needs the repository,
 * and a large pack would dominate the first sync. MANIFEST_DIR is krepro's own.
 */
export const MANIFEST_DIR = '.krepro-sync';
const EXCLUDED_TOP = ['.git', '_output', '_tmp', MANIFEST_DIR];
/**
 * The manifest is split in shards by path hash, so a one-file change rewrites about 1/SHARDS of it instead of
 * all of it (a Kubernetes checkout has ~25k paths, ~2 MB of JSON).
 */
const SHARDS = 64;
const MANIFEST_VERSION = 1;
const SHARD_RE = new RegExp(`^${MANIFEST_DIR.replace('.', '\\.')}/m([0-9]{2})\\.json\\.gz$`);
/** Control files put into the helper's own file system (never the volume) before it is started. */
const WIPE_MARKER = 'krepro-sync.wipe';
const DELETE_LIST = 'krepro-sync.delete';
/**
 * Run in the helper (as root, no network): either wipe the source part of the volume (no usable manifest: start
 * over as rsync --delete would) or remove the NUL-separated paths listed by the host. A list file rather than
 * attached stdin: attaching stdin without hijack hangs (dockerode#819), and a file cannot be cut short.
 */
const DELETE_SCRIPT = [
  'cd "$0" || exit 1',
  `if [ -e /${WIPE_MARKER} ]; then exec find . -mindepth 1 -maxdepth 1 ! -name _output ! -name _tmp -exec rm -rf -- {} +; fi`,
  `exec xargs -0 rm -rf -- < /${DELETE_LIST}`,
].join('\n');
/** Files up to this size are read with one call; larger ones are streamed so memory stays bounded. */
const SMALL_FILE = 256 * 1024;
const STAT_CONCURRENCY = 64;
const MAX_USTAR_ID = 0o777777;

/**
 * Makes the volume's source tree match the checkout, like upstream's `rsync --delete` into the data container but
 * through the Engine API only (a remote engine needs no port): changed files go in one tar via putArchive, deleted
 * ones are removed by a short-lived helper container. What was sent is recorded in a manifest in the volume, so a
 * no-op sync reads only that manifest. Assumes builds do not rewrite synced source files in the volume (rsync
 * would notice by size and mtime, the manifest cannot).
 */
export async function syncSources(docker: Docker, opts: SyncOptions): Promise<SyncResult> {
  const { signal } = opts;
  signal?.throwIfAborted();
  const containerDir = checkContainerDir(opts.containerDir);
  for (const id of [opts.owner.uid, opts.owner.gid]) {
    if (!Number.isSafeInteger(id) || id < 0) throw new KreproError('E_USAGE', `owner uid and gid must be whole numbers ≥ 0, got ${JSON.stringify(opts.owner)}`);
  }
  const scanned = await scanSources(opts.checkoutRoot, signal);
  const files = countFiles(scanned.values());
  opts.onProgress?.({ phase: 'scan', files });

  return withVolumeHelper(docker, { ...opts, containerDir, cmd: ['sh', '-c', DELETE_SCRIPT, containerDir] }, async (helper) => {
    const read = await readManifest(helper, containerDir, signal);
    const manifest = read.manifest;
    const plan = planSync(scanned, manifest, opts.owner);
    if (opts.creationOrder === 'reversed') plan.send.reverse();
    opts.onProgress?.({
      phase: 'plan',
      manifest: read.state,
      send: countFiles(plan.send.map((p) => scanned.get(p)!)),
      sendBytes: plan.sendBytes,
      delete: plan.deletedCount,
      unchanged: plan.unchanged,
    });

    const wipe = manifest === undefined;
    if (wipe || plan.deletions.length > 0) {
      opts.onProgress?.({ phase: 'delete', paths: plan.deletions.length, wipe });
      await runDeletions(helper, opts.volume, wipe ? undefined : plan.deletions, signal);
    }
    let tarBytes = 0;
    let sent = 0;
    if (plan.send.length > 0 || plan.dirtyShards.size > 0) {
      ({ tarBytes, sent } = await sendChanges(helper, scanned, plan, opts, containerDir));
    }
    return { scanned: files, sent, sentBytes: plan.sendBytes, deleted: plan.deletedCount, unchanged: plan.unchanged, tarBytes };
  });
}

function countFiles(entries: Iterable<ManifestEntry>): number {
  let n = 0;
  for (const e of entries) if (e.type !== 'dir') n++;
  return n;
}

/** The mount point, without a trailing slash; refuses relative, unnormalized and root paths. */
export function checkContainerDir(dir: string): string {
  if (!path.posix.isAbsolute(dir) || path.posix.normalize(dir) !== dir.replace(/\/+$/, '') || dir.replace(/\/+$/, '') === '') {
    throw new KreproError('E_USAGE', `containerDir must be a normalized absolute path other than /, got ${JSON.stringify(dir)}`);
  }
  return dir.replace(/\/+$/, '');
}

/** A relative POSIX path with no empty, `.` or `..` component: safe to join under a directory. */
export function isSafeRelativePath(p: string): boolean {
  if (p === '' || p.startsWith('/') || p.includes('\0')) return false;
  return p.split('/').every((c) => c !== '' && c !== '.' && c !== '..');
}

// ---------------------------------------------------------------------------------------------------------------
// Host side: what the checkout holds

/**
 * The checkout's files as sync sees them: git's list when it is a work tree (tracked plus untracked-not-ignored:
 * exact and faster than walking), otherwise a walk of everything; minus EXCLUDED_TOP; plus their parent directories.
 */
async function scanSources(root: string, signal?: AbortSignal): Promise<Map<string, ManifestEntry>> {
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
    for (let dir = path.posix.dirname(rel); dir !== '.'; dir = path.posix.dirname(dir)) {
      if (!found.has(dir)) found.set(dir, { type: 'dir' });
    }
  }
  // A path below a symlink (git lists a tracked file whose directory became a symlink) would be written through it.
  for (const rel of [...found.keys()]) {
    for (let dir = path.posix.dirname(rel); dir !== '.'; dir = path.posix.dirname(dir)) {
      if (found.get(dir)?.type !== 'dir') {
        found.delete(rel);
        break;
      }
    }
  }
  return found;
}

async function listSourcePaths(root: string): Promise<string[]> {
  const git = simpleGit({ baseDir: root });
  let isRepo: boolean;
  try {
    isRepo = await git.checkIsRepo();
  } catch (cause) {
    throw new KreproError('E_GIT', `cannot run git in ${root}: ${(cause as Error).message}`, { path: root, cause });
  }
  if (isRepo) {
    try {
      const out = await git.raw(['ls-files', '-z', '--cached', '--others', '--exclude-standard']);
      return out.split('\0').filter((p) => p !== '');
    } catch (cause) {
      throw new KreproError('E_GIT', `cannot list the files of the git work tree ${root}: ${(cause as Error).message}`, { path: root, cause });
    }
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

// ---------------------------------------------------------------------------------------------------------------
// The manifest in the volume

interface Manifest {
  entries: Map<string, ManifestEntry>;
  /** owner each shard's entries were written with */
  owners: SyncOwner[];
}

interface ShardFile {
  version: number;
  owner: SyncOwner;
  /** [path, entry] pairs sorted by path; pairs, not an object, so a file named `__proto__` is just a name */
  entries: [string, ManifestEntry][];
}

/** FNV-1a over UTF-16 units: stable across runs and platforms, and cheap for 25k paths. */
function shardOf(p: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < p.length; i++) {
    h ^= p.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % SHARDS;
}

function shardName(i: number): string {
  return `${MANIFEST_DIR}/m${String(i).padStart(2, '0')}.json.gz`;
}

/**
 * Reads the manifest through the (created, not started) helper. Missing → first sync. Anything odd (a shard
 * missing or cut short by an interrupted put, a path that is unsafe or in the wrong shard) → unreadable: the caller
 * then starts over, which is always correct, instead of trusting it.
 */
async function readManifest(
  helper: Docker.Container,
  containerDir: string,
  signal?: AbortSignal,
): Promise<{ manifest?: Manifest; state: 'ok' | 'missing' | 'unreadable' }> {
  let archive: Readable;
  try {
    archive = (await helper.getArchive({ path: `${containerDir}/${MANIFEST_DIR}`, ...(signal ? { abortSignal: signal } : {}) })) as unknown as Readable;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return { state: 'missing' };
    throw engineError(`reading the sync manifest in ${containerDir}`, err, signal);
  }
  const raw = new Map<number, Buffer>();
  await readTar(archive, signal, async (header, entry) => {
    const m = SHARD_RE.exec(header.name);
    if (m === null || header.type !== 'file') return drain(entry);
    raw.set(Number(m[1]), await collect(entry));
  });
  const entries = new Map<string, ManifestEntry>();
  const owners: SyncOwner[] = [];
  for (let i = 0; i < SHARDS; i++) {
    const buf = raw.get(i);
    const shard = buf === undefined ? undefined : parseShard(buf);
    if (shard === undefined) return { state: 'unreadable' };
    for (const [p, e] of shard.entries) {
      if (!isSafeRelativePath(p) || shardOf(p) !== i || !isEntry(e)) return { state: 'unreadable' };
      entries.set(p, e);
    }
    owners.push(shard.owner);
  }
  return { manifest: { entries, owners }, state: 'ok' };
}

function parseShard(buf: Buffer): ShardFile | undefined {
  try {
    const v = JSON.parse(gunzipSync(buf).toString('utf8')) as Partial<ShardFile>;
    const ownerOk = typeof v.owner?.uid === 'number' && typeof v.owner?.gid === 'number';
    if (v.version !== MANIFEST_VERSION || !ownerOk || !Array.isArray(v.entries)) return undefined;
    if (!v.entries.every((pair) => Array.isArray(pair) && pair.length === 2 && typeof pair[0] === 'string')) return undefined;
    return v as ShardFile;
  } catch {
    return undefined;
  }
}

function isEntry(e: unknown): e is ManifestEntry {
  const v = e as Record<string, unknown> | null;
  if (v === null || typeof v !== 'object') return false;
  switch (v['type']) {
    case 'file':
      return typeof v['size'] === 'number' && typeof v['mtimeMs'] === 'number' && (v['mode'] === 0o755 || v['mode'] === 0o644);
    case 'symlink':
      return typeof v['linkTarget'] === 'string';
    case 'dir':
      return true;
    default:
      return false;
  }
}

function sameEntry(a: ManifestEntry, b: ManifestEntry): boolean {
  switch (a.type) {
    case 'file':
      return b.type === 'file' && a.size === b.size && a.mtimeMs === b.mtimeMs && a.mode === b.mode;
    case 'symlink':
      return b.type === 'symlink' && a.linkTarget === b.linkTarget;
    case 'dir':
      return b.type === 'dir';
  }
}

function shardFile(scanned: Map<string, ManifestEntry>, paths: string[], owner: SyncOwner): Buffer {
  const body: ShardFile = { version: MANIFEST_VERSION, owner: { uid: owner.uid, gid: owner.gid }, entries: paths.map((p) => [p, scanned.get(p)!]) };
  return gzipSync(JSON.stringify(body));
}

// ---------------------------------------------------------------------------------------------------------------
// Planning

interface SyncPlan {
  /** paths to send (files, symlinks and new directories), sorted so parents come before children */
  send: string[];
  sendBytes: number;
  /** paths to remove, without those below another removed path */
  deletions: string[];
  deletedCount: number;
  unchanged: number;
  dirtyShards: Set<number>;
  /** scanned paths per shard, sorted */
  byShard: string[][];
}

function planSync(scanned: Map<string, ManifestEntry>, manifest: Manifest | undefined, owner: SyncOwner): SyncPlan {
  const byShard: string[][] = Array.from({ length: SHARDS }, () => []);
  const dirtyShards = new Set<number>(manifest === undefined ? byShard.keys() : []);
  const send: string[] = [];
  let sendBytes = 0;
  let unchanged = 0;
  for (const [p, entry] of scanned) {
    const shard = shardOf(p);
    byShard[shard]!.push(p);
    const old = manifest?.entries.get(p);
    const sameOwner = manifest !== undefined && manifest.owners[shard]!.uid === owner.uid && manifest.owners[shard]!.gid === owner.gid;
    if (old !== undefined && sameOwner && sameEntry(old, entry)) {
      if (entry.type !== 'dir') unchanged++;
      continue;
    }
    send.push(p);
    dirtyShards.add(shard);
    if (entry.type === 'file') sendBytes += entry.size;
  }
  const removed: string[] = [];
  let deletedCount = 0;
  for (const [p, old] of manifest?.entries ?? []) {
    if (scanned.has(p)) continue;
    removed.push(p);
    dirtyShards.add(shardOf(p));
    if (old.type !== 'dir') deletedCount++;
  }
  const removedSet = new Set(removed);
  const deletions = removed.filter((p) => {
    for (let dir = path.posix.dirname(p); dir !== '.'; dir = path.posix.dirname(dir)) if (removedSet.has(dir)) return false;
    return true;
  });
  send.sort(byteOrder);
  for (const list of byShard) list.sort(byteOrder);
  return { send, sendBytes, deletions: deletions.sort(byteOrder), deletedCount, unchanged, dirtyShards, byShard };
}

// ---------------------------------------------------------------------------------------------------------------
// Engine side

export interface VolumeHelperSpec {
  volume: string;
  image: string;
  containerDir: string;
  cmd: string[];
  labels?: Record<string, string>;
  containerName?: string;
  signal?: AbortSignal;
}

/** Cleanup still runs after an abort, so it gets its own deadline instead of the caller's (already fired) signal. */
const CLEANUP_TIMEOUT_MS = 15_000;

/**
 * Creates a helper container with the volume mounted (the engine mounts a stopped container's volumes for archive
 * calls, so most uses never start it), runs `use`, and always removes it, also after an error or abort.
 */
export async function withVolumeHelper<T>(docker: Docker, spec: VolumeHelperSpec, use: (helper: Docker.Container) => Promise<T>): Promise<T> {
  const { signal } = spec;
  // Named up front, so a create whose answer an abort cut off still leaves a name to remove.
  const name = spec.containerName ?? `krepro-sync-${randomBytes(6).toString('hex')}`;
  if (spec.containerName !== undefined) await removeByName(docker, name);
  const labels = spec.labels ?? {};
  const body = {
    Image: spec.image,
    Cmd: spec.cmd,
    User: '0:0',
    Labels: labels,
    NetworkDisabled: true,
    HostConfig: {
      NetworkMode: 'none',
      // NoCopy: a new volume must start empty, not with whatever the image holds at that path.
      Mounts: [{ Type: 'volume', Source: spec.volume, Target: spec.containerDir, VolumeOptions: { NoCopy: true, Labels: labels } }],
    },
  };
  try {
    let helper: Docker.Container;
    try {
      // _query/_body: otherwise docker-modem also copies every option into the URL query string.
      helper = await docker.createContainer({ _query: { name }, _body: body, ...(signal ? { abortSignal: signal } : {}) } as unknown as Docker.ContainerCreateOptions);
    } catch (err) {
      signal?.throwIfAborted();
      if ((err as { statusCode?: number }).statusCode === 404) {
        throw new KreproError('E_USAGE', `image ${spec.image} is not on the engine (krepro never pulls); build or load it first`, { cause: err });
      }
      throw engineError(`creating helper container ${name} for volume ${spec.volume}`, err);
    }
    return await use(helper);
  } finally {
    await removeByName(docker, name);
  }
}

async function removeByName(docker: Docker, name: string): Promise<void> {
  const abortSignal = AbortSignal.timeout(CLEANUP_TIMEOUT_MS);
  await docker
    .getContainer(name)
    .remove({ force: true, abortSignal } as Docker.ContainerRemoveOptions)
    .catch(() => {}); // already gone (404), or the engine went away: the labels let `clean` find it later
}

/** An engine failure as E_IO naming the step; an abort is rethrown as the abort it is. */
export function engineError(step: string, err: unknown, signal?: AbortSignal): unknown {
  if (signal?.aborted) return signal.reason;
  if (err instanceof KreproError) return err;
  return new KreproError('E_IO', `${step}: ${(err as Error).message?.trim() ?? String(err)}`, { cause: err });
}

async function runDeletions(helper: Docker.Container, volume: string, deletions: string[] | undefined, signal?: AbortSignal): Promise<void> {
  const control =
    deletions === undefined
      ? await tarOf([{ name: WIPE_MARKER, body: Buffer.alloc(0) }])
      : await tarOf([{ name: DELETE_LIST, body: Buffer.from(deletions.map((p) => `${p}\0`).join('')) }]);
  const abort = signal ? { abortSignal: signal } : {};
  let status: number;
  try {
    await helper.putArchive(control, { path: '/', ...abort });
    await helper.start(abort);
    status = ((await helper.wait(abort)) as { StatusCode: number }).StatusCode;
  } catch (err) {
    throw engineError(`removing deleted files from volume ${volume}`, err, signal);
  }
  if (status !== 0) {
    const logs = await helper.logs({ stdout: true, stderr: true, follow: false }).catch(() => Buffer.alloc(0));
    const tail = demuxLogs(logs as unknown as Buffer | string).trim().split('\n').slice(-10).join('\n');
    throw new KreproError('E_IO', `removing deleted files from volume ${volume} failed (exit ${status})${tail ? `:\n${tail}` : ''}`);
  }
}

/** `logs` without follow answers a Buffer of multiplexed frames (8-byte headers) when the container has no TTY. */
function demuxLogs(raw: Buffer | string): string {
  if (typeof raw === 'string' || !Buffer.isBuffer(raw)) return String(raw);
  const parts: Buffer[] = [];
  for (let at = 0; at + 8 <= raw.length; ) {
    const size = raw.readUInt32BE(at + 4);
    parts.push(raw.subarray(at + 8, at + 8 + size));
    at += 8 + size;
  }
  return Buffer.concat(parts).toString('utf8');
}

async function tarOf(files: { name: string; body: Buffer }[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const f of files) pack.entry({ name: f.name, mode: 0o600, mtime: new Date() }, f.body);
  pack.finalize();
  return collect(pack as unknown as Readable);
}

/**
 * Streams every changed path, then the rewritten manifest shards, as one tar into the helper. Put at `/` with full
 * member names rather than at containerDir: the engine refuses a relative symlink that points above the put
 * directory ("invalid symlink"), which sources may legitimately hold, and only a member naming containerDir itself
 * can give the volume's root directory to the build user.
 */
async function sendChanges(
  helper: Docker.Container,
  scanned: Map<string, ManifestEntry>,
  plan: SyncPlan,
  opts: SyncOptions,
  containerDir: string,
): Promise<{ tarBytes: number; sent: number }> {
  const { signal, owner } = opts;
  const prefix = containerDir.slice(1);
  // tar-stream silently clamps ids above 0o777777 (e.g. directory-service uids); pax records carry any size.
  const big = owner.uid > MAX_USTAR_ID || owner.gid > MAX_USTAR_ID;
  const base = { uid: owner.uid, gid: owner.gid, ...(big ? { pax: { uid: String(owner.uid), gid: String(owner.gid) } } : {}) };
  const totalFiles = countFiles(plan.send.map((p) => scanned.get(p)!));
  let sent = 0;
  let bytes = 0;

  const feed = async (pack: tar.Pack): Promise<void> => {
    const now = new Date();
    await addEntry(pack, { ...base, name: prefix, type: 'directory', mode: 0o755, mtime: now });
    for (const rel of plan.send) {
      signal?.throwIfAborted();
      const entry = scanned.get(rel)!;
      const name = `${prefix}/${rel}`;
      if (entry.type === 'dir') {
        // Directory mtimes change with every file put into them, so nothing compares them: use now.
        await addEntry(pack, { ...base, name, type: 'directory', mode: 0o755, mtime: now });
        continue;
      }
      if (entry.type === 'symlink') {
        await addEntry(pack, { ...base, name, type: 'symlink', linkname: entry.linkTarget, mode: 0o777, mtime: now });
      } else {
        await addFile(pack, { ...base, name, type: 'file', mode: entry.mode, size: entry.size, mtime: new Date(entry.mtimeMs) }, path.join(opts.checkoutRoot, rel), entry);
        bytes += entry.size;
      }
      sent++;
      opts.onProgress?.({ phase: 'send', path: rel, files: sent, bytes, totalFiles, totalBytes: plan.sendBytes });
    }
    await addEntry(pack, { ...base, name: `${prefix}/${MANIFEST_DIR}`, type: 'directory', mode: 0o755, mtime: now });
    for (const shard of [...plan.dirtyShards].sort((a, b) => a - b)) {
      await addEntry(pack, { ...base, name: `${prefix}/${shardName(shard)}`, type: 'file', mode: 0o644, mtime: now }, shardFile(scanned, plan.byShard[shard]!, owner));
    }
    pack.finalize();
  };

  const pack = tar.pack();
  let tarBytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      tarBytes += chunk.length;
      cb(null, chunk);
    },
  });
  // Errors reach the caller through feeding or putting below; this only keeps pipeline's own rejection handled.
  pipeline(pack as unknown as Readable, counter).catch(() => {});
  const onAbort = (): void => void pack.destroy(signal!.reason as Error);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const feeding = feed(pack).catch((err: unknown) => {
      pack.destroy(err as Error);
      throw err;
    });
    const putting = helper.putArchive(counter, { path: '/', ...(signal ? { abortSignal: signal } : {}) }).catch((err: unknown) => {
      pack.destroy(err as Error);
      throw err;
    });
    const [fed, put] = await Promise.allSettled([feeding, putting]);
    signal?.throwIfAborted();
    // A file that changed under us explains a failed put better than the engine's view of a cut-off stream.
    if (fed.status === 'rejected') throw fed.reason;
    if (put.status === 'rejected') throw engineError(`writing sources into volume ${opts.volume}`, put.reason, signal);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  return { tarBytes, sent };
}

function addEntry(pack: tar.Pack, header: EntryHeader, body?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error | null): void => (err ? reject(err) : resolve());
    if (body === undefined) pack.entry(header, done);
    else pack.entry(header, body, done);
  });
}

type EntryHeader = Parameters<tar.Pack['entry']>[0];

/** tar-stream's per-entry writable (a streamx Writable; its typings omit the no-argument end()). */
type Sink = ReturnType<tar.Pack['entry']> & { end(): void };

/** Adds one file as scanned, or throws E_FILE_CHANGED: a tar entry's size is fixed before its bytes are read. */
async function addFile(pack: tar.Pack, header: EntryHeader, abs: string, seen: { size: number; mtimeMs: number }): Promise<void> {
  let handle;
  try {
    handle = await open(abs, 'r');
  } catch (cause) {
    const gone = (cause as NodeJS.ErrnoException).code === 'ENOENT';
    throw new KreproError(gone ? 'E_FILE_CHANGED' : 'E_IO', `cannot read ${abs}${gone ? ' (deleted while syncing; run again)' : ''}: ${(cause as Error).message}`, { path: abs, cause });
  }
  try {
    const changed = async (): Promise<boolean> => {
      const now = await handle.stat();
      return now.size !== seen.size || now.mtimeMs !== seen.mtimeMs;
    };
    const fail = (): KreproError => new KreproError('E_FILE_CHANGED', `${abs} changed while syncing; run the sync again`, { path: abs });
    if (await changed()) throw fail();
    if (seen.size <= SMALL_FILE) {
      const body = await handle.readFile();
      if (body.length !== seen.size || (await changed())) throw fail();
      await addEntry(pack, header, body);
      return;
    }
    let sink!: Sink;
    const done = new Promise<void>((resolve, reject) => {
      sink = pack.entry(header, (err) => (err ? reject(err) : resolve())) as Sink;
    });
    // The failure reaches the caller through this function's throw; without these, streamx would also raise it unhandled.
    sink.on('error', () => {});
    done.catch(() => {});
    let copied = 0;
    for await (const chunk of createReadStream('', { fd: handle.fd, autoClose: false, start: 0, end: seen.size - 1, highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
      copied += chunk.length;
      if (!sink.write(chunk)) await drainOrClose(sink);
      if (sink.destroyed) throw new KreproError('E_IO', `stopped reading ${abs}: the tar stream was closed`, { path: abs });
    }
    if (copied !== seen.size || (await changed())) {
      sink.destroy(fail());
      throw fail();
    }
    sink.end();
    await done;
  } finally {
    await handle.close();
  }
}

function drainOrClose(sink: Sink): Promise<void> {
  const emitter = sink as unknown as NodeJS.EventEmitter;
  return new Promise((resolve) => {
    const done = (): void => {
      emitter.off('drain', done);
      emitter.off('close', done);
      resolve();
    };
    emitter.on('drain', done);
    emitter.on('close', done);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Tar reading, shared with copy-output

/**
 * Feeds a tar stream to `onEntry` one member at a time. Every member must be consumed by `onEntry` (tar-stream stalls
 * otherwise); errors from the source, the parser or `onEntry` all end here, and the source is destroyed so its
 * socket is released (dockerode#728).
 */
export async function readTar(
  source: Readable,
  signal: AbortSignal | undefined,
  onEntry: (header: tar.Header, entry: Readable) => Promise<void>,
): Promise<void> {
  const extract = tar.extract();
  const sink = extract as unknown as NodeJS.WritableStream;
  const feeding = (signal ? pipeline(source, sink, { signal }) : pipeline(source, sink)).then(
    () => undefined,
    (err: unknown) => err,
  );
  try {
    for await (const entry of extract) await onEntry(entry.header, entry as unknown as Readable);
    const err = await feeding;
    if (err !== undefined) throw err;
  } catch (err) {
    signal?.throwIfAborted();
    throw err instanceof KreproError ? err : new KreproError('E_IO', `reading a tar stream from the engine failed: ${(err as Error).message}`, { cause: err });
  } finally {
    source.destroy();
    extract.destroy();
  }
}

export async function drain(entry: Readable): Promise<void> {
  for await (const _ of entry) {
    // discard
  }
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
