import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { BUNDLE_FILE } from '../lib/api/attest.js';
import { allFindings, renderDiffText } from '../lib/api/diff.js';
import { ATTESTATION_FILE, diff, isKreproError, loadVerifyingKey, verifyAttestationFile } from '../lib/index.js';
import { writeImageIndex } from '../lib/image/image-index.js';
import { engineOrSkip } from './helpers/engine.js';
import { tarMembers } from './helpers/extract.js';
import { IMAGE_BINARIES, IMAGE_REGISTRY, multiPlatformRelease, SDE } from './helpers/multi-platform.js';
import { tempDir } from './helpers/stage.js';
import { suiteWhen, testWhen } from './helpers/skip.js';

// Multi-platform server images: an OCI image layout per image, whose index.json leads to an image index of the
// per-platform manifests, written beside the release tarballs from the per-platform docker-archives in the stage.
const release = multiPlatformRelease;
const REGISTRY = IMAGE_REGISTRY;
const BINARIES = IMAGE_BINARIES;

interface Layout {
  members: Map<string, { header: tar.Header; body: Buffer }>;
  json(name: string): any;
  blob(digest: string): any;
}

async function readLayout(file: string): Promise<Layout> {
  const members = await tarMembers(file);
  const json = (name: string) => JSON.parse(members.get(name)!.body.toString('utf8'));
  return { members, json, blob: (digest: string) => json(`blobs/sha256/${digest.slice('sha256:'.length)}`) };
}

const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

function keyPair(dir: string): { priv: string; pub: string } {
  const priv = path.join(dir, 'release.pem');
  const pub = path.join(dir, 'release.pub');
  execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', priv]);
  execFileSync('openssl', ['pkey', '-in', priv, '-pubout', '-out', pub]);
  return { priv, pub };
}

test('an image index per multi-platform server image, beside the tarballs and in the sums, manifest and signed statement; the same bytes under another umask and file order', async () => {
  const dir = tempDir();
  const { priv, pub } = keyPair(dir);
  const a = await release(path.join(dir, 'a'), { signingKey: priv });
  const b = await release(path.join(dir, 'b'), { conditions: { umask: 0o027, reverse: true, mtime: new Date('2010-01-01T00:00:00Z') } });
  const names = BINARIES.map((bin) => `${bin}.oci.tar`);
  assert.equal(
    a.result.tarballs.filter((t) => t.kind === 'image-index').map((t) => t.name),
    names,
  );
  for (const name of names) {
    assert.is(sha256(path.join(b.result.out, name)), sha256(path.join(a.result.out, name)), `${name} is byte-identical`);
    const hex = sha256(path.join(a.result.out, name));
    assert.match(readFileSync(path.join(a.result.out, 'SHA256SUMS'), 'utf8'), `${hex}  ${name}\n`);
    assert.ok(a.result.manifest.files.some((f) => f.name === name), `${name} is in krepro-manifest.json`);
  }
  // Named in the signed statement, both forms of it.
  const key = await loadVerifyingKey(pub);
  for (const file of [ATTESTATION_FILE, BUNDLE_FILE]) {
    const checked = await verifyAttestationFile(path.join(a.result.out, file), key);
    assert.ok(checked.valid, file);
    const subjects = checked.lines[0]!.statement!.subject;
    for (const name of names) assert.equal(subjects.find((s) => s.name === name)?.digest.sha256, sha256(path.join(a.result.out, name)), `${name} in ${file}`);
  }
  // The per-platform docker-archives stay in the server tarballs as they were.
  const listing = execFileSync('tar', ['tzf', path.join(a.result.out, 'kubernetes-server-linux-arm64.tar.gz')], { encoding: 'utf8' });
  assert.match(listing, 'kubernetes/server/bin/kube-apiserver.tar\n');

  const layout = await readLayout(path.join(a.result.out, 'kube-apiserver.oci.tar'));
  for (const [name, m] of layout.members) {
    assert.equal([m.header.mtime?.getTime(), m.header.uid, m.header.gid, m.header.uname, m.header.gname], [SDE * 1000, 0, 0, 'root', 'root'], name);
  }
  assert.equal(layout.json('oci-layout'), { imageLayoutVersion: '1.0.0' });
  const top = layout.json('index.json');
  assert.is(top.manifests.length, 1);
  assert.equal(top.manifests[0].annotations, { 'io.containerd.image.name': `${REGISTRY}/kube-apiserver:v1.31.0`, 'org.opencontainers.image.ref.name': 'v1.31.0' });
  assert.is(top.manifests[0].mediaType, 'application/vnd.oci.image.index.v1+json');
  const index = layout.blob(top.manifests[0].digest);
  assert.equal(index.annotations, { 'org.opencontainers.image.created': '2023-11-14T22:13:20Z' });
  assert.equal(index.manifests.map((m: { platform: unknown }) => m.platform), [{ architecture: 'amd64', os: 'linux' }, { architecture: 'arm64', os: 'linux' }]);
  // Each entry is the very manifest of the per-platform image: the same digest, whose config is its image ID.
  for (const [i, platform] of ['linux-amd64', 'linux-arm64'].entries()) {
    const image = a.images.find((m) => m.binary === 'kube-apiserver' && m.platform === platform)!;
    assert.is(index.manifests[i].digest, image.manifestDigest, platform);
    assert.is(layout.blob(image.manifestDigest).config.digest, image.imageId, platform);
  }
  // Nothing else: seven blobs (index, two manifests, configs and layers), no temporary file left beside the release.
  assert.is(layout.members.size, 2 + 7 + 2);
  assert.not.ok(readdirSync(a.result.out).some((f) => f.includes('partial')));
});

