import { withVolumeHelper } from '../volume-access.js';
import type { Container, Engine } from '../../../engine/engine.js';
import { KreproError } from '../../../errors.js';
import type { SyncResult } from '../../session.js';
import type { ManifestEntry, SyncOwner } from './manifest.js';
import { checkContainerDir } from './paths.js';
import { planSync } from './plan.js';
import { scanSources } from './scan.js';
import { HELPER_SCRIPT, listVolume, type ManifestState, readManifest, runDeletions, sendChanges } from './volume-side.js';
import { quote } from '../../../quote.js';

export interface SyncOptions {
  checkoutRoot: string;
  volume: string;
  /** Any local image with /bin/sh and GNU find, for a short-lived helper container. */
  image: string;
  /** Where the volume is mounted in build containers, e.g. CONTAINER_SOURCE_DIR. */
  containerDir: string;
  /** Owner of everything written into the volume, so the (non-root) build user can write there. */
  owner: SyncOwner;
  /** Set on the helper container, so `clean` finds a leftover one. */
  labels?: Record<string, string>;
  /** Helper container name, unique to this run; random when absent. */
  containerName?: string;
  /** Order in which files are created in the volume: byte order (default), or reversed (verify's file-order). */
  creationOrder?: 'sorted' | 'reversed';
  /**
   * The volume was just created for this sync alone (verify's builds): nothing to compare or wipe, and no manifest
   * is written, so the build tree holds exactly the checkout's files.
   */
  oneShot?: boolean;
  /** with oneShot: a running container that has the volume mounted at containerDir, to write through */
  via?: Container;
  signal?: AbortSignal;
  onProgress?: (e: SyncProgress) => void;
}

export type SyncProgress =
  | { phase: 'scan'; files: number }
  | {
      phase: 'plan';
      /** 'missing' (first sync) and 'unreadable' both mean the source part of the volume is wiped and resent. */
      manifest: ManifestState;
      send: number;
      sendBytes: number;
      delete: number;
      unchanged: number;
      /** synced files the build changed in the volume (resent) */
      rewritten: number;
      /** files the build created in the source tree (removed) */
      strays: number;
    }
  | { phase: 'delete'; paths: number; wipe: boolean }
  | { phase: 'send'; path: string; files: number; bytes: number; totalFiles: number; totalBytes: number };

function countFiles(entries: Iterable<ManifestEntry>): number {
  let n = 0;
  for (const e of entries) if (e.type !== 'dir') n++;
  return n;
}

/**
 * Makes the volume's source tree match the checkout, like upstream's `rsync --delete` into the data container but
 * through the Engine API only (a remote engine needs no port): what the volume holds is listed and checked against
 * the manifest of the last sync (never trusted alone), changed files go in one tar via putArchive, and deleted ones,
 * files the build created in the source tree, and synced files it rewrote are removed by a short-lived helper.
 */
export async function syncSources(engine: Engine, opts: SyncOptions): Promise<SyncResult> {
  const { signal } = opts;
  signal?.throwIfAborted();
  const containerDir = checkContainerDir(opts.containerDir);
  for (const id of [opts.owner.uid, opts.owner.gid]) {
    if (!Number.isSafeInteger(id) || id < 0) throw new KreproError('E_USAGE', `owner uid and gid must be whole numbers ≥ 0, got ${quote(opts.owner)}`);
  }
  const helperSpec = {
    volume: opts.volume,
    image: opts.image,
    mountPath: containerDir,
    cmd: ['sh', '-c', HELPER_SCRIPT, containerDir],
    ...(opts.labels ? { labels: opts.labels } : {}),
    ...(opts.containerName ? { name: opts.containerName } : {}),
    ...(opts.oneShot && opts.via ? { via: opts.via } : {}),
    ...(signal ? { signal } : {}),
  };
  return withVolumeHelper(engine, helperSpec, async (helper) => {
    // The volume is read and listed while the checkout is scanned: the listing (a container start) costs about what
    // the scan does, and neither needs the other.
    const inVolume = (async () => {
      const read = opts.oneShot ? { state: 'missing' as const } : await readManifest(helper, containerDir, signal);
      const manifest = 'manifest' in read ? read.manifest : undefined;
      return { read, manifest, volume: manifest === undefined ? undefined : await listVolume(helper, opts.volume, signal) };
    })();
    inVolume.catch(() => {}); // awaited below; a scan failure must not leave this rejection unhandled
    const scanned = await scanSources(opts.checkoutRoot, signal);
    const files = countFiles(scanned.values());
    opts.onProgress?.({ phase: 'scan', files });
    const { read, manifest, volume } = await inVolume;
    const plan = planSync(scanned, manifest, volume, opts.owner);
    if (opts.creationOrder === 'reversed') plan.send.reverse();
    if (opts.oneShot) plan.dirtyShards.clear();
    opts.onProgress?.({
      phase: 'plan',
      manifest: read.state,
      send: countFiles(plan.send.map((p) => scanned.get(p)!)),
      sendBytes: plan.sendBytes,
      delete: plan.deletedCount,
      unchanged: plan.unchanged,
      rewritten: plan.rewritten.length,
      strays: plan.strays.length,
    });

    const wipe = manifest === undefined && !opts.oneShot;
    if (wipe || plan.deletions.length > 0) {
      opts.onProgress?.({ phase: 'delete', paths: plan.deletions.length, wipe });
      await runDeletions(helper, opts.volume, wipe ? undefined : plan.deletions, signal);
    }
    let tarBytes = 0;
    let sent = 0;
    if (plan.send.length > 0 || plan.dirtyShards.size > 0) {
      const totalFiles = countFiles(plan.send.map((p) => scanned.get(p)!));
      ({ tarBytes, sent } = await sendChanges(helper, scanned, plan, {
        checkoutRoot: opts.checkoutRoot,
        volume: opts.volume,
        containerDir,
        owner: opts.owner,
        manifest: !opts.oneShot,
        ...(signal ? { signal } : {}),
        onFile: (path, files, bytes) => opts.onProgress?.({ phase: 'send', path, files, bytes, totalFiles, totalBytes: plan.sendBytes }),
      }));
    }
    return { scanned: files, sent, sentBytes: plan.sendBytes, deleted: plan.deletedCount, unchanged: plan.unchanged, rewritten: plan.rewritten, strays: plan.strays, tarBytes };
  });
}
