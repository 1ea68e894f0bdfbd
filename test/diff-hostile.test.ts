import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createWriteStream, existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { diff } from '../lib/diff/compare.js';
import { allFindings } from '../lib/diff/difference.js';
import type { DiffReport } from '../lib/diff/types.js';
import { pinned, rawHeader, tarOf, write } from './helpers/diff-pairs.js';
import { tempDir } from './helpers/stage.js';

const kinds = (r: DiffReport) => r.refused.map((x) => `${x.side}:${x.kind}`).sort();
const benign = () => tarOf([{ name: 'k/' }, { name: 'k/a', body: 'hello\n' }]);

test('"../" and absolute member names: reported as unsafe, compared as labels, nothing written anywhere', async () => {
  const dir = tempDir();
  const escapee = `krepro-escape-${randomBytes(4).toString('hex')}`;
  const work = path.join(dir, 'deep', 'er');
  mkdirSync(work, { recursive: true });
  const hostile = await tarOf([
    { name: 'k/' },
    { name: 'k/a', body: 'hello\n' },
    { name: `../../${escapee}`, body: 'pwned\n' },
    { name: `/tmp/${escapee}`, body: 'pwned\n' },
    { name: 'k/out', type: 'symlink', linkname: '/etc/passwd' },
  ]);
  const before = readdirSync(dir).sort();
  const r = await diff(write(work, 'a.tar.gz', await pinned(await benign())), write(work, 'b.tar.gz', await pinned(hostile)));
  assert.equal(kinds(r), ['right:unsafe-link', 'right:unsafe-name', 'right:unsafe-name']);
  assert.ok(allFindings(r.tree).some((f) => f.cause === 'file-set' && f.right === `../../${escapee}`));
  assert.not.ok(existsSync(path.join(dir, escapee)) || existsSync(`/tmp/${escapee}`), 'nothing extracted');
  assert.equal(readdirSync(dir).sort(), before);
  assert.not.ok(r.identical);
});

test('symlink loops in an archive and in a release directory: reported once per loop, never followed', async () => {
  const dir = tempDir();
  const loops = await tarOf([
    { name: 'k/' },
    { name: 'k/a', type: 'symlink', linkname: 'b' },
    { name: 'k/b', type: 'symlink', linkname: 'a' },
    { name: 'k/self', type: 'symlink', linkname: 'self' },
    { name: 'k/up', type: 'symlink', linkname: '../k/up' },
  ]);
  const r = await diff(write(dir, 'a.tar', await benign()), write(dir, 'b.tar', loops));
  assert.equal(
    r.refused.filter((x) => x.kind === 'symlink-loop').map((x) => x.detail),
    ['symlink loop k/a -> k/b -> k/a: not followed', 'symlink loop k/self -> k/self: not followed', 'symlink loop k/up -> k/up: not followed'],
  );
  for (const side of ['l', 'r']) mkdirSync(path.join(dir, side));
  symlinkSync('loop', path.join(dir, 'r', 'loop'));
  symlinkSync('.', path.join(dir, 'r', 'here'));
  const d = await diff(path.join(dir, 'l'), path.join(dir, 'r'));
  assert.equal(kinds(d), ['right:symlink-loop']);
  assert.equal(allFindings(d.tree).map((f) => `${f.cause}:${f.right}`), ['file-set:here', 'file-set:loop']);
});

test('huge declared sizes: over the limit refused unread; under it but missing, reported as truncated', async () => {
  const dir = tempDir();
  const tiny = Buffer.concat([rawHeader('k/huge', { base256Size: 1n << 40n }), Buffer.alloc(1024)]);
  const r = await diff(write(dir, 'a.tar.gz', await pinned(await benign())), write(dir, 'b.tar.gz', gzipSync(tiny)));
  const refusal = r.refused.find((x) => x.kind === 'declared-size')!;
  assert.match(refusal.detail, /k\/huge declares 1\.0 TiB, over the 16 GiB limit: not read/);
  const short = Buffer.concat([rawHeader('k/eight-gib', { size: 0o77777777777 }), Buffer.alloc(4096, 0x41)]);
  const t = await diff(write(dir, 'c.tar', await benign()), write(dir, 'd.tar', short));
  assert.equal(kinds(t), ['right:truncated']);
  assert.match(t.refused[0]!.detail, /k\/eight-gib declares 8\.0 GiB but the archive ends/);
});

