import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { gzip as pakoGzip } from 'pako';
import { planDirectory, writeTarball } from '../lib/api/archive.js';
import { isKreproError } from '../lib/index.js';
import { diff } from '../lib/diff/compare.js';
import { allFindings } from '../lib/diff/difference.js';
import type { DiffReport, Difference, Finding } from '../lib/diff/types.js';
import { diffLines, unifiedDiff } from '../lib/diff/comparators/text.js';
import { elfLike, gnuGzip, pinned, tarOf, write } from './helpers/diff-pairs.js';
import { materializeStage, tempDir } from './helpers/stage.js';

const GZIP = '/usr/bin/gzip';
const findingsOf = (r: DiffReport): Finding[] => allFindings(r.tree);
const causes = (r: DiffReport) => [...new Set(findingsOf(r).map((f) => f.cause))].sort();
const comments = (r: DiffReport): string[] => {
  const out: string[] = [];
  const walk = (n: Difference) => {
    out.push(...n.comments);
    n.details.forEach(walk);
  };
  if (r.tree) walk(r.tree);
  return out;
};
const encoderComment = (r: DiffReport, side: 'left' | 'right') => comments(r).find((c) => c.startsWith(`${side} encoder: `))!.slice(`${side} encoder: `.length);

/** Word salad from a fixed seed: text that real encoders compress differently (repetitive bytes would not). */
function prose(bytes: number, seed = 12345): string {
  const words = 'the quick brown fox jumps over lazy dog kubernetes release binary server client node proxy apiserver scheduler controller manager version build reproducible tarball gzip deflate'.split(' ');
  let x = seed;
  const next = () => (x = (x * 1103515245 + 12345) >>> 0) >>> 16;
  let s = '';
  while (s.length < bytes) s += words[next() % words.length] + (next() % 9 === 0 ? '\n' : ' ');
  return s;
}

/** A small but realistic tree: text, a binary with NULs, a directory, a symlink; over one 128 KiB block. */
async function sampleTar(overrides: { mtime?: number } = {}): Promise<Buffer> {
  const big = Buffer.alloc(300_000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 9)) & 0xff;
  return tarOf([
    { name: 'kubernetes/', ...overrides },
    { name: 'kubernetes/README.md', body: prose(600_000), ...overrides },
    { name: 'kubernetes/server/', ...overrides },
    { name: 'kubernetes/server/bin/', ...overrides },
    { name: 'kubernetes/server/bin/blob', body: big, mode: 0o755, ...overrides },
    { name: 'kubernetes/version-link', type: 'symlink', linkname: 'README.md', ...overrides },
  ]);
}

test('identical tarballs: identical, no tree; a byte difference is never reported as identical', async () => {
  const dir = tempDir();
  const t = await sampleTar();
  const a = write(dir, 'a.tar.gz', await pinned(t));
  const b = write(dir, 'b.tar.gz', await pinned(t));
  const same = await diff(a, b);
  assert.ok(same.identical);
  assert.is(same.tree, null);
  const changed = Buffer.from(await pinned(t));
  changed[changed.length - 9] ^= 1; // inside the deflate data's last bytes: only CRC/inflate can notice
  const c = write(dir, 'c.tar.gz', changed);
  const r = await diff(a, c).catch((e: Error) => e);
  assert.ok(r instanceof Error || !(r as DiffReport).identical, 'a flipped bit is not "identical"');
});

test('same tar, different gzip headers (gzip vs gzip -n): FNAME/MTIME/FLG named, tar identical, same encoder', async () => {
  const dir = tempDir();
  const tarFile = write(dir, 'release.tar', await sampleTar());
  utimesSync(tarFile, new Date('2024-03-01T12:00:00Z'), new Date('2024-03-01T12:00:00Z'));
  execFileSync('gzip', ['-k', '-6', tarFile]);
  const withName = path.join(dir, 'release.tar.gz');
  const noName = write(dir, 'n.tar.gz', execFileSync('gzip', ['-n', '-6', '-c', tarFile]));
  const r = await diff(withName, noName, { gnuGzip: GZIP });
  const fields = findingsOf(r).map((f) => `${f.cause}:${f.field}`);
  assert.equal(fields.sort(), ['gzip-header:FLG', 'gzip-header:FNAME', 'gzip-header:MTIME']);
  const fname = findingsOf(r).find((f) => f.field === 'FNAME')!;
  assert.is(fname.left, 'release.tar');
  assert.is(fname.right, null);
  assert.match(findingsOf(r).find((f) => f.field === 'MTIME')!.left!, /^2024-03-01T12:00:00Z/);
  assert.ok(comments(r).some((c) => c.startsWith('the tar inside is identical')));
  assert.match(encoderComment(r, 'left'), /^GNU gzip [\d.]+ -6$/);
  assert.match(encoderComment(r, 'right'), /^GNU gzip [\d.]+ -6$/);
});

