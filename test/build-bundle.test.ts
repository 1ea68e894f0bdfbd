import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { claimCheckout, shareCheckout } from '../lib/checkout/claim.js';
import { readLock } from '../lib/environment/lock.js';
import type { EnvironmentSource } from '../lib/environment/source.js';
import { KUBERNETES_DEFAULTS, type Project } from '../lib/project/project.js';
import { releaseInputs } from '../lib/project/inputs.js';
import { verifyText } from '../lib/report/verify-text.js';
import { VARIATIONS, variationNamed } from '../lib/verify/conditions.js';
import { BUILD_BUNDLE_FILE, buildBundleBackend, planDocument, readBuildBundles, writeBuildBundle } from '../lib/verify/build-bundle.js';
import { verifyReport } from '../lib/verify/report.js';
import { runPlannedBuilds, verifyRelease } from '../lib/verify/verify.js';
import { causesOf } from './helpers/causes.js';
import { FakeBackend, type FakeModel } from './helpers/fake-backend.js';
import { tempDir } from './helpers/stage.js';

// The CI matrix as the builder, on the fake backend: the plan as JSON, builds run one job at a time into bundles,
// bundles collected and attributed — and bundles treated as the untrusted input they are.
const SDE = 1700000000;
const validateReport = new Ajv2020({ strict: true, allErrors: true }).compile(JSON.parse(readFileSync(path.resolve('schemas/verify-report.schema.json'), 'utf8')));
const LOCK = await readLock(path.resolve('build-image/environment.lock.json'));
const GIT_ENV = { ...process.env, GIT_AUTHOR_NAME: 'k', GIT_AUTHOR_EMAIL: 'k@x.invalid', GIT_COMMITTER_NAME: 'k', GIT_COMMITTER_EMAIL: 'k@x.invalid', GIT_AUTHOR_DATE: `@${SDE} +0000`, GIT_COMMITTER_DATE: `@${SDE} +0000` };
const project: Project = { ...KUBERNETES_DEFAULTS, command: ['make'], outputs: ['out'], release: false, images: false };
const inputs = releaseInputs({ project, host: {}, sourceDateEpoch: SDE, version: 'v1.2.3' });
const environment: EnvironmentSource = { kind: 'locked', lock: LOCK, options: { workDir: '/nonexistent' } };
const variations = ['build-path', 'tz', 'umask'].map(variationNamed);

function repo(): { dir: string; commit: string } {
  const dir = tempDir('krepro-bundle-');
  writeFileSync(path.join(dir, 'Makefile'), 'all:\n');
  for (const args of [['init', '-q', '-b', 'main'], ['add', '-A'], ['commit', '-q', '-m', 'x']]) execFileSync('git', args, { cwd: dir, env: GIT_ENV });
  return { dir, commit: execFileSync('git', ['rev-parse', 'HEAD'], { cwd: dir, encoding: 'utf8' }).trim() };
}

const model: FakeModel = ({ conditions: c }) => (c!.umask !== '0022' ? { files: {} as Record<string, string>, exitCode: 2, log: 'install: mode 0775 refused\n' } : { files: { 'out/stamp.txt': `built in ${c!.buildPath} at ${c!.tz}\n`, 'out/same.txt': 'x\n' } });

/** Every job of the plan's CI matrix, each on a backend of its own (another machine where `machine` says so). */
async function jobs(dir: string, bundles: string, machineOf: (job: string) => string = () => 'runner-1'): Promise<string[]> {
  const plan = await planDocument({ checkoutRoot: dir, commit: execFileSync('git', ['rev-parse', 'HEAD'], { cwd: dir, encoding: 'utf8' }).trim(), environment, inputs, variations });
  const out: string[] = [];
  // As CI runs them: at once, from one checkout (the bench and a laptop do; a CI runner has its own).
  await Promise.all(
    plan.matrix.map(async (job) => {
      const backend = new FakeBackend(model, 'docker unix:///var/run/docker.sock', 4, machineOf(job));
      backend.delayMs = 20;
      const built = await runPlannedBuilds({ checkoutRoot: dir, hostname: 'h', backends: { control: backend, experiment: backend }, environment, variations, inputs, ids: job.split(',') });
      const target = path.join(bundles, job);
      await writeBuildBundle(target, plan, built.environment, built.builds);
      rmSync(built.workDir, { recursive: true, force: true });
      out.push(target);
    }),
  );
  return out.sort();
}

async function collect(dir: string, dirs: string[]) {
  const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: dir, encoding: 'utf8' }).trim();
  const plan = await planDocument({ checkoutRoot: dir, commit, environment, inputs, variations });
  const collected = await readBuildBundles(dirs, plan);
  const backend = buildBundleBackend(collected);
  return verifyRelease({ checkoutRoot: dir, hostname: 'h', backends: { control: backend, experiment: backend }, environment, variations, inputs, collected, provenance: {} });
}

