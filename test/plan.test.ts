import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { BuildRequest } from '../lib/backend/backend.js';
import { LimitedBackend } from '../lib/backend/limit.js';
import { readLock } from '../lib/environment/lock.js';
import type { EnvironmentSource } from '../lib/environment/source.js';
import { KUBERNETES_DEFAULTS, type Project } from '../lib/project/project.js';
import { releaseInputs } from '../lib/project/inputs.js';
import { verifyText } from '../lib/report/verify-text.js';
import { VARIATIONS, variationNamed } from '../lib/verify/conditions.js';
import { choosePlan, matrixBuilds, matrixJobs } from '../lib/verify/plan.js';
import { explainFindings } from '../lib/verify/attribution.js';
import type { LocatedFinding } from '../lib/verify/findings.js';
import { verifyReport } from '../lib/verify/report.js';
import { verifyRelease, type VerifyResult } from '../lib/verify/verify.js';
import { controlConditions } from '../lib/verify/conditions.js';
import { allAttributed, causesOf } from './helpers/causes.js';
import { FakeBackend, type FakeModel } from './helpers/fake-backend.js';
import { tempDir } from './helpers/stage.js';

// Build plans on the fake backend: which plan, how many builds at once, what the matrix plan's rounds explain, and a
// build that fails under a variation as a finding. Seconds, no engine.
const SDE = 1700000000;
const validateReport = new Ajv2020({ strict: true, allErrors: true }).compile(JSON.parse(readFileSync(path.resolve('schemas/verify-report.schema.json'), 'utf8')));
const LOCK = await readLock(path.resolve('build-image/environment.lock.json'));
const GIT_ENV = { ...process.env, GIT_AUTHOR_NAME: 'k', GIT_AUTHOR_EMAIL: 'k@x.invalid', GIT_COMMITTER_NAME: 'k', GIT_COMMITTER_EMAIL: 'k@x.invalid', GIT_AUTHOR_DATE: `@${SDE} +0000`, GIT_COMMITTER_DATE: `@${SDE} +0000` };
const simple: Project = { ...KUBERNETES_DEFAULTS, command: ['make'], outputs: ['out'], release: false, images: false };

function repo(): string {
  const dir = tempDir('krepro-plan-');
  mkdirSync(path.join(dir, 'src'), { recursive: true });
  writeFileSync(path.join(dir, 'src', 'main.c'), 'int main() {}\n');
  for (const args of [['init', '-q', '-b', 'main'], ['add', '-A'], ['commit', '-q', '-m', 'x']]) execFileSync('git', args, { cwd: dir, env: GIT_ENV });
  return dir;
}

function verify(backend: FakeBackend, opts: { jobs?: number; plan?: 'adaptive' | 'matrix'; variations?: string[]; attribute?: boolean } = {}): Promise<VerifyResult> {
  const environment: EnvironmentSource = { kind: 'locked', lock: LOCK, options: { workDir: tempDir('krepro-plan-work-') } };
  return verifyRelease({
    checkoutRoot: repo(),
    hostname: 'test-host',
    backends: { control: backend, experiment: backend },
    environment,
    variations: opts.variations ? opts.variations.map(variationNamed) : VARIATIONS,
    inputs: releaseInputs({ project: simple, host: {}, sourceDateEpoch: SDE, version: 'v1.2.3' }),
    ...(opts.jobs ? { jobs: opts.jobs } : {}),
    ...(opts.plan ? { plan: opts.plan } : {}),
    ...(opts.attribute === false ? { attribute: false } : {}),
  });
}

/** Two causes in one artifact (build path and time zone), and a random token: issue 9's line and nondeterminism. */
const twoCauses: FakeModel = ({ conditions: c, count }) => ({
  files: { 'out/stamp.txt': `built in ${c!.buildPath} at zone ${c!.tz}\n`, 'out/random.txt': `${count}\n`, 'out/same.txt': 'x\n' },
});

test('the plan: matrix when --jobs ≥ n + 3, else adaptive, unless one is asked for; --jobs must be a whole number', () => {
  assert.is(choosePlan(undefined, 19, 16).kind, 'matrix');
  assert.is(choosePlan(undefined, 18, 16).kind, 'adaptive');
  assert.is(choosePlan(undefined, 5, 2).kind, 'matrix');
  assert.is(choosePlan('adaptive', 50, 16).kind, 'adaptive');
  assert.match(choosePlan('matrix', 1, 16).why, '--plan matrix');
  assert.throws(() => choosePlan(undefined, 0, 16), /--jobs must be a whole number ≥ 1/);
  assert.throws(() => choosePlan(undefined, 1.5, 16), /--jobs/);
});