test('same tar through the pinned encoder, Node zlib, vanilla zlib and GNU gzip: each encoder named', async () => {
  const dir = tempDir();
  const t = await sampleTar();
  const nodeIsChromium = process.versions.zlib.includes('-');
  const files = {
    pinned6: write(dir, 'pinned6.tar.gz', await pinned(t, 6)),
    pinned9: write(dir, 'pinned9.tar.gz', await pinned(t, 9)),
    format2: write(dir, 'format2.tar.gz', await pinned(t, 6, 2)),
    node9: write(dir, 'node9.tar.gz', gzipSync(t, { level: 9 })),
    vanilla6: write(dir, 'vanilla6.tar.gz', Buffer.from(pakoGzip(t, { level: 6, legacyHash: true }))),
    gnu9: write(dir, 'gnu9.tar.gz', gnuGzip(t, ['-n', '-9'])),
    gnu1: write(dir, 'gnu1.tar.gz', gnuGzip(t, ['-n', '-1'])),
  };
  const expected: Record<keyof typeof files, RegExp> = {
    pinned6: /^krepro gzip format 1 \(Chromium zlib, 128 KiB blocks\) level 6$/,
    pinned9: /^krepro gzip format 1 \(Chromium zlib, 128 KiB blocks\) level 9$/,
    format2: /^krepro gzip format 2 \(libdeflate 1\.23, 1 MiB members\) level 6$/,
    node9: nodeIsChromium ? /^Chromium zlib \(official Node zlib, pako default\) level 9$/ : /^vanilla zlib .* level 9$/,
    vanilla6: /^vanilla zlib \(Debian\/Python zlib, pako legacyHash\) level 6$/,
    gnu9: /^GNU gzip [\d.]+ -9$/,
    gnu1: /^GNU gzip [\d.]+ -1$/,
  };
  for (const other of ['pinned9', 'format2', 'node9', 'vanilla6', 'gnu9', 'gnu1'] as const) {
    const r = await diff(files.pinned6, files[other], { gnuGzip: GZIP });
    assert.match(encoderComment(r, 'left'), expected.pinned6, `left vs ${other}`);
    assert.match(encoderComment(r, "right"), expected[other], `${other}: ${encoderComment(r, "right")}`);
    const enc = findingsOf(r).find((f) => f.field === 'deflate encoder')!;
    assert.is(enc.cause, 'encoder');
    assert.is(enc.note, 'same tar, different compressor');
    assert.ok(comments(r).some((c) => c.startsWith('the tar inside is identical')), other);
  }
  // Without GNU gzip on offer, its output is an unknown encoder, said plainly.
  const unknown = await diff(files.pinned6, files.gnu9);
  assert.match(encoderComment(unknown, 'right'), /^unknown encoder/);
});

test('gzip format 2 of a tar of several members (over 1 MiB) is named, at its level, against format 1', async () => {
  const dir = tempDir();
  const big = await tarOf([{ name: 'kubernetes/' }, { name: 'kubernetes/README.md', body: prose(900_000) }, { name: 'kubernetes/blob', body: randomBytes(2_500_000) }]);
  const a = write(dir, 'a.gz', await pinned(big, 6, 1));
  const b = write(dir, 'b.gz', await pinned(big, 9, 2));
  const r = await diff(a, b);
  assert.match(encoderComment(r, 'left'), /^krepro gzip format 1 .* level 6$/);
  assert.match(encoderComment(r, 'right'), /^krepro gzip format 2 \(libdeflate 1\.23, 1 MiB members\) level 9$/);
});

test('modes differing by umask (GNU tar of the same tree under umask 022 and 002): umask, and nothing else', async () => {
  const dir = tempDir();
  const a = materializeStage(path.join(dir, 'a'), { umask: 0o022 });
  const b = materializeStage(path.join(dir, 'b'), { umask: 0o002 });
  const pack = (src: string, out: string) =>
    execFileSync('sh', ['-c', `tar --sort=name --mtime=@1700000000 --owner=0 --group=0 --numeric-owner -C "${src}" -cf - server | gzip -n -6 > "${out}"`]);
  pack(a, path.join(dir, 'a.tar.gz'));
  pack(b, path.join(dir, 'b.tar.gz'));
  const r = await diff(path.join(dir, 'a.tar.gz'), path.join(dir, 'b.tar.gz'), { gnuGzip: GZIP });
  assert.equal(causes(r), ['umask']);
  const f = findingsOf(r).find((x) => x.path.at(-1) === 'server/linux-amd64/kubernetes/version')!;
  assert.equal([f.field, f.left, f.right], ['mode', '0644', '0664']);
});

