import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Manifest, type ManifestEntry, SHARDS, shardFile, parseManifest, shardOf } from '../lib/backend/docker/sync/manifest.js';
import { parseListing } from '../lib/backend/docker/sync/volume-side.js';
import { planSync, type VolumeEntry } from '../lib/backend/docker/sync/plan.js';

// The sync planner is pure: what to send, delete and check follows from host scan, manifest and volume listing.
const OWNER = { uid: 1000, gid: 1000 };
const file = (size: number, mtimeMs = 1_700_000_000_500, mode: 0o755 | 0o644 = 0o644): ManifestEntry => ({ type: 'file', size, mtimeMs, mode });
const dir: ManifestEntry = { type: 'dir' };
const inVolume = (e: ManifestEntry): VolumeEntry =>
  e.type === 'file' ? { type: 'file', size: e.size, mtimeSec: Math.floor(e.mtimeMs / 1000), executable: e.mode === 0o755 } : e.type === 'dir' ? { type: 'dir' } : { type: 'symlink', linkTarget: e.linkTarget };

function manifestOf(entries: Record<string, ManifestEntry>, owner = OWNER): Manifest {
  return { entries: new Map(Object.entries(entries)), owners: Array.from({ length: SHARDS }, () => owner) };
}
const map = <T>(o: Record<string, T>): Map<string, T> => new Map(Object.entries(o));
const volumeOf = (o: Record<string, ManifestEntry>): Map<string, VolumeEntry> => new Map(Object.entries(o).map(([k, v]) => [k, inVolume(v)]));

const TREE = { a: dir, 'a/x.go': file(10), 'a/y.go': file(20), 'b.sh': file(5, 1_700_000_000_000, 0o755), link: { type: 'symlink', linkTarget: 'a' } as ManifestEntry };

test('first sync: everything is sent, every shard written, nothing checked in the volume', () => {
  const plan = planSync(map(TREE), undefined, undefined, OWNER);
  assert.equal(plan.send, ['a', 'a/x.go', 'a/y.go', 'b.sh', 'link']);
  assert.is(plan.sendBytes, 35);
  assert.is(plan.dirtyShards.size, SHARDS);
  assert.equal(plan.deletions, []);
});

test('no-op: the volume holds what the manifest says; nothing is sent or deleted', () => {
  const plan = planSync(map(TREE), manifestOf(TREE), volumeOf(TREE), OWNER);
  assert.equal([plan.send, plan.deletions, plan.rewritten, plan.strays], [[], [], [], []]);
  assert.is(plan.unchanged, 4);
  assert.is(plan.dirtyShards.size, 0);
});

test('host changes: a changed file is sent, a deleted directory is removed once (not each child)', () => {
  const host = { ...TREE, 'a/x.go': file(11) } as Record<string, ManifestEntry>;
  delete host['link'];
  const plan = planSync(map(host), manifestOf({ ...TREE, gone: dir, 'gone/f': file(1) }), volumeOf({ ...TREE, gone: dir, 'gone/f': file(1) }), OWNER);
  assert.equal(plan.send, ['a/x.go']);
  assert.equal(plan.deletions, ['gone', 'link']);
  assert.is(plan.deletedCount, 2);
  assert.equal([...plan.dirtyShards].sort((x, y) => x - y), [...new Set(['a/x.go', 'gone', 'gone/f', 'link'].map(shardOf))].sort((x, y) => x - y));
});

test('the build rewrote a synced file and removed another: both are resent, the rewritten one removed first', () => {
  const volume = volumeOf(TREE);
  volume.set('a/x.go', { type: 'file', size: 10, mtimeSec: 1_800_000_000, executable: false }); // same size, new mtime
  volume.delete('a/y.go');
  volume.set('b.sh', { type: 'file', size: 5, mtimeSec: 1_700_000_000, executable: false }); // chmod -x
  const plan = planSync(map(TREE), manifestOf(TREE), volume, OWNER);
  assert.equal(plan.rewritten, ['a/x.go', 'a/y.go', 'b.sh']);
  assert.equal(plan.send, ['a/x.go', 'a/y.go', 'b.sh']);
  assert.equal(plan.deletions, ['a/x.go', 'a/y.go', 'b.sh']);
  assert.is(plan.unchanged, 1);
});

