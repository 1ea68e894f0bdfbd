import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { limitBackend } from '../lib/backend/limit.js';
import { openPool, type PoolBackend, type PoolEngine } from '../lib/backend/pool/pool.js';
import { readLock } from '../lib/environment/lock.js';
import { KreproError } from '../lib/errors.js';
import { releaseInputs } from '../lib/project/inputs.js';
import { KUBERNETES_DEFAULTS, type Project } from '../lib/project/project.js';
import { VARIATIONS } from '../lib/verify/conditions.js';
import { verifyReport } from '../lib/verify/report.js';
import { verifyRelease, type VerifyResult } from '../lib/verify/verify.js';
import { causesOf } from './helpers/causes.js';
import { FakeBackend, type FakeModel } from './helpers/fake-backend.js';
import { cliEnv } from './helpers/cli.js';
import { engineOrSkip } from './helpers/engine.js';
import { gitCheckoutIn } from './helpers/outside.js';
import { startSecondEngine } from './helpers/second-engine.js';
import { suiteWhen } from './helpers/skip.js';
import { FIXTURES, tempDir } from './helpers/stage.js';

const CLI = path.resolve('dist/cli/main.js');

// The pool's scheduling on fake engines (no dockerd): spreading, limits, the reference pair on one engine, an engine
// dying or freezing mid-verify, all of them gone, environments that disagree.
const SDE = 1700000000;
const LOCK = await readLock(path.resolve('build-image/environment.lock.json'));
const validateReport = new Ajv2020({ strict: true, allErrors: true }).compile(JSON.parse(readFileSync(path.resolve('schemas/verify-report.schema.json'), 'utf8')));
const GIT_ENV = { ...process.env, GIT_AUTHOR_NAME: 'k', GIT_AUTHOR_EMAIL: 'k@x.invalid', GIT_COMMITTER_NAME: 'k', GIT_COMMITTER_EMAIL: 'k@x.invalid', GIT_AUTHOR_DATE: `@${SDE} +0000`, GIT_COMMITTER_DATE: `@${SDE} +0000` };
const project: Project = { ...KUBERNETES_DEFAULTS, command: ['make'], outputs: ['out'], release: false, images: false };
// two causes in one line (build-path and tz), as bench/verify-pool.sh's project has
const model: FakeModel = ({ conditions: c }) => ({ files: { 'out/stamp.txt': `built in ${c!.buildPath} at zone ${c!.tz}\n`, 'out/same.txt': 'x\n' } });

/** Every directory this file makes, removed at the end. */
const made: string[] = [];
const ownDir = (prefix: string): string => {
  const dir = tempDir(prefix);
  made.push(dir);
  return dir;
};

function repo(): string {
  const dir = ownDir('krepro-pool-');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'main.c'), 'int main() {}\n');
  for (const args of [['init', '-q', '-b', 'main'], ['add', '-A'], ['commit', '-q', '-m', 'x']]) execFileSync('git', args, { cwd: dir, env: GIT_ENV });
  return dir;
}

function engines(n: number, cpus: number[] = [2, 2, 4], delayMs = 30): FakeBackend[] {
  return Array.from({ length: n }, (_, i) => Object.assign(new FakeBackend(model, `fake-${i}`, cpus[i] ?? 2), { delayMs }));
}

function verify(backend: FakeBackend | PoolBackend, jobs: number): Promise<VerifyResult> {
  return verifyRelease({
    checkoutRoot: repo(),
    hostname: 'test-host',
    backends: { control: backend, experiment: backend },
    environment: { kind: 'locked', lock: LOCK, options: { workDir: ownDir('krepro-pool-work-') } },
    variations: VARIATIONS,
    inputs: releaseInputs({ project, host: {}, sourceDateEpoch: SDE, version: 'v1.2.3' }),
    plan: 'matrix',
    jobs,
  });
}

const reference = await verify(new FakeBackend(model), VARIATIONS.length + 3);
const width = VARIATIONS.length + 3;

