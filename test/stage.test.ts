import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { buildStage, DEFAULT_STAGE_TARGETS, type StageResult } from '../lib/layout/stage.js';
import { packageRelease } from '../lib/layout/package-release.js';
import { KreproError } from '../lib/errors.js';
import { gitVersion, semverFromDescribe } from '../lib/source/version.js';
import { stageCommand } from '../cli/stage.js';
import { tempDir } from './helpers/stage.js';

const SDE = 1700000000;
const VERSION = 'v1.31.0-alpha.2.41+0123456789abcd';

interface Conditions {
  /** applied to every created file and directory, as a build running under that umask would */
  umask?: number;
  /** create entries in reverse order */
  reverse?: boolean;
}

const SERVER = ['apiextensions-apiserver', 'kube-aggregator', 'kube-apiserver', 'kube-controller-manager', 'kube-log-runner', 'kube-proxy', 'kube-scheduler', 'kubeadm', 'kubelet', 'mounter'];
const CLIENT = ['kubectl', 'kubectl-convert'];

/** What a `make cross`-like build leaves in _output/dockerized/bin, plus `gendocs`, a target no list names. */
const BUILT: Record<string, string[]> = {
  'linux/amd64': [...SERVER, ...CLIENT, 'e2e.test', 'e2e_node.test', 'gendocs', 'ginkgo', 'go-runner', 'kubemark'],
  'linux/arm64': [...SERVER, ...CLIENT, 'e2e.test', 'ginkgo', 'go-runner'],
  'darwin/arm64': [...CLIENT, 'e2e.test', 'ginkgo'],
  'windows/amd64': ['e2e.test.exe', 'ginkgo.exe', 'kube-log-runner.exe', 'kube-proxy.exe', 'kubeadm.exe', 'kubectl-convert.exe', 'kubectl.exe', 'kubelet.exe'],
};

/** A Kubernetes-like checkout: [path, content | {link}], with `*` marking executables. */
const SOURCE: [string, string | { link: string }][] = [
  ['.gitignore', '/_output/\n*~\n'],
  ['README.md', '# Kubernetes\n'],
  ['LICENSES/LICENSE', 'Apache License 2.0\n'],
  ['LICENSES/vendor/github.com/spf13/cobra/LICENSE.txt', 'cobra license\n'],
  ['cluster/get-kube-binaries.sh*', '#!/bin/sh\necho get\n'],
  ['cluster/get-kube-binaries.sh~', 'an editor backup\n'],
  ['cluster/get-kube.sh', { link: 'get-kube-binaries.sh' }],
  ['cluster/gce/gci/configure-helper.sh*', '#!/bin/sh\n'],
  ['cluster/gce/manifests/etcd.manifest', 'kind: Pod\nname: etcd\n'],
  ['cluster/gce/manifests/kube-apiserver.manifest', 'kind: Pod\nname: kube-apiserver\n'],
  ['cmd/kubectl/main.go', 'package main\n'],
  ['docs/README.md', 'docs\n'],
  ['hack/lib/util.sh', 'util() { :; }\n'],
  ['hack/lib/version.sh*', '#!/bin/sh\n'],
  ['hack/verify-all.sh*', '#!/bin/sh\n'],
];

function git(cwd: string, ...args: string[]): string {
  const env = { ...process.env, GIT_AUTHOR_DATE: `@${SDE} +0000`, GIT_COMMITTER_DATE: `@${SDE} +0000`, GIT_AUTHOR_NAME: 'krepro', GIT_AUTHOR_EMAIL: 'krepro@example.invalid', GIT_COMMITTER_NAME: 'krepro', GIT_COMMITTER_EMAIL: 'krepro@example.invalid' };
  return execFileSync('git', ['-c', 'init.defaultBranch=main', '-c', 'tag.gpgSign=false', '-c', 'commit.gpgSign=false', ...args], { cwd, env, encoding: 'utf8', stdio: 'pipe' });
}

function mkdirp(dir: string, umask: number): void {
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o777 & ~umask);
}

