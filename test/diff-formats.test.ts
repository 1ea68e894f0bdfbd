import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { classifyChanges, classifyDates } from '../lib/diff/findings.js';
import { allFindings, type Difference, type Finding } from '../lib/api/diff.js';
import { writeImage } from '../lib/api/image.js';
import { diff, type DiffReport } from '../lib/index.js';
import { CHROMIUM, dumpDom, pngColours, screenshot } from './helpers/browser.js';
import { diffCli as cli, pinned, tarOf, write } from './helpers/diff-pairs.js';
import { tempDir } from './helpers/stage.js';

const validate = new Ajv2020({ strict: true, allErrors: true }).compile(JSON.parse(readFileSync(path.resolve('schemas/diff-report.schema.json'), 'utf8')));
const findingsOf = (r: DiffReport): Finding[] => allFindings(r.tree);
const causes = (r: DiffReport) => [...new Set(findingsOf(r).map((f) => f.cause))].sort();
function nodes(r: DiffReport, kind?: Difference['kind']): Difference[] {
  const out: Difference[] = [];
  const walk = (n: Difference) => {
    if (!kind || n.kind === kind) out.push(n);
    n.details.forEach(walk);
  };
  if (r.tree) walk(r.tree);
  return out;
}


/** Two C programs built with gcc: one embeds its (different) build directory, and one constant byte differs. */
function gccPair(dir: string): [string, string] {
  const src = path.join(dir, 'main.c');
  writeFileSync(src, '#include <stdio.h>\nstatic const char where[] = BUILD_DIR "/src/main.c";\nint main(void) { printf("%s %d\\n", where, MAGIC); return 0; }\n');
  const build = (out: string, buildDir: string, magic: number) => {
    execFileSync('gcc', ['-O1', `-DBUILD_DIR="${buildDir}"`, `-DMAGIC=${magic}`, '-o', out, src]);
    return out;
  };
  return [build(path.join(dir, 'left-bin'), '/tmp/build-aaaa', 1), build(path.join(dir, 'right-bin'), '/tmp/build-bbbb', 2)];
}

test('two ELF binaries built by gcc (embedded path and one byte changed): build path, build ID, the byte in .text, by section', async () => {
  const dir = tempDir();
  const [a, b] = gccPair(dir);
  const r = await diff(a, b);
  assert.equal(causes(r), ['build-id', 'build-path', 'content']);
  const p = findingsOf(r).find((f) => f.cause === 'build-path')!;
  assert.equal([p.left, p.right], ['/tmp/build-aaaa/src/main.c', '/tmp/build-bbbb/src/main.c']);
  const byte = findingsOf(r).find((f) => f.cause === 'content')!;
  assert.is(byte.field, 'bytes in .text');
  assert.equal([byte.left, byte.right], ['01', '02']);
  assert.equal(nodes(r, 'section').map((n) => n.source1).sort(), ['.note.gnu.build-id', '.rodata', '.text']);
  assert.ok(r.tree!.comments.some((c) => /^3 of \d+ sections differ/.test(c)), r.tree!.comments.join('\n'));
  assert.ok(validate(r), JSON.stringify(validate.errors));
});

test('two text files: a unified diff; exit 1, and 0 for the same bytes', async () => {
  const dir = tempDir();
  write(dir, 'a.txt', Buffer.from('one\ntwo\nthree\n'));
  write(dir, 'b.txt', Buffer.from('one\n2\nthree\nfour\n'));
  const r = await cli(['a.txt', 'b.txt'], dir);
  assert.is(r.code, 1);
  assert.match(r.stdout, /--- a\.txt\n.*\+\+\+ b\.txt\n.*@@ -1,3 \+1,4 @@\n.* one\n.*-two\n.*\+2\n.* three\n.*\+four/);
  assert.is((await cli(['a.txt', 'a.txt'], dir)).code, 0);
  const latin1 = await diff(write(dir, 'l1', Buffer.from('caf\xe9 au lait\n', 'latin1')), write(dir, 'l2', Buffer.from('caf\xe9 noir\n', 'latin1')));
  assert.match(nodes(latin1, 'text')[0]!.unified_diff!, /-café au lait\n\+café noir/);
});

