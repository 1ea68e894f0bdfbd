import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { makeBaseImage } from '../lib/api/engine.js';
import { environmentImageName, readLock } from '../lib/api/environment.js';
import { checkoutIdentity } from '../lib/checkout/identity.js';
import { checkoutHash, LABEL_CHECKOUT } from '../lib/checkout/names.js';
import { engineOrSkip } from './helpers/engine.js';
import { binaryInSbom, GO_MISSING, goVersionM, type SpdxDoc } from './helpers/sbom.js';
import { suiteWhen } from './helpers/skip.js';
import { FIXTURES, tempDir } from './helpers/stage.js';
import { hostname } from 'node:os';

// `krepro run/shell/copy-output/clean/release` on a real engine, driven through the CLI as a user would.
const CLI = path.resolve('dist/cli/main.js');
const BASE = 'krepro-base:trixie';
const SDE = 1700000000;
const docker = await engineOrSkip();

/** A fresh git checkout of the Kubernetes-shaped fixture project. */
function checkout(): string {
  const dir = tempDir('krepro-checkout-');
  cpSync(path.join(FIXTURES, 'kube-like'), dir, { recursive: true });
  const env = { ...process.env, GIT_AUTHOR_DATE: `@${SDE} +0000`, GIT_COMMITTER_DATE: `@${SDE} +0000`, GIT_AUTHOR_NAME: 'k', GIT_AUTHOR_EMAIL: 'k@x.invalid', GIT_COMMITTER_NAME: 'k', GIT_COMMITTER_EMAIL: 'k@x.invalid' };
  for (const args of [['init', '-q', '-b', 'main'], ['add', '-A'], ['commit', '-q', '-m', 'fixture'], ['tag', 'v1.31.0']]) execFileSync('git', args, { cwd: dir, env });
  return dir;
}

