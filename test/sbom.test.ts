import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Ajv } from 'ajv';
import { releaseFromBinaries } from '../lib/release/from-binaries.js';
import { loadProject } from '../lib/api/release.js';
import { ATTESTATION_FILE, loadSigningKey, loadVerifyingKey, packageRelease, type PackageResult, verifyAttestationFile } from '../lib/index.js';
import { packagingFor } from '../lib/project/inputs.js';
import { parseGoMod, parseGoSum, parseModulesTxt, sourceModules } from '../lib/sbom/go-modules.js';
import { parseModinfo } from '../lib/sbom/go-buildinfo.js';
import { scanFile } from '../lib/sbom/scan.js';
import { cliEnv } from './helpers/cli.js';
import { binaryInSbom, checksum, GO_MISSING, goVersionM, related, type SpdxDoc } from './helpers/sbom.js';
import { IMAGE_BINARIES, multiPlatformRelease } from './helpers/multi-platform.js';
import { testWhen } from './helpers/skip.js';
import { FIXTURES, FIXTURE_STAGE, materializeStage, tempDir } from './helpers/stage.js';

// The SBOMs `package` and `release` write: valid SPDX 2.3, every artifact with sha256sum's digest, every module
// `go version -m` prints, the same bytes from two checkouts of one commit, and a changed module shown by diff.
const CLI = path.resolve('dist/cli/main.js');
const SDE = 1700000000;
// The SPDX project's schema, read where shared/data keeps it (never copied into the repository).
const SCHEMA = path.resolve('../shared/data/spdx-2.3/spdx-schema.json');
const validate = new Ajv({ strict: true, allErrors: true }).compile(JSON.parse(readFileSync(SCHEMA, 'utf8')) as object);
const GOCACHE = tempDir('krepro-sbom-gocache-');

type Doc = SpdxDoc;

function valid(file: string): Doc {
  const doc = JSON.parse(readFileSync(file, 'utf8')) as Doc;
  assert.ok(validate(doc), `${path.basename(file)}: ${JSON.stringify(validate.errors, null, 1)}`);
  return doc;
}

const sha256sum = (file: string) => execFileSync('sha256sum', [file], { encoding: 'utf8' }).split(' ')[0]!;

const GIT_ENV = { GIT_AUTHOR_DATE: `@${SDE} +0000`, GIT_COMMITTER_DATE: `@${SDE} +0000`, GIT_AUTHOR_NAME: 'k', GIT_AUTHOR_EMAIL: 'k@x.invalid', GIT_COMMITTER_NAME: 'k', GIT_COMMITTER_EMAIL: 'k@x.invalid' };
const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, env: { ...process.env, ...GIT_ENV }, encoding: 'utf8' });

/** A git checkout of the kube-like fixture (one commit), at a new path each time. */
function checkout(): string {
  const dir = tempDir('krepro-sbom-checkout-');
  cpSync(path.join(FIXTURES, 'kube-like'), dir, { recursive: true });
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'fixture');
  return dir;
}

/** What the fixture builds here, as `make cross` lays it out: Linux server, node and client, and clients for macOS and Windows. */
const BUILDS: [string, string[]][] = [
  ['linux/amd64', ['kubectl', 'kube-apiserver', 'kubelet']],
  ['darwin/arm64', ['kubectl']],
  ['windows/amd64', ['kubectl']],
];

