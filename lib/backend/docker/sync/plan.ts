import { byteOrder } from '../../../byte-order.js';
import { type Manifest, type ManifestEntry, sameEntry, SHARDS, shardOf, type SyncOwner } from './manifest.js';
import { parentsOf } from './paths.js';

/** What the volume actually holds at a path, as listed in the volume before planning (never trusted from the manifest). */
export type VolumeEntry =
  | { type: 'file'; size: number; /** whole seconds: tar carries no more */ mtimeSec: number; executable: boolean }
  | { type: 'symlink'; linkTarget: string }
  | { type: 'dir' }
  | { type: 'other' };

export interface SyncPlan {
  /** paths to send (files, symlinks and new directories), sorted so parents come before children */
  send: string[];
  sendBytes: number;
  /** paths to remove before sending, without those below another removed path */
  deletions: string[];
  /** files and symlinks removed because the checkout no longer has them */
  deletedCount: number;
  /** synced paths the build changed or removed in the volume: resent */
  rewritten: string[];
  /** paths the build created in the source tree (outside _output/ and _tmp/): removed, as rsync --delete would */
  strays: string[];
  unchanged: number;
  dirtyShards: Set<number>;
  /** scanned paths per shard, sorted */
  byShard: string[][];
}

/** Whether the volume still holds what the manifest says was sent. */
function holds(sent: ManifestEntry, found: VolumeEntry | undefined): boolean {
  if (found === undefined) return false;
  switch (sent.type) {
    case 'file':
      return found.type === 'file' && found.size === sent.size && found.mtimeSec === Math.floor(sent.mtimeMs / 1000) && found.executable === (sent.mode === 0o755);
    case 'symlink':
      return found.type === 'symlink' && found.linkTarget === sent.linkTarget;
    case 'dir':
      return found.type === 'dir';
  }
}

/**
 * Decides what one sync does, from the checkout as scanned, the manifest of the last sync (undefined: none, or not
 * readable: everything is sent into a wiped tree) and what the volume holds (undefined with no manifest). Pure, so
 * it is tested without an engine.
 */
export function planSync(
  scanned: ReadonlyMap<string, ManifestEntry>,
  manifest: Manifest | undefined,
  volume: ReadonlyMap<string, VolumeEntry> | undefined,
  owner: SyncOwner,
): SyncPlan {
  const byShard: string[][] = Array.from({ length: SHARDS }, () => []);
  const dirtyShards = new Set<number>(manifest === undefined ? byShard.keys() : []);
  const send: string[] = [];
  const rewritten: string[] = [];
  let sendBytes = 0;
  let unchanged = 0;
  for (const [p, entry] of scanned) {
    const shard = shardOf(p);
    byShard[shard]!.push(p);
    const old = manifest?.entries.get(p);
    const sameOwner = manifest !== undefined && manifest.owners[shard]!.uid === owner.uid && manifest.owners[shard]!.gid === owner.gid;
    if (old !== undefined && sameOwner && sameEntry(old, entry)) {
      if (volume === undefined || holds(old, volume.get(p))) {
        if (entry.type !== 'dir') unchanged++;
        continue;
      }
      rewritten.push(p);
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
  const strays: string[] = [];
  for (const [p, found] of volume ?? []) {
    if (manifest?.entries.has(p)) continue;
    // A directory the checkout also has (new on the host) is not in the way; anything else the build made is.
    if (found.type === 'dir' && scanned.get(p)?.type === 'dir') continue;
    strays.push(p);
  }
  // Rewritten paths are removed before they are sent again: the build may have turned a file into a directory.
  const gone = new Set([...removed, ...strays, ...rewritten]);
  const deletions = [...gone].filter((p) => !parentsOf(p).some((dir) => gone.has(dir)));
  send.sort(byteOrder);
  for (const list of byShard) list.sort(byteOrder);
  return {
    send,
    sendBytes,
    deletions: deletions.sort(byteOrder),
    deletedCount,
    rewritten: rewritten.sort(byteOrder),
    strays: strays.filter((p) => !parentsOf(p).some((dir) => gone.has(dir))).sort(byteOrder),
    unchanged,
    dirtyShards,
    byShard,
  };
}
