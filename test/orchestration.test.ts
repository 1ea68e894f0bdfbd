import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { readLock } from '../lib/environment/lock.js';
import type { EnvironmentSource } from '../lib/environment/source.js';
import { KreproError } from '../lib/errors.js';
import { writeImage } from '../lib/image/write-image.js';
import { runPipeline, type StepEvent } from '../lib/pipeline/pipeline.js';
import { packagingFor, releaseInputs, type ReleaseInputs } from '../lib/project/inputs.js';
import { KUBERNETES_DEFAULTS, type Project } from '../lib/project/project.js';
import { PROVENANCE_FILE, recipeOf } from '../lib/provenance/recipe.js';
import { rebuildRelease } from '../lib/rebuild/rebuild.js';
import { runRelease } from '../lib/release/run-release.js';
import { VARIATIONS, variationNamed } from '../lib/verify/conditions.js';
import { verifyReport } from '../lib/verify/report.js';
import { verifyRelease, type VerifyResult } from '../lib/verify/verify.js';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { allAttributed, causesOf } from './helpers/causes.js';
import { FakeBackend, type FakeModel } from './helpers/fake-backend.js';
import { FIXTURES, tempDir } from './helpers/stage.js';

// What sits above the build seam — release's steps, verify's search, rebuild's comparison — on a fake backend whose
// builds are functions of their conditions: no engine, a few seconds for all of it.
const SDE = 1700000000;
const validateReport = new Ajv2020({ strict: true, allErrors: true }).compile(JSON.parse(readFileSync(path.resolve('schemas/verify-report.schema.json'), 'utf8')));
const validateProvenance = new Ajv2020({ strict: false, allErrors: true }).compile(JSON.parse(readFileSync(path.resolve('schemas/provenance.schema.json'), 'utf8')));
const LOCK = await readLock(path.resolve('build-image/environment.lock.json'));
const GIT_ENV = { ...process.env, GIT_AUTHOR_NAME: 'k', GIT_AUTHOR_EMAIL: 'k@x.invalid', GIT_COMMITTER_NAME: 'k', GIT_COMMITTER_EMAIL: 'k@x.invalid', GIT_AUTHOR_DATE: `@${SDE} +0000`, GIT_COMMITTER_DATE: `@${SDE} +0000` };

function repo(files: Record<string, string> = { 'main.c': 'int main() {}\n' }, from?: string): string {
  const dir = tempDir('krepro-orchestration-');
  if (from) cpSync(from, dir, { recursive: true });
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), content);
  }
  for (const args of [['init', '-q', '-b', 'main'], ['add', '-A'], ['commit', '-q', '-m', 'x']]) execFileSync('git', args, { cwd: dir, env: GIT_ENV });
  return dir;
}

const locked = (): EnvironmentSource => ({ kind: 'locked', lock: LOCK, options: { workDir: tempDir('krepro-orchestration-work-') } });
const simple: Project = { ...KUBERNETES_DEFAULTS, command: ['make'], outputs: ['out'], release: false, images: false };
const inputsOf = (project: Project, host: Record<string, string> = {}, extra: { level?: number; encoder?: 1 | 2 } = {}): ReleaseInputs =>
  releaseInputs({ project, host, sourceDateEpoch: SDE, version: 'v1.2.3', ...extra });

function verify(backend: FakeBackend, dir: string, model: { project?: Project; variations?: string[]; other?: FakeBackend; checkNoise?: boolean } = {}): Promise<VerifyResult> {
  return verifyRelease({
    checkoutRoot: dir,
    hostname: 'test-host',
    backends: { control: backend, experiment: model.other ?? backend },
    environment: locked(),
    variations: model.variations ? model.variations.map(variationNamed) : VARIATIONS,
    inputs: inputsOf(model.project ?? simple),
    checkNoise: model.checkNoise ?? false,
    provenance: {},
  });
}

