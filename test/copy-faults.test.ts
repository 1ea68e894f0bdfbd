import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { connectEngine } from '../lib/engine/connect.js';
import { KreproError } from '../lib/errors.js';
import { copyOutput, extractOutputTar } from '../lib/backend/docker/sync/copy-output.js';
import { engineOrSkip, runInContainer } from './helpers/engine.js';
import { startEngineProxy } from './helpers/engine-proxy.js';
import { suiteWhen, testWhen } from './helpers/skip.js';
import { tempDir } from './helpers/stage.js';

// copy-output's faults: an output directory on another file system, and the engine going away mid-transfer.
const BASE = 'krepro-base:trixie';
const docker = await engineOrSkip();
const root = process.getuid?.() === 0 ? undefined : 'mounting a tmpfs needs root (CI runs as root)';

/** A checkout whose _output/bin is a tmpfs of `size` (another file system than the checkout's), removed after `fn`. */
async function onTmpfs(size: string, fn: (checkout: string, dest: string) => Promise<void>): Promise<void> {
  const checkout = tempDir('krepro-exdev-');
  const dest = path.join(checkout, '_output', 'bin');
  mkdirSync(dest, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'krepro-test', dest]);
  try {
    await fn(checkout, dest);
  } finally {
    execFileSync('umount', [dest]);
    rmSync(checkout, { recursive: true, force: true });
  }
}

testWhen(root, 'an output directory on another file system (a mount point) is filled through a copy beside each file, never EXDEV', () =>
  onTmpfs('16m', async (checkout, dest) => {
    const kubectl = randomBytes(300 * 1024);
    const pack = tar.pack();
    pack.entry({ name: 'bin', type: 'directory' });
    pack.entry({ name: 'bin/linux', type: 'directory' });
    pack.entry({ name: 'bin/linux/kubectl', mode: 0o755 }, kubectl);
    pack.entry({ name: 'bin/linux/k', type: 'symlink', linkname: 'kubectl' });
    pack.finalize();
    const r = await extractOutputTar(pack as unknown as Readable, dest);
    assert.equal(r, { copied: 2, unchanged: 0, bytes: kubectl.length });
    assert.ok(readFileSync(path.join(dest, 'linux/kubectl')).equals(kubectl));
    assert.is(statSync(path.join(dest, 'linux/kubectl')).mode & 0o777, 0o755);
    assert.is(readlinkSync(path.join(dest, 'linux/k')), 'kubectl');
    assert.equal(readdirSync(path.join(dest, 'linux')).sort(), ['k', 'kubectl'], 'no copy left beside them');
    assert.equal(readdirSync(path.join(checkout, '_output')), ['bin'], 'no staging directory left');
  }),
);

testWhen(root, 'an output directory on another file system that fills while files are put in place names the file, its size and what that disk took', () =>
  onTmpfs('1m', async (_checkout, dest) => {
    const pack = tar.pack();
    pack.entry({ name: 'bin', type: 'directory' });
    pack.entry({ name: 'bin/a', mode: 0o755 }, randomBytes(300 * 1024));
    pack.entry({ name: 'bin/b', mode: 0o755 }, randomBytes(900 * 1024));
    pack.finalize();
    const err = await extractOutputTar(pack as unknown as Readable, dest).catch((e: unknown) => e);
    assert.is((err as KreproError).code, 'E_NO_SPACE', String(err));
    // All 1.2 MiB were received beside the checkout; the tmpfs took only bin/a.
    assert.match((err as Error).message, `writing ${dest}: the disk filled at bin/b, with 307200 bytes (300.0 KiB) written; that file alone is 921600 bytes (900.0 KiB); `);
    assert.match((err as Error).message, 'The files put in place before it are the new ones');
    assert.equal(readdirSync(dest), ['a'], 'no copy of b left beside it');
  }),
);

suiteWhen(docker, 'no Docker engine', (main, test) => {
  test('the engine going away during copy-output: "the engine … went away during reading …", nothing placed, nothing staged left', async () => {
    const run = randomBytes(4).toString('hex');
    const volume = `krepro-copy-fault-${run}`;
    const labels = { 'io.krepro.test': '1', 'io.krepro.copy-fault': run };
    await main.volumes.create(volume, labels);
    // A proxy in front of the shared engine that cuts every connection once one has carried 4 MiB back.
    const proxy = await startEngineProxy(path.join(tempDir('krepro-proxy-'), 'docker.sock'), { cutAfterBytes: 4 * 1024 * 1024 });
    const checkout = tempDir('krepro-copy-fault-');
    try {
      const fill = await runInContainer(main, { image: BASE, cmd: ['sh', '-c', 'mkdir -p /src/out && head -c 33554432 /dev/urandom > /src/out/big'], binds: [`${volume}:/src`] });
      assert.is(fill.exitCode, 0, fill.stderr);
      const host = proxy.host;
      const err = await copyOutput(connectEngine({ host }), { volume, image: BASE, containerDir: '/src', checkoutRoot: checkout, paths: ['out'], labels }).catch((e: unknown) => e);
      assert.instance(err, KreproError, String(err));
      assert.is((err as KreproError).code, 'E_ENGINE_GONE', (err as Error).message);
      assert.match((err as Error).message, new RegExp(`^the engine at ${host} went away during reading /src/out from container \\S+ \\((ECONNRESET|aborted|socket hang up)\\)`));
      assert.equal(readdirSync(checkout), [], 'nothing placed, no staging directory left');
    } finally {
      await proxy.cut();
      for (const c of await main.containers.list(labels)) await main.containers.remove(c.id);
      await main.volumes.remove(volume).catch(() => {});
      rmSync(checkout, { recursive: true, force: true });
    }
  });
});

test.run();
