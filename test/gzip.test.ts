import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipSync } from 'node:zlib';
import { PinnedGzip, planDirectory, writeTarball } from '../lib/api/archive.js';
import { type GzipFormat } from '../lib/api/package.js';
import { BLOCK_SIZE, type Format1Implementation, gzipHeader, MEMBER_SIZE, nativeMatchesPinned } from '../lib/archive/gzip.js';
import { extractWithEach } from './helpers/extract.js';
import { tempDir } from './helpers/stage.js';

/** Deterministic, partly compressible input of any size. */
function input(size: number, seed = 7): Buffer {
  const b = Buffer.alloc(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = i % 1024 < 700 ? 65 + ((x >>> 16) % 8) : x >>> 24;
  }
  return b;
}

interface Run {
  format?: GzipFormat;
  implementation?: Format1Implementation;
  workers?: number;
  level?: number;
}

async function gzip(data: Buffer, chunk: number, run: Run = {}): Promise<Buffer> {
  const parts: Buffer[] = [];
  const chunks = function* () {
    for (let o = 0; o < data.length; o += chunk) yield data.subarray(o, o + chunk);
  };
  const { format = 2, level = 6, ...opts } = run;
  await pipeline(Readable.from(chunks()), new PinnedGzip({ level, format }, opts), async (src: AsyncIterable<Buffer>) => {
    for await (const c of src) parts.push(c);
  });
  return Buffer.concat(parts);
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
/** Official Node builds bundle Chromium's zlib fork, whose version carries a suffix ("1.3.1-e00f703"). */
const chromiumZlib = /-/.test(process.versions.zlib ?? '');

// Held digests of input(3 * BLOCK_SIZE + 4321) and input(3 * MEMBER_SIZE + 4321) at level 6: a change to either
// format's bytes (pako, libdeflate, the wasm build, the framing) fails here first.
const FORMAT1_SHA256 = 'c3aa4d64de8fd5ee1629ae03dccc9616064e3abb0c129ee60020d791372e4d16';
const FORMAT2_SHA256 = 'ad6c93a09f29b9ac53b8ef052c45546f28f878704635393d8da57fcefcca6541';

test('header: no name, MTIME 0, OS 3 (Unix), XFL by level', () => {
  assert.equal([...gzipHeader(6)], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
  assert.is(gzipHeader(9)[8], 2);
  assert.is(gzipHeader(1)[8], 4);
});

test('format 1: pako gives the held bytes whatever the chunking; native zlib matches exactly where it is Chromium zlib', async () => {
  const data = input(3 * BLOCK_SIZE + 4321);
  for (const chunk of [1000, 7919, BLOCK_SIZE, 1 << 20]) assert.is(sha(await gzip(data, chunk, { format: 1, implementation: 'pako' })), FORMAT1_SHA256, `chunk ${chunk}`);
  const native = sha(await gzip(data, 7919, { format: 1, implementation: 'native' }));
  assert.is(nativeMatchesPinned(6), chromiumZlib, `probe on zlib ${process.versions.zlib}`);
  assert.is(nativeMatchesPinned(9), chromiumZlib, `probe at level 9 on zlib ${process.versions.zlib}`);
  if (chromiumZlib) assert.is(native, FORMAT1_SHA256, 'Chromium zlib = pako');
  else assert.is.not(native, FORMAT1_SHA256, 'system zlib writes other bytes');
  assert.is(sha(await gzip(data, 7919, { format: 1 })), FORMAT1_SHA256, 'auto picks an implementation that gives the held bytes');
});

test('format 2: the held bytes whatever the chunking and the number of workers; one gzip member per MiB of input', async () => {
  const data = input(3 * MEMBER_SIZE + 4321);
  const reference = await gzip(data, 65536);
  assert.is(sha(reference), FORMAT2_SHA256);
  for (const [chunk, workers] of [[1000, 1], [7919, 2], [MEMBER_SIZE, 3], [5 << 20, 2]] as const) {
    assert.is(sha(await gzip(data, chunk, { workers })), FORMAT2_SHA256, `chunk ${chunk}, ${workers} workers`);
  }
  // Members start where the header recurs: after each member's 8-byte trailer, whose ISIZE is that member's input.
  let at = 0;
  const sizes: number[] = [];
  while (at < reference.length) {
    assert.equal([...reference.subarray(at, at + 10)], [...gzipHeader(6)], `member header at ${at}`);
    const next = reference.indexOf(gzipHeader(6), at + 10);
    const end = next < 0 ? reference.length : next;
    sizes.push(reference.readUInt32LE(end - 4));
    at = end;
  }
  assert.equal(sizes, [MEMBER_SIZE, MEMBER_SIZE, MEMBER_SIZE, 4321]);
  assert.ok(gunzipSync(reference).equals(data), 'node:zlib inflates every member');
});

test('edge sizes round-trip through node:zlib and GNU gzip in both formats: empty, one byte, exact block multiples', async () => {
  for (const format of [1, 2] as const) {
    const block = format === 1 ? BLOCK_SIZE : MEMBER_SIZE;
    for (const size of [0, 1, block, 2 * block, 2 * block + 1]) {
      const data = input(size, size + 1);
      const gz = await gzip(data, 4096, { format });
      assert.ok(gunzipSync(gz).equals(data), `node:zlib format ${format} size ${size}`);
      assert.ok(execFileSync('gzip', ['-dc'], { input: gz, maxBuffer: 1 << 26 }).equals(data), `gzip -d format ${format} size ${size}`);
    }
  }
});

test('levels give different, valid streams; a bad level or format is refused', async () => {
  const data = input(BLOCK_SIZE + 99);
  for (const format of [1, 2] as const) {
    const l1 = await gzip(data, 50000, { format, level: 1 });
    const l9 = await gzip(data, 50000, { format, level: 9 });
    assert.is.not(sha(l1), sha(l9));
    assert.ok(l9.length < l1.length, `format ${format}: level 9 smaller than level 1`);
    assert.ok(gunzipSync(l9).equals(data));
  }
  assert.throws(() => new PinnedGzip({ level: 0 }), /level must be an integer from 1 to 9/);
  assert.throws(() => new PinnedGzip({ level: 6, format: 3 as GzipFormat }), /gzip format must be 1 or 2/);
});

test('destroying a stream mid-way reports the error once, closes, and pushes nothing more', async () => {
  for (const format of [1, 2] as const) {
    const gz = new PinnedGzip({ level: 6, format });
    const errors: string[] = [];
    let afterClose = 0;
    let closed = false;
    gz.on('error', (e: Error) => errors.push(e.message));
    gz.on('data', () => (closed ? afterClose++ : 0));
    const done = new Promise<void>((resolve) => gz.on('close', () => resolve()));
    gz.write(input(3 * MEMBER_SIZE));
    gz.destroy(new Error('stop'));
    const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 5000).unref());
    assert.is.not(await Promise.race([done, timeout]), 'timeout', `format ${format}: close`);
    closed = true;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(errors, ['stop'], `format ${format}`);
    assert.is(afterClose, 0, `format ${format}: data after close`);
  }
});