test('plain gzip files: different content is diffed as what it holds; different headers only say so', async () => {
  const dir = tempDir();
  const text = (s: string) => write(dir, `${s}.txt`, Buffer.from(`version ${s}\nbuilt on a fixed machine\n`));
  const one = text('1');
  const two = text('2');
  execFileSync('gzip', ['-n', '-6', '-k', one, two]);
  const r = await diff(`${one}.gz`, `${two}.gz`);
  assert.is(r.tree!.kind, 'gzip');
  const inner = r.tree!.details[0]!;
  assert.is(inner.kind, 'text');
  assert.is(inner.source1, '1.txt');
  assert.match(inner.unified_diff!, /-version 1\n\+version 2/);
  // The same file compressed with a name and -9, and without a name and -6: only the gzip header and encoder.
  utimesSync(one, new Date('2024-03-01T12:00:00Z'), new Date('2024-03-01T12:00:00Z'));
  const named = write(dir, 'named.gz', execFileSync('gzip', ['-9', '-c', one]));
  const bare = write(dir, 'bare.gz', execFileSync('gzip', ['-n', '-6', '-c', one]));
  const h = await diff(named, bare, { gnuGzip: '/usr/bin/gzip' });
  assert.equal([...new Set(findingsOf(h).map((f) => `${f.cause}:${f.field}`))].sort(), ['encoder:XFL', 'encoder:deflate encoder', 'gzip-header:FLG', 'gzip-header:FNAME', 'gzip-header:MTIME']);
  assert.ok(h.tree!.comments.some((c) => c.startsWith('the content inside is identical')), h.tree!.comments.join('\n'));
  assert.is(h.tree!.details.length, 0);
});

test('JSON by key: changed, added and removed keys; key order alone is an order finding', async () => {
  const dir = tempDir();
  const a = write(dir, 'a.json', Buffer.from(JSON.stringify({ name: 'k', created: '2024-01-01T10:00:00Z', env: ['A=1', 'B=2'], gone: true })));
  const b = write(dir, 'b.json', Buffer.from(JSON.stringify({ name: 'k', created: '2024-01-03T08:30:00Z', env: ['A=1', 'B=3'], added: 1 })));
  const r = await diff(a, b);
  assert.equal(findingsOf(r).map((f) => `${f.cause} ${f.field} ${f.left} ${f.right}`), [
    'timestamp key .created 2024-01-01T10:00:00Z 2024-01-03T08:30:00Z',
    'content key .env[1] B=2 B=3',
    'content key .gone true null',
    'content key .added null 1',
  ]);
  const order = await diff(write(dir, 'c.json', Buffer.from('{"a":1,"b":2}')), write(dir, 'd.json', Buffer.from('{"b":2,"a":1}')));
  assert.equal(causes(order), ['order']);
});

test('JSON arrays: elements paired by SPDXID or name (moved, added, changed), others aligned; digests shown after the changes they follow from', async () => {
  const dir = tempDir();
  const pkg = (id: string, version: string) => ({ SPDXID: id, name: id.toLowerCase(), versionInfo: version });
  const a = write(dir, 'a.json', Buffer.from(JSON.stringify({ packages: [pkg('SPDXRef-a', '1'), pkg('SPDXRef-b', '1'), pkg('SPDXRef-c', '1')], rel: [{ x: 1 }, { x: 2 }, { x: 3 }] })));
  const b = write(dir, 'b.json', Buffer.from(JSON.stringify({ packages: [pkg('SPDXRef-b', '2'), pkg('SPDXRef-a', '1'), pkg('SPDXRef-d', '1')], rel: [{ x: 0 }, { x: 1 }, { x: 2 }, { x: 3 }] })));
  const r = await diff(a, b);
  assert.equal(findingsOf(r).map((f) => `${f.cause} ${f.field} ${f.left} ${f.right}`), [
    'content key .packages[SPDXID="SPDXRef-b"].versionInfo 1 2',
    'content key .packages[SPDXID="SPDXRef-c"] {"SPDXID":"SPDXRef-c","name":"spdxref-c","versionInfo":"1"} null',
    'content key .packages[SPDXID="SPDXRef-d"] null {"SPDXID":"SPDXRef-d","name":"spdxref-d","versionInfo":"1"}',
    'order key .packages order of SPDXID ["SPDXRef-a","SPDXRef-b"] ["SPDXRef-b","SPDXRef-a"]',
    'content key .rel[0] null {"x":0}',
  ]);
  // 60 digests change before the one version that explains them: the version is among the 50 shown.
  const many = (v: string, d: string) => ({ files: Array.from({ length: 60 }, (_, i) => ({ name: `f${i}`, sha256: `${d}${String(i).padStart(2, '0')}`.padEnd(64, d) })), packages: [pkg('SPDXRef-m', v)] });
  const c = write(dir, 'c.json', Buffer.from(JSON.stringify(many('v1', 'a'))));
  const d = write(dir, 'd.json', Buffer.from(JSON.stringify(many('v2', 'b'))));
  const m = await diff(c, d);
  assert.ok(findingsOf(m).some((f) => f.field === 'key .packages[SPDXID="SPDXRef-m"].versionInfo' && f.right === 'v2'), JSON.stringify(findingsOf(m).map((f) => f.field)));
  assert.is(findingsOf(m).length, 50);
  assert.ok(nodes(m, 'json')[0]!.comments.includes('61 keys differ (50 shown, digests last)'));
});

