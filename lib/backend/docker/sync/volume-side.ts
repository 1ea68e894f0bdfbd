import * as path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { appendEntry, appendFile, type TarHeader } from '../../../archive/tar-sink.js';
import type { Container } from '../../../engine/engine.js';
import { KreproError } from '../../../errors.js';
import { type Manifest, type ManifestEntry, parseManifest, shardFile, shardName, shardNumber, type SyncOwner } from './manifest.js';
import { MANIFEST_DIR } from './paths.js';
import type { SyncPlan, VolumeEntry } from './plan.js';
import { collect, drain, readTar } from './tar-read.js';

/** Control files put into the helper's own file system (never the volume) before it is started. */
const WIPE_MARKER = 'krepro-sync.wipe';
const DELETE_LIST = 'krepro-sync.delete';
const LISTING = 'krepro-sync.list';
const MAX_USTAR_ID = 0o777777;

/**
 * Run in the helper (as root, no network), once per start, by which control file is present: wipe the source part
 * of the volume (no usable manifest: start over, as rsync --delete would), remove the NUL-separated paths listed by
 * the host, or else list what the volume holds (outside _output/, _tmp/ and the manifest) so the host can check the
 * manifest against it. Control files rather than attached stdin: attaching stdin without hijack hangs (dockerode#819).
 */
export const HELPER_SCRIPT = [
  'cd "$0" || exit 1',
  `if [ -e /${WIPE_MARKER} ]; then rm -f /${WIPE_MARKER}; exec find . -mindepth 1 -maxdepth 1 ! -name _output ! -name _tmp -exec rm -rf -- {} +; fi`,
  `if [ -e /${DELETE_LIST} ]; then xargs -0 rm -rf -- < /${DELETE_LIST}; s=$?; rm -f /${DELETE_LIST}; exit $s; fi`,
  `exec find . -mindepth 1 \\( -path ./_output -o -path ./_tmp -o -path ./.git -o -path ./${MANIFEST_DIR} \\) -prune -o -printf '%y\\0%s\\0%T@\\0%m\\0%l\\0%P\\0' > /${LISTING}`,
].join('\n');

export type ManifestState = 'ok' | 'missing' | 'unreadable';

/** Reads the manifest through the (created, not started) helper; see parseManifest for what counts as unreadable. */
export async function readManifest(helper: Container, containerDir: string, signal?: AbortSignal): Promise<{ manifest?: Manifest; state: ManifestState }> {
  const archive = await helper.getArchive(`${containerDir}/${MANIFEST_DIR}`, signal ? { signal } : {});
  if (archive === undefined) return { state: 'missing' };
  const raw = new Map<number, Buffer>();
  await readTar(archive.stream, signal, async (header, entry) => {
    const shard = shardNumber(header.name);
    if (shard === undefined || header.type !== 'file') return drain(entry);
    raw.set(shard, await collect(entry));
  });
  const manifest = parseManifest(raw);
  return manifest === undefined ? { state: 'unreadable' } : { manifest, state: 'ok' };
}

/** Starts the helper once and fails with its log when the script fails. */
async function runHelper(helper: Container, what: string, signal?: AbortSignal): Promise<void> {
  const call = signal ? { signal } : {};
  await helper.start(call);
  const { exitCode } = await helper.wait(call);
  if (exitCode !== 0) {
    const tail = (await helper.logs().catch(() => '')).trim().split('\n').slice(-10).join('\n');
    throw new KreproError('E_IO', `${what} failed in helper container ${helper.name} (exit ${exitCode})${tail ? `:\n${tail}` : ''}`);
  }
}

/** What the volume holds, listed by the helper's `find`. */
export async function listVolume(helper: Container, volume: string, signal?: AbortSignal): Promise<Map<string, VolumeEntry>> {
  await runHelper(helper, `listing volume ${volume}`, signal);
  const archive = await helper.getArchive(`/${LISTING}`, signal ? { signal } : {});
  if (archive === undefined) throw new KreproError('E_IO', `listing volume ${volume}: the helper wrote no listing`);
  let listing: Buffer = Buffer.alloc(0);
  await readTar(archive.stream, signal, async (_header, entry) => {
    listing = await collect(entry);
  });
  return parseListing(listing);
}

/** find -printf '%y\0%s\0%T@\0%m\0%l\0%P\0' records. */
export function parseListing(raw: Buffer): Map<string, VolumeEntry> {
  const fields = raw.toString('utf8').split('\0');
  const out = new Map<string, VolumeEntry>();
  for (let i = 0; i + 6 <= fields.length; i += 6) {
    const [kind, size, mtime, mode, link, rel] = fields.slice(i, i + 6) as [string, string, string, string, string, string];
    let entry: VolumeEntry;
    if (kind === 'f') entry = { type: 'file', size: Number(size), mtimeSec: Math.floor(Number(mtime)), executable: (Number.parseInt(mode, 8) & 0o111) !== 0 };
    else if (kind === 'd') entry = { type: 'dir' };
    else if (kind === 'l') entry = { type: 'symlink', linkTarget: link };
    else entry = { type: 'other' };
    out.set(rel, entry);
  }
  return out;
}