test('the pool spreads the matrix plan over its engines: each within its share of the jobs by CPUs, control and noise on one', async () => {
  const fakes = engines(3);
  const pool = await openPool(fakes, { jobs: 16 });
  const r = await verify(pool, 16);
  assert.is(r.status, reference.status);
  assert.equal(causesOf(r), causesOf(reference));
  assert.equal(causesOf(r), { 'out/stamp.txt': ['build-path', 'tz'] });
  const report = verifyReport(r);
  assert.ok(validateReport(report), JSON.stringify(validateReport.errors, null, 2));
  const used = r.plan.engines!;
  // 16 jobs by CPUs 2:2:4
  assert.equal(used.map((e) => e.limit), [4, 4, 8]);
  fakes.forEach((f, i) => assert.ok(f.maxRunning <= used[i]!.limit && f.maxRunning > 0, `${f.name}: ${f.maxRunning} at once, limit ${used[i]!.limit}`));
  assert.is(used.reduce((n, e) => n + e.builds.length, 0), width);
  const where = (id: string): string => r.builds.find((b) => b.id === id)!.engine;
  assert.is(where('control'), 'fake-0');
  assert.is(where('noise'), 'fake-0');
  // every build records the engine it ran on, and the report names what another engine could explain
  for (const b of r.builds) assert.ok(used.find((e) => e.name === b.engine)!.builds.includes(b.id), b.id);
  const elsewhere = r.builds.filter((b) => b.engine !== 'fake-0').map((b) => b.id).sort();
  assert.equal(r.plan.hosts.map((h) => h.build).sort(), elsewhere);
  for (const h of r.plan.hosts) assert.match(h.differences[0]!, /^engine: fake-0 → fake-[12]$/);
  assert.ok(r.plan.hosts.some((h) => (h.findings ?? 0) > 0));
});

test('an engine that dies mid-verify: its builds run again on the others, the verdict and causes unchanged, the engine named', async () => {
  const fakes = engines(3, [2, 2, 2], 200);
  const lines: string[] = [];
  const pool = await openPool(fakes, { jobs: width, onLog: (l) => lines.push(l) });
  setTimeout(() => fakes[1]!.kill(), 50);
  const r = await verify(pool, width);
  assert.is(r.status, reference.status);
  assert.equal(causesOf(r), causesOf(reference));
  const lost = r.plan.engines!.find((e) => e.name === 'fake-1')!;
  assert.match(lost.lost!, /ECONNREFUSED fake-1/);
  assert.ok(lost.requeued.length > 0 && lost.builds.length === 0, JSON.stringify(lost));
  assert.ok(r.builds.every((b) => b.engine !== 'fake-1'));
  assert.ok(lines.some((l) => l.includes('fake-1 taken out of the pool')), lines.join('\n'));
  assert.match(verifyReport(r).plan.engines!.map((e) => e.lost ?? '').join(''), /fake-1/);
});

test('an engine that stops answering (frozen) is taken out when it misses its heartbeat; its builds run elsewhere', async () => {
  const fakes = engines(2, [2, 2], 100);
  const pool = await openPool(fakes, { jobs: width, heartbeatMs: 20, answerMs: 60 });
  setTimeout(() => fakes[1]!.freeze(), 30);
  const r = await verify(pool, width);
  assert.equal(causesOf(r), causesOf(reference));
  const lost = r.plan.engines!.find((e) => e.name === 'fake-1')!;
  assert.is(lost.lost, "it did not answer within 60 ms");
  assert.ok(r.builds.every((b) => b.engine === 'fake-0'));
});

test('the reference engine lost: control and noise move together to the next engine', async () => {
  const fakes = engines(3, [2, 2, 2], 200);
  const pool = await openPool(fakes, { jobs: width });
  setTimeout(() => fakes[0]!.kill(), 50);
  const r = await verify(pool, width);
  assert.equal(causesOf(r), causesOf(reference));
  const where = (id: string): string => r.builds.find((b) => b.id === id)!.engine;
  assert.is(where('control'), 'fake-1');
  assert.is(where('noise'), 'fake-1');
  assert.ok(r.plan.engines![0]!.requeued.includes('control'));
});

