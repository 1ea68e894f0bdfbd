import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipSync } from 'node:zlib';
import { BLOCK_SIZE, PinnedGzip, gzipHeader, nativeMatchesPinned } from '../lib/index.js';

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

async function gzip(data: Buffer, chunk: number, encoder: 'native' | 'pako' = 'pako', level = 6): Promise<Buffer> {
  const parts: Buffer[] = [];
  const chunks = function* () {
    for (let o = 0; o < data.length; o += chunk) yield data.subarray(o, o + chunk);
  };
  await pipeline(Readable.from(chunks()), new PinnedGzip({ level }, { encoder }), async (src: AsyncIterable<Buffer>) => {
    for await (const c of src) parts.push(c);
  });
  return Buffer.concat(parts);
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('header: no name, MTIME 0, OS 3 (Unix), XFL by level', () => {
  assert.equal([...gzipHeader(6)], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
  assert.is(gzipHeader(9)[8], 2);
  assert.is(gzipHeader(1)[8], 4);
});

test('bytes do not depend on how the input is chunked, nor on the encoder implementation', async () => {
  const data = input(3 * BLOCK_SIZE + 4321);
  const reference = await gzip(data, 65536, 'pako');
  for (const chunk of [1000, 7919, BLOCK_SIZE, 1 << 20]) assert.is(sha(await gzip(data, chunk, 'pako')), sha(reference), `chunk ${chunk}`);
  if (nativeMatchesPinned(6)) assert.is(sha(await gzip(data, 7919, 'native')), sha(reference), 'native = pako');
  assert.ok(gunzipSync(reference).equals(data), 'node:zlib inflates it back');
});

test('edge sizes round-trip through node:zlib and GNU gzip: empty, one byte, exact block multiples', async () => {
  for (const size of [0, 1, BLOCK_SIZE, 2 * BLOCK_SIZE, 2 * BLOCK_SIZE + 1]) {
    const data = input(size, size + 1);
    const gz = await gzip(data, 4096);
    assert.ok(gunzipSync(gz).equals(data), `node:zlib size ${size}`);
    assert.ok(execFileSync('gzip', ['-dc'], { input: gz, maxBuffer: 1 << 26 }).equals(data), `gzip -d size ${size}`);
  }
});

test('levels give different, valid streams; the probe gives a boolean per level', async () => {
  const data = input(BLOCK_SIZE + 99);
  const l1 = await gzip(data, 50000, 'pako', 1);
  const l9 = await gzip(data, 50000, 'pako', 9);
  assert.is.not(sha(l1), sha(l9));
  assert.ok(gunzipSync(l9).equals(data));
  assert.type(nativeMatchesPinned(9), 'boolean');
  assert.not.throws(() => new PinnedGzip({ level: 6 }).destroy());
  assert.throws(() => new PinnedGzip({ level: 0 }), /level must be an integer from 1 to 9/);
});

test.run();