test('owner, mtime, order, added/removed, link target and pax records each get their cause', async () => {
  const dir = tempDir();
  const left = await tarOf([
    { name: 'k/' },
    { name: 'k/a', body: 'a\n' },
    { name: 'k/b', body: 'b\n' },
    { name: 'k/gone', body: 'x\n' },
    { name: 'k/link', type: 'symlink', linkname: 'a' },
    { name: 'k/p', body: 'p\n', pax: { atime: '1700000000.5' } },
  ]);
  const right = await tarOf([
    { name: 'k/' },
    { name: 'k/b', body: 'b\n', uid: 1000, gid: 1000, uname: 'builder', gname: 'builder' },
    { name: 'k/a', body: 'a\n', mtime: 1700000999 },
    { name: 'k/new', body: 'y\n' },
    { name: 'k/link', type: 'symlink', linkname: 'b' },
    { name: 'k/p', body: 'p\n', pax: { atime: '1700000777.5' } },
  ]);
  const r = await diff(write(dir, 'l.tar', left), write(dir, 'r.tar', right));
  assert.equal(causes(r), ['file-set', 'link-target', 'order', 'owner', 'pax-time', 'timestamp']);
  const order = findingsOf(r).find((f) => f.cause === 'order')!;
  assert.match(order.note!, /1 of 5 common members are out of order/);
  assert.equal(
    findingsOf(r)
      .filter((f) => f.cause === 'owner')
      .map((f) => `${f.field}=${f.right}`),
    ['uid=1000', 'gid=1000', 'uname=builder', 'gname=builder'],
  );
  assert.equal(findingsOf(r).filter((f) => f.cause === 'file-set').map((f) => f.left ?? f.right), ['k/gone', 'k/new']);
});

test('an embedded timestamp in one binary: timestamp, with the two dates', async () => {
  const dir = tempDir();
  const bin = (date: string) => Buffer.concat([Buffer.alloc(5000, 0), Buffer.from(`\0built ${date} by ci\0`), Buffer.alloc(5000, 1)]);
  const l = await pinned(await tarOf([{ name: 'k/tool', body: bin('2024-05-01T10:00:00Z'), mode: 0o755 }]));
  const r = await pinned(await tarOf([{ name: 'k/tool', body: bin('2024-05-02T11:30:00Z'), mode: 0o755 }]));
  const report = await diff(write(dir, 'l.tar.gz', l), write(dir, 'r.tar.gz', r));
  assert.equal(causes(report), ['timestamp']);
  const f = findingsOf(report)[0]!;
  assert.equal(f.path, ['k/tool']);
  assert.match(f.left!, /2024-05-01T10:0/);
  assert.match(f.right!, /2024-05-02T11:3/);
});

test('an ELF with another Go build ID and build path (crafted: /tmp/go-build<N>/): both named, with the roots', async () => {
  const dir = tempDir();
  const elf = (n: string, id: string) =>
    elfLike([`\xff Go build ID: "${id}"\n \xff`, `/tmp/go-build${n}/b001/_pkg_.a`, `/tmp/go-build${n}/b001/importcfg`, 'runtime.main']);
  const l = await pinned(await tarOf([{ name: 'k/kubectl', body: elf('1234567', 'aaaa/bbbb/cccc/dddd'), mode: 0o755 }]));
  const r = await pinned(await tarOf([{ name: 'k/kubectl', body: elf('7654321', 'eeee/ffff/gggg/hhhh'), mode: 0o755 }]));
  const report = await diff(write(dir, 'l.tar.gz', l), write(dir, 'r.tar.gz', r));
  assert.equal(causes(report), ['build-path', 'go-build-id']);
  const id = findingsOf(report).find((f) => f.cause === 'go-build-id')!;
  assert.equal([id.left, id.right], ['aaaa/bbbb/cccc/dddd', 'eeee/ffff/gggg/hhhh']);
  const p = findingsOf(report).find((f) => f.cause === 'build-path')!;
  assert.equal([p.left, p.right], ['/tmp/go-build1234567', '/tmp/go-build7654321']);
  assert.is(report.tree!.details[0]!.details[0]!.details[0]!.kind, 'elf');
});

test('a nested src tarball differing in one file: found recursively, as a unified diff of that file', async () => {
  const dir = tempDir();
  const src = (line: string) =>
    tarOf([
      { name: 'src/' },
      { name: 'src/main.go', body: `package main\n\nfunc main() {\n\t${line}\n}\n` },
      { name: 'src/README', body: 'unchanged\n' },
    ]).then((t) => pinned(t));
  const outer = async (inner: Buffer) =>
    pinned(await tarOf([{ name: 'kubernetes/' }, { name: 'kubernetes/server/kubernetes-src.tar.gz', body: inner }, { name: 'kubernetes/version', body: 'v1\n' }]));
  const l = write(dir, 'l.tar.gz', await outer(await src('println("hello")')));
  const r = write(dir, 'r.tar.gz', await outer(await src('println("bye")')));
  const report = await diff(l, r);
  const fs = findingsOf(report);
  assert.is(fs.length, 1);
  assert.equal(fs[0]!.path, ['kubernetes/server/kubernetes-src.tar.gz', 'src/main.go']);
  assert.is(fs[0]!.cause, 'content');
  let text: Difference | undefined;
  const walk = (n: Difference) => {
    if (n.kind === 'text') text = n;
    n.details.forEach(walk);
  };
  walk(report.tree!);
  assert.match(text!.unified_diff!, /-\tprintln\("hello"\)\n\+\tprintln\("bye"\)/);
});

