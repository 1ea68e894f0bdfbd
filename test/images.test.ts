import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, cpSync, createReadStream, createWriteStream, existsSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import { imagesCommand } from '../cli/images.js';
import { makeBaseImage } from '../lib/api/engine.js';
import { isKreproError, packageRelease } from '../lib/index.js';
import { writeServerImages } from '../lib/image/server-images.js';
import { writeImage, type WriteImageOptions, type WrittenImage } from '../lib/image/write-image.js';
import { debianNodeImage, engineOrSkip, runInContainer } from './helpers/engine.js';
import { FIXTURE_STAGE, FIXTURES, materializeStage, tempDir } from './helpers/stage.js';
import { testWhen } from './helpers/skip.js';
import { tarMembers } from './helpers/extract.js';

// Release images written without a daemon: byte-identical from the same inputs, loadable by Docker 20.10 and read
// by skopeo. The fake binary of the fixture stage serves where nothing runs it; the engine tests build the fixture
// project's real (static) kube-apiserver.
const SDE = 1700000000;
const ROOT = path.resolve('.');
const FAKE_BINARY = path.join(FIXTURE_STAGE, 'server/linux-amd64/kubernetes/server/bin/kube-apiserver');
const TEST_REGISTRY = 'krepro-test.invalid';
/** The fake binary as a scratch image for linux/amd64 at SDE; a change here is a change of every release's bytes. */
const GOLDEN = {
  imageId: 'sha256:645439bd58fef08de5c40288445177ebe1a8dbb9920cc74adcb8ee8d6bfa0fe5',
  tarSha256: 'f5b079b8eb39adfbb1e59f7f796201bee86ca0b5f73f7f0de1d9aff5e5c2ae8a',
};

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

function options(over: Partial<WriteImageOptions> & { dest: string }): WriteImageOptions {
  return { binaryPath: FAKE_BINARY, binaryName: 'kube-apiserver', base: 'scratch', os: 'linux', arch: 'amd64', created: SDE, repoTag: `${TEST_REGISTRY}/kube-apiserver-amd64:v1.31.0`, ...over };
}

function json(m: Map<string, { body: Buffer }>, name: string): any {
  const member = m.get(name);
  assert.ok(member, `${name} is in the archive`);
  return JSON.parse(member.body.toString('utf8'));
}

async function writeTar(dest: string, files: { name: string; body?: Buffer; linkname?: string }[]): Promise<string> {
  const pack = tar.pack();
  const out = pipeline(pack as unknown as Readable, createWriteStream(dest));
  for (const f of files) {
    if (f.linkname !== undefined) pack.entry({ name: f.name, type: 'symlink', linkname: f.linkname, mtime: new Date(0) });
    else pack.entry({ name: f.name, mtime: new Date(0) }, f.body!);
  }
  pack.finalize();
  await out;
  return dest;
}

async function rejectsWith(promise: Promise<unknown>, code: string, pattern: RegExp): Promise<void> {
  try {
    await promise;
  } catch (err) {
    assert.ok(isKreproError(err), `a KreproError, got ${String(err)}`);
    assert.is(err.code, code, err.message);
    assert.match(err.message, pattern);
    return;
  }
  assert.unreachable(`expected ${code} ${pattern}`);
}

test('the same binary gives the same tarball and image ID, whatever its mode, mtime, directory or the umask and TZ', async () => {
  const dir = tempDir();
  const first = await writeImage(options({ dest: path.join(dir, 'a/kube-apiserver.tar') }));
  const copy = path.join(dir, 'elsewhere/bin/kube-apiserver');
  execFileSync('mkdir', ['-p', path.dirname(copy)]);
  copyFileSync(FAKE_BINARY, copy);
  chmodSync(copy, 0o700);
  utimesSync(copy, new Date('2001-02-03T04:05:06Z'), new Date('2001-02-03T04:05:06Z'));
  const oldUmask = process.umask(0o077);
  const oldTz = process.env['TZ'];
  process.env['TZ'] = 'Pacific/Chatham';
  let second: WrittenImage;
  try {
    second = await writeImage(options({ binaryPath: copy, dest: path.join(dir, 'b/kube-apiserver.tar') }));
  } finally {
    process.umask(oldUmask);
    if (oldTz === undefined) delete process.env['TZ'];
    else process.env['TZ'] = oldTz;
  }
  assert.is(second.imageId, first.imageId);
  assert.is(second.digest, first.digest);
  assert.is(sha256(second.path), sha256(first.path));
  assert.is(first.digest, `sha256:${sha256(first.path)}`);
  assert.equal({ imageId: first.imageId, tarSha256: sha256(first.path) }, GOLDEN);
});