test('decompression bombs: stopped by the ratio cap, and by the absolute cap, with what was read reported', async () => {
  const dir = tempDir();
  // A gzip stream of 1 GiB of zeros behind one tar header, made of 1024 identical gzip members (about 1 MiB).
  const zeros = gzipSync(Buffer.alloc(1 << 20), { level: 9 });
  const bomb = Buffer.concat([gzipSync(rawHeader('k/zeros', { size: 1 << 30 })), ...Array.from({ length: 1024 }, () => zeros)]);
  const file = write(dir, 'bomb.tar.gz', bomb);
  const started = Date.now();
  const rss = process.memoryUsage().rss;
  const r = await diff(write(dir, 'a.tar.gz', await pinned(await benign())), file);
  assert.equal(kinds(r), ['right:inflate-limit']);
  assert.match(r.refused[0]!.detail, /a ratio over 200:1 looks like a decompression bomb/);
  assert.ok(Date.now() - started < 20_000, `took ${Date.now() - started} ms`);
  assert.ok(process.memoryUsage().rss - rss < 256 * 2 ** 20, 'memory stays bounded');
  // Members small enough to pass the declared-size check, so only the inflate caps can stop them.
  const member = gzipSync(Buffer.concat([rawHeader('k/z', { size: 1 << 20 }), Buffer.alloc(1 << 20)]), { level: 9 });
  const many = write(dir, 'many.tar.gz', Buffer.concat(Array.from({ length: 256 }, () => member)));
  const capped = await diff(write(dir, 'c.tar.gz', await pinned(await benign())), many, { limits: { maxInflatedBytes: 8 << 20, inflateRatioFloor: 1 << 40 } });
  assert.match(capped.refused[0]!.detail, /over the 8\.0 MiB limit for one gzip stream/);
  const budget = await diff(write(dir, 'e.tar.gz', await pinned(await benign())), many, { limits: { maxTotalInflatedBytes: 4 << 20, inflateRatioFloor: 1 << 40 } });
  assert.match(budget.refused[0]!.detail, /over its 4\.0 MiB budget/);
});

test('corrupt deflate data, bad header checksums and too many members are refusals, not crashes', async () => {
  const dir = tempDir();
  const good = await pinned(await benign());
  const corrupt = Buffer.from(good);
  corrupt.fill(0xff, 12, 40);
  const a = write(dir, 'a.tar.gz', good);
  const r = await diff(a, write(dir, 'b.tar.gz', corrupt));
  assert.equal(kinds(r), ['right:corrupt']);
  const badSum = Buffer.concat([await benign()]);
  badSum[512 + 1024 + 10] ^= 0xff;
  const s = await diff(write(dir, 'c.tar', await benign()), write(dir, 'd.tar', badSum));
  assert.ok(kinds(s).includes('right:corrupt'), JSON.stringify(s.refused));
  const many = await diff(write(dir, 'e.tar', await benign()), write(dir, 'f.tar', await tarOf([{ name: 'k/' }, { name: 'k/a', body: 'x' }, { name: 'k/b' }])), { limits: { maxMembers: 2 } });
  assert.ok(kinds(many).includes('right:member-limit'));
});

test('100,000 members: one pass per side plus one for the differing member, bounded time and memory', async () => {
  const dir = tempDir();
  const N = 100_000;
  const make = async (file: string, changed: string) => {
    const out = createWriteStream(file);
    const body = Buffer.alloc(512);
    for (let i = 0; i < N; i++) {
      const content = i === 54_321 ? changed : `member ${i}\n`;
      body.fill(0);
      body.write(content);
      if (!out.write(Buffer.concat([rawHeader(`k/d${i % 100}/f${i}`, { size: content.length }), body]))) await new Promise<void>((r) => out.once('drain', () => r()));
    }
    out.end(Buffer.alloc(1024));
    await new Promise<void>((r) => out.on('close', () => r()));
  };
  await make(path.join(dir, 'a.tar'), 'left\n');
  await make(path.join(dir, 'b.tar'), 'right\n');
  const a = write(dir, 'a.tar.gz', await pinned(await import('node:fs').then((fs) => fs.readFileSync(path.join(dir, 'a.tar')))));
  const b = write(dir, 'b.tar.gz', await pinned(await import('node:fs').then((fs) => fs.readFileSync(path.join(dir, 'b.tar')))));
  const rss = process.memoryUsage().rss;
  const started = Date.now();
  const r = await diff(a, b);
  const ms = Date.now() - started;
  const fs = allFindings(r.tree);
  assert.is(fs.length, 1);
  assert.equal(fs[0]!.path, ['k/d21/f54321']);
  assert.equal([fs[0]!.left, fs[0]!.right], ['left', 'right']);
  assert.ok(ms < 30_000, `took ${ms} ms`);
  assert.ok(process.memoryUsage().rss - rss < 512 * 2 ** 20, `rss grew ${(process.memoryUsage().rss - rss) >> 20} MiB`);
});

test.run();