test('dates: a zone shift (quarter hours within 14 h, or one instant with two offsets) is timezone, else timestamp; a line with a path and a date gives both', () => {
  assert.is(classifyDates('2024-05-01T10:00:00+02:00', '2024-05-01T08:00:00Z').cause, 'timezone');
  assert.is(classifyDates('Wed May  1 10:00:00 UTC 2024', 'Wed May  1 15:45:00 2024').cause, 'timezone');
  assert.is(classifyDates('2024-05-01 10:00:00', '2024-05-01 10:00:07').cause, 'timestamp');
  assert.is(classifyDates('2024-05-01T10:00:00Z', '2024-05-02T11:30:00Z').cause, 'timestamp');
  assert.is(classifyDates('2024-05-01T10:00:00Z', '2024-05-01T10:20:00Z').cause, 'timestamp');
  const both = classifyChanges('built in /tmp/build-a/src at 2024-05-01 10:00:00', 'built in /tmp/build-b/src at 2024-05-01 06:00:00');
  assert.equal(both.map((c) => `${c.cause}:${c.left}:${c.right}`), ['timezone:2024-05-01 10:00:00:2024-05-01 06:00:00', 'build-path:/tmp/build-a/src:/tmp/build-b/src']);
});

test('a text file whose line holds a build path and a zone-shifted date: both findings, with the TZ fix', async () => {
  const dir = tempDir();
  const a = write(dir, 'a.txt', Buffer.from('header\nbuilt in /tmp/build-a/src at 2024-05-01 10:00:00\nfooter\n'));
  const b = write(dir, 'b.txt', Buffer.from('header\nbuilt in /tmp/build-b/src at 2024-05-01 06:00:00\nfooter\n'));
  const r = await diff(a, b);
  assert.equal(causes(r), ['build-path', 'timezone']);
  assert.match(r.causes.timezone!.fix, /TZ=UTC/);
  assert.match(findingsOf(r).find((f) => f.cause === 'timezone')!.note!, /^line 2; 4 h apart/);
});

async function imagePair(dir: string): Promise<[string, string]> {
  const bins = ['a', 'b'].map((side) => {
    const bin = write(dir, `kube-thing-${side}`, Buffer.concat([Buffer.from('\x7fELF\x02\x01\x01'), Buffer.alloc(2000, 0), Buffer.from(side === 'a' ? 'v1.0.0' : 'v1.0.1')]));
    chmodSync(bin, 0o755);
    return bin;
  });
  const out: string[] = [];
  for (const [i, bin] of bins.entries()) {
    const dest = path.join(dir, `image-${i}.tar`);
    await writeImage({ binaryPath: bin, binaryName: 'kube-thing', base: 'scratch', os: 'linux', arch: 'amd64', created: 1700000000, repoTag: 'registry.k8s.io/kube-thing-amd64:v1.0.0', dest });
    out.push(dest);
  }
  return out as [string, string];
}