test('layout: docker-archive manifest.json and repositories plus an OCI index over the same blobs, normalized members', async () => {
  const dir = tempDir();
  const image = await writeImage(options({ dest: path.join(dir, 'kube-apiserver.tar') }));
  const m = await tarMembers(image.path);
  assert.equal([...m.keys()], [
    'blobs/',
    'blobs/sha256/',
    ...[image.diffIds[0]!, image.imageId, image.manifestDigest].map((d) => `blobs/sha256/${d.slice(7)}`).sort(),
    'index.json',
    'manifest.json',
    'oci-layout',
    'repositories',
  ]);
  for (const { header } of m.values()) {
    assert.equal([header.uid, header.gid, header.uname, header.gname, header.mtime.getTime() / 1000], [0, 0, 'root', 'root', SDE], header.name);
  }
  const repoTag = `${TEST_REGISTRY}/kube-apiserver-amd64:v1.31.0`;
  assert.equal(json(m, 'manifest.json'), [{ Config: `blobs/sha256/${image.imageId.slice(7)}`, Layers: [`blobs/sha256/${image.diffIds[0]!.slice(7)}`], RepoTags: [repoTag] }]);
  assert.equal(json(m, 'repositories'), { [`${TEST_REGISTRY}/kube-apiserver-amd64`]: { 'v1.31.0': image.diffIds[0]!.slice(7) } });
  assert.equal(json(m, 'oci-layout'), { imageLayoutVersion: '1.0.0' });
  const index = json(m, 'index.json');
  assert.is(index.manifests[0].digest, image.manifestDigest);
  assert.equal(index.manifests[0].annotations, { 'io.containerd.image.name': repoTag, 'org.opencontainers.image.ref.name': 'v1.31.0' });
  const config = json(m, `blobs/sha256/${image.imageId.slice(7)}`);
  assert.equal(config, {
    architecture: 'amd64',
    config: { Entrypoint: ['/usr/local/bin/kube-apiserver'] },
    created: '2023-11-14T22:13:20Z',
    history: [{ created: '2023-11-14T22:13:20Z', created_by: 'COPY kube-apiserver /usr/local/bin/kube-apiserver # krepro' }],
    os: 'linux',
    rootfs: { diff_ids: image.diffIds, type: 'layers' },
  });
  const rawConfig = m.get(`blobs/sha256/${image.imageId.slice(7)}`)!.body.toString();
  assert.ok(rawConfig.startsWith('{"architecture":"amd64","config":'), 'keys are sorted, no whitespace');
  const layerFile = path.join(dir, 'layer.tar');
  writeFileSync(layerFile, m.get(`blobs/sha256/${image.diffIds[0]!.slice(7)}`)!.body);
  const layer = await tarMembers(layerFile);
  assert.equal([...layer.keys()], ['usr/', 'usr/local/', 'usr/local/bin/', 'usr/local/bin/kube-apiserver']);
  assert.is(layer.get('usr/local/bin/kube-apiserver')!.header.mode, 0o755);
  assert.ok(layer.get('usr/local/bin/kube-apiserver')!.body.equals(readFileSync(FAKE_BINARY)));
});

