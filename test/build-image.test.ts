import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pack } from 'tar-stream';
import { CONTAINER_SOURCE_DIR, stateNames, type StateNames } from '../lib/checkout/names.js';
import type { Engine } from '../lib/engine/engine.js';
import { makeBaseImage } from '../lib/environment/base-image.js';
import { ensureBuildImage, LABEL_CONTEXT_HASH, proxyEnv, redact, type ProxySettings } from '../lib/environment/build-image.js';
import { KreproError } from '../lib/errors.js';
import { engineOrSkip, runInContainer } from './helpers/engine.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BUILD_IMAGE_DIR = join(ROOT, 'build-image');
const FIXTURE_DIR = join(ROOT, 'fixtures', 'kube-like');
const BASE_IMAGE = 'krepro-base:trixie';
const PROXIES: ProxySettings = { http: 'http://user:s3cr3t@proxy.invalid:3128', https: 'http://user:s3cr3t@proxy.invalid:3128', no: 'localhost,.invalid' };
const RUN_ID = randomBytes(4).toString('hex');
const VERSION = (await readFile(join(BUILD_IMAGE_DIR, 'VERSION'), 'utf8')).trim();

const names = (root: string): StateNames => stateNames({ hostname: 'krepro-test', root, branch: '' }, `${VERSION}-trixie`);
// Fixed, so later runs (and the fixture test) reuse the real build image; the others are per run and removed.
const SHARED = names('/krepro-test/build-image');
const CHANGED = names(`/krepro-test/${RUN_ID}/changed`);
const PROXIED = names(`/krepro-test/${RUN_ID}/proxied`);
const FAILING = names(`/krepro-test/${RUN_ID}/failing`);
const FIXTURE_VOLUME = `krepro-test-fixture-${RUN_ID}`;

const docker: Engine | undefined = await engineOrSkip();
const work = await mkdtemp(join(tmpdir(), 'krepro-build-image-'));
const engineTest = (name: string, fn: (docker: Engine) => Promise<void>): void => {
  if (docker) test(name, () => fn(docker));
  else test.skip(name, async () => {});
};
const logTo = (lines: string[]) => (line: string) => lines.push(line);

test.before(async () => {
  if (docker) await makeBaseImage(docker, { suite: 'trixie', tag: BASE_IMAGE, workDir: '/var/tmp', onLog: (l: string) => process.stderr.write(`[base-image] ${l}\n`) });
});

test.after(async () => {
  if (docker) {
    for (const n of [CHANGED, PROXIED, FAILING]) await docker.images.remove(n.image, { force: true }).catch(() => {});
    await docker.volumes.remove(FIXTURE_VOLUME).catch(() => {});
  }
  await rm(work, { recursive: true, force: true });
});

test('proxyEnv: both spellings of each proxy that is set', () => {
  assert.equal(proxyEnv({ http: 'http://p:1', no: 'a,b' }), ['http_proxy=http://p:1', 'HTTP_PROXY=http://p:1', 'no_proxy=a,b', 'NO_PROXY=a,b']);
  assert.equal(proxyEnv({ https: '' }), []);
});

test('redact: hides proxy URLs, their credentials and the password in any form', () => {
  const p = { http: 'http://user:p%40ss@proxy:3128', https: 'http://proxy:3128', no: 'localhost' };
  assert.is(redact('via http://user:p%40ss@proxy:3128 now', p), 'via *** now');
  assert.is(redact('Connecting to user:p%40ss@proxy:3128', p), 'Connecting to ***@proxy:3128');
  assert.is(redact('password p@ss or p%40ss', p), 'password *** or ***');
  assert.is(redact('https via http://proxy:3128, not localhost', p), 'https via ***, not localhost');
  assert.is(redact('nothing to hide', {}), 'nothing to hide');
});

engineTest('ensureBuildImage: builds the build image, then reuses it while nothing changed', async (docker) => {
  const contextDir = join(work, 'ctx-shared');
  await mkdir(contextDir, { recursive: true });
  await writeFile(join(contextDir, 'stale-file'), 'left by an older Dockerfile\n');
  let started = Date.now();
  const first = await ensureBuildImage(docker, { names: SHARED, dockerfileDir: BUILD_IMAGE_DIR, contextDir, baseImage: BASE_IMAGE });
  process.stderr.write(`[build-image] ${SHARED.image}: ${first.rebuilt ? 'built' : 'already current'} in ${Date.now() - started} ms\n`);
  assert.match(first.imageId, /^sha256:[0-9a-f]{64}$/);
  const labels = (await docker.images.inspect(SHARED.image))!.labels;
  assert.match(labels[LABEL_CONTEXT_HASH] ?? '', /^[0-9a-f]{64}$/);
  for (const [k, v] of Object.entries(SHARED.labels)) assert.is(labels[k], v, k);
  // The context holds the Dockerfile only: nothing else from the repository, nothing left over.
  assert.equal(await readdir(contextDir), ['Dockerfile']);
  assert.equal(await readFile(join(contextDir, 'Dockerfile')), await readFile(join(BUILD_IMAGE_DIR, 'Dockerfile')));

  started = Date.now();
  const second = await ensureBuildImage(docker, { names: SHARED, dockerfileDir: BUILD_IMAGE_DIR, contextDir, baseImage: BASE_IMAGE });
  const ms = Date.now() - started;
  assert.equal(second, { imageId: first.imageId, rebuilt: false });
  assert.ok(ms < 3_000, `an up-to-date check took ${ms} ms`);
});

