import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { byteOrder, type Entry, planDirectory, tarStream } from '../lib/api/archive.js';
import { tarHeader } from '../lib/archive/header.js';
import { tempDir } from './helpers/stage.js';

test('byte order, not locale or UTF-16 order: "Z" < "a" < "é" < "😀", and "a-b" < "a/b"', () => {
  const names = ['😀', 'é', 'a/b', 'a-b', 'Z', 'a', '\uff21'];
  assert.equal([...names].sort(byteOrder), ['Z', 'a', 'a-b', 'a/b', 'é', '\uff21', '😀']);
});

test('a file over 8 GiB gets a pax size record; small ones get none', () => {
  const big: Entry = { type: 'file', path: 'kubernetes/huge', mtime: 0, mode: 0o644, size: 9 * 1024 ** 3, source: { path: '/x', size: 0, mtimeMs: 0, ino: 0 } };
  assert.equal(tarHeader(big, { mtime: 1 }).pax, { size: String(9 * 1024 ** 3) });
  assert.is(tarHeader({ ...big, size: 10 }, { mtime: 1 }).pax, undefined);
});

test('clamp keeps older mtimes and caps newer ones; without clamp every member gets the policy mtime', async () => {
  const dir = tempDir();
  const root = path.join(dir, 'kubernetes');
  mkdirSync(root);
  writeFileSync(path.join(root, 'old'), 'o');
  writeFileSync(path.join(root, 'new'), 'n');
  utimesSync(path.join(root, 'old'), 1000, 1000);
  utimesSync(path.join(root, 'new'), 4_000_000_000 / 2, 4_000_000_000 / 2);
  const entries = await planDirectory(root, { prefix: 'kubernetes' });
  const headers = async (clamp: boolean) => {
    const seen: Record<string, number> = {};
    const extract = tar.extract();
    extract.on('entry', (h, stream, next) => {
      seen[h.name] = h.mtime!.getTime() / 1000;
      stream.resume();
      stream.on('end', next);
    });
    await pipeline(tarStream(entries, { mtime: 1_700_000_000, clamp }), extract);
    return seen;
  };
  assert.equal((await headers(true))['kubernetes/old'], 1000);
  assert.equal((await headers(true))['kubernetes/new'], 1_700_000_000);
  assert.equal(new Set(Object.values(await headers(false))), new Set([1_700_000_000]));
});

test('planning: root first, directories kept, symlinks verbatim, modes reduced to 0755/0644', async () => {
  const dir = tempDir();
  const root = path.join(dir, 'kubernetes');
  mkdirSync(path.join(root, 'bin'), { recursive: true });
  mkdirSync(path.join(root, 'empty'));
  writeFileSync(path.join(root, 'bin', 'tool'), 'x', { mode: 0o710 });
  writeFileSync(path.join(root, 'notes'), 'x', { mode: 0o600 });
  symlinkSync('bin/tool', path.join(root, 'tool-link'));
  const entries = await planDirectory(root, { prefix: 'kubernetes' });
  assert.equal(
    entries.map((e) => [e.type, e.path, 'mode' in e ? e.mode.toString(8) : 'target' in e ? e.target : '']),
    [
      ['directory', 'kubernetes', ''],
      ['directory', 'kubernetes/bin', ''],
      ['file', 'kubernetes/bin/tool', '755'],
      ['directory', 'kubernetes/empty', ''],
      ['file', 'kubernetes/notes', '644'],
      ['symlink', 'kubernetes/tool-link', 'bin/tool'],
    ],
  );
});

test.run();