test('files the build created in the source tree are strays and removed, below their topmost new directory only', () => {
  const volume = volumeOf(TREE);
  volume.set('a/generated.go', { type: 'file', size: 3, mtimeSec: 1, executable: false });
  volume.set('gen', { type: 'dir' });
  volume.set('gen/deep/z', { type: 'file', size: 3, mtimeSec: 1, executable: false });
  volume.set('gen/deep', { type: 'dir' });
  const plan = planSync(map(TREE), manifestOf(TREE), volume, OWNER);
  assert.equal(plan.strays, ['a/generated.go', 'gen']);
  assert.equal(plan.deletions, ['a/generated.go', 'gen']);
  assert.equal(plan.send, []);
});

test('a new host directory the build also made is not a stray; a build file where the host now has a file is', () => {
  const host = { ...TREE, newdir: dir, 'newdir/f': file(1), 'c.txt': file(2) };
  const volume = volumeOf(TREE);
  volume.set('newdir', { type: 'dir' });
  volume.set('c.txt', { type: 'dir' });
  const plan = planSync(map(host), manifestOf(TREE), volume, OWNER);
  assert.equal(plan.strays, ['c.txt']);
  assert.equal(plan.send, ['c.txt', 'newdir', 'newdir/f']);
});

test('another owner resends everything (modes and owners are part of what was sent)', () => {
  const plan = planSync(map(TREE), manifestOf(TREE, { uid: 1, gid: 1 }), volumeOf(TREE), OWNER);
  assert.is(plan.send.length, 5);
  assert.is(plan.unchanged, 0);
});

test('manifest shards round-trip; a missing or corrupt shard makes the manifest unreadable', () => {
  const scanned = map(TREE);
  const byShard: string[][] = Array.from({ length: SHARDS }, () => []);
  for (const p of scanned.keys()) byShard[shardOf(p)]!.push(p);
  const shards = new Map(byShard.map((paths, i) => [i, shardFile(scanned, paths.sort(), OWNER)]));
  const manifest = parseManifest(shards);
  assert.equal(manifest?.entries, scanned);
  const cut = new Map(shards);
  cut.set(0, shards.get(0)!.subarray(0, 10));
  assert.is(parseManifest(cut), undefined);
  const missing = new Map(shards);
  missing.delete(SHARDS - 1);
  assert.is(parseManifest(missing), undefined);
  // A path filed in the wrong shard (a tampered manifest) is not trusted either.
  const wrong = new Map(shards);
  const p = [...scanned.keys()][0]!;
  wrong.set((shardOf(p) + 1) % SHARDS, shardFile(scanned, [p], OWNER));
  assert.is(parseManifest(wrong), undefined);
});

test("the volume listing parser reads find's NUL-separated records, names with tabs and newlines included", () => {
  const rec = (...f: string[]) => f.map((x) => `${x}\0`).join('');
  const raw = Buffer.from(rec('f', '12', '1700000000.0000000000', '755', '', 'odd\tname\nhere') + rec('d', '4096', '1.5', '755', '', 'd') + rec('l', '1', '2.0', '777', 'd', 'ln') + rec('p', '0', '0', '644', '', 'fifo'));
  assert.equal(parseListing(raw), new Map<string, VolumeEntry>([
    ['odd\tname\nhere', { type: 'file', size: 12, mtimeSec: 1_700_000_000, executable: true }],
    ['d', { type: 'dir' }],
    ['ln', { type: 'symlink', linkTarget: 'd' }],
    ['fifo', { type: 'other' }],
  ]));
});

test.run();
