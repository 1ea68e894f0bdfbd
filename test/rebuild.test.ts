import { test as root } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { writeImage } from '../lib/image/write-image.js';
import { engineOrSkip } from './helpers/engine.js';
import { startSecondEngine, type SecondEngine } from './helpers/second-engine.js';
import { suiteWhen } from './helpers/skip.js';
import { FIXTURES, tempDir } from './helpers/stage.js';

// An independent rebuild: `release --sign-key` on one engine, `rebuild --key` from a fresh clone on a second
// engine that shares nothing with the first (own data root and network namespace), from the recorded recipe alone.
// The release sets every input that changes the bytes to a value that is not the default (registry, image binaries,
// an image base outside the checkout, platforms, level, encoder, version): verify and rebuild must follow them all.
// And the same commit verified on both engines records the same recipe.
const CLI = path.resolve('dist/cli/main.js');
const SDE = 1700000000;
const validateProvenance = new Ajv2020({ strict: false, allErrors: true }).compile(JSON.parse(readFileSync(path.resolve('schemas/provenance.schema.json'), 'utf8')));
const GIT_ENV = { GIT_AUTHOR_NAME: 'k', GIT_AUTHOR_EMAIL: 'k@x.invalid', GIT_COMMITTER_NAME: 'k', GIT_COMMITTER_EMAIL: 'k@x.invalid', GIT_AUTHOR_DATE: `@${SDE} +0000`, GIT_COMMITTER_DATE: `@${SDE} +0000` };