test('krepro diff explains a change in one platform of an index down to the file in its layer', async () => {
  const dir = tempDir();
  const a = await release(path.join(dir, 'a'));
  const b = await release(path.join(dir, 'b'), { change: '-not-reproducible' });
  const report = await diff(path.join(a.result.out, 'kube-apiserver.oci.tar'), path.join(b.result.out, 'kube-apiserver.oci.tar'));
  const text = renderDiffText(report);
  assert.match(text, /image index: linux\/arm64: layer 1 of 1, paired by its role/);
  assert.match(text, /usr\/local\/bin\/kube-apiserver/);
  assert.not.match(text, /linux\/amd64/, 'the amd64 image is the same on both sides');
  const content = allFindings(report.tree).filter((f) => f.cause === 'content');
  assert.ok(content.length > 0 && content.every((f) => f.path.at(-1) === 'usr/local/bin/kube-apiserver'), JSON.stringify(content.map((f) => f.path)));
  // The other image did not change: the same bytes.
  assert.is(sha256(path.join(b.result.out, 'kube-scheduler.oci.tar')), sha256(path.join(a.result.out, 'kube-scheduler.oci.tar')));
});

test('errors name the image: a platform staged under another name, images of different names, one platform twice', async () => {
  const dir = tempDir();
  const { stage } = await release(path.join(dir, 'a'));
  const bin = (platform: string, name: string) => path.join(stage, 'server', platform, 'kubernetes/server/bin', name);
  const expect = async (images: Parameters<typeof writeImageIndex>[0]['images'], pattern: RegExp) => {
    try {
      await writeImageIndex({ images, dest: path.join(dir, 'x.oci.tar'), created: SDE });
      assert.unreachable('should have failed');
    } catch (err) {
      assert.ok(isKreproError(err) && err.code === 'E_STAGE', String(err));
      assert.match((err as Error).message, pattern);
    }
    assert.not.ok(readdirSync(dir).some((f) => f.startsWith('x.oci.tar') || f.startsWith('.x.oci.tar')), 'nothing left behind');
  };
  await expect([{ tarball: bin('linux-arm64', 'kube-apiserver.tar'), platform: 'linux-amd64' }], /kube-apiserver\.tar is for linux\/arm64, but it is staged for linux-amd64/);
  await expect([bin('linux-amd64', 'kube-apiserver.tar'), bin('linux-arm64', 'kube-scheduler.tar')], /do not name one multi-platform image \(krepro-test\.invalid\/kube-apiserver:v1\.31\.0 and krepro-test\.invalid\/kube-scheduler:v1\.31\.0\)/);
  await expect([bin('linux-amd64', 'kube-apiserver.tar'), bin('linux-amd64', 'kube-apiserver.tar')], /are both for linux\/amd64/);
  await expect([bin('linux-amd64', 'kube-apiserver.docker_tag')], /cannot be read as a tar archive|has no manifest\.json/);
  // A layer whose bytes are not the digest its manifest names (a damaged or altered image).
  const source = await readLayout(bin('linux-amd64', 'kube-apiserver.tar'));
  const layer = source.blob(source.json('index.json').manifests[0].digest).layers[0].digest.slice('sha256:'.length);
  const damaged = path.join(dir, 'damaged.tar');
  const pack = tar.pack();
  const written = pipeline(pack as unknown as NodeJS.ReadableStream, createWriteStream(damaged));
  for (const [name, m] of source.members) {
    const body = Buffer.from(m.body);
    if (name === `blobs/sha256/${layer}`) body[body.length - 1] ^= 0x01;
    if (m.header.type === 'file') pack.entry({ ...m.header, size: body.length }, body);
    else pack.entry(m.header);
  }
  pack.finalize();
  await written;
  await expect([damaged], new RegExp(`has blobs/sha256/${layer}, whose content is sha256:[0-9a-f]{64} \\(\\d+ bytes\\), not the sha256:${layer}`));
});