engineTest('ensureBuildImage: a changed Dockerfile rebuilds', async (docker) => {
  const dir = join(work, 'build-image-changed');
  await cp(BUILD_IMAGE_DIR, dir, { recursive: true });
  const opts = { names: CHANGED, dockerfileDir: dir, contextDir: join(work, 'ctx-changed'), baseImage: BASE_IMAGE };
  const before = await ensureBuildImage(docker, opts);
  assert.ok(before.rebuilt, 'a new tag is built');
  const beforeHash = (await docker.images.inspect(CHANGED.image))!.labels[LABEL_CONTEXT_HASH];

  await writeFile(join(dir, 'Dockerfile'), `${await readFile(join(dir, 'Dockerfile'), 'utf8')}LABEL io.krepro.test.changed=yes\n`);
  const log: string[] = [];
  const after = await ensureBuildImage(docker, { ...opts, onLog: logTo(log) });
  assert.ok(after.rebuilt, 'changed Dockerfile rebuilds');
  assert.is.not(after.imageId, before.imageId);
  const labels = (await docker.images.inspect(CHANGED.image))!.labels;
  assert.is(labels['io.krepro.test.changed'], 'yes');
  assert.is.not(labels[LABEL_CONTEXT_HASH], beforeHash);
  assert.ok(log.some((l) => l.includes('Successfully tagged')), 'build output reaches onLog');
  assert.is(await docker.images.inspect(before.imageId), undefined, 'the replaced image is removed, not left dangling');

  assert.is((await ensureBuildImage(docker, opts)).rebuilt, false);
});

engineTest('ensureBuildImage: proxies reach RUN but never the history, the config or the log', async (docker) => {
  const dir = join(work, 'proxy-image');
  await cp(BUILD_IMAGE_DIR, dir, { recursive: true });
  // Needs no network, so the fake proxy is never used; the echo puts the URL into the build output on purpose.
  // The run id keeps the engine's layer cache (shared with earlier runs) from skipping the RUN steps.
  await writeFile(join(dir, 'Dockerfile'), `ARG BASE_IMAGE\nFROM \${BASE_IMAGE}\nRUN echo ${RUN_ID} > /run-id && env | grep -ci proxy > /proxy-count || true\nRUN echo "proxy is $http_proxy"\n`);
  const log: string[] = [];
  const opts = { names: PROXIED, dockerfileDir: dir, contextDir: join(work, 'ctx-proxied'), baseImage: BASE_IMAGE };
  const built = await ensureBuildImage(docker, { ...opts, proxies: PROXIES, onLog: logTo(log) });
  assert.ok(built.rebuilt);

  const history = execFileSync('docker', ['image', 'history', '--no-trunc', PROXIED.image], { encoding: 'utf8' });
  const inspect = execFileSync('docker', ['image', 'inspect', PROXIED.image], { encoding: 'utf8' });
  const output = log.join('\n');
  for (const [what, text] of [['history', history], ['inspect', inspect], ['onLog', output]] as const) {
    assert.not.ok(text.includes('s3cr3t'), `password in ${what}`);
    assert.not.ok(text.includes('proxy.invalid'), `proxy URL in ${what}`);
  }
  assert.ok(output.includes('proxy is ***'), 'the printed proxy URL was redacted, not missing');
  // All six variables were set during the build: the checks above are not vacuous.
  const run = await runInContainer(docker, { image: PROXIED.image, cmd: ['cat', '/proxy-count'], binds: [] });
  assert.is(run.stdout.trim(), '6');

  // Proxies are not part of the context hash: another proxy is no reason to rebuild.
  assert.is((await ensureBuildImage(docker, { ...opts, proxies: { http: 'http://other:3128' } })).rebuilt, false);
});