function krepro(cwd: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 1_800_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

suiteWhen(await engineOrSkip(), 'no Docker engine', (_engine, test) => {
  const work = tempDir('krepro-rebuild-');
  const origin = path.join(work, 'origin');
  const clone = path.join(work, 'clone');
  const published = path.join(work, 'published');
  const key = path.join(work, 'release.key');
  const pub = path.join(work, 'release.pub');
  const base = path.join(work, 'outside', 'base-{arch}.tar');
  let second: SecondEngine | undefined;
  /** Every input that changes an artifact's bytes, none of them the default. */
  const INPUTS = { KUBE_DOCKER_REGISTRY: 'example.test/k8s', KUBE_BUILD_PLATFORMS: 'linux/arm64', KUBE_GIT_VERSION: 'v1.31.0-krepro.1' };
  const PACKING = ['--image-binaries', 'kube-apiserver,kube-proxy', '--level', '9', '--encoder', '1'];
  let verifiedOnA = '';

  test.before(async () => {
    cpSync(path.join(FIXTURES, 'kube-like'), origin, { recursive: true });
    // The image base lives outside the checkout: the recipe records it by digest.
    writeFileSync(path.join(work, 'tool'), 'a tool of the image base\n');
    await writeImage({ binaryPath: path.join(work, 'tool'), binaryName: 'tool', base: 'scratch', os: 'linux', arch: 'arm64', created: SDE, repoTag: 'example.test/base-arm64:1', dest: base.replace('{arch}', 'arm64') });
    writeFileSync(path.join(origin, 'krepro.json'), JSON.stringify({ release: true, images: { base } }));
    for (const args of [['init', '-q', '-b', 'main'], ['add', '-A'], ['commit', '-q', '-m', 'release'], ['tag', 'v1.31.0']]) execFileSync('git', args, { cwd: origin, env: { ...process.env, ...GIT_ENV } });
    execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', key]);
    execFileSync('openssl', ['pkey', '-in', key, '-pubout', '-out', pub]);
    // Its own bridge inside its own namespace: release builds use the bridge network; nothing outside is reachable.
    second = await startSecondEngine({ bridge: true });
  });

  test.after(async () => {
    krepro(origin, ['clean']);
    await second?.remove();
  });

  test('release --sign-key on engine A, every byte-changing input not the default: the recipe records each; signed envelope and sigstore bundle', () => {
    const r = krepro(origin, ['release', '--quick', '--sign-key', key, ...PACKING], INPUTS);
    assert.is(r.code, 0, r.stderr.slice(-2000));
    assert.match(r.stderr, /==> test: skipped, tests not asked for/);
    const dir = path.join(origin, '_output/release-tars');
    const text = readFileSync(path.join(dir, 'krepro-provenance.json'), 'utf8');
    assert.ok(validateProvenance(JSON.parse(text)), JSON.stringify(validateProvenance.errors, null, 2));
    const statement = JSON.parse(text);
    const recipe = statement.predicate.buildDefinition.externalParameters;
    assert.is(recipe.source.commit, execFileSync('git', ['rev-parse', 'HEAD'], { cwd: origin, encoding: 'utf8' }).trim());
    assert.is(recipe.env.KUBE_BUILD_PLATFORMS, 'linux/arm64');
    assert.is(recipe.env.KUBE_DOCKER_REGISTRY, 'example.test/k8s');
    assert.is(recipe.env.SOURCE_DATE_EPOCH, String(SDE));
    assert.is(recipe.version, 'v1.31.0-krepro.1');
    assert.equal(recipe.project.images.binaries, ['kube-apiserver', 'kube-proxy']);
    assert.equal([recipe.package.level, recipe.package.encoder.version], [9, 1]);
    assert.equal([...new Set(recipe.package.bases.map((b: { path: string; sha256: string }) => b.path))], [base.replace('{arch}', 'arm64')]);
    assert.ok(recipe.environment.lock.packages.length > 50, 'the whole lock is in the recipe');
    const names = statement.subject.map((s: { name: string }) => s.name);
    assert.ok(names.includes('kubernetes-server-linux-arm64.tar.gz') && names.includes('_output/dockerized/bin/linux/arm64/kubectl'), names.join(' '));
    const sums = readFileSync(path.join(dir, 'SHA256SUMS'), 'utf8');
    for (const s of statement.subject.filter((x: { name: string }) => x.name.endsWith('.tar.gz'))) assert.ok(sums.includes(`${s.digest.sha256}  ${s.name}\n`), s.name);
    // The server image inside names the registry and the version asked for.
    const tags = execFileSync('tar', ['-xzOf', path.join(dir, 'kubernetes-server-linux-arm64.tar.gz'), 'kubernetes/server/bin/kube-proxy.tar'], { maxBuffer: 1 << 28 });
    assert.ok(tags.includes('example.test/k8s/kube-proxy-arm64:v1.31.0-krepro.1'), 'RepoTags name the registry');
    for (const file of ['krepro.intoto.jsonl', 'krepro.sigstore.json']) {
      const checked = krepro(origin, ['attest', 'verify', '--key', pub, path.join(dir, file)]);
      assert.is(checked.code, 0, checked.stdout + checked.stderr);
    }
    cpSync(dir, published, { recursive: true });
    execFileSync('git', ['clone', '-q', origin, clone]);
  });

  test('verify on engine A with the same inputs: reproducible, and its control build packs the released bytes', () => {
    const r = krepro(origin, ['verify', '--json', '--vary', 'tz,user', ...PACKING], INPUTS);
    assert.is(r.code, 0, r.stderr.slice(-2000));
    const statement = execFileSync('find', [path.join(origin, '_output/verify/1'), '-name', 'krepro-provenance.json'], { encoding: 'utf8' }).trim();
    assert.is(readFileSync(path.join(path.dirname(statement), 'SHA256SUMS'), 'utf8'), readFileSync(path.join(published, 'SHA256SUMS'), 'utf8'));
    verifiedOnA = readFileSync(statement, 'utf8');
  });

  test('rebuild --key on engine B, from a fresh clone: every artifact identical to the published digests', () => {
    const r = krepro(clone, ['rebuild', '--key', pub, '--json', published], { DOCKER_HOST: second!.host });
    assert.is(r.code, 0, `${r.stdout}\n${r.stderr.slice(-3000)}`);
    const result = JSON.parse(r.stdout);
    assert.is(result.status, 'reproduced');
    assert.is(result.source.kind, 'signed');
    assert.is(result.published.ok, true, 'the published directory matches its sums, manifest and signed subjects');
    assert.ok(result.published.files.length >= 5 && result.published.outside.length > 0, 'output subjects are reported as not in the directory');
    assert.ok(result.artifacts.length >= 10 && result.artifacts.every((a: { verdict: string }) => a.verdict === 'identical'));
    // The environment was made on engine B from the recorded lock, not copied: B had only its API socket.
    const links = spawnSync('ip', ['-n', second!.netns, '-o', 'link'], { encoding: 'utf8' }).stdout;
    assert.not.match(links, /eth0|veth.*@if/);
  });

  test('the same commit verified on engine B, without a seccomp profile: the very recipe engine A recorded', () => {
    const r = krepro(origin, ['verify', '--json', '--vary', 'tz,user', '--seccomp-profile', 'none', ...PACKING], { ...INPUTS, DOCKER_HOST: second!.host });
    assert.is(r.code, 0, r.stderr.slice(-2000));
    const report = JSON.parse(r.stdout);
    assert.equal(report.builds[0].unapplied.map((u: { condition: string }) => u.condition), ['aslr'], 'B cannot switch randomization off, and says so');
    assert.is(report.builds[0].host.backend, `docker ${second!.host}`);
    const statement = execFileSync('find', [path.join(origin, '_output/verify/1'), '-name', 'krepro-provenance.json'], { encoding: 'utf8' }).trim();
    assert.ok(verifiedOnA.length > 0);
    assert.is(readFileSync(statement, 'utf8'), verifiedOnA);
  });

  test('one byte changed in a published tarball: exit 1 naming it, explained by krepro diff', () => {
    const file = path.join(published, 'kubernetes-client-linux-arm64.tar.gz');
    const original = readFileSync(file);
    const changed = Buffer.from(original);
    changed[changed.length - 20] ^= 0x01; // inside the last member's deflate data or trailer
    writeFileSync(file, changed);
    try {
      const r = krepro(clone, ['rebuild', '--key', pub, published], { DOCKER_HOST: second!.host });
      assert.is(r.code, 1, r.stderr.slice(-2000));
      assert.match(r.stdout, /^DIFF kubernetes-client-linux-arm64\.tar\.gz recorded [0-9a-f]{16}, published file [0-9a-f]{16}, rebuilt [0-9a-f]{16}$/m);
      assert.match(r.stdout, /DIFFERS: \d+ of \d+ artifacts identical/);
      // krepro check of the published directory, before the build, names the file and the lists it disagrees with.
      assert.match(r.stdout, /^published MISMATCH  kubernetes-client-linux-arm64\.tar\.gz$/m);
      assert.match(r.stdout, /^published {11}sha256 is [0-9a-f]{64}, but SHA256SUMS line \d+ says [0-9a-f]{64}$/m);
      assert.match(r.stderr, /published directory: 1 of its files or envelopes do not match its lists/);
      assert.ok(r.stdout.split('\n').filter((l) => l.startsWith('DIFF ')).length === 1, r.stdout);
    } finally {
      writeFileSync(file, original);
    }
  });

  test('a changed attestation: attest verify exit 1, rebuild --key refuses it (exit 2)', () => {
    const file = path.join(published, 'krepro.intoto.jsonl');
    const original = readFileSync(file, 'utf8');
    const envelope = JSON.parse(original);
    const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8'));
    statement.predicate.buildDefinition.externalParameters.env.KUBE_BUILD_PLATFORMS = 'linux/amd64';
    envelope.payload = Buffer.from(JSON.stringify(statement)).toString('base64');
    writeFileSync(file, `${JSON.stringify(envelope)}\n`);
    try {
      const checked = krepro(clone, ['attest', 'verify', '--key', pub, file]);
      assert.is(checked.code, 1);
      assert.match(checked.stdout + checked.stderr, /signature/);
      const r = krepro(clone, ['rebuild', '--key', pub, published], { DOCKER_HOST: second!.host });
      assert.is(r.code, 2);
      assert.match(r.stderr, /does not verify with key/);
    } finally {
      writeFileSync(file, original);
    }
  });

  test('a checkout at another commit: exit 2 saying which commit to check out', () => {
    writeFileSync(path.join(clone, 'CHANGED'), 'x\n');
    execFileSync('git', ['add', 'CHANGED'], { cwd: clone });
    execFileSync('git', ['commit', '-qm', 'later'], { cwd: clone, env: { ...process.env, ...GIT_ENV } });
    try {
      const r = krepro(clone, ['rebuild', published], { DOCKER_HOST: second!.host });
      assert.is(r.code, 2);
      const recorded = JSON.parse(readFileSync(path.join(published, 'krepro-provenance.json'), 'utf8')).predicate.buildDefinition.externalParameters.source.commit;
      assert.match(r.stderr, new RegExp(`git checkout ${recorded}`));
      assert.match(r.stderr, /provenance .* unsigned, not checked/);
    } finally {
      execFileSync('git', ['reset', '-q', '--hard', 'HEAD~1'], { cwd: clone });
    }
    assert.ok(existsSync(path.join(clone, 'Makefile')));
  });
});

root.run();