test('a base from a docker-archive: layers reused in order, the same result from the Docker 25 layout and from a gzip/symlink Docker 20.10 layout', async () => {
  const dir = tempDir();
  const base = await writeImage(options({ binaryName: 'base-tool', dest: path.join(dir, 'base.tar') }));
  const on = (tarball: string, dest: string) => writeImage(options({ base: { tarball }, dest: path.join(dir, dest) }));
  const fromNew = await on(base.path, 'on-new.tar');
  assert.equal(fromNew.diffIds.slice(0, 1), base.diffIds);
  assert.is(fromNew.diffIds.length, 2);
  const config = json(await tarMembers(fromNew.path), `blobs/sha256/${fromNew.imageId.slice(7)}`);
  assert.equal(config.config, { Entrypoint: ['/usr/local/bin/kube-apiserver'] });
  assert.is(config.history.length, 2);

  // The same base as Docker 20.10's `docker save` lays it out, with its layer gzip-compressed.
  const m = await tarMembers(base.path);
  const configBytes = m.get(`blobs/sha256/${base.imageId.slice(7)}`)!.body;
  const layerBytes = m.get(`blobs/sha256/${base.diffIds[0]!.slice(7)}`)!.body;
  const legacy = await writeTar(path.join(dir, 'legacy.tar'), [
    { name: `${base.imageId.slice(7)}.json`, body: configBytes },
    { name: 'aaaa/layer.tar', body: gzipSync(layerBytes) },
    { name: 'manifest.json', body: Buffer.from(JSON.stringify([{ Config: `${base.imageId.slice(7)}.json`, RepoTags: ['base:1'], Layers: ['aaaa/layer.tar'] }])) },
  ]);
  const fromLegacy = await on(legacy, 'on-legacy.tar');
  assert.is(sha256(fromLegacy.path), sha256(fromNew.path), 'the base is its content, not its packaging');

  // A layer listed twice, the second time through a symlink, as Docker 20.10 saves a repeated layer.
  const twice = JSON.parse(configBytes.toString());
  twice.rootfs.diff_ids = [base.diffIds[0], base.diffIds[0]];
  const dup = await writeTar(path.join(dir, 'dup.tar'), [
    { name: 'config.json', body: Buffer.from(JSON.stringify(twice)) },
    { name: 'aaaa/layer.tar', body: layerBytes },
    { name: 'bbbb/layer.tar', linkname: '../aaaa/layer.tar' },
    { name: 'manifest.json', body: Buffer.from(JSON.stringify([{ Config: 'config.json', Layers: ['aaaa/layer.tar', 'bbbb/layer.tar'] }])) },
  ]);
  const fromDup = await on(dup, 'on-dup.tar');
  assert.equal(fromDup.diffIds.slice(0, 2), [base.diffIds[0], base.diffIds[0]]);
  const layers = json(await tarMembers(fromDup.path), 'manifest.json')[0].Layers;
  assert.is(layers[0], layers[1]);
});