test('two image tarballs (krepro images) differing in one binary: image → layer → file, manifests and config by key', async () => {
  const dir = tempDir();
  const [a, b] = await imagePair(dir);
  const r = await diff(a, b);
  assert.is(r.tree!.kind, 'image');
  assert.ok(r.tree!.comments.some((c) => /docker-archive \(manifest\.json\) \+ OCI layout \(index\.json\) image/.test(c)), r.tree!.comments.join('\n'));
  const layer = r.tree!.details.find((n) => n.comments.some((c) => c.startsWith('layer 1 of 1')))!;
  assert.ok(layer, JSON.stringify(r.tree!.details.map((n) => [n.source1, n.comments])));
  assert.not.equal(layer.source1, layer.source2);
  const file = findingsOf(r).find((f) => f.path.at(-1) === 'usr/local/bin/kube-thing')!;
  assert.ok(file, JSON.stringify(findingsOf(r), null, 1));
  assert.equal(file.path, [layer.source1, 'usr/local/bin/kube-thing']);
  const config = nodes(r, 'json').find((n) => n.findings.some((f) => f.field.startsWith('key .rootfs.diff_ids')));
  assert.ok(config, 'the config is compared by key');
  assert.ok(findingsOf(r).some((f) => f.path[0] === 'manifest.json' && f.cause === 'derived-digest'));
  assert.not.ok(findingsOf(r).some((f) => f.cause === 'file-set'), 'no blob is reported as added or removed');
});

test('--exclude makes a pair differing only there identical (exit 0), at any depth; the report says what it left out', async () => {
  const dir = tempDir();
  const inner = (v: string) => tarOf([{ name: 'src/' }, { name: 'src/version.go', body: v }, { name: 'src/main.go', body: 'package main\n' }]).then((t) => pinned(t));
  const outer = async (v: string) => pinned(await tarOf([{ name: 'kubernetes/' }, { name: 'kubernetes/version', body: v }, { name: 'kubernetes/src.tar.gz', body: await inner(v) }]));
  write(dir, 'a.tar.gz', await outer('v1\n'));
  write(dir, 'b.tar.gz', await outer('v2\n'));
  assert.is((await cli(['a.tar.gz', 'b.tar.gz'], dir)).code, 1);
  const partly = await cli(['--exclude', 'kubernetes/version', 'a.tar.gz', 'b.tar.gz'], dir);
  assert.is(partly.code, 1, 'the nested version.go still differs');
  const same = await cli(['--exclude', 'kubernetes/version', '--exclude', 'version.go', '--json', 'a.tar.gz', 'b.tar.gz'], dir);
  assert.is(same.code, 0, same.stdout);
  const report = JSON.parse(same.stdout) as DiffReport;
  assert.ok(report.identical);
  assert.is(report.summary.excluded, 4, 'two members on each side');
  assert.equal(report.options, { exclude: ['kubernetes/version', 'version.go'], excludeMetadata: false });
  assert.ok(validate(report), JSON.stringify(validate.errors));
});

test('a renamed member (versioned file name) is paired by content: a rename finding plus its content difference', async () => {
  const dir = tempDir();
  const body = (v: string) => `${'shared library contents, the same in both versions\n'.repeat(40)}version ${v}\n`;
  const a = write(dir, 'a.tar', await tarOf([{ name: 'k/' }, { name: 'k/lib/libthing-1.2.3.txt', body: body('1.2.3') }, { name: 'k/other', body: 'x' }]));
  const b = write(dir, 'b.tar', await tarOf([{ name: 'k/' }, { name: 'k/lib/libthing-1.2.4.txt', body: body('1.2.4') }, { name: 'k/other', body: 'x' }]));
  const r = await diff(a, b);
  const rename = findingsOf(r).find((f) => f.cause === 'rename')!;
  assert.equal([rename.left, rename.right], ['k/lib/libthing-1.2.3.txt', 'k/lib/libthing-1.2.4.txt']);
  assert.match(rename.note!, /^paired by content similarity 0\.\d\d$/);
  assert.not.ok(findingsOf(r).some((f) => f.cause === 'file-set'));
  const member = r.tree!.details.find((n) => n.kind === 'member')!;
  assert.match(member.details[0]!.unified_diff!, /-version 1\.2\.3\n\+version 1\.2\.4/);
  assert.ok(r.tree!.comments.some((c) => c.startsWith('renamed members are paired by content')));
  // Directories too.
  for (const [side, v] of [['l', '1.2.3'], ['r', '1.2.4']] as const) {
    mkdirSync(path.join(dir, side));
    writeFileSync(path.join(dir, side, `libthing-${v}.txt`), body(v));
  }
  const d = await diff(path.join(dir, 'l'), path.join(dir, 'r'), { excludeMetadata: true });
  assert.equal(causes(d), ['content', 'rename']);
});