/** Wipes the source part of the volume (undefined) or removes the listed paths. */
export async function runDeletions(helper: Container, volume: string, deletions: string[] | undefined, signal?: AbortSignal): Promise<void> {
  const control =
    deletions === undefined
      ? await tarOf([{ name: WIPE_MARKER, body: Buffer.alloc(0) }])
      : await tarOf([{ name: DELETE_LIST, body: Buffer.from(deletions.map((p) => `${p}\0`).join('')) }]);
  await helper.putArchive('/', control, signal ? { signal } : {});
  await runHelper(helper, `removing deleted files from volume ${volume}`, signal);
}

async function tarOf(files: { name: string; body: Buffer }[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const f of files) pack.entry({ name: f.name, mode: 0o600, mtime: new Date() }, f.body);
  pack.finalize();
  return collect(pack as unknown as Readable);
}

export interface SendOptions {
  checkoutRoot: string;
  volume: string;
  containerDir: string;
  owner: SyncOwner;
  /** write the manifest shards (false for one-shot volumes) */
  manifest: boolean;
  signal?: AbortSignal;
  onFile?: (rel: string, files: number, bytes: number) => void;
}

/**
 * Streams every changed path, then the rewritten manifest shards, as one tar into the helper. Put at `/` with full
 * member names rather than at containerDir: the engine refuses a relative symlink that points above the put
 * directory ("invalid symlink"), which sources may legitimately hold, and only a member naming containerDir itself
 * can give the volume's root directory to the build user.
 */
export async function sendChanges(helper: Container, scanned: ReadonlyMap<string, ManifestEntry>, plan: SyncPlan, opts: SendOptions): Promise<{ tarBytes: number; sent: number }> {
  const { signal, owner } = opts;
  const prefix = opts.containerDir.slice(1);
  // tar-stream silently clamps ids above 0o777777 (e.g. directory-service uids); pax records carry any size.
  const big = owner.uid > MAX_USTAR_ID || owner.gid > MAX_USTAR_ID;
  const base = { uid: owner.uid, gid: owner.gid, ...(big ? { pax: { uid: String(owner.uid), gid: String(owner.gid) } } : {}) };
  let sent = 0;
  let bytes = 0;

  const feed = async (pack: tar.Pack): Promise<void> => {
    const now = new Date();
    const dir = (name: string): TarHeader => ({ ...base, name, type: 'directory', mode: 0o755, mtime: now });
    await appendEntry(pack, dir(prefix));
    for (const rel of plan.send) {
      signal?.throwIfAborted();
      const entry = scanned.get(rel)!;
      const name = `${prefix}/${rel}`;
      // Directory mtimes change with every file put into them, so nothing compares them: use now.
      if (entry.type === 'dir') {
        await appendEntry(pack, dir(name));
        continue;
      }
      if (entry.type === 'symlink') {
        await appendEntry(pack, { ...base, name, type: 'symlink', linkname: entry.linkTarget, mode: 0o777, mtime: now });
      } else {
        const abs = path.join(opts.checkoutRoot, rel);
        await appendFile(pack, { ...base, name, type: 'file', mode: entry.mode, size: entry.size, mtime: new Date(entry.mtimeMs) }, { path: abs, size: entry.size, mtimeMs: entry.mtimeMs });
        bytes += entry.size;
      }
      sent++;
      opts.onFile?.(rel, sent, bytes);
    }
    if (opts.manifest) await appendEntry(pack, dir(`${prefix}/${MANIFEST_DIR}`));
    for (const shard of [...plan.dirtyShards].sort((a, b) => a - b)) {
      await appendEntry(pack, { ...base, name: `${prefix}/${shardName(shard)}`, type: 'file', mode: 0o644, mtime: now }, shardFile(scanned, plan.byShard[shard]!, owner));
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
    const putting = helper.putArchive('/', counter, signal ? { signal } : {}).catch((err: unknown) => {
      pack.destroy(err as Error);
      throw err;
    });
    const [fed, put] = await Promise.allSettled([feeding, putting]);
    signal?.throwIfAborted();
    // A file that changed under us explains a failed put better than the engine's view of a cut-off stream.
    if (fed.status === 'rejected') throw fed.reason;
    if (put.status === 'rejected') throw put.reason;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  return { tarBytes, sent };
}