test('every engine gone: the verify fails naming each of them', async () => {
  const fakes = engines(2, [2, 2], 200);
  const pool = await openPool(fakes, { jobs: width });
  setTimeout(() => fakes.forEach((f) => f.kill()), 50);
  const err = await verify(pool, width).catch((e: unknown) => e);
  assert.ok(err instanceof KreproError && err.code === 'E_ENGINE_GONE', String(err));
  assert.match((err as Error).message, /every engine of the pool is gone: fake-0 \(.*ECONNREFUSED fake-0.*\); fake-1 \(/);
});

test('engines that make different environment images: an error naming both and both IDs', async () => {
  const fakes = engines(2);
  fakes[1]!.environmentId = `sha256:${'e'.repeat(64)}`;
  const err = await verify(await openPool(fakes), 4).catch((e: unknown) => e);
  assert.ok(err instanceof KreproError && err.code === 'E_ENVIRONMENT', String(err));
  assert.match((err as Error).message, /fake-0 made sha256:[0-9a-f]{64}, fake-1 made sha256:e{64}/);
});

test('a pool names each engine once, and one build at a time per engine is the least it gets', async () => {
  const [a] = engines(1);
  const err = await openPool([a!, a!]).catch((e: unknown) => e);
  assert.match(String(err), /fake-0 is in the pool twice/);
  const pool = await openPool(engines(3, [1, 1, 64]), { jobs: 3 });
  assert.equal(pool.engines().map((e) => e.limit), [1, 1, 3]);
});

test('closing the pool closes each engine that can be closed, and names the one that fails', async () => {
  const [a, b] = engines(2);
  const closed: string[] = [];
  Object.assign(a!, { close: async () => void closed.push('a') });
  Object.assign(b!, { close: async () => { closed.push('b'); throw new Error('its registry would not go'); } });
  const pool = await openPool([a!, b!]);
  const err = await pool.close().then(() => undefined, (e: unknown) => e as Error);
  assert.match(err?.message ?? 'no error', /fake-1: its registry would not go/);
  assert.equal(closed.sort(), ['a', 'b']);
});

test('a limited backend keeps what its inner backend can do beyond builds (close, ping, engines), and adds nothing it cannot', async () => {
  const [plain] = engines(1);
  const bare = limitBackend(plain!, { jobs: 1 });
  assert.is(bare.close, undefined);
  assert.is(bare.engines, undefined);
  const pool = await openPool(engines(2));
  const limited = limitBackend(pool, { jobs: 2 });
  assert.equal(limited.engines!().map((e) => e.name), ['fake-0', 'fake-1']);
  await limited.ping!();
  await limited.close!();
});

test('CLI: --pool beside --engine, --no-pool or --collect, a bad "pool" field, an engine that does not answer: exit 2 naming it', () => {
  const dir = ownDir('krepro-pool-cli-');
  gitCheckoutIn(dir, { 'krepro.json': JSON.stringify({ command: 'true', outputs: ['out'], pool: ['unix:///nonexistent/a.sock', 'unix:///nonexistent/b.sock'] }) });
  const run = (cwd: string, ...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', env: cliEnv({ SOURCE_DATE_EPOCH: String(SDE), DOCKER_HOST: 'unix:///nonexistent/docker.sock' }) });
  const cases: [string[], RegExp][] = [
    [['verify', '--pool', 'unix:///a.sock', '--engine', 'unix:///b.sock'], /--pool and --engine cannot be used together/],
    [['verify', '--pool', 'unix:///a.sock', '--no-pool'], /--pool and --no-pool contradict each other/],
    [['verify', '--collect', '--pool', 'unix:///a.sock', 'x'], /--collect runs no build: --pool does not apply/],
    [['rebuild', '--pool', 'unix:///a.sock', '--host', 'unix:///b.sock', 'rel'], /--pool and --host cannot be used together/],
    // the project file's pool: its first engine does not answer, and is named
    [['verify', '--vary', 'tz'], /nonexistent\/a\.sock/],
  ];
  for (const [args, message] of cases) {
    const r = run(dir, ...args);
    assert.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
  }
  assert.match(run(dir, 'verify', '--vary', 'tz').stderr, /pool from [0-9a-f]{40}:krepro\.json: unix:\/\/\/nonexistent\/a\.sock, unix:\/\/\/nonexistent\/b\.sock/);
  const bad = ownDir('krepro-pool-cli-');
  gitCheckoutIn(bad, { 'krepro.json': JSON.stringify({ command: 'true', outputs: ['out'], pool: ['unix:///a.sock', 'unix:///a.sock'] }) });
  const r = run(bad, 'verify');
  assert.is(r.status, 2, r.stderr);
  assert.match(r.stderr, /"pool" must be a non-empty array of distinct engine URLs/);
});

suiteWhen(await engineOrSkip(), 'no Docker engine', (_engine, test) => {
  test('a pool of three engines (this one, two in network namespaces of their own), one stopped mid-verify: same causes, the engine named; rebuild --pool', async () => {
    const started = Date.now();
    const [a, b] = await Promise.all([startSecondEngine(), startSecondEngine()]);
    const dir = ownDir('krepro-pool-real-');
    try {
      // bench/verify-pool.sh's project, with 6 s of "compiling" so the engine dies while its builds run
      cpSync(path.join(FIXTURES, 'verify-corpus', 'path-and-tz'), dir, { recursive: true });
      writeFileSync(path.join(dir, 'Makefile'), readFileSync(path.join(dir, 'Makefile'), 'utf8').replace('\tmkdir -p out\n', '\tsleep 6\n\tmkdir -p out\n'));
      for (const args of [['init', '-q', '-b', 'main'], ['add', '-A'], ['commit', '-q', '-m', 'x']]) execFileSync('git', args, { cwd: dir, env: GIT_ENV });
      const local = process.env['DOCKER_HOST'] || 'unix:///var/run/docker.sock';
      const child = spawn(process.execPath, [CLI, 'verify', '--json', '--plan', 'matrix', '--jobs', '6', '--vary', 'build-path,tz,umask', '--pool', local, '--pool', a.host, '--pool', b.host], { cwd: dir, env: cliEnv({ SOURCE_DATE_EPOCH: String(SDE) }) });
      let stdout = '';
      let stderr = '';
      let stopped: Promise<void> | undefined;
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => {
        stderr += c.toString();
        // once the builds run (each engine has two of the six), the third engine stops as a service manager stops it
        if (!stopped && /build control: control\.\.\./.test(stderr)) stopped = new Promise((resolve) => setTimeout(resolve, 2500)).then(() => b.stop());
      });
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      process.stderr.write(`  pool verify: ${((Date.now() - started) / 1000).toFixed(0)} s since the engines started\n${stderr.split('\n').filter((l) => /pool|environment|taken out|starts again/.test(l)).join('\n')}\n`);
      await stopped;
      assert.is(code, 1, stderr.slice(-3000));
      const report = JSON.parse(stdout);
      const causes = report.causes.filter((c: { kind: string }) => c.kind !== 'consequence').map((c: { kind: string; variations: string[]; artifacts: string[] }) => `${c.artifacts.join(',')}: ${c.kind} ${c.variations.join('+')}`);
      assert.equal(causes.sort(), ['out/stamp.txt: variation build-path', 'out/stamp.txt: variation tz'], JSON.stringify(report.causes));
      const engines: PoolEngine[] = report.plan.engines;
      assert.equal(engines.map((e) => e.name), [local, a.host, b.host].map((h) => `docker ${h}`));
      // made from the lock on each: one image ID everywhere
      assert.is(new Set(engines.map((e) => e.environment)).size, 1, JSON.stringify(engines.map((e) => e.environment)));
      const lost = engines[2]!;
      assert.ok(lost.lost && lost.requeued.length > 0, JSON.stringify(lost));
      assert.match(stderr, new RegExp(`engine docker ${b.host.replace(/[/.]/g, '\\$&')} taken out of the pool`));
      for (const build of report.builds) {
        assert.ok(build.engine !== lost.name, `${build.id} ran on ${build.engine}`);
        assert.ok(build.host.kernel && build.host.cpus > 0 && build.host.engineVersion, JSON.stringify(build.host));
      }
      const on = (id: string): string => report.builds.find((x: { id: string }) => x.id === id).engine;
      assert.is(on('control'), `docker ${local}`);
      assert.is(on('noise'), `docker ${local}`);
      assert.ok(report.builds.some((x: { engine: string }) => x.engine === `docker ${a.host}`));
      // the control build's recipe, rebuilt on a pool of the engines still running
      const rebuilt = spawnSync(process.execPath, [CLI, 'rebuild', '--pool', local, '--pool', a.host, '--json', '_output/verify/control'], { cwd: dir, encoding: 'utf8', env: cliEnv({}) });
      assert.is(rebuilt.status, 0, rebuilt.stderr.slice(-3000));
      assert.is(JSON.parse(rebuilt.stdout).status, 'reproduced');
      const control = report.builds.find((x: { id: string }) => x.id === 'control');
      process.stderr.write(`  pool test: ${((Date.now() - started) / 1000).toFixed(0)} s in all; control build ${(control.durationMs / 1000).toFixed(1)} s\n`);
    } finally {
      spawnSync(process.execPath, [CLI, 'clean'], { cwd: dir, env: cliEnv({}) });
      await Promise.all([a.remove(), b.remove()]);
    }
  });
});

test.after(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

test.run();