test('the pipeline runner: steps in order, a skip is a value with its reason, the first failure stops the rest', async () => {
  const ran: string[] = [];
  const events: StepEvent[] = [];
  let t = 0;
  const steps = [
    { name: 'a', run: async () => void ran.push('a') },
    { name: 'b', skip: () => 'not needed here', run: async () => void ran.push('b') },
    { name: 'c', run: async () => { ran.push('c'); throw new KreproError('E_BUILD_FAILED', 'c broke'); } },
    { name: 'd', run: async () => void ran.push('d') },
  ];
  const records: never[] = [];
  const err = await runPipeline(steps, {}, { onStep: (e) => events.push(e), now: () => (t += 5), records }).catch((e: unknown) => e);
  assert.ok(err instanceof KreproError && err.code === 'E_BUILD_FAILED', String(err));
  assert.equal(ran, ['a', 'c']);
  assert.equal(records, [
    { name: 'a', status: 'done', ms: 5 },
    { name: 'b', status: 'skipped', reason: 'not needed here', ms: 0 },
    { name: 'c', status: 'failed', ms: 5 },
  ]);
  assert.equal(events.map((e) => `${e.type} ${e.step}`), ['start a', 'done a', 'skip b', 'start c', 'fail c']);
  const aborted = new AbortController();
  aborted.abort(new Error('stop'));
  assert.match(String(await runPipeline(steps, {}, { signal: aborted.signal }).catch((e: unknown) => e)), /stop/);
});

test('verify on the fake: a clean project is two builds, the noise check and the search skipped with their reasons', async () => {
  const backend = new FakeBackend(() => ({ files: { 'out/a.txt': 'same\n' } }));
  const r = await verify(backend, repo());
  assert.is(r.status, 'reproducible');
  assert.is(backend.requests.length, 2);
  assert.ok(r.variations.every((v) => v.tested), JSON.stringify(r.variations.filter((v) => !v.tested)));
  const skipped = Object.fromEntries(r.steps.filter((s) => s.status === 'skipped').map((s) => [s.name, s.reason]));
  assert.equal(skipped, { noise: 'the builds are identical (--check-noise runs it anyway)', attribution: 'no artifact differs' });
  // Every build is hermetic, in the environment by ID, on a clean copy of the commit.
  for (const req of backend.requests) {
    assert.is(req.network, 'none');
    assert.ok(req.environment.id.startsWith('sha256:'));
    assert.match(req.sources.commit, /^[0-9a-f]{40}$/);
    assert.is(req.container.kind, 'controlled');
    // plain data: a request can travel to another machine (a CI-matrix job, a swarm task) as JSON
    assert.equal(JSON.parse(JSON.stringify(req)), req);
  }
});

test("verify on the fake: every cause of every difference, each proven by a build and explained; nondeterminism blamed on nobody", async () => {
  const model: FakeModel = ({ conditions: c, count }) => ({
    files: { 'out/stamp.txt': `built in ${c!.buildPath} at zone ${c!.tz}\n`, 'out/random.txt': `${count}\n`, 'out/same.txt': 'x\n' },
  });
  const backend = new FakeBackend(model);
  const r = await verify(backend, repo());
  assert.is(r.status, 'not-reproducible');
  assert.ok(validateReport(verifyReport(r)), JSON.stringify(validateReport.errors, null, 2));
  assert.equal(causesOf(r), { 'out/random.txt': ['nondeterminism'], 'out/stamp.txt': ['build-path', 'tz'] });
  assert.ok(allAttributed(r));
  for (const c of r.causes) {
    assert.ok(c.evidence.length > 0 && c.evidence.every((id) => r.builds.some((b) => b.id === id)), `${c.id}: proven`);
    assert.ok(c.fix.length > 0 && c.findings.length > 0, `${c.id}: a fix and the findings it explains`);
  }
  // control, experiment, noise and the search: far fewer than reprotest's n + 3
  assert.ok(r.builds.length <= 3 + 2 * (Math.ceil(Math.log2(VARIATIONS.length)) + 2), String(r.builds.length));
  assert.is(r.builds.length, backend.requests.length);
});