/** A Go program that lists a tar.gz (all gzip members) and prints name, type and SHA-256 of each regular file. */
const GO_READER = `package main

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
)

func main() {
	f, err := os.Open(os.Args[1])
	if err != nil { panic(err) }
	z, err := gzip.NewReader(f)
	if err != nil { panic(err) }
	t := tar.NewReader(z)
	for {
		h, err := t.Next()
		if err == io.EOF { break }
		if err != nil { panic(err) }
		s := sha256.New()
		if _, err := io.Copy(s, t); err != nil { panic(err) }
		fmt.Printf("%s %c %x\\n", h.Name, h.Typeflag, s.Sum(nil))
	}
}
`;

test('a format 2 tarball of several gzip members is read alike by gzip, GNU tar, bsdtar, Python and Go', async () => {
  const dir = tempDir();
  const tree = path.join(dir, 'tree');
  mkdirSync(path.join(tree, 'bin'), { recursive: true });
  const big = input(3 * MEMBER_SIZE + 777, 11);
  writeFileSync(path.join(tree, 'bin', 'big'), big, { mode: 0o755 });
  writeFileSync(path.join(tree, 'README'), 'several members\n');
  const tarball = path.join(dir, 't.tar.gz');
  await writeTarball(await planDirectory(tree, { prefix: 'k' }), { mtime: 1700000000 }, tarball, { gzip: { level: 6 } });
  const gz = readFileSync(tarball);
  assert.ok(gz.indexOf(gzipHeader(6), 10) > 0, 'more than one member');
  const bigSha = sha(big);
  const shaOf = (p: string) => sha(readFileSync(p));

  execFileSync('gzip', ['-t', tarball]);
  assert.is(sha(execFileSync('gzip', ['-dc', tarball], { maxBuffer: 1 << 27 })), sha(gunzipSync(gz)), 'gzip -d = node:zlib');
  for (const { tool, dir: out } of extractWithEach(tarball)) {
    assert.is(shaOf(path.join(out, 'k/bin/big')), bigSha, tool);
    assert.is(readFileSync(path.join(out, 'k/README'), 'utf8'), 'several members\n', tool);
  }
  // Python's gzip module on its own, member by member
  const py = execFileSync('python3', ['-c', 'import gzip, hashlib, sys; print(hashlib.sha256(gzip.open(sys.argv[1]).read()).hexdigest())', tarball], { encoding: 'utf8' });
  assert.is(py.trim(), sha(gunzipSync(gz)), 'python gzip');

  const goDir = tempDir();
  writeFileSync(path.join(goDir, 'main.go'), GO_READER);
  const go = execFileSync('go', ['run', path.join(goDir, 'main.go'), tarball], {
    encoding: 'utf8',
    env: { ...process.env, GOCACHE: path.join(goDir, 'cache'), GOPATH: path.join(goDir, 'gopath'), GOFLAGS: '', GO111MODULE: 'off' },
  });
  assert.ok(go.split('\n').includes(`k/bin/big 0 ${bigSha}`), `go: ${go}`);
  assert.ok(go.split('\n').includes(`k/README 0 ${sha(Buffer.from('several members\n'))}`), `go: ${go}`);
});

test.run();