test('the plan as JSON: stable IDs, the --build values of a CI matrix, a digest that changes with what decides the bytes', async () => {
  const { dir, commit } = repo();
  const plan = await planDocument({ checkoutRoot: dir, commit, environment, inputs, variations: VARIATIONS });
  assert.equal(JSON.parse(JSON.stringify(plan)), plan);
  assert.is(plan.builds.length, VARIATIONS.length + 3);
  assert.equal(plan.matrix, ['control,noise', 'experiment', ...VARIATIONS.map((v) => v.name)]);
  assert.match(plan.digest, /^sha256:[0-9a-f]{64}$/);
  const other = await planDocument({ checkoutRoot: dir, commit, environment, inputs: releaseInputs({ project, host: { GOFLAGS: '-trimpath' }, sourceDateEpoch: SDE, version: 'v1.2.3' }), variations: VARIATIONS });
  assert.is.not(other.digest, plan.digest, 'the variables decide the bytes');
  assert.is((await planDocument({ checkoutRoot: dir, commit, environment, inputs, variations: VARIATIONS })).digest, plan.digest);
});

test('jobs at once from one checkout into bundles, then collected: the same causes as a verify, a build failing under umask a finding, provenance written', async () => {
  const { dir } = repo();
  const bundles = tempDir('krepro-bundles-');
  const dirs = await jobs(dir, bundles);
  // each job cleaned up after itself: no clean copy, no work directory left
  assert.equal(readdirSync(path.join(dir, '_output', 'verify-builds')), []);
  assert.not.match(execFileSync('git', ['worktree', 'list'], { cwd: dir, encoding: 'utf8' }), /source-/);
  const r = await collect(dir, dirs);
  assert.is(r.status, 'not-reproducible');
  assert.is(r.plan.source, 'bundles');
  assert.equal(causesOf(r), { 'out/stamp.txt': ['build-path', 'tz'] });
  assert.equal(r.failures.map((f) => f.variations), [['umask']]);
  assert.ok(r.failures[0]!.logTail.includes('install: mode 0775 refused'));
  assert.equal(r.plan.hosts, []);
  assert.ok(existsSync(r.provenance!.statement) && r.provenance!.statement.startsWith(path.join(dir, '_output', 'verify')), r.provenance!.statement);
  const report = verifyReport(r);
  assert.ok(validateReport(report), JSON.stringify(validateReport.errors, null, 2));
  // the same project verified here with the matrix plan: the same verdict and causes
  const local = new FakeBackend(model);
  const here = await verifyRelease({ checkoutRoot: dir, hostname: 'h', backends: { control: local, experiment: local }, environment, variations, inputs, jobs: 6 });
  assert.is(here.plan.kind, 'matrix');
  assert.equal(causesOf(here), causesOf(r));
  assert.equal(here.failures.map((f) => f.variations), [['umask']]);
});

test('bundles from other hosts: the control and noise builds of one host are the reference; what another host shows is named as a possible host difference', async () => {
  const { dir } = repo();
  const dirs = await jobs(dir, tempDir('krepro-bundles-'), (job) => (job === 'tz' ? 'runner-2' : 'runner-1'));
  const r = await collect(dir, dirs);
  // the tz build's one finding (the zone in stamp.txt) is what the other host could explain
  assert.equal(r.plan.hosts, [{ build: 'tz', differences: ['machine: runner-1 → runner-2'], findings: 1 }]);
  assert.match(verifyText(verifyReport(r)), /note: build tz ran on another host than the control build \(machine: runner-1 → runner-2\): what it shows \(1 finding\) could be a host difference/);
});