function makeBinDir(dest: string, c: Conditions = {}): string {
  const umask = c.umask ?? 0o022;
  let platforms = Object.entries(BUILT);
  if (c.reverse) platforms = platforms.reverse();
  for (const [platform, names] of platforms) {
    const dir = path.join(dest, ...platform.split('/'));
    mkdirp(dir, umask);
    for (const name of c.reverse ? [...names].reverse() : names) {
      writeFileSync(path.join(dir, name), `\x7fELF fake ${platform}/${name}\n`);
      chmodSync(path.join(dir, name), 0o777 & ~umask);
    }
  }
  return dest;
}

/** A real git repository holding SOURCE (committed, except what .gitignore covers). */
function makeSource(dest: string, c: Conditions = {}): string {
  const umask = c.umask ?? 0o022;
  for (const [spec, content] of c.reverse ? [...SOURCE].reverse() : SOURCE) {
    const rel = spec.replace(/\*$/, '');
    const abs = path.join(dest, rel);
    mkdirp(path.dirname(abs), umask);
    if (typeof content === 'string') {
      writeFileSync(abs, content);
      chmodSync(abs, (spec.endsWith('*') ? 0o777 : 0o666) & ~umask);
    } else symlinkSync(content.link, abs);
  }
  git(dest, 'init', '-q');
  git(dest, 'add', '-A');
  git(dest, 'commit', '-q', '-m', 'source');
  return dest;
}

/** The tree under `root`, sorted: directories end in `/`, executables in `*`, symlinks show `-> target`. */
function tree(root: string, under = ''): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(path.join(root, rel))) {
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(path.join(root, r));
      if (st.isSymbolicLink()) out.push(`${r} -> ${readlinkSync(path.join(root, r))}`);
      else if (st.isDirectory()) {
        out.push(`${r}/`);
        walk(r);
      } else out.push(st.mode & 0o100 ? `${r}*` : r);
    }
  };
  walk(under);
  return sorted(out);
}