engineTest('ensureBuildImage: a failing build and a missing base image are errors with codes', async (docker) => {
  const dir = join(work, 'failing-image');
  await cp(BUILD_IMAGE_DIR, dir, { recursive: true });
  await writeFile(join(dir, 'Dockerfile'), 'ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo "about to fail via $http_proxy"; exit 3\n');
  const opts = { names: FAILING, dockerfileDir: dir, contextDir: join(work, 'ctx-failing'), baseImage: BASE_IMAGE, proxies: PROXIES };
  const failure = await ensureBuildImage(docker, opts).catch((err: unknown) => err);
  assert.instance(failure, KreproError);
  const e = failure as KreproError;
  assert.is(e.code, 'E_BUILD_IMAGE');
  assert.match(e.message, 'returned a non-zero code: 3');
  assert.match(e.message, 'about to fail via ***');
  assert.not.ok(e.message.includes('s3cr3t'));

  const missing = await ensureBuildImage(docker, { ...opts, baseImage: `krepro-missing:${RUN_ID}` }).catch((err: unknown) => err);
  assert.instance(missing, KreproError);
  assert.is((missing as KreproError).code, 'E_BASE_IMAGE');
  assert.match((missing as KreproError).message, `krepro-missing:${RUN_ID}`);
  assert.match((missing as KreproError).message, 'krepro base-image');
});

engineTest('build image: a non-root uid runs `make cross` on the kube-like fixture', async (docker) => {
  await ensureBuildImage(docker, { names: SHARED, dockerfileDir: BUILD_IMAGE_DIR, contextDir: join(work, 'ctx-shared'), baseImage: BASE_IMAGE });
  await docker.volumes.create(FIXTURE_VOLUME, { 'io.krepro.test': '1' });
  // A created, never started container gives the engine a mount of the volume to extract into.
  const helper = await docker.containers.create({ image: SHARED.image, cmd: ['true'], labels: { 'io.krepro.test': '1' }, mounts: [{ type: 'volume', source: FIXTURE_VOLUME, target: CONTAINER_SOURCE_DIR }] });
  try {
    await helper.putArchive(CONTAINER_SOURCE_DIR, await fixtureTar(1000, 1000));
  } finally {
    await helper.remove();
  }

  const script = [
    'make cross',
    'find _output/dockerized/bin -type f | sort',
    '"_output/dockerized/bin/$(go env GOOS)/$(go env GOARCH)/kubectl" --version',
    'echo "not ours: $(find . -mindepth 1 ! -user 1000 | wc -l)"',
    'ls -A',
  ].join(' && ');
  const started = Date.now();
  const run = await runInContainer(docker, {
    image: SHARED.image,
    cmd: ['sh', '-c', script],
    binds: [],
    mounts: [{ type: 'volume', source: FIXTURE_VOLUME, target: CONTAINER_SOURCE_DIR }],
    env: ['SOURCE_DATE_EPOCH=1700000000'],
    user: '1000:1000',
  });
  process.stderr.write(`[build-image] make cross (cold cache, 4 platforms) took ${Date.now() - started} ms\n`);
  assert.is(run.exitCode, 0, run.stderr);
  const lines = run.stdout.split('\n');
  const binaries = lines.filter((l) => l.startsWith('_output/dockerized/bin/'));
  const expected = ['darwin/arm64', 'linux/amd64', 'linux/arm64', 'windows/amd64'].flatMap((p) =>
    ['kube-apiserver', 'kube-controller-manager', 'kube-proxy', 'kube-scheduler', 'kubectl', 'kubelet'].map((n) => `_output/dockerized/bin/${p}/${n}${p.startsWith('windows') ? '.exe' : ''}`),
  );
  assert.equal(binaries, expected);
  assert.ok(lines.includes('kubectl v0.0.0-krepro 2023-11-14T22:13:20Z'), run.stdout);
  assert.ok(lines.includes('not ours: 0'), 'everything in the tree belongs to the build uid');
  // Go's telemetry would otherwise write into HOME, which is the source tree.
  assert.not.ok(lines.includes('.config'), 'no .config in the source tree');
});

/** The fixture as a tar owned by uid:gid, without any _output a local run may have left. */
async function fixtureTar(uid: number, gid: number): Promise<Buffer> {
  const tar = pack();
  const walk = async (dir: string): Promise<void> => {
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const entry of entries) {
      const path = join(dir, entry.name);
      const name = relative(FIXTURE_DIR, path);
      if (name === '_output') continue;
      const common = { name, uid, gid, mtime: new Date(0) };
      if (entry.isDirectory()) {
        tar.entry({ ...common, type: 'directory', mode: 0o755 });
        await walk(path);
      } else {
        const data = await readFile(path);
        tar.entry({ ...common, type: 'file', mode: (await stat(path)).mode & 0o777, size: data.length }, data);
      }
    }
  };
  await walk(FIXTURE_DIR);
  tar.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of tar) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

test.run();