/** Builds the fixture with the host's Go into _output/dockerized/bin/<os>/<arch>/ (vendored module, -trimpath). */
function build(dir: string): string[] {
  const out: string[] = [];
  for (const [platform, cmds] of BUILDS) {
    const [goos, goarch] = platform.split('/') as [string, string];
    const bin = path.join(dir, '_output', 'dockerized', 'bin', goos, goarch);
    execFileSync('go', ['build', '-trimpath', '-ldflags', '-s -w -buildid=', '-o', `${bin}/`, ...cmds.map((c) => `./cmd/${c}`)], {
      cwd: dir,
      env: { ...process.env, GOOS: goos, GOARCH: goarch, CGO_ENABLED: '0', GOFLAGS: '-mod=vendor', GOPROXY: 'off', GOCACHE, GOPATH: path.join(GOCACHE, 'gopath'), GOTOOLCHAIN: 'local' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    for (const c of cmds) out.push(path.join(bin, goos === 'windows' ? `${c}.exe` : c));
  }
  return out;
}

/** Builds and packs a checkout as `release` does after the build: stage, server images, package (with the source). */
async function release(dir: string): Promise<PackageResult> {
  const packaging = packagingFor(await loadProject(dir), {});
  return (await releaseFromBinaries({ outputDir: path.join(dir, '_output'), sourceRoot: dir, version: 'v1.31.0', sourceDateEpoch: SDE, packaging })).packaged;
}

let first: { dir: string; result: PackageResult; binaries: string[] } | undefined;
async function firstRelease() {
  if (!first) {
    const dir = checkout();
    const binaries = build(dir);
    first = { dir, binaries, result: await release(dir) };
  }
  return first;
}

testWhen(GO_MISSING, 'release SBOMs: valid SPDX 2.3; every artifact, image archive and binary with the digest sha256sum computes; every module go version -m prints', async () => {
  const { dir, result, binaries } = await firstRelease();
  const out = result.out;
  assert.equal(result.sboms.map((s) => s.name), ['kubernetes-source.spdx.json', 'kubernetes-release.spdx.json']);
  const source = valid(path.join(out, 'kubernetes-source.spdx.json'));
  const rel = valid(path.join(out, 'kubernetes-release.spdx.json'));

  // Every tarball: a package with sha256sum's and sha512sum's digest, described by the document.
  const tarballs = readdirSync(out).filter((f) => f.endsWith('.tar.gz'));
  assert.ok(tarballs.length >= 6, tarballs.join(' '));
  for (const name of tarballs) {
    const p = rel.packages.find((x) => x.name === name);
    assert.ok(p, `${name} is a package`);
    assert.is(checksum(p, 'SHA256'), sha256sum(path.join(out, name)), name);
    assert.is(checksum(p, 'SHA512'), execFileSync('sha512sum', [path.join(out, name)], { encoding: 'utf8' }).split(' ')[0], name);
    assert.ok(related(rel, 'SPDXRef-DOCUMENT', 'DESCRIBES').includes(p.SPDXID));
    assert.ok(related(rel, p.SPDXID, 'GENERATED_FROM').includes('SPDXRef-Package-source'), name);
  }
  // The image archive in the server tarball, and the binary in its layer.
  const imageFile = path.join(dir, '_output', 'release-stage', 'server', 'linux-amd64', 'kubernetes', 'server', 'bin', 'kube-apiserver.tar');
  const image = rel.packages.find((p) => p.primaryPackagePurpose === 'CONTAINER');
  assert.ok(image, 'the kube-apiserver image is a package');
  assert.is(image.name, 'kube-apiserver.tar');
  assert.is(checksum(image, 'SHA256'), sha256sum(imageFile));
  const server = rel.packages.find((p) => p.name === 'kubernetes-server-linux-amd64.tar.gz')!;
  assert.ok(related(rel, server.SPDXID, 'CONTAINS').includes(image.SPDXID));

  // Every binary built: one package with its sha256sum digest, contained where it is, and go version -m's modules.
  for (const file of binaries) {
    const digest = sha256sum(file);
    const bins = rel.packages.filter((p) => checksum(p, 'SHA256') === digest);
    assert.is(bins.length, 1, `${file}: one package`);
    const bin = bins[0]!;
    assert.is(bin.name, path.basename(file));
    assert.is(bin.primaryPackagePurpose, 'APPLICATION');
    assert.ok(rel.relationships.some((r) => r.relationshipType === 'CONTAINS' && r.relatedSpdxElement === bin.SPDXID), `${file} is contained`);
    assert.ok(related(rel, bin.SPDXID, 'GENERATED_FROM').includes('SPDXRef-Package-source'));
    const m = goVersionM(file);
    const inSbom = binaryInSbom(rel, file);
    assert.equal(inSbom.deps, m.deps, file);
    assert.equal(inSbom.go, [m.go], file);
    assert.match(bin.comment!, `built by Go ${m.go}`);
  }
  // kubectl (in the client, server and node tarballs, and for three platforms) uses the vendored module; the
  // apiserver's image holds the same bytes as server/bin/kube-apiserver.
  const kubectls = binaries.filter((b) => /kubectl(\.exe)?$/.test(b));
  assert.is(kubectls.length, 3);
  for (const k of kubectls) assert.equal(goVersionM(k).deps, ['example.com/greeting@v0.1.0']);
  const apiserver = rel.packages.find((p) => checksum(p, 'SHA256') === sha256sum(path.join(dir, '_output/dockerized/bin/linux/amd64/kube-apiserver')))!;
  assert.ok(related(rel, image.SPDXID, 'CONTAINS').includes(apiserver.SPDXID));
  assert.equal(rel.packages.filter((p) => p.comment?.includes('Mach-O')).length, 1);
  assert.equal(rel.packages.filter((p) => p.comment?.includes('PE executable')).length, 1);

  // The module: one package in each document, with its declared licence; the source has it vendored.
  const mod = rel.packages.find((p) => p.name === 'example.com/greeting')!;
  assert.is(mod.versionInfo, 'v0.1.0');
  assert.is(mod.licenseDeclared, 'Apache-2.0');
  assert.is(mod.externalRefs?.[0]?.referenceLocator, 'pkg:golang/example.com/greeting@v0.1.0');
  const srcMod = source.packages.find((p) => p.name === 'example.com/greeting')!;
  assert.equal([srcMod.versionInfo, srcMod.licenseDeclared, srcMod.packageFileName], ['v0.1.0', 'Apache-2.0', 'vendor/example.com/greeting']);
  assert.equal(related(source, 'SPDXRef-Package-source', 'DEPENDS_ON'), [srcMod.SPDXID]);

  // Namespaces and times from the commit and SOURCE_DATE_EPOCH; the release names the source document by its SHA-1.
  const commit = git(dir, 'rev-parse', 'HEAD').trim();
  assert.match(source.documentNamespace, `https://krepro.dev/spdx/kubernetes-source/${commit}-`);
  assert.match(rel.documentNamespace, `https://krepro.dev/spdx/kubernetes-release/${commit}-`);
  assert.is(rel.creationInfo.created, '2023-11-14T22:13:20Z');
  assert.equal(rel.packages.find((p) => p.SPDXID === 'SPDXRef-Package-source'), source.packages.find((p) => p.SPDXID === 'SPDXRef-Package-source'));
  const ref = rel.externalDocumentRefs![0]!;
  assert.is(ref.spdxDocument, source.documentNamespace);
  assert.is(ref.checksum.checksumValue, execFileSync('sha1sum', [path.join(out, 'kubernetes-source.spdx.json')], { encoding: 'utf8' }).split(' ')[0]);

  // In the sums and the manifest like every artifact.
  const sums = readFileSync(path.join(out, 'SHA256SUMS'), 'utf8');
  const manifest = JSON.parse(readFileSync(path.join(out, 'krepro-manifest.json'), 'utf8')) as { files: { name: string }[] };
  for (const s of result.sboms) {
    assert.ok(sums.includes(`${sha256sum(path.join(out, s.name))}  ${s.name}\n`), s.name);
    assert.ok(manifest.files.some((f) => f.name === s.name), s.name);
  }
  assert.ok(execFileSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: out, encoding: 'utf8' }).includes('kubernetes-release.spdx.json: OK'));
});

testWhen(GO_MISSING, 'two releases of one commit, from two checkouts at other paths, give byte-identical SBOMs', async () => {
  const a = await firstRelease();
  const dir = checkout();
  build(dir);
  const b = await release(dir);
  for (const s of b.sboms) assert.ok(readFileSync(s.path).equals(readFileSync(path.join(a.result.out, s.name))), `${s.name} differs`);
});

testWhen(GO_MISSING, 'a changed dependency shows in krepro diff of the SBOMs as that module\'s version', async () => {
  const a = await firstRelease();
  const dir = checkout();
  const vendored = path.join(dir, 'vendor', 'example.com', 'greeting');
  for (const [file, from, to] of [
    ['go.mod', 'example.com/greeting v0.1.0', 'example.com/greeting v0.2.0'],
    ['vendor/modules.txt', 'example.com/greeting v0.1.0', 'example.com/greeting v0.2.0'],
    [path.join(vendored, 'greeting.go'), 'const Version = "v0.1.0"', 'const Version = "v0.2.0"'],
  ] as const) {
    const f = path.resolve(dir, file);
    writeFileSync(f, readFileSync(f, 'utf8').replace(from, to));
  }
  git(dir, 'commit', '-q', '-am', 'greeting v0.2.0');
  build(dir);
  const b = await release(dir);
  for (const name of ['kubernetes-release.spdx.json', 'kubernetes-source.spdx.json']) {
    const r = spawnSync(process.execPath, [CLI, 'diff', '--json', path.join(a.result.out, name), path.join(b.out, name)], { encoding: 'utf8', env: cliEnv() });
    assert.is(r.status, 1, r.stderr);
    const findings = JSON.stringify(JSON.parse(r.stdout));
    assert.match(findings, /"field":"key \.packages\[SPDXID=\\"SPDXRef-go-module-example\.com-greeting\\"\]\.versionInfo","left":"v0\.1\.0","right":"v0\.2\.0"/, name);
    assert.match(findings, /pkg:golang\/example\.com\/greeting@v0\.1\.0","right":"pkg:golang\/example\.com\/greeting@v0\.2\.0"/, name);
  }
  // Text output: the version change on one line, as a person reads it.
  const text = spawnSync(process.execPath, [CLI, 'diff', path.join(a.result.out, 'kubernetes-release.spdx.json'), path.join(b.out, 'kubernetes-release.spdx.json')], { encoding: 'utf8', env: cliEnv() }).stdout;
  assert.match(text, /SPDXRef-go-module-example\.com-greeting.*versionInfo[^\n]*\n?[^\n]*v0\.1\.0[^\n]*v0\.2\.0/);
});

test('package --no-source: only the release document, named from the artifacts\' digests; SBOMs are subjects of the signed statement', async () => {
  const dir = tempDir();
  const stage = materializeStage(path.join(dir, 'stage'));
  const keyFile = path.join(dir, 'key.pem');
  execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', keyFile], { stdio: 'ignore' });
  execFileSync('openssl', ['pkey', '-in', keyFile, '-pubout', '-out', `${keyFile}.pub`]);
  const signingKey = await loadSigningKey(keyFile);
  const pack = (out: string) => packageRelease({ stage, out: path.join(dir, out), sourceDateEpoch: SDE, signingKey });
  const [a, b] = [await pack('a'), await pack('b')];
  assert.equal(a.sboms.map((s) => s.name), ['kubernetes-release.spdx.json']);
  assert.not.ok(existsSync(path.join(a.out, 'kubernetes-source.spdx.json')));
  const doc = valid(a.sboms[0]!.path);
  assert.match(doc.documentNamespace, /^https:\/\/krepro\.dev\/spdx\/kubernetes-release\/artifacts-[0-9a-f]{64}$/);
  assert.is(doc.externalDocumentRefs, undefined);
  assert.not.ok(doc.relationships.some((r) => r.relationshipType === 'GENERATED_FROM'));
  assert.ok(readFileSync(a.sboms[0]!.path).equals(readFileSync(b.sboms[0]!.path)));
  // The fixture's binaries are stand-ins (ELF headers only): listed with their digests, without Go build info.
  const kubectl = doc.packages.find((p) => p.name === 'kubectl')!;
  assert.is(checksum(kubectl, 'SHA256'), sha256sum(path.join(FIXTURE_STAGE, 'client/linux-amd64/kubernetes/client/bin/kubectl')));
  assert.match(kubectl.comment!, 'no Go build info');
  const verified = await verifyAttestationFile(path.join(a.out, ATTESTATION_FILE), await loadVerifyingKey(`${keyFile}.pub`));
  assert.ok(verified.valid);
  const subject = verified.lines[0]!.statement!.subject.find((s) => s.name === 'kubernetes-release.spdx.json');
  assert.is(subject?.digest.sha256, sha256sum(a.sboms[0]!.path));
  // Another stage → another namespace: it follows the artifacts.
  writeFileSync(path.join(stage, 'full', 'kubernetes', 'version'), 'v9.9.9\n');
  const c = await pack('c');
  assert.is.not((JSON.parse(readFileSync(c.sboms[0]!.path, 'utf8')) as Doc).documentNamespace, doc.documentNamespace);
});

test('image index archives (<binary>.oci.tar) are images in the release SBOM, with the binaries of every platform\'s layer', async () => {
  const { stage, result } = await multiPlatformRelease(tempDir());
  const doc = valid(result.sboms.find((s) => s.name === 'kubernetes-release.spdx.json')!.path);
  for (const bin of IMAGE_BINARIES) {
    const name = `${bin}.oci.tar`;
    const index = doc.packages.find((p) => p.name === name)!;
    assert.is(index.primaryPackagePurpose, 'CONTAINER', name);
    assert.is(checksum(index, 'SHA256'), sha256sum(path.join(result.out, name)), name);
    assert.ok(related(doc, 'SPDXRef-DOCUMENT', 'DESCRIBES').includes(index.SPDXID));
    const inside = related(doc, index.SPDXID, 'CONTAINS').map((id) => checksum(doc.packages.find((p) => p.SPDXID === id)!, 'SHA256')).sort();
    const staged = ['amd64', 'arm64'].map((arch) => sha256sum(path.join(stage, `server/linux-${arch}/kubernetes/server/bin`, bin))).sort();
    assert.equal(inside, staged, name);
  }
});

test('go.mod, vendor/modules.txt and go.sum: requirements, replacements, vendored directories and hashes', () => {
  const goMod = parseGoMod(`module k8s.io/kubernetes // the root

go 1.24.0

require (
\tgithub.com/a/b v1.2.3
\t"github.com/c/d" v0.1.0 // indirect
\tk8s.io/api v0.0.0
)

require example.com/x v1.0.0

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tgithub.com/a/b v1.2.3 => github.com/fork/b v1.2.4
)
`);
  assert.is(goMod.module, 'k8s.io/kubernetes');
  assert.is(goMod.go, '1.24.0');
  assert.equal(goMod.require.map((r) => `${r.path}@${r.version}${r.indirect ? ' indirect' : ''}`), ['github.com/a/b@v1.2.3', 'github.com/c/d@v0.1.0 indirect', 'k8s.io/api@v0.0.0', 'example.com/x@v1.0.0']);
  const txt = parseModulesTxt(`# github.com/a/b v1.2.3 => github.com/fork/b v1.2.4
## explicit; go 1.21
github.com/a/b
github.com/a/b/sub
# github.com/c/d v0.1.0
## go 1.20
github.com/c/d
# k8s.io/api v0.0.0 => ./staging/src/k8s.io/api
## explicit; go 1.24.0
k8s.io/api/core/v1
# k8s.io/api => ./staging/src/k8s.io/api
`);
  assert.equal(txt.map((m) => [m.path, m.version, m.explicit, m.packages.length]), [
    ['github.com/a/b', 'v1.2.3', true, 2],
    ['github.com/c/d', 'v0.1.0', false, 1],
    ['k8s.io/api', 'v0.0.0', true, 1],
    ['k8s.io/api', '', false, 0],
  ]);
  const sum = parseGoSum(`github.com/fork/b v1.2.4 h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
github.com/fork/b v1.2.4/go.mod h1:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB=
github.com/c/d v0.1.0 h1:CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC=
example.com/x v1.0.0 h1:DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD=
`);
  const mods = sourceModules(goMod, txt, sum);
  assert.equal(
    mods.map((m) => [m.path, m.version, m.sum ?? '', m.dir ?? '', m.replace ? `${m.replace.path} ${m.replace.version}` : '']),
    [
      ['example.com/x', 'v1.0.0', 'h1:DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD=', '', ''],
      ['github.com/a/b', 'v1.2.3', 'h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=', 'vendor/github.com/a/b', 'github.com/fork/b v1.2.4'],
      ['github.com/c/d', 'v0.1.0', 'h1:CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC=', 'vendor/github.com/c/d', ''],
      ['k8s.io/api', 'v0.0.0', '', 'vendor/k8s.io/api', './staging/src/k8s.io/api '],
    ],
  );
});

test('build info lines as runtime/debug writes them: replacements, quoted settings', () => {
  const info = parseModinfo('go1.24.4', ['path\tk8s.io/kubernetes/cmd/kubectl', 'mod\tk8s.io/kubernetes\t(devel)\t', 'dep\tgithub.com/a/b\tv1.2.3\th1:x=', '=>\tgithub.com/fork/b\tv1.2.4\th1:y=', 'build\t-ldflags="-s -w -X a=b"', 'build\tGOOS=linux', ''].join('\n'));
  assert.equal(info, {
    goVersion: 'go1.24.4',
    path: 'k8s.io/kubernetes/cmd/kubectl',
    main: { path: 'k8s.io/kubernetes', version: '(devel)' },
    deps: [{ path: 'github.com/a/b', version: 'v1.2.3', sum: 'h1:x=', replace: { path: 'github.com/fork/b', version: 'v1.2.4', sum: 'h1:y=' } }],
    settings: [
      { key: '-ldflags', value: '-s -w -X a=b' },
      { key: 'GOOS', value: 'linux' },
    ],
  });
});

test('scan: a file that is no executable or archive is left after its first bytes; a truncated executable is not an error', async () => {
  const dir = tempDir();
  writeFileSync(path.join(dir, 'text'), 'hello\n'.repeat(1000));
  assert.is(await scanFile(path.join(dir, 'text'), 'text'), undefined);
  const elf = Buffer.alloc(64);
  elf.write('\x7fELF', 0, 'latin1');
  elf[4] = 2;
  elf[5] = 1;
  elf.writeUInt16LE(0xffff, 0x38); // 65535 program headers, none of them there
  writeFileSync(path.join(dir, 'cut'), elf);
  const found = await scanFile(path.join(dir, 'cut'), 'cut');
  assert.is(found?.kind, 'binary');
  if (found?.kind === 'binary') assert.equal([found.binary.format, found.binary.go, found.binary.size], ['elf', undefined, 64]);
  // A writable segment that starts past the end of the file: described as far as it goes.
  const past = Buffer.alloc(120);
  past.write('\x7fELF', 0, 'latin1');
  past[4] = 2;
  past[5] = 1;
  past.writeBigUInt64LE(64n, 0x20); // e_phoff
  past.writeUInt16LE(56, 0x36); // e_phentsize
  past.writeUInt16LE(1, 0x38); // e_phnum
  past.writeUInt32LE(1, 64); // PT_LOAD
  past.writeUInt32LE(6, 68); // PF_R | PF_W
  past.writeBigUInt64LE(1n << 20n, 72); // p_offset
  past.writeBigUInt64LE(4096n, 96); // p_filesz
  writeFileSync(path.join(dir, 'past'), past);
  const cut = await scanFile(path.join(dir, 'past'));
  assert.ok(cut?.kind === 'binary' && /not readable/.test(cut.binary.goProblem ?? ''), JSON.stringify(cut));
});

test.run();