test('verify on the fake: a control build that fails is build-failed, naming it with the end of its log; nothing after it runs', async () => {
  const backend = new FakeBackend(({ conditions }) => (conditions!.tz !== 'UTC' ? { files: { 'out/a': 'a' } } : { files: {} as Record<string, string>, exitCode: 4, log: 'compiling\nerror: no such zone\n' }));
  const r = await verify(backend, repo());
  assert.is(r.status, 'build-failed');
  assert.is(r.failure?.label, 'control');
  assert.is(r.failure?.exitCode, 4);
  assert.ok(r.failure?.logTail.includes('error: no such zone'));
  assert.equal(r.steps.map((s) => `${s.name} ${s.status}`), ['leftovers done', 'plan done', 'environment done', 'sources done', 'builds failed']);
  assert.is(backend.requests.length, 1);
});

test('verify on the fake: a condition the backend cannot apply is reported as not tested with its reason, never passed', async () => {
  const backend = new FakeBackend(() => ({ files: { 'out/a': 'a' } }));
  backend.unapplied = [{ condition: 'aslr', reason: 'no seccomp profile allowing personality(ADDR_NO_RANDOMIZE) was given' }];
  const r = await verify(backend, repo(), { variations: ['aslr', 'tz'] });
  const aslr = r.variations.find((v) => v.name === 'aslr')!;
  assert.is(aslr.tested, false);
  assert.match(aslr.reason!, /seccomp/);
  assert.ok(r.variations.find((v) => v.name === 'tz')!.tested);
  assert.equal(r.control.unapplied.map((u) => u.condition), ['aslr']);
});

test('the recipe of one commit is the same whichever backend made it: engine facts are recorded beside builds, not in it', async () => {
  const dir = repo();
  const model: FakeModel = () => ({ files: { 'out/a': 'a\n' } });
  const statements: string[] = [];
  for (const backend of [new FakeBackend(model, 'engine-a', 1), new FakeBackend(model, 'engine-b', 64)]) {
    if (backend.name === 'engine-b') backend.unapplied = [{ condition: 'aslr', reason: 'no seccomp profile' }];
    const r = await verify(backend, dir, { variations: ['tz'] });
    assert.is(r.control.host.backend, backend.name);
    statements.push(readFileSync(r.provenance!.statement, 'utf8'));
  }
  assert.is(statements[0], statements[1]);
  assert.not.match(statements[0]!, /engine-a|cpuset/);
});

test('verify on the fake with two backends: the environment made on each from the lock, control on one, experiment on the other', async () => {
  const a = new FakeBackend(() => ({ files: { 'out/a': 'a' } }), 'a');
  const b = new FakeBackend(() => ({ files: { 'out/a': 'a' } }), 'b');
  const r = await verify(a, repo(), { other: b, variations: ['tz'] });
  assert.is(r.status, 'reproducible');
  assert.equal([a.prepared.length, b.prepared.length], [1, 1]);
  assert.equal(r.builds.map((x) => x.engine), ['a', 'b']);
});

test('release on a fake session: the steps in order, skips with reasons, the recipe written; a failing build stops it', async () => {
  const dir = repo();
  const backend = new FakeBackend(({ variables }) => ({ files: { 'out/a.txt': `version ${variables['KUBE_GIT_VERSION']}\n` } }));
  const session = await backend.openSession({ checkoutRoot: dir, hostname: 'h', environment: locked(), user: { uid: 1000, gid: 1000 }, variables: inputsOf(simple).variables, command: 'release' });
  const io = { stdout: new PassThrough(), stderr: new PassThrough() };
  const r = await runRelease(session, { checkoutRoot: dir, inputs: inputsOf(simple), runTests: false, provenance: {}, io });
  assert.equal(
    r.steps.map((s) => `${s.name} ${s.status}${s.reason ? `: ${s.reason}` : ''}`),
    [
      'sync done',
      'build done',
      'test skipped: tests not asked for (--quick or KUBE_RELEASE_RUN_TESTS=n)',
      'copy-output done',
      'stage skipped: the project is not Kubernetes-shaped ("release": false)',
      'images skipped: the project is not Kubernetes-shaped ("release": false)',
      'package skipped: the project is not Kubernetes-shaped ("release": false)',
      'artifacts done',
      'provenance done',
    ],
  );
  assert.equal(r.artifacts.map((a) => a.name), ['out/a.txt']);
  const recipe = JSON.parse(readFileSync(path.join(dir, '_output/release-tars', PROVENANCE_FILE), 'utf8')).predicate.buildDefinition.externalParameters;
  assert.is(recipe.env.KUBE_GIT_VERSION, 'v1.2.3');
  assert.is(recipe.container.kind, 'release');

  const failing = new FakeBackend(() => ({ files: {}, exitCode: 2 }));
  const s2 = await failing.openSession({ checkoutRoot: dir, hostname: 'h', environment: locked(), user: { uid: 1000, gid: 1000 }, command: 'release' });
  const events: string[] = [];
  const err = await runRelease(s2, { checkoutRoot: dir, inputs: inputsOf(simple), runTests: true, io, onStep: (e) => events.push(`${e.type} ${e.step}`) }).catch((e: unknown) => e);
  assert.ok(err instanceof KreproError && err.code === 'E_BUILD_FAILED' && err.exitCode === 2, String(err));
  assert.equal(events, ['start sync', 'done sync', 'start build', 'fail build']);
});