test('errors name what is wrong: base architecture, media type, compression, missing binary, bad tag', async () => {
  const dir = tempDir();
  const arm = await writeImage(options({ arch: 'arm64', repoTag: `${TEST_REGISTRY}/base-arm64:1`, dest: path.join(dir, 'arm.tar') }));
  await rejectsWith(writeImage(options({ base: { tarball: arm.path }, dest: path.join(dir, 'x.tar') })), 'E_BASE_IMAGE', /arm\.tar is for linux\/arm64, not linux\/amd64/);
  assert.not.ok(existsSync(path.join(dir, 'x.tar')), 'nothing written');

  const m = await tarMembers(arm.path);
  const files = [...m].filter(([name]) => !name.endsWith('/')).map(([name, { body }]) => ({ name, body }));
  const manifestName = `blobs/sha256/${arm.manifestDigest.slice(7)}`;
  const zstdManifest = json(m, manifestName);
  zstdManifest.layers[0].mediaType = 'application/vnd.oci.image.layer.v1.tar+zstd';
  const zstdTar = await writeTar(path.join(dir, 'zstd-type.tar'), files.map((f) => (f.name === manifestName ? { name: f.name, body: Buffer.from(JSON.stringify(zstdManifest)) } : f)));
  await rejectsWith(writeImage(options({ arch: 'arm64', base: { tarball: zstdTar }, dest: path.join(dir, 'x.tar') })), 'E_BASE_IMAGE', /unsupported media type "application\/vnd\.oci\.image\.layer\.v1\.tar\+zstd" for layer 1/);

  const layerName = `blobs/sha256/${arm.diffIds[0]!.slice(7)}`;
  const zstdBytes = await writeTar(path.join(dir, 'zstd-bytes.tar'), files.filter((f) => f.name !== 'index.json').map((f) => (f.name === layerName ? { name: f.name, body: Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]) } : f)));
  await rejectsWith(writeImage(options({ arch: 'arm64', base: { tarball: zstdBytes }, dest: path.join(dir, 'x.tar') })), 'E_BASE_IMAGE', /compressed with zstd/);

  await rejectsWith(writeImage(options({ base: { tarball: path.join(dir, 'nope.tar') }, dest: path.join(dir, 'x.tar') })), 'E_BASE_IMAGE', /nope\.tar does not exist/);
  await rejectsWith(writeImage(options({ binaryPath: path.join(dir, 'missing'), dest: path.join(dir, 'x.tar') })), 'E_STAGE', /missing does not exist/);
  await rejectsWith(writeImage(options({ repoTag: 'Registry.Invalid/UPPER:1', dest: path.join(dir, 'x.tar') })), 'E_USAGE', /invalid repository name/);

  const stage = materializeStage(path.join(dir, 'stage'));
  await rejectsWith(writeServerImages({ stage, version: 'v1.31.0', sourceDateEpoch: SDE }), 'E_STAGE', /kube-controller-manager image for linux-amd64: .*server\/bin\/kube-controller-manager does not exist/);
  await rejectsWith(writeServerImages({ stage, version: 'v1.31.0+a+b', sourceDateEpoch: SDE, binaries: ['kube-apiserver'] }), 'E_USAGE', /Docker tag "v1\.31\.0_a\+b"/);
  await rejectsWith(writeServerImages({ stage, version: 'v1', sourceDateEpoch: SDE, platforms: ['linux/arm64'] }), 'E_STAGE', /no server tarball staged for linux-arm64/);
});

test('server images go into the stage and the server tarball, which stays reproducible; krepro images agrees under another umask and TZ', async () => {
  const dir = tempDir();
  const sums: string[] = [];
  for (const [i, conditions] of [{}, { umask: 0o027, reverse: true, mtime: new Date('2010-01-01T00:00:00Z') }].entries()) {
    const stage = materializeStage(path.join(dir, `stage${i}`), conditions);
    const images = await writeServerImages({ stage, binaries: ['kube-apiserver', 'kube-scheduler'], version: 'v1.31.0-krepro.0+0123456789abcd', sourceDateEpoch: SDE });
    assert.equal(images.map((m) => m.repoTag), ['registry.k8s.io/kube-apiserver-amd64:v1.31.0-krepro.0_0123456789abcd', 'registry.k8s.io/kube-scheduler-amd64:v1.31.0-krepro.0_0123456789abcd']);
    const bin = path.join(stage, 'server/linux-amd64/kubernetes/server/bin');
    assert.is(readFileSync(path.join(bin, 'kube-scheduler.docker_tag'), 'utf8'), 'v1.31.0-krepro.0_0123456789abcd\n');
    const result = await packageRelease({ stage, out: path.join(dir, `out${i}`), sourceDateEpoch: SDE });
    sums.push(readFileSync(path.join(result.out, 'SHA256SUMS'), 'utf8'));
    const listing = execFileSync('tar', ['tzf', path.join(result.out, 'kubernetes-server-linux-amd64.tar.gz')], { encoding: 'utf8' });
    for (const f of ['kube-apiserver.tar', 'kube-apiserver.docker_tag', 'kube-scheduler.tar', 'kube-scheduler.docker_tag']) assert.match(listing, `kubernetes/server/bin/${f}\n`);
    assert.not.match(listing, /partial/);
  }
  assert.is(sums[1], sums[0]);

  const stage = materializeStage(path.join(dir, 'cli-stage'), { umask: 0o077 });
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const oldTz = process.env['TZ'];
  process.env['TZ'] = 'Asia/Kathmandu';
  const code = await imagesCommand(['--stage', stage, '--binaries', 'kube-apiserver,kube-scheduler', '--json'], {
    env: { SOURCE_DATE_EPOCH: String(SDE), KUBE_DOCKER_REGISTRY: 'registry.k8s.io' },
    cwd: dir,
    stdout: out,
    stderr: new PassThrough(),
    signal: new AbortController().signal,
  }).finally(() => {
    if (oldTz === undefined) delete process.env['TZ'];
    else process.env['TZ'] = oldTz;
  });
  assert.is(code, 0);
  const printed = JSON.parse(Buffer.concat(chunks).toString()) as { images: { binary: string; path: string; digest: string; dockerTag: string }[] };
  assert.equal(printed.images.map((m) => m.dockerTag), ['v1.31.0-krepro.0_0123456789abcd', 'v1.31.0-krepro.0_0123456789abcd'], 'the tag comes from full/kubernetes/version');
  for (const image of printed.images) assert.is(sha256(image.path), sha256(path.join(dir, 'stage0/server/linux-amd64/kubernetes/server/bin', `${image.binary}.tar`)));
});

