import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { LIBDEFLATE_WASM_SHA256 } from '../lib/api/archive.js';
import { engineOrSkip } from './helpers/engine.js';

// The committed module is our build output, so it must be what wasm/build.sh makes from the pinned source and toolchain.
test('wasm/libdeflate.wasm is the pinned module krepro checks at load', () => {
  assert.is(createHash('sha256').update(readFileSync('wasm/libdeflate.wasm')).digest('hex'), LIBDEFLATE_WASM_SHA256);
});

test('wasm/build.sh rebuilds wasm/libdeflate.wasm byte for byte from the pinned source and toolchain', async () => {
  if (!(await engineOrSkip())) return console.log('  (skipped: no Docker engine and CI is not set)');
  const r = spawnSync('bash', ['wasm/build.sh', '--check'], { encoding: 'utf8', timeout: 10 * 60_000 });
  assert.is(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, new RegExp(`rebuild matches wasm/libdeflate.wasm \\(sha256 ${LIBDEFLATE_WASM_SHA256}\\)`));
});

test.run();