test('the matrix plan: control, noise, experiment, each variation alone; in memory only where the file order is compared', () => {
  const builds = matrixBuilds(controlConditions(), VARIATIONS);
  assert.is(builds.length, VARIATIONS.length + 3);
  assert.equal(builds.slice(0, 3).map((b) => b.id), ['control', 'noise', 'experiment']);
  const memory = builds.filter((b) => b.conditions.fileOrder !== 'filesystem').map((b) => b.id);
  assert.equal(memory, ['control', 'noise', 'experiment', 'file-order']);
  assert.equal(matrixJobs(builds).slice(0, 3), ['control,noise', 'experiment', 'build-path']);
  // without the file-order variation nothing needs a file order of its own: every build keeps the control's
  assert.ok(matrixBuilds(controlConditions(), [variationNamed('tz')]).every((b) => b.conditions.fileOrder === 'sorted'));
});

test('matrix attribution: each finding explained by the first single-variation build or the noise that shows it; the rest waits for a second round', () => {
  const finding = (artifact: string): LocatedFinding => ({ artifact, path: [], field: 'content', diffCause: 'content', left: 'a', right: 'b', opaque: false });
  const out = (id: string, ...artifacts: string[]) => ({ id, findings: artifacts.map(finding) });
  const input = (findings: string[], noise: string[]) => ({ variations: ['tz', 'build-path', 'file-order'], experiment: out('experiment', ...findings), noise: [out('noise', ...noise)], recognize: () => [] });
  const verdicts = explainFindings(input(['a', 'b', 'noisy', 'both'], ['noisy']), [
    { variations: ['tz'], alsoVaries: ['file-order'], outcome: out('tz', 'a', 'order') },
    { variations: ['build-path'], alsoVaries: ['file-order'], outcome: out('build-path', 'a', 'order') },
    { variations: ['file-order'], outcome: out('file-order', 'order') },
  ]);
  assert.equal(
    verdicts.map((v) => (v === undefined ? 'open' : v.kind === 'variation' ? v.variations.join('+') : v.kind)),
    ['tz', 'open', 'nondeterminism', 'open'],
  );
  // a build on disk lists files in another order: what the file-order build shows too is file-order's, not its own
  const order = explainFindings(input(['order'], []), [
    { variations: ['tz'], alsoVaries: ['file-order'], outcome: out('tz', 'order') },
    { variations: ['file-order'], outcome: out('file-order', 'order') },
  ]);
  assert.equal(order.map((v) => (v?.kind === 'variation' ? v.variations : v?.kind)), [['file-order']]);
});