test('krepro images --help exits 0; an unknown option is a parse error for main to turn into exit 2', async () => {
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  const io = { env: {}, cwd: ROOT, stdout: out, stderr: new PassThrough(), signal: new AbortController().signal };
  assert.is(await imagesCommand(['--help'], io), 0);
  assert.match(text, 'Usage: krepro images');
  try {
    await imagesCommand(['--bogus'], io);
    assert.unreachable('parseArgs rejects --bogus');
  } catch (err) {
    assert.match(String((err as { code?: string }).code), /^ERR_PARSE_ARGS/);
  }
});

const skopeo = spawnSync('skopeo', ['--version'], { encoding: 'utf8' }).status === 0;
testWhen(skopeo ? undefined : 'skopeo is not installed; apt-get install skopeo', 'skopeo reads it as docker-archive: and as oci-archive:', async () => {
  const image = await writeImage(options({ dest: path.join(tempDir(), 'kube-apiserver.tar') }));
  for (const transport of ['docker-archive', 'oci-archive']) {
    const r = spawnSync('skopeo', ['inspect', `${transport}:${image.path}`], { encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    const inspected = JSON.parse(r.stdout) as { Architecture: string; Os: string; Created: string; Layers: string[]; Digest: string };
    assert.equal([inspected.Architecture, inspected.Os, inspected.Created, inspected.Layers], ['amd64', 'linux', '2023-11-14T22:13:20Z', image.diffIds], transport);
    if (transport === 'oci-archive') assert.is(inspected.Digest, image.manifestDigest);
  }
});

const docker = await engineOrSkip();

if (docker) {
  const CLI = path.resolve('dist/cli/main.js');
  const BASE = 'krepro-base:trixie';
  const loaded: string[] = [];
  let checkoutDir = '';
  /** The fixture project's kube-apiserver, a static Go binary built by `make cross` in the build container. */
  let realBinary = '';

  test.before(async () => {
    await makeBaseImage(docker, { suite: 'trixie', tag: BASE, workDir: '/var/tmp' });
    checkoutDir = tempDir('krepro-images-checkout-');
    cpSync(path.join(FIXTURES, 'kube-like'), checkoutDir, { recursive: true });
    const env = { ...process.env, GIT_AUTHOR_DATE: `@${SDE} +0000`, GIT_COMMITTER_DATE: `@${SDE} +0000`, GIT_AUTHOR_NAME: 'k', GIT_AUTHOR_EMAIL: 'k@x.invalid', GIT_COMMITTER_NAME: 'k', GIT_COMMITTER_EMAIL: 'k@x.invalid' };
    for (const args of [['init', '-q', '-b', 'main'], ['add', '-A'], ['commit', '-q', '-m', 'fixture'], ['tag', 'v1.31.0']]) execFileSync('git', args, { cwd: checkoutDir, env });
    const r = spawnSync(process.execPath, [CLI, 'run', '--', 'make', 'cross', 'KUBE_BUILD_PLATFORMS=linux/amd64', 'WHAT=cmd/kube-apiserver'], { cwd: checkoutDir, encoding: 'utf8', timeout: 900_000 });
    assert.is(r.status, 0, r.stderr);
    realBinary = path.join(checkoutDir, '_output/dockerized/bin/linux/amd64/kube-apiserver');
  });

  test.after(async () => {
    for (const tag of loaded) await docker.images.remove(tag).catch(() => {});
    if (checkoutDir) {
      spawnSync(process.execPath, [CLI, 'clean'], { cwd: checkoutDir });
      rmSync(checkoutDir, { recursive: true, force: true });
    }
  });

  /** `docker load` through the Engine API; returns the ID the engine gives the tag. */
  async function load(image: WrittenImage): Promise<string> {
    await docker!.images.load(createReadStream(image.path));
    loaded.push(image.repoTag);
    return (await docker!.images.inspect(image.repoTag))!.id;
  }

  test('Docker 20.10 loads the scratch image with the reported ID, and running it prints the binary version', async () => {
    const image = await writeImage(options({ binaryPath: realBinary, repoTag: `${TEST_REGISTRY}/kube-apiserver-amd64:scratch`, dest: path.join(tempDir(), 'kube-apiserver.tar') }));
    assert.is(await load(image), image.imageId);
    const r = await runInContainer(docker, { image: image.repoTag, cmd: ['--version'], binds: [] });
    assert.is(r.exitCode, 0, r.stderr);
    assert.is(r.stdout, 'kube-apiserver v1.31.0 2023-11-14T22:13:20Z\n');
  });

  test('on a base saved by this engine (Docker 20.10 layout): loads with the reported ID and runs; twice the same bytes', async () => {
    const dir = tempDir();
    const saved = path.join(dir, 'base.tar');
    await pipeline(await docker.images.save(BASE), createWriteStream(saved));
    const write = (dest: string) => writeImage(options({ binaryPath: realBinary, base: { tarball: saved }, repoTag: `${TEST_REGISTRY}/kube-apiserver-amd64:on-debian`, dest: path.join(dir, dest) }));
    const image = await write('a.tar');
    assert.is(sha256((await write('b.tar')).path), sha256(image.path));
    assert.is(image.diffIds.length, (await docker.images.inspect(BASE))!.layers.length + 1);
    assert.is(await load(image), image.imageId);
    const r = await runInContainer(docker, { image: image.repoTag, cmd: ['--version'], binds: [] });
    assert.is(r.stdout, 'kube-apiserver v1.31.0 2023-11-14T22:13:20Z\n', r.stderr);
    rmSync(dir, { recursive: true, force: true }); // three copies of a Debian image
  });

  test("Debian's nodejs in a container writes the same image bytes", async () => {
    const image = await debianNodeImage(docker);
    const dir = tempDir();
    copyFileSync(FAKE_BINARY, path.join(dir, 'kube-apiserver'));
    const host = await writeImage(options({ dest: path.join(dir, 'host.tar') }));
    const script = `const { writeImage } = await import('/krepro/dist/lib/image/write-image.js');
const r = await writeImage({ binaryPath: '/w/kube-apiserver', binaryName: 'kube-apiserver', base: 'scratch', os: 'linux', arch: 'amd64', created: ${SDE}, repoTag: '${TEST_REGISTRY}/kube-apiserver-amd64:v1.31.0', dest: '/w/debian.tar' });
console.log(process.versions.node, r.imageId, r.digest);`;
    const r = await runInContainer(docker, { image, cmd: ['node', '--input-type=module', '-e', script], binds: [`${ROOT}:/krepro:ro`, `${dir}:/w`], env: ['TZ=America/St_Johns'] });
    assert.is(r.exitCode, 0, r.stderr);
    const [, imageId, digest] = r.stdout.trim().split(' ');
    assert.equal([imageId, digest], [host.imageId, host.digest]);
    assert.is(sha256(path.join(dir, 'debian.tar')), sha256(host.path));
  });
}

test.run();
