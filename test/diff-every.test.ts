import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { diff, type Finding } from '../lib/index.js';
import { allFindings } from '../lib/diff/difference.js';
import { tempDir } from './helpers/stage.js';

// DiffOptions.every, what verify's attribution reads: every differing place its own finding with its span in the
// left file, bounded per member with the bound said.
const dir = tempDir('krepro-diff-every-');
function file(name: string, content: string | Buffer): string {
  const p = path.join(dir, name);
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, content);
  return p;
}
const every = async (a: string, b: string, limits = {}): Promise<Finding[]> => allFindings((await diff(a, b, { every: true, limits })).tree);
const brief = (f: Finding) => [f.cause, f.field, f.at ? [f.at.unit, f.at.start, f.at.end, ...(f.at.columns ?? [])] : null];

test('text: a token and a path on one line are two findings by column; a line with nothing in common is removed and added', async () => {
  const a = file('a.txt', 'one\nbuilt in /src/p with token 1a2b3c4d\nthree\nfour\n');
  const b = file('b.txt', 'one\nbuilt in /build/x/deeper/p with token 9f8e7d6c\nthree\nnew\n');
  assert.equal((await every(a, b)).map(brief), [
    ['build-path', 'embedded path', ['line', 2, 2, 9, 15]],
    ['content', 'text', ['line', 2, 2, 27, 35]],
    ['content', 'line', ['line', 4, 4]],
    ['content', 'line', ['line', 5, 4]],
  ]);
  const c = file('c.txt', 'one\ntwo\n');
  const d = file('d.txt', 'zero\none\ntwo\nthree\n');
  assert.equal((await every(c, d)).map(brief), [
    ['content', 'line', ['line', 1, 0]],
    ['content', 'line', ['line', 3, 2]],
  ]);
});

test('the bound: past maxLocated one finding spans the rest and says how many', async () => {
  const lines = (s: string) => Array.from({ length: 10 }, (_, i) => `value ${s}${i}`).join('\n');
  const found = await every(file('l.txt', lines('a')), file('r.txt', lines('b')), { maxLocated: 3 });
  assert.is(found.length, 3);
  assert.equal(found[2]!.at, { unit: 'line', start: 3, end: 10, total: 10 });
  assert.match(found[2]!.note!, /^8 more differing places, past the 2 kept one by one \(limits\.maxLocated\)/);
});

test('lines are paired by likeness, not by order: a changed line after added ones is still that line', async () => {
  const a = file('env1.txt', 'HOME=/a\nPATH=/bin\nPWD=/src/p\nTZ=UTC\n');
  const b = file('env2.txt', 'HOME=/a\nLD_PRELOAD=/x.so\nNO_FAKE_STAT=1\nPATH=/bin\nPWD=/build/deeper/p\nTZ=UTC\n');
  assert.equal((await every(a, b)).map((f) => [f.field, f.left, f.right, f.at!.start, f.at!.end]), [
    ['line', null, 'LD_PRELOAD=/x.so', 2, 1],
    ['line', null, 'NO_FAKE_STAT=1', 2, 1],
    ['embedded path', 'PWD=/src/p', 'PWD=/build/deeper/p', 3, 3],
  ]);
});

test('only reordered: one finding over the whole file (where hunks fall is itself random)', async () => {
  const found = await every(file('o1.txt', 'a\nb\nc\nd\n'), file('o2.txt', 'c\na\nd\nb\n'));
  assert.equal(found.map(brief), [['locale', 'line order', ['line', 1, 4]]]);
});

test('bytes: two changes 30 bytes apart are two runs (the display merges them into one range)', async () => {
  const base = Buffer.alloc(200, 0x41);
  const other = Buffer.from(base);
  other[50] = 0x42;
  other[81] = 0x43;
  const found = await every(file('a.bin', Buffer.concat([Buffer.from([0, 1, 2]), base])), file('b.bin', Buffer.concat([Buffer.from([0, 1, 2]), other])));
  assert.equal(found.map((f) => [f.field, f.at?.start, f.at?.end]), [
    ['bytes', 53, 53],
    ['bytes', 84, 84],
  ]);
});

test('JSON: each key its own finding', async () => {
  const found = await every(file('a.json', JSON.stringify({ host: 'a', id: '1', same: 1 })), file('b.json', JSON.stringify({ host: 'b', id: '2', same: 1 })));
  assert.equal(found.map((f) => f.field), ['key .host', 'key .id']);
});

test('ELF: runs by section with one layout; whole sections and the layout when a longer path moves them', async () => {
  const src = file('m.c', '#include <stdio.h>\nint main(void){puts(WHERE " " TOKEN);return 0;}\n');
  const cc = (out: string, where: string, token: string) => (execFileSync('gcc', ['-O1', `-DWHERE="${where}"`, `-DTOKEN="${token}"`, '-o', path.join(dir, out), src]), path.join(dir, out));
  const control = cc('c1', '/src/p/m.c', 'aaaa1111');
  const noise = await every(control, cc('c2', '/src/p/m.c', 'bbbb2222'));
  assert.equal(noise.map((f) => [f.cause, f.field, f.at?.unit ?? null]), [
    ['build-id', 'GNU build ID', null],
    ['content', 'bytes in .rodata', 'byte'],
  ]);
  const moved = await every(control, cc('c3', '/build/krepro-builddir/deeper/p/m.c', 'cccc3333'));
  assert.ok(moved.some((f) => f.field === 'section layout' && !f.at));
  const rodata = moved.find((f) => f.field === 'bytes in .rodata')!;
  assert.ok(rodata.at && rodata.at.start <= noise[1]!.at!.start && noise[1]!.at!.end <= rodata.at.end, 'the whole section spans the noisy run');
  assert.ok(moved.some((f) => f.cause === 'build-path' && f.right === '/build/krepro-builddir/deeper/p/m.c'));
});

test('without every: the report is unchanged (one finding per kind of change)', async () => {
  const lines = (i: number) => `line ${i}: built at 2024-01-01 10:00:00`;
  const text = Array.from({ length: 10 }, (_, i) => lines(i)).join('\n');
  const found = allFindings((await diff(file('x.txt', text), file('y.txt', text.replace(/10:00/g, '11:00')))).tree);
  const every = allFindings((await diff(path.join(dir, 'x.txt'), path.join(dir, 'y.txt'), { every: true })).tree);
  assert.is(every.length, 10);
  assert.is(found.length, 1);
  assert.not.ok(found[0]!.at);
});

test.run();