function krepro(cwd: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 900_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function stateOf(dir: string): Promise<{ containers: number; images: number; volumes: number }> {
  const hash = checkoutHash(await checkoutIdentity(dir, hostname()));
  const labels = { [LABEL_CHECKOUT]: hash };
  return {
    containers: (await docker!.containers.list(labels)).length,
    images: (await docker!.images.list(labels)).length,
    volumes: (await docker!.volumes.list(labels)).length,
  };
}

const cleanups: string[] = [];
function track(dir: string): string {
  cleanups.push(dir);
  return dir;
}

suiteWhen(docker, 'no Docker engine', (docker, test) => {
  test.before(async () => {
    await makeBaseImage(docker, { suite: 'trixie', tag: BASE, workDir: '/var/tmp' });
  });

  test.after(() => {
    for (const dir of cleanups) {
      krepro(dir, ['clean']);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('release --quick builds all four platforms and packs; a second release gives identical digests', async () => {
    const dir = track(checkout());
    const first = krepro(dir, ['release', '--quick']);
    assert.is(first.code, 0, first.stderr);
    for (const p of ['linux/amd64/kubectl', 'linux/arm64/kube-apiserver', 'darwin/arm64/kubectl', 'windows/amd64/kubectl.exe']) {
      assert.ok(existsSync(path.join(dir, '_output/dockerized/bin', p)), p);
    }
    const sums = readFileSync(path.join(dir, '_output/release-tars/SHA256SUMS'), 'utf8');
    for (const t of ['kubernetes.tar.gz', 'kubernetes-src.tar.gz', 'kubernetes-client-windows-amd64.tar.gz', 'kubernetes-server-linux-amd64.tar.gz', 'kubernetes-node-linux-arm64.tar.gz']) {
      assert.match(sums, t);
    }
    const server = execFileSync('tar', ['-tzf', path.join(dir, '_output/release-tars/kubernetes-server-linux-amd64.tar.gz')], { encoding: 'utf8' });
    for (const b of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kube-proxy']) {
      assert.match(server, `kubernetes/server/bin/${b}.tar\n`);
      assert.match(server, `kubernetes/server/bin/${b}.docker_tag\n`);
    }
    // The SBOMs, in the sums: each container-built binary with the modules `go version -m` (the host's Go) reads.
    for (const s of ['kubernetes-source.spdx.json', 'kubernetes-release.spdx.json']) assert.match(sums, `  ${s}\n`);
    if (GO_MISSING && process.env['CI']) assert.unreachable(`${GO_MISSING}; CI must provide it`);
    if (!GO_MISSING) {
      const sbom = JSON.parse(readFileSync(path.join(dir, '_output/release-tars/kubernetes-release.spdx.json'), 'utf8')) as SpdxDoc;
      for (const p of ['linux/amd64/kubectl', 'linux/arm64/kube-apiserver', 'darwin/arm64/kubectl', 'windows/amd64/kubectl.exe']) {
        const file = path.join(dir, '_output/dockerized/bin', p);
        const m = goVersionM(file);
        assert.equal(binaryInSbom(sbom, file), { name: path.basename(p), go: [m.go], deps: m.deps }, p);
      }
      assert.equal(goVersionM(path.join(dir, '_output/dockerized/bin/darwin/arm64/kubectl')).deps, ['example.com/greeting@v0.1.0']);
    }
    const version = execFileSync(path.join(dir, '_output/dockerized/bin/linux/amd64/kubectl'), ['--version'], { encoding: 'utf8' });
    assert.match(version, /v1\.31\.0/);
    assert.match(version, /2023-11-14T22:13:20Z/);
    const second = krepro(dir, ['release', '--quick']);
    assert.is(second.code, 0, second.stderr);
    assert.is(readFileSync(path.join(dir, '_output/release-tars/SHA256SUMS'), 'utf8'), sums); // the SBOMs too, byte for byte
  });

  test('sync is incremental: nothing sent on a second run, one edited file sent alone, deletions propagate', () => {
    const dir = track(checkout());
    const sent = (r: { stderr: string }) => Number(/synced sources: (\d+) sent/.exec(r.stderr)?.[1]);
    const first = krepro(dir, ['run', '--no-copy-output', '--', 'true']);
    assert.is(first.code, 0, first.stderr);
    assert.ok(sent(first) > 5, first.stderr);
    const second = krepro(dir, ['run', '--no-copy-output', '--', 'true']);
    assert.is(sent(second), 0, second.stderr);
    writeFileSync(path.join(dir, 'cmd/kubectl/extra.txt'), 'changed\n');
    const third = krepro(dir, ['run', '--no-copy-output', '--', 'cat', 'cmd/kubectl/extra.txt']);
    assert.is(sent(third), 1, third.stderr);
    assert.is(third.stdout, 'changed\n');
    rmSync(path.join(dir, 'cmd/kubectl/extra.txt'));
    const fourth = krepro(dir, ['run', '--no-copy-output', '--', 'sh', '-c', 'test ! -e cmd/kubectl/extra.txt && echo gone']);
    assert.is(fourth.code, 0, fourth.stderr);
    assert.is(fourth.stdout, 'gone\n');
  });

  test("a failing command's exit code comes through; the build runs as a non-root user", () => {
    const dir = track(checkout());
    assert.is(krepro(dir, ['run', '--', 'sh', '-c', 'exit 7']).code, 7);
    const id = krepro(dir, ['run', '--no-copy-output', '--', 'id', '-u']);
    assert.is.not(id.stdout.trim(), '0');
  });

  test('Ctrl-C stops and removes the build container; the data volume survives', async () => {
    const dir = track(checkout());
    const child = spawn(process.execPath, [CLI, 'run', '--', 'sleep', '120'], { cwd: dir, stdio: 'pipe' });
    const hash = checkoutHash(await checkoutIdentity(dir, hostname()));
    for (let i = 0; i < 600; i++) {
      const running = (await docker.containers.list({ [LABEL_CHECKOUT]: hash })).filter((c) => c.state === 'running' && c.name.startsWith(`krepro-build-1-${hash}-`));
      if (running.length) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.is(code, 130);
    const state = await stateOf(dir);
    assert.is(state.containers, 0, 'no container left');
    assert.is(state.volumes, 1, 'volume kept');
  });

  test('a version bump removes the old state; two checkouts side by side keep their own', async () => {
    const a = track(checkout());
    const b = track(checkout());
    const [ra, rb] = await Promise.all(
      [a, b].map(
        (dir) =>
          new Promise<number | null>((resolve) => spawn(process.execPath, [CLI, 'run', '--no-copy-output', '--', 'true'], { cwd: dir, stdio: 'ignore' }).on('exit', resolve)),
      ),
    );
    assert.is(ra, 0);
    assert.is(rb, 0);
    // The locked environment's image is shared by every checkout (named by its lock), so no image is this checkout's.
    assert.equal(await stateOf(a), { containers: 0, images: 0, volumes: 1 });
    const bumped = tempDir();
    cpSync(path.resolve('build-image'), bumped, { recursive: true });
    writeFileSync(path.join(bumped, 'VERSION'), '2\n');
    const r = krepro(a, ['run', '--no-copy-output', '--build-image-dir', bumped, '--', 'true']);
    assert.is(r.code, 0, r.stderr);
    const images = await docker.images.list({ [LABEL_CHECKOUT]: checkoutHash(await checkoutIdentity(a, hostname())) });
    assert.equal(images.flatMap((i) => i.repoTags).map((t) => t.replace(/-[0-9a-f]{10}-/, '-H-')), ['krepro-build:build-H-2-trixie']);
    assert.equal(await stateOf(b), { containers: 0, images: 0, volumes: 1 }, "the other checkout's state is untouched");
  });

  test('a second run on a busy checkout is refused with a clear message', async () => {
    const dir = track(checkout());
    const child = spawn(process.execPath, [CLI, 'run', '--no-copy-output', '--', 'sleep', '30'], { cwd: dir, stdio: 'ignore' });
    for (let i = 0; i < 300 && !existsSync(path.join(dir, '_output/.krepro.lock')); i++) await new Promise((r) => setTimeout(r, 100));
    const second = krepro(dir, ['run', '--', 'true']);
    child.kill('SIGINT');
    await new Promise((resolve) => child.on('exit', resolve));
    assert.is(second.code, 2);
    assert.match(second.stderr, /another krepro run is using/);
  });

  test('proxy settings reach the containers but their credentials are never printed or stored', async () => {
    const dir = track(checkout());
    // The locked environment is made without the engine's builder, so proxies reach only the containers;
    // test/build-image.test.ts builds a Dockerfile image with a proxy set and checks its history.
    assert.is(krepro(dir, ['run', '--no-copy-output', '--', 'true']).code, 0);
    const proxy = 'http://builder:s3cr3t-Pa55@proxy.invalid:3128';
    const r = krepro(dir, ['run', '--no-copy-output', '--', 'sh', '-c', 'test "$http_proxy" = "$HTTP_PROXY" && test -n "$https_proxy" && echo proxies-set'], {
      KUBERNETES_HTTP_PROXY: proxy,
      KUBERNETES_HTTPS_PROXY: proxy,
      KUBERNETES_NO_PROXY: 'localhost',
    });
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout.trim(), 'proxies-set');
    assert.not.match(r.stderr + r.stdout, 's3cr3t');
    const names = { image: environmentImageName(await readLock(path.resolve('build-image/environment.lock.json'))) };
    const inspect = execFileSync('docker', ['image', 'inspect', names.image], { encoding: 'utf8' });
    const history = execFileSync('docker', ['image', 'history', '--no-trunc', names.image], { encoding: 'utf8' });
    assert.ok(inspect.includes(names.image), 'the image exists');
    assert.not.match(inspect + history, 's3cr3t');
  });

  test('shell gives an interactive bash with a TTY (driven through tmux) and copies nothing back', async () => {
    const dir = track(checkout());
    assert.is(krepro(dir, ['run', '--no-copy-output', '--', 'true']).code, 0); // image and volume ready
    const session = `krepro-shell-${path.basename(dir)}`;
    const tmux = (...args: string[]) => execFileSync('tmux', args, { encoding: 'utf8' });
    const screen = () => tmux('capture-pane', '-p', '-t', session);
    const waitFor = async (re: RegExp) => {
      for (let i = 0; i < 300; i++) {
        if (re.test(screen())) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.unreachable(`screen never matched ${re}:\n${screen()}`);
    };
    tmux('new-session', '-d', '-s', session, '-x', '120', '-y', '30', '-c', dir, `${process.execPath} ${CLI} shell; echo "EXIT=$?" > exit-status; sleep 60`);
    try {
      await waitFor(/\$\s*$/m); // bash prompt; HOME is the source directory, so it shows ~
      tmux('send-keys', '-t', session, 'echo answer=$((6*7)) $(tty) && mkdir -p _output/dockerized/bin && touch _output/dockerized/bin/from-shell', 'Enter');
      await waitFor(/answer=42 \/dev\/pts\/\d+/);
      tmux('send-keys', '-t', session, 'exit 5', 'Enter');
      for (let i = 0; i < 300 && !existsSync(path.join(dir, 'exit-status')); i++) await new Promise((r) => setTimeout(r, 100));
      assert.is(readFileSync(path.join(dir, 'exit-status'), 'utf8').trim(), 'EXIT=5');
      assert.not.ok(existsSync(path.join(dir, '_output/dockerized/bin/from-shell')), 'nothing copied back by default');
    } finally {
      tmux('kill-session', '-t', session);
    }
  });

  test('clean removes _output and all of the checkout state', async () => {
    const dir = track(checkout());
    assert.is(krepro(dir, ['run', '--', 'true']).code, 0);
    assert.ok(existsSync(path.join(dir, '_output')));
    const r = krepro(dir, ['clean']);
    assert.is(r.code, 0, r.stderr);
    assert.not.ok(existsSync(path.join(dir, '_output')));
    assert.equal(await stateOf(dir), { containers: 0, images: 0, volumes: 0 });
  });
});

test('an unreachable engine gives exit 2 naming the endpoint; clean still removes _output', () => {
  const dir = tempDir();
  execFileSync('git', ['init', '-q'], { cwd: dir });
  const env = { DOCKER_HOST: 'unix:///nonexistent/docker.sock', SOURCE_DATE_EPOCH: '1' };
  const r = krepro(dir, ['run', '--', 'true'], env);
  assert.is(r.code, 2);
  assert.match(r.stderr, /\/nonexistent\/docker\.sock/);
  writeFileSync(path.join(dir, 'x'), '');
  execFileSync('mkdir', ['-p', path.join(dir, '_output/dockerized')]);
  const c = krepro(dir, ['clean'], env);
  assert.is(c.code, 0, c.stderr);
  assert.not.ok(existsSync(path.join(dir, '_output')));
});

test.run();