test('bundles are untrusted input: each refused by name — changed artifact, link, path out of the bundle, other commit, other plan, a build twice, a build missing', async () => {
  const { dir } = repo();
  const good = await jobs(dir, tempDir('krepro-bundles-'));
  const tz = good.find((d) => d.endsWith('/tz'))!;
  const variant = (change: (copy: string) => void): string[] => {
    const copy = path.join(tempDir('krepro-bundle-bad-'), 'tz');
    cpSync(tz, copy, { recursive: true });
    change(copy);
    return good.map((d) => (d === tz ? copy : d));
  };
  const editJson = (copy: string, edit: (j: Record<string, any>) => void): void => {
    const file = path.join(copy, BUILD_BUNDLE_FILE);
    const j = JSON.parse(readFileSync(file, 'utf8'));
    edit(j);
    writeFileSync(file, JSON.stringify(j));
  };
  const refused = async (dirs: string[], pattern: RegExp): Promise<void> => {
    try {
      await collect(dir, dirs);
    } catch (err) {
      assert.is((err as { code?: string }).code, 'E_BUNDLE', (err as Error).message);
      assert.match((err as Error).message, pattern);
      return;
    }
    assert.unreachable(`accepted: ${pattern}`);
  };
  await refused(variant((c) => appendFileSync(path.join(c, 'tz', 'artifacts', 'out', 'stamp.txt'), 'x')), /tz\/artifacts\/out\/stamp\.txt is not what the bundle says it is/);
  await refused(
    variant((c) => {
      rmSync(path.join(c, 'tz', 'artifacts', 'out', 'stamp.txt'));
      symlinkSync('/etc/passwd', path.join(c, 'tz', 'artifacts', 'out', 'stamp.txt'));
    }),
    /"tz\/artifacts\/out\/stamp\.txt" is a symbolic link/,
  );
  await refused(variant((c) => editJson(c, (j) => (j.builds[0].artifacts[0].file = '../../../etc/passwd'))), /is not a plain relative path below the bundle/);
  await refused(variant((c) => editJson(c, (j) => (j.commit = 'f'.repeat(40)))), /holds builds of commit f{40}/);
  await refused(variant((c) => editJson(c, (j) => (j.plan = `sha256:${'0'.repeat(64)}`))), /was made for plan sha256:0{64}, not this checkout's/);
  await refused(variant((c) => editJson(c, (j) => (j.builds[0].conditions.tz = 'UTC'))), /build "tz" ran under other conditions than the plan gives it/);
  await refused(variant((c) => editJson(c, (j) => (j.builds[0].host.kernel = 'x\u001b[2Jy'))), /host\.kernel must be printable text/);
  await refused([...good, tz], /build "tz" is also in/);
  await refused(good.filter((d) => d !== tz), /no bundle holds build tz: collect the bundles of every build of the plan/);
  await refused(variant((c) => writeFileSync(path.join(c, BUILD_BUNDLE_FILE), '{"schema": 1')), /krepro-build-bundle\.json is not JSON/);
});

test('a control build that fails in its job: collected, the verify is build-failed with the end of its log, not a missing bundle', async () => {
  const { dir } = repo();
  const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: dir, encoding: 'utf8' }).trim();
  const plan = await planDocument({ checkoutRoot: dir, commit, environment, inputs, variations });
  const backend = new FakeBackend(({ conditions: c }) => (c!.tz === 'UTC' ? { files: {} as Record<string, string>, exitCode: 3, log: 'make: *** [all] Error 3\n' } : { files: { 'out/a': 'a' } }));
  const built = await runPlannedBuilds({ checkoutRoot: dir, hostname: 'h', backends: { control: backend, experiment: backend }, environment, variations, inputs, ids: ['control', 'noise'] });
  const target = path.join(tempDir('krepro-bundles-'), 'control');
  await writeBuildBundle(target, plan, built.environment, built.builds);
  const r = await collect(dir, [target]);
  assert.is(r.status, 'build-failed');
  assert.is(r.failure?.build, 'control');
  assert.ok(r.failure?.logTail.includes('make: *** [all] Error 3'));
});

test('the claim: runs sharing a checkout exclude an exclusive run and are excluded by one; a dead sharer is no obstacle', async () => {
  const { dir } = repo();
  const a = await shareCheckout(dir, 'verify --build');
  const b = await shareCheckout(dir, 'verify --build');
  try {
    await claimCheckout(dir, 'verify');
    assert.unreachable('a verify while --build runs share the checkout');
  } catch (err) {
    assert.is((err as { code?: string }).code, 'E_LOCKED');
    assert.match((err as Error).message, /krepro verify --build/);
  }
  await a.release();
  await b.release();
  const exclusive = await claimCheckout(dir, 'verify');
  try {
    await shareCheckout(dir, 'verify --build');
    assert.unreachable('a --build while a verify holds the checkout');
  } catch (err) {
    assert.match((err as Error).message, /krepro verify\b/);
  }
  await exclusive.release();
  // a sharer that died without releasing (its pid gone) does not hold the checkout
  const shared = path.join(dir, '_output', '.krepro.shared');
  mkdirSync(shared, { recursive: true });
  writeFileSync(path.join(shared, 'dead.json'), JSON.stringify({ pid: 2 ** 22 + 17, host: (await import('node:os')).hostname(), command: 'verify --build', token: 'dead' }));
  await (await claimCheckout(dir, 'verify')).release();
  assert.equal(readdirSync(shared), []);
});

test.run();