function sorted(list: string[]): string[] {
  return [...list].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

/** `<root>/` and its parents up to `kind/`, then `<root>/<bin>/<name>*` for each binary. */
function bins(root: string, bin: string, names: string[]): string[] {
  const dirs: string[] = [];
  for (let d = `${root}/${bin}`; d !== '.'; d = path.posix.dirname(d)) dirs.push(`${d}/`);
  return [...dirs, ...names.map((n) => `${root}/${bin}/${n}*`)];
}

const LICENSES = (root: string) => [`${root}/LICENSES/`, `${root}/LICENSES/LICENSE`, `${root}/LICENSES/vendor/`, `${root}/LICENSES/vendor/github.com/`, `${root}/LICENSES/vendor/github.com/spf13/`, `${root}/LICENSES/vendor/github.com/spf13/cobra/`, `${root}/LICENSES/vendor/github.com/spf13/cobra/LICENSE.txt`];

const EXPECTED_TREE: Record<string, string[]> = {
  client: [
    ...bins('client/darwin-arm64/kubernetes', 'client/bin', CLIENT),
    ...bins('client/linux-amd64/kubernetes', 'client/bin', CLIENT),
    ...bins('client/linux-arm64/kubernetes', 'client/bin', CLIENT),
    ...bins('client/windows-amd64/kubernetes', 'client/bin', ['kubectl-convert.exe', 'kubectl.exe']),
  ],
  server: ['linux-amd64', 'linux-arm64'].flatMap((p) => [
    ...bins(`server/${p}/kubernetes`, 'server/bin', [...SERVER, ...CLIENT]),
    `server/${p}/kubernetes/addons/`,
    ...LICENSES(`server/${p}/kubernetes`),
  ]),
  node: [
    ...['linux-amd64', 'linux-arm64'].flatMap((p) => [
      ...bins(`node/${p}/kubernetes`, 'node/bin', ['kube-log-runner', 'kube-proxy', 'kubeadm', 'kubelet', ...CLIENT]),
      ...LICENSES(`node/${p}/kubernetes`),
    ]),
    ...bins('node/windows-amd64/kubernetes', 'node/bin', ['kube-log-runner.exe', 'kube-proxy.exe', 'kubeadm.exe', 'kubectl-convert.exe', 'kubectl.exe', 'kubelet.exe']),
    ...LICENSES('node/windows-amd64/kubernetes'),
  ],
  test: [
    ...bins('test/darwin-arm64/kubernetes', 'test/bin', ['e2e.test', 'ginkgo']),
    ...bins('test/linux-amd64/kubernetes', 'test/bin', ['e2e.test', 'e2e_node.test', 'ginkgo', 'go-runner', 'kubemark']),
    ...bins('test/linux-arm64/kubernetes', 'test/bin', ['e2e.test', 'ginkgo', 'go-runner']),
    ...bins('test/windows-amd64/kubernetes', 'test/bin', ['e2e.test.exe', 'ginkgo.exe']),
  ],
  full: [
    'full/',
    'full/kubernetes/',
    ...LICENSES('full/kubernetes'),
    'full/kubernetes/README.md',
    'full/kubernetes/client/',
    'full/kubernetes/client/README',
    'full/kubernetes/cluster/',
    'full/kubernetes/cluster/gce/',
    'full/kubernetes/cluster/gce/gci/',
    'full/kubernetes/cluster/gce/gci/configure-helper.sh*',
    'full/kubernetes/cluster/gce/manifests/',
    'full/kubernetes/cluster/gce/manifests/etcd.manifest',
    'full/kubernetes/cluster/gce/manifests/kube-apiserver.manifest',
    'full/kubernetes/cluster/get-kube-binaries.sh*',
    'full/kubernetes/cluster/get-kube.sh -> get-kube-binaries.sh',
    'full/kubernetes/docs/',
    'full/kubernetes/docs/README.md',
    'full/kubernetes/hack/',
    'full/kubernetes/hack/lib/',
    'full/kubernetes/hack/lib/util.sh',
    'full/kubernetes/hack/lib/version.sh*',
    'full/kubernetes/server/',
    'full/kubernetes/server/README',
    'full/kubernetes/version',
  ],
  manifests: ['manifests/', 'manifests/kubernetes/', 'manifests/kubernetes/gci-trusty/', 'manifests/kubernetes/gci-trusty/etcd.manifest', 'manifests/kubernetes/gci-trusty/kube-apiserver.manifest'],
};

async function stageAndPack(c: Conditions = {}): Promise<{ dir: string; stage: string; result: StageResult; digests: Record<string, string>; source: string }> {
  const dir = tempDir('krepro-stage-');
  const binDir = makeBinDir(path.join(dir, '_output', 'dockerized', 'bin'), c);
  const source = makeSource(path.join(dir, 'src'), c);
  const stage = path.join(dir, '_output', 'release-stage');
  const result = await buildStage({ binDir, sourceRoot: source, stage, version: VERSION });
  const packed = await packageRelease({ stage, out: path.join(dir, '_output', 'release-tars'), sourceDateEpoch: SDE, sourceRoot: source });
  return { dir, stage, result, source, digests: Object.fromEntries(packed.tarballs.map((t) => [t.name, t.digests.sha256])) };
}

const first = stageAndPack();

test('buildStage lays out client/server/node/test/full/manifests exactly, exec bits kept', async () => {
  const { stage } = await first;
  assert.equal(sorted(readdirSync(stage)), ['client', 'full', 'manifests', 'node', 'server', 'test']);
  for (const [kind, expected] of Object.entries(EXPECTED_TREE)) {
    assert.equal([`${kind}/`, ...tree(stage, kind)], sorted([...new Set(expected)]), kind);
  }
  assert.is(readFileSync(path.join(stage, 'full/kubernetes/version'), 'utf8'), `${VERSION}\n`);
  assert.is(readFileSync(path.join(stage, 'full/kubernetes/client/README'), 'utf8'), 'Client binaries are no longer included in the Kubernetes final tarball.\n\nRun cluster/get-kube-binaries.sh to download client and server binaries.\n');
  assert.is(readFileSync(path.join(stage, 'full/kubernetes/server/README'), 'utf8'), 'Server binary tarballs are no longer included in the Kubernetes final tarball.\n\nRun cluster/get-kube-binaries.sh to download client and server binaries.\n');
  assert.is(readFileSync(path.join(stage, 'server/linux-arm64/kubernetes/server/bin/kubectl'), 'utf8'), '\x7fELF fake linux/arm64/kubectl\n');
  assert.is(statSync(path.join(stage, 'node/windows-amd64/kubernetes/node/bin/kubelet.exe')).mode & 0o777, 0o755);
  assert.is(statSync(path.join(stage, 'full/kubernetes/hack/lib/util.sh')).mode & 0o777, 0o644);
  assert.not.ok(existsSync(path.join(stage, 'server/linux-amd64/kubernetes/kubernetes-src.tar.gz')), 'packageRelease nests the src tarball');
  assert.not.ok(existsSync(path.join(stage, 'full/kubernetes/server/kubernetes-manifests.tar.gz')), 'packageRelease nests the manifests tarball');
});

test('StageResult: platforms with their files, the unknown binary ignored, source paths, cruft', async () => {
  const { result, stage, source } = await first;
  assert.is(result.stage, stage);
  assert.is(result.version, VERSION);
  assert.equal(result.ignored, ['linux/amd64/gendocs']);
  assert.equal(result.cruft, ['cluster/get-kube-binaries.sh~']);
  assert.equal(result.manifests, ['etcd.manifest', 'kube-apiserver.manifest']);
  assert.equal(result.source, { copied: ['LICENSES', 'README.md', 'cluster', 'cluster/gce/manifests', 'docs', 'hack/lib'], missing: [] });
  assert.equal(
    result.platforms.map((p) => [p.platform, p.os, p.arch, p.client.length, p.server.length, p.node.length, p.test.length]),
    [
      ['darwin-arm64', 'darwin', 'arm64', 2, 0, 0, 2],
      ['linux-amd64', 'linux', 'amd64', 2, 12, 6, 5],
      ['linux-arm64', 'linux', 'arm64', 2, 12, 6, 3],
      ['windows-amd64', 'windows', 'amd64', 2, 0, 6, 2],
    ],
  );
  assert.equal(result.platforms[3]!.node, ['kube-log-runner.exe', 'kube-proxy.exe', 'kubeadm.exe', 'kubectl-convert.exe', 'kubectl.exe', 'kubelet.exe']);
  assert.ok(existsSync(path.join(source, 'cluster/get-kube-binaries.sh~')));
});

test('packageRelease packs the built stage into the expected tarballs, inner tarballs nested', async () => {
  const { digests, dir } = await first;
  assert.equal(sorted(Object.keys(digests)), [
    'kubernetes-client-darwin-arm64.tar.gz',
    'kubernetes-client-linux-amd64.tar.gz',
    'kubernetes-client-linux-arm64.tar.gz',
    'kubernetes-client-windows-amd64.tar.gz',
    'kubernetes-manifests.tar.gz',
    'kubernetes-node-linux-amd64.tar.gz',
    'kubernetes-node-linux-arm64.tar.gz',
    'kubernetes-node-windows-amd64.tar.gz',
    'kubernetes-server-linux-amd64.tar.gz',
    'kubernetes-server-linux-arm64.tar.gz',
    'kubernetes-src.tar.gz',
    'kubernetes-test-darwin-arm64.tar.gz',
    'kubernetes-test-linux-amd64.tar.gz',
    'kubernetes-test-linux-arm64.tar.gz',
    'kubernetes-test-windows-amd64.tar.gz',
    'kubernetes.tar.gz',
  ]);
  const list = (name: string) => execFileSync('tar', ['-tvzf', path.join(dir, '_output/release-tars', name)], { encoding: 'utf8' }).trim().split('\n');
  const server = list('kubernetes-server-linux-amd64.tar.gz');
  assert.ok(server.some((l) => /^-rwxr-xr-x .* kubernetes\/server\/bin\/kube-apiserver$/.test(l)), 'binary packed executable');
  assert.ok(server.some((l) => l.endsWith(' kubernetes/kubernetes-src.tar.gz')));
  assert.ok(server.some((l) => /^drwxr-xr-x .* kubernetes\/addons\/$/.test(l)));
  assert.ok(list('kubernetes-node-windows-amd64.tar.gz').some((l) => l.endsWith(' kubernetes/kubernetes-src.tar.gz')));
  const final = list('kubernetes.tar.gz');
  assert.ok(final.some((l) => l.endsWith(' kubernetes/server/kubernetes-manifests.tar.gz')));
  assert.ok(final.some((l) => l.endsWith(' kubernetes/cluster/get-kube.sh -> get-kube-binaries.sh')));
  assert.not.ok(final.some((l) => l.includes('~')), 'no editor backups');
});

test('stage + package twice, files created in another order and under umask 077: identical sha256', async () => {
  const a = await first;
  const b = await stageAndPack({ reverse: true, umask: 0o077 });
  assert.is(statSync(path.join(b.stage, 'client/linux-amd64/kubernetes/client/bin/kubectl')).mode & 0o777, 0o700, 'the second stage really differs in modes');
  assert.equal(b.result, { ...a.result, stage: b.stage });
  assert.equal(b.digests, a.digests);
});

test('buildStage replaces an existing stage wholesale and leaves no temporary directory', async () => {
  const dir = tempDir('krepro-stage-');
  const binDir = makeBinDir(path.join(dir, 'bin'));
  const stage = path.join(dir, 'stage');
  mkdirSync(path.join(stage, 'client', 'plan9-386'), { recursive: true });
  writeFileSync(path.join(stage, 'stale'), '');
  const source = path.join(dir, 'src');
  mkdirSync(source); // no git, no LICENSES, docs, cluster: only what the binaries give
  const result = await buildStage({ binDir, sourceRoot: source, stage, version: 'v1.0.0', targets: { test: [] } });
  assert.equal(sorted(readdirSync(dir)), ['bin', 'src', 'stage']);
  assert.equal(sorted(readdirSync(stage)), ['client', 'full', 'node', 'server']);
  assert.equal(sorted(readdirSync(path.join(stage, 'client'))), ['darwin-arm64', 'linux-amd64', 'linux-arm64', 'windows-amd64']);
  assert.equal(tree(stage, 'full'), ['full/kubernetes/', 'full/kubernetes/client/', 'full/kubernetes/client/README', 'full/kubernetes/server/', 'full/kubernetes/server/README', 'full/kubernetes/version']);
  assert.equal(tree(stage, 'server/linux-amd64/kubernetes').filter((p) => !p.includes('/bin/')), ['server/linux-amd64/kubernetes/addons/', 'server/linux-amd64/kubernetes/server/']);
  assert.equal(result.source, { copied: [], missing: ['LICENSES', 'README.md', 'cluster', 'cluster/gce/manifests', 'docs', 'hack/lib'] });
  assert.equal(result.ignored, ['darwin/arm64/e2e.test', 'darwin/arm64/ginkgo', 'linux/amd64/e2e.test', 'linux/amd64/e2e_node.test', 'linux/amd64/gendocs', 'linux/amd64/ginkgo', 'linux/amd64/go-runner', 'linux/amd64/kubemark', 'linux/arm64/e2e.test', 'linux/arm64/ginkgo', 'linux/arm64/go-runner', 'windows/amd64/e2e.test.exe', 'windows/amd64/ginkgo.exe']);
});

test('windows: only <name>.exe matches; linux: .exe names, directories and server-only windows binaries are ignored', async () => {
  const dir = tempDir('krepro-stage-');
  const bin = path.join(dir, 'bin');
  for (const [rel, exec] of [['windows/arm64/kubectl', true], ['windows/arm64/kubectl.exe', true], ['windows/arm64/kube-apiserver.exe', true], ['linux/s390x/kubectl.exe', true], ['linux/s390x/kubectl', true], ['linux/s390x/sub/kubelet', true]] as const) {
    mkdirSync(path.dirname(path.join(bin, rel)), { recursive: true });
    writeFileSync(path.join(bin, rel), rel);
    if (exec) chmodSync(path.join(bin, rel), 0o755);
  }
  writeFileSync(path.join(bin, 'README'), '');
  const result = await buildStage({ binDir: bin, sourceRoot: dir, stage: path.join(dir, 'stage'), version: 'v1.0.0' });
  assert.equal(result.ignored, ['README', 'linux/s390x/kubectl.exe', 'linux/s390x/sub/', 'windows/arm64/kube-apiserver.exe', 'windows/arm64/kubectl']);
  assert.equal(
    result.platforms.map((p) => [p.platform, p.client, p.server, p.node, p.test]),
    [
      ['linux-s390x', ['kubectl'], [], [], []],
      ['windows-arm64', ['kubectl.exe'], [], [], []],
    ],
  );
});

async function rejectsWith(promise: Promise<unknown>, code: string, text: string): Promise<void> {
  try {
    await promise;
  } catch (err) {
    assert.instance(err, KreproError);
    assert.is((err as KreproError).code, code);
    assert.ok((err as Error).message.includes(text), (err as Error).message);
    return;
  }
  assert.unreachable('should have thrown');
}

test('E_STAGE naming the directory: missing bin dir, bin dir without <os>/<arch>; the old stage is kept', async () => {
  const dir = tempDir('krepro-stage-');
  const stage = path.join(dir, 'stage');
  mkdirSync(stage);
  writeFileSync(path.join(stage, 'keep'), '');
  const missing = path.join(dir, 'no-such-bin');
  await rejectsWith(buildStage({ binDir: missing, sourceRoot: dir, stage, version: 'v1' }), 'E_STAGE', missing);
  const empty = path.join(dir, 'bin');
  mkdirSync(path.join(empty, 'linux'), { recursive: true }); // an <os> without <arch>
  await rejectsWith(buildStage({ binDir: empty, sourceRoot: dir, stage, version: 'v1' }), 'E_STAGE', empty);
  await rejectsWith(buildStage({ binDir: empty, sourceRoot: path.join(dir, 'nope'), stage, version: 'v1' }), 'E_STAGE', path.join(dir, 'nope'));
  await rejectsWith(buildStage({ binDir: empty, sourceRoot: dir, stage, version: 'v1\nv2' }), 'E_USAGE', 'version');
  assert.equal(readdirSync(stage), ['keep']);
  assert.equal(sorted(readdirSync(dir)), ['bin', 'stage']);
});

test('an aborted buildStage leaves the old stage and no temporary directory', async () => {
  const dir = tempDir('krepro-stage-');
  const binDir = makeBinDir(path.join(dir, 'bin'));
  const stage = path.join(dir, 'stage');
  mkdirSync(stage);
  const controller = new AbortController();
  controller.abort(new Error('interrupted'));
  try {
    await buildStage({ binDir, sourceRoot: dir, stage, version: 'v1', signal: controller.signal });
    assert.unreachable('should have been aborted');
  } catch (err) {
    assert.is((err as Error).message, 'interrupted');
  }
  assert.equal(sorted(readdirSync(dir)), ['bin', 'stage']);
  assert.equal(readdirSync(stage), []);
});

test('DEFAULT_STAGE_TARGETS are the ~2024 hack/lib/golang.sh lists', () => {
  assert.equal(DEFAULT_STAGE_TARGETS.client, ['kubectl', 'kubectl-convert']);
  assert.equal(sorted([...DEFAULT_STAGE_TARGETS.server]), SERVER);
  assert.equal(sorted([...DEFAULT_STAGE_TARGETS.node]), ['kube-log-runner', 'kube-proxy', 'kubeadm', 'kubelet']);
  assert.equal(sorted([...DEFAULT_STAGE_TARGETS.test]), ['e2e.test', 'e2e_node.test', 'ginkgo', 'go-runner', 'kubemark']);
});

test('semverFromDescribe converts as hack/lib/version.sh does', () => {
  assert.is(semverFromDescribe('v1.2.3'), 'v1.2.3');
  assert.is(semverFromDescribe('v1.2.3-rc.1'), 'v1.2.3-rc.1');
  assert.is(semverFromDescribe('v1.2.3-1-g0123456789abcd'), 'v1.2.3-1+0123456789abcd');
  assert.is(semverFromDescribe('v1.1.0-alpha.0-6-g84c76d1142ea4d'), 'v1.1.0-alpha.0.6+84c76d1142ea4d');
  assert.is(semverFromDescribe('v1.2.3+vendor.1-2-g0123456789abcd'), 'v1.2.3+vendor.1-2-g0123456789abcd');
});

test('gitVersion: tag, one commit after, untracked file, no tag, not a repository', async () => {
  const repo = tempDir('krepro-version-');
  writeFileSync(path.join(repo, 'a'), 'a\n');
  git(repo, 'init', '-q');
  git(repo, 'add', '-A');
  git(repo, 'commit', '-q', '-m', 'one');
  const head1 = git(repo, 'rev-parse', 'HEAD').trim();
  assert.is(await gitVersion(repo), `v0.0.0-master+${head1.slice(0, 14)}`);
  git(repo, 'tag', 'v1.2.3');
  assert.is(await gitVersion(repo), 'v1.2.3');
  writeFileSync(path.join(repo, 'b'), 'b\n');
  git(repo, 'add', '-A');
  git(repo, 'commit', '-q', '-m', 'two');
  const v = await gitVersion(repo);
  assert.match(v, /^v1\.2\.3-1\+[0-9a-f]{14}$/);
  assert.is(v.slice(-14), git(repo, 'rev-parse', 'HEAD').trim().slice(0, 14));
  writeFileSync(path.join(repo, 'untracked'), '');
  assert.is(await gitVersion(repo), `${v}-dirty`);
  const notRepo = tempDir('krepro-version-');
  await rejectsWith(gitVersion(notRepo), 'E_GIT', notRepo);
});

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString();
    callback();
  }
}

