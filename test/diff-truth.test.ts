import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { createWriteStream, mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { PinnedGzip } from '../lib/archive/gzip.js';
import { diff } from '../lib/diff/compare.js';
import { allFindings } from '../lib/diff/difference.js';
import type { DiffReport } from '../lib/diff/types.js';
import { cliEnv } from './helpers/cli.js';
import { materializeStage, tempDir } from './helpers/stage.js';

// krepro diff says what is true: copies that differ only on disk, excludes with '/', the encoder of every format
// krepro writes at every size, and inputs that are not files.
const CLI = path.resolve('dist/cli/main.js');

function krepro(cwd: string, args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', env: cliEnv(), maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const causes = (r: DiffReport): string[] => [...new Set(allFindings(r.tree).map((f) => f.cause))].sort();

test('two byte-identical releases: only the copies’ file-system metadata differs, its own cause, no fix aimed at the build', () => {
  const dir = tempDir();
  const stage = materializeStage(path.join(dir, 'stage'));
  for (const out of ['a', 'b']) {
    const r = krepro(dir, ['package', '--stage', stage, '--out', out, '--no-source', '--mtime', '1700000000']);
    assert.is(r.code, 0, r.stderr);
  }
  // Written a minute apart, as two runs are.
  for (const f of readdirSync(path.join(dir, 'b'))) utimesSync(path.join(dir, 'b', f), 1700000060, 1700000060);
  const files = readdirSync(path.join(dir, 'a')).length;
  const r = krepro(dir, ['diff', '--json', 'a', 'b']);
  assert.is(r.code, 1, r.stderr);
  const report = JSON.parse(r.stdout) as DiffReport;
  assert.equal(causes(report), ['fs-metadata']);
  assert.is(report.summary.findings, files, 'one mtime finding per file');
  assert.ok(report.tree!.comments.includes('every file holds the same bytes on both sides: only the file-system metadata of the two copies differs (compare contents alone with --exclude-metadata)'));
  const text = krepro(dir, ['diff', 'a', 'b']).stdout;
  const same = "(every file holds the same bytes: only the copies' file-system metadata differs)";
  assert.is(text.split('\n')[0], `a and b differ: ${files} findings, 1 cause ${same}`, 'the verdict says what is true');
  assert.match(krepro(dir, ['diff', '--markdown', '-', 'a', 'b']).stdout, `**Different:** ${files} findings, 1 cause ${same}.`);
  assert.match(text, 'file-system metadata of the copies');
  assert.not.match(text, 'SOURCE_DATE_EPOCH (e.g. git show', 'no fix aimed at the build');
  assert.is(krepro(dir, ['diff', '--exclude-metadata', 'a', 'b']).code, 0);
});

test("--exclude with '/' excludes what it names and everything below it, in archives and directories", async () => {
  const dir = tempDir();
  const release = async (name: string, v: string) => {
    const pack = tar.pack();
    const done = pipeline(pack, new PinnedGzip({ level: 6, format: 2 }), createWriteStream(path.join(dir, name)));
    for (const m of ['kubernetes/', 'kubernetes/server/', 'kubernetes/server/bin/']) pack.entry({ name: m, type: 'directory', mtime: new Date(0) });
    pack.entry({ name: 'kubernetes/server/bin/kube-apiserver', mtime: new Date(0) }, `apiserver ${v}\n`);
    pack.entry({ name: 'kubernetes/server/README', mtime: new Date(0) }, `readme ${v}\n`);
    pack.entry({ name: 'kubernetes/version', mtime: new Date(0) }, `${v}\n`);
    pack.finalize();
    await done;
  };
  await release('a.tar.gz', 'v1');
  await release('b.tar.gz', 'v2');
  const paths = async (exclude: string[]) => [...new Set(allFindings((await diff(path.join(dir, 'a.tar.gz'), path.join(dir, 'b.tar.gz'), { exclude })).tree).map((f) => f.path.at(-1)))].sort();
  assert.equal(await paths([]), ['kubernetes/server/README', 'kubernetes/server/bin/kube-apiserver', 'kubernetes/version']);
  for (const pattern of ['kubernetes/server/*', '**/server/**', 'kubernetes/server', 'server']) {
    assert.equal(await paths([pattern]), ['kubernetes/version'], pattern);
  }
  assert.equal(await paths(['kubernetes/server/bin/*']), ['kubernetes/server/README', 'kubernetes/version'], "'*' stays within one directory");
  assert.equal(await paths(['*.tar.gz', 'kubernetes/version']), ['kubernetes/server/README', 'kubernetes/server/bin/kube-apiserver'], 'a pattern matches members, not the compared file');

  for (const [side, v] of [['l', 'v1'], ['r', 'v2']] as const) {
    mkdirSync(path.join(dir, side, 'server', 'bin'), { recursive: true });
    writeFileSync(path.join(dir, side, 'server', 'bin', 'x'), v);
    writeFileSync(path.join(dir, side, 'version'), v);
  }
  const d = await diff(path.join(dir, 'l'), path.join(dir, 'r'), { exclude: ['server/*'], excludeMetadata: true });
  assert.equal([...new Set(allFindings(d.tree).map((f) => f.path[0]))], ['version']);
});

/** Two tar.gz of `size` bytes of text-like data in one member, differing in a small member after it. */
async function bigPair(dir: string, size: number, format: 1 | 2): Promise<[string, string]> {
  const write = async (name: string, version: string) => {
    const file = path.join(dir, name);
    const pack = tar.pack();
    const done = pipeline(pack, new PinnedGzip({ level: 6, format }), createWriteStream(file));
    const chunks = function* () {
      let x = 12345;
      for (let at = 0; at < size; at += 1 << 16) {
        const chunk = Buffer.alloc(Math.min(1 << 16, size - at));
        for (let i = 0; i < chunk.length; i++) {
          x = (x * 1103515245 + 12345) & 0x7fffffff;
          chunk[i] = 97 + ((x >> 16) % 16);
        }
        yield chunk;
      }
    };
    await pipeline(Readable.from(chunks()), pack.entry({ name: 'kubernetes/server/bin/kube-apiserver', size, mtime: new Date(0) }));
    pack.entry({ name: 'kubernetes/version', mtime: new Date(0) }, `${version}\n`);
    pack.finalize();
    await done;
    return file;
  };
  return Promise.all([write(`a-${format}-${size}.tar.gz`, 'v1'), write(`b-${format}-${size}.tar.gz`, 'v2')]) as Promise<[string, string]>;
}

const FORMAT_NAME = { 1: 'krepro gzip format 1 (Chromium zlib, 128 KiB blocks) level 6', 2: 'krepro gzip format 2 (libdeflate 1.23, 1 MiB members) level 6' } as const;

// 100 KiB: the whole stream is re-encoded; 5 MiB: past the 4 MiB captured; 300 MiB: a server tarball's size. Format 1
// (128 KiB blocks) is named from the sample alike at any size past it, so its 300 MiB case would only repeat 5 MiB's.
for (const [size, formats] of [
  [100 * 1024, [1, 2]],
  [5 * 1024 * 1024, [1, 2]],
  [300 * 1024 * 1024, [2]],
] as const) {
  test(`the encoder of krepro's gzip format ${formats.join(' and ')} is named at ${size >= 1 << 20 ? `${size / (1 << 20)} MiB` : `${size / 1024} KiB`}`, async () => {
    const dir = tempDir();
    try {
      for (const format of formats) {
        const [a, b] = await bigPair(dir, size, format);
        const r = await diff(a, b);
        const gzip = r.tree!;
        assert.is(gzip.kind, 'gzip');
        for (const side of ['left', 'right']) {
          const comment = gzip.comments.find((c) => c.startsWith(`${side} encoder: `)) ?? '';
          assert.ok(comment.startsWith(`${side} encoder: ${FORMAT_NAME[format].replace(/ level 6$/, ' level 6')}`), `format ${format}, ${size} bytes: ${comment}`);
        }
        assert.not.ok(allFindings(gzip).some((f) => f.cause === 'encoder'), 'the same encoder on both sides is no finding');
      }
    } finally {
      execFileSync('rm', ['-rf', dir]);
    }
  });
}

test('FIFOs are named as FIFOs, at the top and inside directories', () => {
  const dir = tempDir();
  execFileSync('mkfifo', [path.join(dir, 'ff1'), path.join(dir, 'ff2')]);
  const r = krepro(dir, ['diff', 'ff1', 'ff2']);
  assert.is(r.code, 2);
  assert.match(r.stderr, `compare two regular files or two directories: ${path.join(dir, 'ff1')} is a FIFO (named pipe)`);
  assert.match(r.stderr, 'ff2 is a FIFO (named pipe)');
  assert.not.match(r.stderr, 'is a file');
  for (const side of ['l', 'r']) mkdirSync(path.join(dir, side));
  execFileSync('mkfifo', [path.join(dir, 'l', 'x')]);
  writeFileSync(path.join(dir, 'r', 'x'), 'data');
  const d = JSON.parse(krepro(dir, ['diff', '--json', 'l', 'r']).stdout) as DiffReport;
  assert.equal(allFindings(d.tree).map((f) => `${f.cause}:${f.left}:${f.right}`), ['type:FIFO:file']);
});

test.run();