/** The kube-like fixture's binaries, as `make cross` lays them out for KUBE_BUILD_PLATFORMS, stamped with the version. */
const kubeModel: FakeModel = ({ variables }) => {
  const files: Record<string, string> = {};
  for (const platform of (variables['KUBE_BUILD_PLATFORMS'] ?? 'linux/amd64').split(' ')) {
    for (const bin of ['kubectl', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kube-proxy', 'kubelet']) {
      files[`_output/dockerized/bin/${platform}/${bin}`] = `${bin} ${variables['KUBE_GIT_VERSION']} for ${platform}\n`;
    }
  }
  return { files };
};

test('every input that changes the bytes, each not the default, is recorded and followed: release, verify, rebuild → REPRODUCED', async () => {
  const work = tempDir('krepro-inputs-');
  // A base outside the checkout, one per architecture: recorded by digest, found again with --image-base.
  const bases = path.join(work, 'bases');
  mkdirSync(bases);
  writeFileSync(path.join(work, 'tool'), 'a base tool\n');
  await writeImage({ binaryPath: path.join(work, 'tool'), binaryName: 'tool', base: 'scratch', os: 'linux', arch: 'arm64', created: SDE, repoTag: 'example.test/base-arm64:1', dest: path.join(bases, 'base-arm64.tar') });
  const project: Project = { ...KUBERNETES_DEFAULTS, images: { binaries: ['kube-apiserver', 'kube-proxy'], base: path.join(bases, 'base-{arch}.tar') } };
  const host = { KUBE_DOCKER_REGISTRY: 'example.test/k8s', KUBE_BUILD_PLATFORMS: 'linux/arm64' };
  const inputs = inputsOf(project, host, { level: 9, encoder: 1 });
  const dir = repo({}, path.join(FIXTURES, 'kube-like'));
  const backend = new FakeBackend(kubeModel);
  const session = await backend.openSession({ checkoutRoot: dir, hostname: 'h', environment: locked(), user: { uid: 1000, gid: 1000 }, variables: inputs.variables, command: 'release' });
  const released = await runRelease(session, { checkoutRoot: dir, inputs, runTests: false, provenance: {}, io: { stdout: new PassThrough(), stderr: new PassThrough() } });
  const names = released.artifacts.map((a) => a.name);
  assert.ok(names.includes('kubernetes-server-linux-arm64.tar.gz') && !names.some((n) => n.includes('amd64')), names.join(' '));
  const statement: { predicate: { buildDefinition: { externalParameters: Record<string, any> } } } = JSON.parse(readFileSync(released.provenance!.statement, 'utf8'));
  assert.ok(validateProvenance(statement), JSON.stringify(validateProvenance.errors, null, 2));
  const recipe = statement.predicate.buildDefinition.externalParameters;
  assert.equal([recipe.package.level, recipe.package.encoder.version], [9, 1]);
  assert.is(recipe.env.KUBE_DOCKER_REGISTRY, 'example.test/k8s');
  assert.equal(recipe.package.bases.map((b: { binary: string; path: string }) => `${b.binary} ${b.path}`), [`kube-apiserver ${path.join(bases, 'base-arm64.tar')}`, `kube-proxy ${path.join(bases, 'base-arm64.tar')}`]);
  const server = readFileSync(path.join(dir, '_output/release-stage/server/linux-arm64/kubernetes/server/bin/kube-apiserver.docker_tag'), 'utf8');
  assert.is(server, 'v1.2.3\n');
  const manifest = readFileSync(path.join(dir, '_output/release-tars/krepro-manifest.json'), 'utf8');
  assert.match(manifest, /"level": 9/);

  // verify packs exactly as release did: the control build's tarballs are the released bytes
  const verified = await verifyRelease({ checkoutRoot: dir, hostname: 'h', backends: { control: backend, experiment: backend }, environment: locked(), variations: [variationNamed('tz')], inputs });
  assert.is(verified.status, 'reproducible');
  const byName = new Map(verified.control.artifacts.map((a) => [a.name, a.digests.sha256]));
  for (const a of released.artifacts) assert.is(byName.get(a.name), a.digests.sha256, `${a.name}: verify packs as release does`);

  const published = path.join(work, 'published');
  cpSync(released.dir, published, { recursive: true });
  const clone = path.join(work, 'clone');
  execFileSync('git', ['clone', '-q', dir, clone]);
  const rebuild = (o: { imageBase?: string } = {}) =>
    rebuildRelease({ releaseDir: published, checkoutRoot: clone, backend: new FakeBackend(kubeModel), environment: { workDir: work }, hostname: 'elsewhere', ...o });
  const rebuilt = await rebuild();
  assert.is(rebuilt.status, 'reproduced', JSON.stringify(rebuilt.artifacts.filter((a) => a.verdict !== 'identical')));
  assert.ok(rebuilt.artifacts.length >= 8);

  // the base elsewhere: refused before anything is built, naming --image-base; found with it
  const moved = path.join(work, 'moved');
  mkdirSync(moved);
  renameSync(path.join(bases, 'base-arm64.tar'), path.join(moved, 'base-arm64.tar'));
  const counting = new FakeBackend(kubeModel);
  const err = await rebuildRelease({ releaseDir: published, checkoutRoot: clone, backend: counting, environment: { workDir: work }, hostname: 'elsewhere' }).catch((e: unknown) => e);
  assert.ok(err instanceof KreproError && err.code === 'E_REBUILD', String(err));
  assert.match((err as Error).message, /--image-base/);
  assert.is(counting.requests.length, 0, 'nothing was built');
  assert.is((await rebuild({ imageBase: path.join(moved, 'base-{arch}.tar') })).status, 'reproduced');
  // another base with that name: its digest is not the recorded one
  writeFileSync(path.join(moved, 'base-arm64.tar'), 'not the base\n');
  const wrong = await rebuild({ imageBase: path.join(moved, 'base-{arch}.tar') }).catch((e: unknown) => e);
  assert.match(String(wrong), /has sha256 [0-9a-f]{64}, but the release used one with/);
});

test("rebuild on the fake: a published file that is not what the recipe builds differs, explained; a missing one is named", async () => {
  const work = tempDir('krepro-rebuild-compare-');
  const dir = repo();
  const model: FakeModel = () => ({ files: { 'out/a.txt': 'line one\nline two\n', 'out/b.txt': 'b\n' } });
  const backend = new FakeBackend(model);
  const session = await backend.openSession({ checkoutRoot: dir, hostname: 'h', environment: locked(), user: { uid: 1000, gid: 1000 }, variables: inputsOf(simple).variables, command: 'release' });
  const released = await runRelease(session, { checkoutRoot: dir, inputs: inputsOf(simple), runTests: false, provenance: {}, io: { stdout: new PassThrough(), stderr: new PassThrough() } });
  const published = path.join(work, 'published');
  cpSync(released.dir, published, { recursive: true });
  mkdirSync(path.join(published, 'out'));
  writeFileSync(path.join(published, 'out/a.txt'), 'line one\nline 2\n');
  const r = await rebuildRelease({ releaseDir: published, checkoutRoot: dir, backend: new FakeBackend(() => ({ files: { 'out/a.txt': 'line one\nline two\n' } })), environment: { workDir: work }, hostname: 'h' });
  assert.is(r.status, 'differs');
  const a = r.artifacts.find((x) => x.name === 'out/a.txt')!;
  assert.is(a.verdict, 'different');
  assert.ok(a.explanation && a.explanation.findings.length > 0, JSON.stringify(a));
  assert.is(r.artifacts.find((x) => x.name === 'out/b.txt')!.verdict, 'missing');
  assert.ok(existsSync(published));
  // a project that is not Kubernetes-shaped publishes no sums: the check is a skip with its reason, not an error
  assert.match(r.steps.find((s) => s.name === 'published')?.reason ?? '', /not Kubernetes-shaped/);
  // a published file is read as krepro check reads it: a link is never followed
  const elsewhere = path.join(work, 'elsewhere.txt');
  writeFileSync(elsewhere, 'line one\nline 2\n');
  rmSync(path.join(published, 'out/a.txt'));
  symlinkSync(elsewhere, path.join(published, 'out/a.txt'));
  const linked = await rebuildRelease({ releaseDir: published, checkoutRoot: dir, backend: new FakeBackend(() => ({ files: { 'out/a.txt': 'line one\nline two\n' } })), environment: { workDir: work }, hostname: 'h' });
  const viaLink = linked.artifacts.find((x) => x.name === 'out/a.txt')!;
  assert.is(viaLink.published, undefined);
  assert.is(viaLink.verdict, 'identical');
});

test('packaging is made once: the project file names the registry, else KUBE_DOCKER_REGISTRY; level and format checked', () => {
  const images = { ...KUBERNETES_DEFAULTS, images: { registry: 'from.file/k8s' } };
  assert.is((packagingFor(images, { KUBE_DOCKER_REGISTRY: 'from.env/k8s' }).images as { registry: string }).registry, 'from.file/k8s');
  assert.is((packagingFor(KUBERNETES_DEFAULTS, { KUBE_DOCKER_REGISTRY: 'from.env/k8s' }).images as { registry: string }).registry, 'from.env/k8s');
  assert.equal(packagingFor(KUBERNETES_DEFAULTS, {}), { level: 6, encoder: 2, images: { base: 'scratch' } });
  assert.throws(() => packagingFor(KUBERNETES_DEFAULTS, {}, { level: 10 }), /level must be an integer from 1 to 9/);
  // SOURCE_DATE_EPOCH and the version enter the variables in one place, from the values
  const inputs = inputsOf(simple, { SOURCE_DATE_EPOCH: '5', KUBE_GIT_VERSION: 'v0' });
  assert.equal([inputs.variables['SOURCE_DATE_EPOCH'], inputs.variables['KUBE_GIT_VERSION']], [String(SDE), 'v1.2.3']);
});

test('a recipe whose variables and values disagree on SOURCE_DATE_EPOCH or the version is refused, naming both', async () => {
  const dir = repo();
  const backend = new FakeBackend(() => ({ files: { 'out/a.txt': 'a\n' } }));
  const session = await backend.openSession({ checkoutRoot: dir, hostname: 'h', environment: locked(), user: { uid: 1000, gid: 1000 }, command: 'release' });
  const released = await runRelease(session, { checkoutRoot: dir, inputs: inputsOf(simple), runTests: false, provenance: {}, io: { stdout: new PassThrough(), stderr: new PassThrough() } });
  const statement = JSON.parse(readFileSync(released.provenance!.statement, 'utf8'));
  assert.ok(recipeOf(statement, 'x').recipe);
  statement.predicate.buildDefinition.externalParameters.sourceDateEpoch = SDE + 1;
  assert.throws(() => recipeOf(statement, 'x'), /SOURCE_DATE_EPOCH="1700000000", but its sourceDateEpoch is 1700000001/);
  statement.predicate.buildDefinition.externalParameters.sourceDateEpoch = SDE;
  statement.predicate.buildDefinition.externalParameters.version = 'v9';
  assert.throws(() => recipeOf(statement, 'x'), /KUBE_GIT_VERSION="v1.2.3", but its version is "v9"/);
});

test.run();