test('text: Myers diff gives minimal hunks with context; dates and permutations are explained', () => {
  const a = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
  const b = ['a', 'b', 'X', 'd', 'e', 'f', 'g', 'h', 'i'];
  const ops = diffLines(a, b);
  assert.is(ops.filter((o) => o[0] !== '=').length, 3);
  assert.is(unifiedDiff(ops, 'a', 'b'), '--- a\n+++ b\n@@ -1,8 +1,9 @@\n a\n b\n-c\n+X\n d\n e\n f\n g\n h\n+i\n');
});

test('release directories: pairs by name, explains the tarball, marks checksums as derived, lists missing files', async () => {
  const dir = tempDir();
  for (const side of ['a', 'b']) mkdirSync(path.join(dir, side));
  const t1 = await pinned(await sampleTar());
  const t2 = await pinned(await sampleTar({ mtime: 1700000500 }));
  const sha = (b: Buffer) => execFileSync('sha256sum', { input: b }).toString().split(' ')[0]!;
  write(path.join(dir, 'a'), 'kubernetes.tar.gz', t1);
  write(path.join(dir, 'b'), 'kubernetes.tar.gz', t2);
  writeFileSync(path.join(dir, 'a', 'SHA256SUMS'), `${sha(t1)}  kubernetes.tar.gz\n`);
  writeFileSync(path.join(dir, 'b', 'SHA256SUMS'), `${sha(t2)}  kubernetes.tar.gz\n`);
  writeFileSync(path.join(dir, 'a', 'only-left.txt'), 'x\n');
  const r = await diff(path.join(dir, 'a'), path.join(dir, 'b'));
  // The copies' own mtimes on disk (fs-metadata) differ or not, as the writes fell: not what this test is about.
  assert.equal(causes(r).filter((c) => c !== 'fs-metadata'), ['derived-digest', 'file-set', 'timestamp']);
  assert.ok(findingsOf(r).some((f) => f.cause === 'derived-digest' && f.path[0] === 'SHA256SUMS'));
  assert.ok(findingsOf(r).some((f) => f.cause === 'timestamp' && f.path[0] === 'kubernetes.tar.gz' && f.path[1] === 'kubernetes/README.md'));
});

test('krepro writeTarball pairs: same stage packed at two SOURCE_DATE_EPOCHs differ only in mtimes', async () => {
  const dir = tempDir();
  const stage = materializeStage(path.join(dir, 'stage'));
  const entries = await planDirectory(path.join(stage, 'client/linux-amd64/kubernetes'), { prefix: 'kubernetes' });
  await writeTarball(entries, { mtime: 1700000000 }, path.join(dir, 'a.tar.gz'), { gzip: { level: 6 } });
  await writeTarball(entries, { mtime: 1700086400 }, path.join(dir, 'b.tar.gz'), { gzip: { level: 6 } });
  const r = await diff(path.join(dir, 'a.tar.gz'), path.join(dir, 'b.tar.gz'));
  assert.equal(causes(r), ['timestamp']);
  assert.is(findingsOf(r).length, entries.length);
});

test('any two files are compared (a zip against a tarball, gzip of text); a missing input or a file against a directory is an error', async () => {
  const dir = tempDir();
  const good = write(dir, 'good.tar.gz', await pinned(await sampleTar()));
  const zip = write(dir, 'release.zip', Buffer.from('PK\x03\x04 not a tarball'));
  const r = await diff(good, zip);
  assert.not.ok(r.identical);
  assert.is(r.tree!.kind, 'binary');
  const gz = write(dir, 'notes.txt.gz', gzipSync(Buffer.from('just text\n'.repeat(100))));
  const g = await diff(gz, good);
  assert.is(g.tree!.kind, 'gzip');
  assert.ok(findingsOf(g).length > 0);
  const missing = await diff(good, path.join(dir, 'nope.tar.gz')).catch((e: unknown) => e);
  assert.ok(isKreproError(missing) && missing.code === 'E_IO' && /nope\.tar\.gz/.test(missing.message));
  const mixed = await diff(good, dir).catch((e: unknown) => e);
  assert.ok(isKreproError(mixed) && mixed.code === 'E_USAGE');
});

test.run();
