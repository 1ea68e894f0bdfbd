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
import { copyOutput, extractOutputTar } from '../lib/sync/copy-output.js';
import { engineOrSkip, runInContainer } from './helpers/engine.js';
import { startEngineProxy } from './helpers/engine-proxy.js';
import { suiteWhen, testWhen } from './helpers/skip.js';
import { tempDir } from './helpers/stage.js';

// copy-output's faults: an output directory on another file system, and the engine going away mid-transfer.
const BASE = 'krepro-base:trixie';
const docker = await engineOrSkip();
const root = process.getuid?.() === 0 ? undefined : 'mounting a tmpfs needs root (CI runs as root)';

testWhen(root, 'an output directory on another file system (a mount point) is filled through a copy beside each file, never EXDEV', async () => {
  const checkout = tempDir('krepro-exdev-');
  const dest = path.join(checkout, '_output', 'bin');
  mkdirSync(dest, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m,mode=0755', 'krepro-test', dest]);
  try {
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
  } finally {
    execFileSync('umount', [dest]);
    rmSync(checkout, { recursive: true, force: true });
  }
});

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
