import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { connectEngine, type Engine, openEngine } from '../lib/api/engine.js';
import { transferImage } from '../lib/engine/transfer.js';
import { checkoutIdentity } from '../lib/checkout/identity.js';
import { checkoutHash, LABEL_CHECKOUT } from '../lib/checkout/names.js';
import { isKreproError } from '../lib/errors.js';
import { engineOrSkip } from './helpers/engine.js';
import { startEngineProxy } from './helpers/engine-proxy.js';
import { startSecondEngine } from './helpers/second-engine.js';
import { suiteWhen, testWhen } from './helpers/skip.js';
import { makeSourceRepo, tempDir } from './helpers/stage.js';
import { cliEnv } from './helpers/cli.js';

// The engine going away in the middle of `krepro run`, on real engines: a dedicated dockerd stopped as a service
// manager stops it (SIGTERM) and started again on the same data root, and the connection to the shared engine cut
// by a proxy (what a crashed dockerd or a dropped tcp connection looks like). The shared engine itself is never
// stopped. Each: exit 2, "the engine at … went away during …"; when it is back, the next run removes the leftover
// container and keeps the data volume with its synced sources.
const CLI = path.resolve('dist/cli/main.js');
const BASE = 'krepro-base:trixie';
const SDE = 1700000000;
const docker = await engineOrSkip();

/** A build image without network needs (the second engine has no way out): the base and the source directory. */
const imageDir = tempDir('krepro-tiny-image-');
writeFileSync(path.join(imageDir, 'Dockerfile'), 'ARG BASE_IMAGE=krepro-base:trixie\nFROM ${BASE_IMAGE}\nWORKDIR /go/src/k8s.io/kubernetes\n');
writeFileSync(path.join(imageDir, 'VERSION'), '1\n');

/** A git checkout of the source-tree fixture: all the run needs is files to sync. */
const checkout = (): string => makeSourceRepo(tempDir('krepro-engine-faults-'), SDE);

const runArgs = (cmd: string[]): string[] => ['run', '--build-image-dir', imageDir, '--no-copy-output', '--', ...cmd];

/** The CLI in a child process; asynchronous, so the proxy below (in this process) can serve it meanwhile. */
function krepro(cwd: string, host: string, args: string[]): { child: ChildProcess; done: Promise<{ code: number | null; stderr: string }> } {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, env: cliEnv({ DOCKER_HOST: host }), stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  return { child, done: new Promise((resolve) => child.on('exit', (code) => resolve({ code, stderr }))) };
}

async function buildContainers(engine: Engine, dir: string): Promise<{ name: string; state: string }[]> {
  const hash = checkoutHash(await checkoutIdentity(dir, hostname()));
  return (await engine.containers.list({ [LABEL_CHECKOUT]: hash })).map((c) => ({ name: c.name, state: c.state }));
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 300_000): Promise<void> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await new Promise((r) => setTimeout(r, 200))) if (await check()) return;
  assert.unreachable(`timed out waiting for ${what}`);
}

const GONE = /^krepro run: the engine at (\S+) went away during (.+)\. When it is back, run again: krepro removes this run's leftover containers then; data volumes are kept\n$/m;

test('an engine unreachable from the start is E_ENGINE_UNREACHABLE naming the endpoint', async () => {
  const err = await openEngine({ host: 'unix:///nonexistent/docker.sock', timeoutMs: 2_000 }).catch((e: unknown) => e);
  assert.ok(isKreproError(err) && err.code === 'E_ENGINE_UNREACHABLE', String(err));
  assert.match((err as Error).message, 'cannot reach the Docker engine at unix:///nonexistent/docker.sock: no socket at /nonexistent/docker.sock (ENOENT)');
});

const secondEngineMissing = !docker
  ? 'no Docker engine'
  : process.getuid?.() !== 0 || spawnSync('dockerd', ['--version']).status !== 0
    ? 'a second dockerd needs root and dockerd'
    : undefined;