const skopeo = spawnSync('skopeo', ['--version'], { encoding: 'utf8' }).status === 0;
testWhen(skopeo ? undefined : 'skopeo is not installed (apt-get install skopeo)', "skopeo copies the index into an OCI directory and back, every digest kept (Debian's skopeo, --all --preserve-digests)", async () => {
  const dir = tempDir();
  const { result } = await release(dir);
  const archive = path.join(result.out, 'kube-apiserver.oci.tar');
  const ours = await readLayout(archive);
  const indexDigest = ours.json('index.json').manifests[0].digest as string;
  const run = (...args: string[]) => {
    const r = spawnSync('skopeo', args, { encoding: 'utf8' });
    assert.is(r.status, 0, `skopeo ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const ociDir = path.join(dir, 'oci-dir');
  const back = path.join(dir, 'back.oci.tar');
  run('copy', '--all', '--preserve-digests', `oci-archive:${archive}:v1.31.0`, `oci:${ociDir}:v1.31.0`);
  run('copy', '--all', '--preserve-digests', `oci:${ociDir}:v1.31.0`, `oci-archive:${back}:v1.31.0`);
  const blobs = (names: Iterable<string>) => [...names].filter((n) => /^blobs\/sha256\/./.test(n)).sort();
  assert.equal(readdirSync(path.join(ociDir, 'blobs/sha256')).map((h) => `blobs/sha256/${h}`).sort(), blobs(ours.members.keys()), 'the OCI directory holds exactly our blobs');
  const returned = await readLayout(back);
  assert.equal(blobs(returned.members.keys()), blobs(ours.members.keys()), 'and back: the same blobs');
  for (const name of blobs(ours.members.keys())) assert.ok(returned.members.get(name)!.body.equals(ours.members.get(name)!.body), name);
  assert.is(returned.json('index.json').manifests[0].digest, indexDigest);
  for (const file of [archive, back]) {
    assert.is(`sha256:${createHash('sha256').update(run('inspect', '--raw', `oci-archive:${file}:v1.31.0`)).digest('hex')}`, indexDigest, `skopeo inspect --raw ${path.basename(file)}`);
  }
  // skopeo picks each platform's image out of the index: its layers are that manifest's.
  for (const [arch, m] of [['amd64', 0], ['arm64', 1]] as const) {
    const inspected = JSON.parse(run('inspect', '--override-arch', arch, `oci-archive:${back}:v1.31.0`)) as { Architecture: string; Layers: string[] };
    const manifest = ours.blob(ours.blob(indexDigest).manifests[m].digest);
    assert.equal([inspected.Architecture, inspected.Layers], [arch, manifest.layers.map((l: { digest: string }) => l.digest)]);
  }
});

const docker = await engineOrSkip();
suiteWhen(docker, 'no Docker engine', (engine, t) => {
  const loaded: string[] = [];
  t.after(async () => {
    for (const tag of loaded) await engine.images.remove(tag).catch(() => {});
  });

  t("docker load of each per-platform tar gives the image ID the index names for that platform; the index of this engine's docker save of them is byte-identical", async () => {
    const dir = tempDir();
    // A tag unique to this run: the images go into the shared engine.
    const version = `v1.31.0-i24.${randomBytes(4).toString('hex')}`;
    const { images, result } = await release(dir, { version });
    const layout = await readLayout(path.join(result.out, 'kube-apiserver.oci.tar'));
    const index = layout.blob(layout.json('index.json').manifests[0].digest);
    const saved: string[] = [];
    for (const image of images.filter((m) => m.binary === 'kube-apiserver')) {
      await engine.images.load(createReadStream(image.path));
      loaded.push(image.repoTag);
      const id = (await engine.images.inspect(image.repoTag))!.id;
      const entry = index.manifests.find((m: { platform: { architecture: string } }) => m.platform.architecture === image.arch);
      assert.is(id, layout.blob(entry.digest).config.digest, `${image.platform}: docker load gives the config the index names`);
      // Docker 20.10 saves without an OCI manifest (manifest.json, <id>/layer.tar): the index is made from that too.
      const file = path.join(dir, `saved-${image.arch}.tar`);
      await pipeline(await engine.images.save(image.repoTag), createWriteStream(file));
      saved.push(file);
    }
    const again = await writeImageIndex({ images: saved, dest: path.join(dir, 'from-docker-save.oci.tar'), created: SDE });
    assert.is(sha256(again.path), sha256(path.join(result.out, 'kube-apiserver.oci.tar')), 'the same index from what the engine saved');
    assert.equal(again.images.map((m) => m.imageId), images.filter((m) => m.binary === 'kube-apiserver').map((m) => m.imageId));
  });
});

test.run();