test('krepro stage: version from git, --json prints the StageResult, summary on stderr', async () => {
  const dir = tempDir('krepro-stage-');
  makeBinDir(path.join(dir, 'src', '_output', 'dockerized', 'bin'));
  const source = makeSource(path.join(dir, 'src'));
  git(source, 'tag', 'v1.31.0');
  const io = { env: {}, cwd: source, stdout: new Sink(), stderr: new Sink(), signal: new AbortController().signal };
  assert.is(await stageCommand(['--json'], io), 0, io.stderr.text);
  const result = JSON.parse(io.stdout.text) as StageResult;
  assert.is(result.stage, path.join(source, '_output', 'release-stage'));
  assert.is(result.version, 'v1.31.0');
  assert.is(readFileSync(path.join(result.stage, 'full/kubernetes/version'), 'utf8'), 'v1.31.0\n');
  assert.equal(result.ignored, ['linux/amd64/gendocs']);
  assert.match(io.stderr.text, /staged v1\.31\.0 \(from git\) into _output\/release-stage: 4 platforms/);
  assert.match(io.stderr.text, /\n  linux-amd64 +client 2, server 12, node 6, test 5\n/);
  assert.match(io.stderr.text, /ignored 1 path of the bin directory in no target list: linux\/amd64\/gendocs/);

  const help = { ...io, stdout: new Sink() };
  assert.is(await stageCommand(['--help'], help), 0);
  assert.match(help.stdout.text, /^Usage: krepro stage \[options\]/);
  assert.is(await stageCommand(['--version', ''], { ...io, stderr: new Sink() }), 2);
});

test.run();