test('directories compare entry metadata (mode, mtime) unless --exclude-metadata', async () => {
  const dir = tempDir();
  for (const side of ['l', 'r']) {
    mkdirSync(path.join(dir, side));
    writeFileSync(path.join(dir, side, 'tool'), 'same\n');
  }
  chmodSync(path.join(dir, 'r', 'tool'), 0o755);
  utimesSync(path.join(dir, 'l', 'tool'), 1700000000, 1700000000);
  utimesSync(path.join(dir, 'r', 'tool'), 1700000100, 1700000100);
  const r = await diff(path.join(dir, 'l'), path.join(dir, 'r'));
  assert.equal(findingsOf(r).map((f) => `${f.cause}:${f.field}:${f.left}:${f.right}`), ['mode:mode:0644:0755', 'fs-metadata:mtime:2023-11-14T22:13:20.000Z:2023-11-14T22:15:00.000Z']);
  const quiet = await cli(['--exclude-metadata', 'l', 'r'], dir);
  assert.is(quiet.code, 0, quiet.stdout);
  assert.match(quiet.stdout, /directory entries compared without metadata/);
});

test('--max-diff-lines and --max-report-size cut with a note where; the summary still counts everything', async () => {
  const dir = tempDir();
  const lines = (tag: string) => Buffer.from(Array.from({ length: 300 }, (_, i) => `${tag} line ${i}`).join('\n'));
  write(dir, 'a.txt', lines('left'));
  write(dir, 'b.txt', lines('right'));
  const cut = await cli(['--max-diff-lines', '20', '--json', 'a.txt', 'b.txt'], dir);
  const diffText = (JSON.parse(cut.stdout) as DiffReport).tree!.unified_diff!;
  assert.is(diffText.trimEnd().split('\n').length, 21);
  assert.match(diffText, /… diff cut after 20 lines/);
  const members = Array.from({ length: 60 }, (_, i) => ({ name: `k/f${i}`, body: `content ${i}\n` }));
  const a = write(dir, 'a.tar', await tarOf(members));
  const b = write(dir, 'b.tar', await tarOf(members.map((m) => ({ ...m, mtime: 1700000999 }))));
  const full = await diff(a, b);
  const small = await diff(a, b, { maxReportSize: 4000 });
  assert.is(small.summary.findings, full.summary.findings);
  assert.ok(small.summary.cut && small.summary.cut.nodes > 0 && small.summary.cut.maxReportSize === 4000, JSON.stringify(small.summary));
  assert.ok(JSON.stringify(small.tree).length < 6000, `${JSON.stringify(small.tree).length} bytes`);
  assert.ok(small.tree!.comments.some((c) => /more sections with \d+ findings not shown/.test(c)));
  assert.ok(validate(small), JSON.stringify(validate.errors));
});

test('--from-json re-renders a saved report as text, Markdown and HTML (checked in Chromium) without the inputs', async () => {
  const dir = tempDir();
  const [a, b] = gccPair(dir);
  const saved = await cli(['--json-file', 'saved.json', a, b], dir);
  assert.is(saved.code, 1);
  const again = await cli(['--from-json', 'saved.json'], dir);
  assert.is(again.code, 1);
  assert.is(again.stdout, saved.stdout, 'the same text as the original run');
  const md = await cli(['--from-json', 'saved.json', '--markdown', '-', '--html', 'report.html'], dir);
  assert.match(md.stdout, /^# krepro diff: /);
  assert.match(md.stdout, /\n### build paths \(1\)\n\nabsolute paths[\s\S]*\| embedded build path \| `\/tmp\/build-aaaa\/src\/main\.c` \| `\/tmp\/build-bbbb\/src\/main\.c` \|/);
  assert.match(md.stdout, /<details open><summary><code>\.text<\/code> \(section\)<\/summary>/);
  const bad = await cli(['--from-json', 'report.html'], dir).catch((e: Error) => e);
  assert.ok(bad instanceof Error && /report\.html is not JSON/.test(bad.message), String(bad));
  const html = path.join(dir, 'report.html');
  assert.match(readFileSync(html, 'utf8'), /^<!doctype html>/);
  if (!existsSync(CHROMIUM)) {
    if (process.env.CI) assert.unreachable('chromium is not installed (apt-get install chromium)');
    return;
  }
  assert.ok(pngColours(screenshot(html, 1200, 1400)) > 16, 'not a blank page');
  const dom = dumpDom(html);
  assert.match(dom, /<h3>build paths <span class="badge">1<\/span><\/h3>/);
  assert.match(dom, /data-kind="section"/);
  copyFileSync(path.join(dir, 'saved.json'), path.join(dir, 'copy.json'));
});

test.run();