test('the matrix plan on the fake: n + 3 builds at once in one round, the same causes as the adaptive plan, every build recorded where it ran', async () => {
  const adaptive = await verify(new FakeBackend(twoCauses));
  const backend = new FakeBackend(twoCauses);
  backend.delayMs = 100;
  const matrix = await verify(backend, { jobs: 19 });
  assert.is(matrix.plan.kind, 'matrix');
  assert.match(matrix.plan.why, '--jobs 19 ≥ n + 3 = 19');
  assert.is(backend.maxRunning, 19, 'the first round at once');
  assert.is(matrix.plan.rounds.length, 1);
  assert.is(matrix.plan.rounds[0]!.builds.length, 19);
  assert.equal(causesOf(matrix), causesOf(adaptive));
  assert.equal(causesOf(matrix), { 'out/random.txt': ['nondeterminism'], 'out/stamp.txt': ['build-path', 'tz'] });
  assert.is(matrix.status, 'not-reproducible');
  assert.ok(allAttributed(matrix));
  assert.is(adaptive.plan.kind, 'adaptive');
  assert.ok(adaptive.plan.rounds.length === adaptive.builds.length, 'one build per round');
  const report = verifyReport(matrix);
  assert.ok(validateReport(report), JSON.stringify(validateReport.errors, null, 2));
  assert.ok(report.builds.every((b) => b.round === 1 && b.host.machine === 'fake-host'));
  assert.match(verifyText(report), /^plan: matrix \(--jobs 19/m);
  // file order compared only where the file-order variation needs it
  const onDisk = backend.requests.filter((q) => q.container.kind === 'controlled' && q.container.conditions.fileOrder === 'filesystem').map((q) => q.id);
  assert.is(onDisk.length, VARIATIONS.length - 1);
});

test('the matrix plan: a difference only two variations make together gets a second round, found as an interaction', async () => {
  const model: FakeModel = ({ conditions: c }) => ({ files: { 'out/x.txt': c!.tz !== 'UTC' && c!.locale !== 'C.UTF-8' ? 'both\n' : 'plain\n' } });
  const r = await verify(new FakeBackend(model), { jobs: 19 });
  assert.is(r.plan.kind, 'matrix');
  assert.ok(r.plan.rounds.length > 1, 'a second round');
  const cause = r.causes.find((c) => c.artifacts.includes('out/x.txt'))!;
  assert.is(cause.kind, 'interaction');
  assert.ok(cause.variations.includes('tz') && cause.variations.includes('locale'), cause.variations.join(','));
  assert.ok(allAttributed(r));
});

test('--jobs caps builds at once, and memory caps the in-memory ones among them', async () => {
  const backend = new FakeBackend(twoCauses);
  backend.delayMs = 30;
  const r = await verify(backend, { jobs: 4, plan: 'matrix' });
  assert.is(r.plan.kind, 'matrix');
  assert.is(backend.maxRunning, 4);
  assert.equal(causesOf(r), { 'out/random.txt': ['nondeterminism'], 'out/stamp.txt': ['build-path', 'tz'] });
  // the limiter itself: two in memory at most, though four jobs
  const inner = new FakeBackend(() => ({ files: { 'out/a': 'a' } }));
  inner.delayMs = 20;
  const limited = new LimitedBackend(inner, { jobs: 4, inMemory: 2 });
  const memoryRunning = { now: 0, max: 0 };
  const requests = matrixBuilds(controlConditions(), VARIATIONS).map((b, i): BuildRequest => ({
    id: b.id,
    environment: { id: 'sha256:x', ref: 'x', variables: [], made: false },
    sources: { dir: '/nonexistent', commit: '0'.repeat(40) },
    command: ['true'],
    variables: {},
    container: { kind: 'controlled', conditions: b.conditions },
    network: 'none',
    outputs: ['out'],
    dir: path.join(tempDir('krepro-limit-'), String(i)),
    run: { checkoutHash: 'x', runId: 'y', labels: {} },
  }));
  const original = inner.build.bind(inner);
  inner.build = async (q, o) => {
    const memory = q.container.kind === 'controlled' && q.container.conditions.fileOrder !== 'filesystem';
    if (memory) memoryRunning.max = Math.max(memoryRunning.max, ++memoryRunning.now);
    try {
      return await original(q, o);
    } finally {
      if (memory) memoryRunning.now--;
    }
  };
  await Promise.all(requests.map((q) => limited.build(q)));
  assert.is(inner.maxRunning, 4);
  assert.is(memoryRunning.max, 2);
});

test('a build that fails under one variation is a finding, "the build fails when tz", exit 1 with its log tail, in both plans', async () => {
  const model: FakeModel = ({ conditions: c }) => (c!.tz === 'UTC' ? { files: { 'out/a': 'a' } } : { files: {} as Record<string, string>, exitCode: 2, log: 'compiling\nerror: unknown time zone Pacific/Chatham\n' });
  for (const jobs of [1, 19]) {
    const r = await verify(new FakeBackend(model), { jobs });
    assert.is(r.status, 'not-reproducible', `jobs ${jobs}`);
    assert.is(r.failure, undefined);
    assert.equal(r.failures.map((f) => [f.kind, f.variations]), [['variation', ['tz']]], `jobs ${jobs}`);
    assert.ok(r.failures[0]!.logTail.includes('error: unknown time zone Pacific/Chatham'));
    const report = verifyReport(r);
    assert.ok(validateReport(report), JSON.stringify(validateReport.errors, null, 2));
    assert.match(verifyText(report), /the build fails:\n {2}when tz — build \S+ \(.*\) exited with 2/);
  }
  // without attribution the failing experiment is still named, with the variations it applied
  const plain = await verify(new FakeBackend(model), { attribute: false, variations: ['tz', 'umask'] });
  assert.is(plain.status, 'not-reproducible');
  assert.equal(plain.failures.map((f) => [f.kind, f.variations]), [['interaction', ['tz', 'umask']]]);
});

test('a build that fails under a variation, and other causes beside it: the search goes on without that variation', async () => {
  const model: FakeModel = ({ conditions: c }) => (c!.umask !== '0022' ? { files: {} as Record<string, string>, exitCode: 1, log: 'install: bad mode\n' } : { files: { 'out/home.txt': `${c!.home}\n` } });
  for (const jobs of [1, 19]) {
    const r = await verify(new FakeBackend(model), { jobs });
    assert.equal(r.failures.map((f) => f.variations), [['umask']], `jobs ${jobs}`);
    assert.equal(causesOf(r), { 'out/home.txt': ['home'] }, `jobs ${jobs}`);
  }
});

test.run();