testWhen(secondEngineMissing, 'dockerd stopped (SIGTERM) during krepro run: exit 2 naming the engine; after a restart the leftovers go, the data volume and its sources stay', async () => {
  const main = docker!;
  const dir = checkout();
  let second = await startSecondEngine({ bridge: true });
  try {
    const engine = connectEngine({ host: second.host });
    const started = Date.now();
    await transferImage(main, engine, BASE);
    console.log(`  ${BASE} loaded into the second engine in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const run = krepro(dir, second.host, runArgs(['sleep', '60']));
    await until('the build container to run', async () => (await buildContainers(engine, dir)).some((c) => c.state === 'running' && c.name.startsWith('krepro-build-1-')));
    await second.stop();
    const r = await run.done;
    assert.is(r.code, 2, r.stderr);
    const m = GONE.exec(r.stderr);
    assert.ok(m, r.stderr);
    assert.is(m![1], second.host);
    assert.match(m![2]!, /^the command in container krepro-build-1-|^waiting for container krepro-build-1-/);
    console.log(`  on SIGTERM: ${m![0].trim()}`);

    second = await startSecondEngine({ bridge: true, dir: second.dir });
    const again = await krepro(dir, second.host, runArgs(['true'])).done;
    assert.is(again.code, 0, again.stderr);
    assert.match(again.stderr, /synced sources: 0 sent \(0 bytes\), 0 deleted, \d+ unchanged/, 'the data volume kept the synced sources');
    assert.equal((await buildContainers(connectEngine({ host: second.host }), dir)), [], 'no container of the cut-off run is left');
  } finally {
    spawnSync(process.execPath, [CLI, 'clean', '--host', second.host], { cwd: dir });
    await second.remove();
    rmSync(dir, { recursive: true, force: true });
  }
});

suiteWhen(docker, 'no Docker engine', (main, test) => {
  test('the connection to the engine cut during krepro run: exit 2 naming the engine; when it is back the next run removes the leftover container', async () => {
    const dir = checkout();
    // A proxy in front of the shared engine: cutting it is what a crashed dockerd or a dropped connection looks like.
    const proxy = await startEngineProxy(path.join(tempDir('krepro-proxy-'), 'docker.sock'));
    const host = proxy.host;
    try {
      const ready = await krepro(dir, host, runArgs(['true'])).done;
      assert.is(ready.code, 0, ready.stderr);
      const run = krepro(dir, host, runArgs(['sleep', '60']));
      await until('the build container to run', async () => (await buildContainers(main, dir)).some((c) => c.state === 'running' && c.name.startsWith('krepro-build-1-')));
      await proxy.cut();
      const r = await run.done;
      assert.is(r.code, 2, r.stderr);
      const m = GONE.exec(r.stderr);
      assert.ok(m, r.stderr);
      assert.is(m![1], host);
      assert.match(m![2]!, /^waiting for container krepro-build-1-\S+ \((ECONNRESET|socket hang up|EPIPE)\)$/, m![2]);
      console.log(`  on a cut connection: ${m![0].trim()}`);
      const left = await buildContainers(main, dir);
      assert.is(left.length, 1, `the engine could not be told to remove it: ${JSON.stringify(left)}`);

      await proxy.restart();
      const again = await krepro(dir, host, runArgs(['true'])).done;
      assert.is(again.code, 0, again.stderr);
      assert.match(again.stderr, `note: removed what an earlier run of this checkout left when it was cut off: 1 container(s), 0 volume(s) (${left[0]!.name})`);
      assert.match(again.stderr, /synced sources: 0 sent \(0 bytes\), 0 deleted, \d+ unchanged/);
      assert.equal(await buildContainers(main, dir), []);
    } finally {
      spawnSync(process.execPath, [CLI, 'clean'], { cwd: dir });
      await proxy.cut();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test.run();
