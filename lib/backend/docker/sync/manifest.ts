import { gunzipSync, gzipSync } from 'node:zlib';
import { isSafeRelativePath } from '../../../checkout/relative-path.js';
import { MANIFEST_DIR } from './paths.js';

/** What the volume holds for one synced path, as last sent; compared with the host to decide what to send. */
export type ManifestEntry =
  | { type: 'file'; size: number; mtimeMs: number; mode: 0o755 | 0o644 }
  | { type: 'symlink'; linkTarget: string }
  | { type: 'dir' };

export interface SyncOwner {
  uid: number;
  gid: number;
}

export interface Manifest {
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

/**
 * The manifest is split in shards by path hash, so a one-file change rewrites about 1/SHARDS of it instead of
 * all of it (a Kubernetes checkout has ~25k paths, ~2 MB of JSON).
 */
export const SHARDS = 64;
const MANIFEST_VERSION = 1;
const SHARD_RE = new RegExp(`^${MANIFEST_DIR.replace('.', '\\.')}/m([0-9]{2})\\.json\\.gz$`);

/** FNV-1a over UTF-16 units: stable across runs and platforms, and cheap for 25k paths. */
export function shardOf(p: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < p.length; i++) {
    h ^= p.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % SHARDS;
}

export function shardName(i: number): string {
  return `${MANIFEST_DIR}/m${String(i).padStart(2, '0')}.json.gz`;
}

/** The shard number of a manifest member name (relative to the volume root), or undefined for anything else. */
export function shardNumber(name: string): number | undefined {
  const m = SHARD_RE.exec(name);
  return m === null ? undefined : Number(m[1]);
}

/**
 * The manifest from its shard files. Any shard missing or cut short (an interrupted put), or a path that is unsafe or
 * in the wrong shard → undefined: the caller then starts over, which is always correct, instead of trusting it.
 */
export function parseManifest(shards: ReadonlyMap<number, Buffer>): Manifest | undefined {
  const entries = new Map<string, ManifestEntry>();
  const owners: SyncOwner[] = [];
  for (let i = 0; i < SHARDS; i++) {
    const buf = shards.get(i);
    const shard = buf === undefined ? undefined : parseShard(buf);
    if (shard === undefined) return undefined;
    for (const [p, e] of shard.entries) {
      if (!isSafeRelativePath(p) || shardOf(p) !== i || !isEntry(e)) return undefined;
      entries.set(p, e);
    }
    owners.push(shard.owner);
  }
  return { entries, owners };
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

export function sameEntry(a: ManifestEntry, b: ManifestEntry): boolean {
  switch (a.type) {
    case 'file':
      return b.type === 'file' && a.size === b.size && a.mtimeMs === b.mtimeMs && a.mode === b.mode;
    case 'symlink':
      return b.type === 'symlink' && a.linkTarget === b.linkTarget;
    case 'dir':
      return b.type === 'dir';
  }
}

/** One shard file: the entries of `paths` (sorted) as scanned, written with `owner`. */
export function shardFile(scanned: ReadonlyMap<string, ManifestEntry>, paths: string[], owner: SyncOwner): Buffer {
  const body: ShardFile = { version: MANIFEST_VERSION, owner: { uid: owner.uid, gid: owner.gid }, entries: paths.map((p) => [p, scanned.get(p)!]) };
  return gzipSync(JSON.stringify(body));
}
