import { test as root } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { DockerBackend } from '../lib/backend/docker/backend.js';
import { openSwarmBackend } from '../lib/backend/swarm/backend.js';
import { newRun } from '../lib/checkout/names.js';
import { readLock } from '../lib/environment/lock.js';
import { runCliAsync } from './helpers/cli.js';
import { compareWithRules, readExpected, reportFindings } from './helpers/corpus.js';
import { engineOrSkip } from './helpers/engine.js';
import { suiteWhen } from './helpers/skip.js';
import { FIXTURES, tempDir } from './helpers/stage.js';
import { startSwarm, type TestSwarm } from './helpers/swarm.js';

// `krepro verify --backend swarm` on a swarm of three engines, each in its own network namespace: the verdict and
// causes the corpus case has on a local engine (its expected.json, which test/verify.test.ts holds the local engine
// to), by the adaptive plan and by the matrix plan, whose builds at once spread over the nodes; the variations a
// service cannot apply reported as not tested, and nothing of the runs left on any node. Two verifies, shared by
// the assertions: the swarm's first run pays for the environment reaching every node, the second (the matrix plan,
// three variations: six builds at once) finds it there.
const CASE = path.join(FIXTURES, 'verify-corpus', 'hostname-and-umask');
const SDE = 1700000000;
/** Networks every engine in a swarm has on its own. */
const OWN_NETWORKS = ['bridge', 'docker_gwbridge', 'host', 'ingress', 'none'];

type Report = Parameters<typeof reportFindings>[0] & {
  verdict: string;
  variations: { name: string; tested: boolean; reason?: string }[];
  builds: { id: string; label: string; round: number; engine: string; host: { backend: string; machine: string } }[];
  plan: { kind: string; jobs: number; rounds: { round: number; builds: string[] }[]; hosts: { build: string; differences: string[] }[] };
};
/** A build's machine on the swarm: the node's host name and ID. */
const NODE = /^\S+ \(node ([0-9a-z]{12})\)$/;

/** Every directory the tests make, removed afterwards. */
const made: string[] = [];
const madeDir = (prefix: string): string => {
  const dir = tempDir(prefix);
  made.push(dir);
  return dir;
};

function project(): string {
  const dir = madeDir('krepro-swarm-verify-');
  cpSync(CASE, dir, { recursive: true, filter: (p) => path.basename(p) !== 'expected.json' });
  const env = { ...process.env, GIT_AUTHOR_DATE: `@${SDE} +0000`, GIT_COMMITTER_DATE: `@${SDE} +0000`, GIT_AUTHOR_NAME: 'k', GIT_AUTHOR_EMAIL: 'k@x.invalid', GIT_COMMITTER_NAME: 'k', GIT_COMMITTER_EMAIL: 'k@x.invalid' };
  for (const args of [['init', '-q', '-b', 'main'], ['add', '-A'], ['commit', '-q', '-m', 'fixture']]) execFileSync('git', args, { cwd: dir, env });
  return dir;
}

const docker = (host: string, ...args: string[]): string[] =>
  spawnSync('docker', ['-H', host, ...args], { encoding: 'utf8' })
    .stdout.trim()
    .split('\n')
    .filter(Boolean);

suiteWhen(await engineOrSkip(), 'no Docker engine', (engine, test) => {
  let swarm: TestSwarm;
  let sources: string;
  let run: { code: number | null; stdout: string; stderr: string };
  let report: Report;
  let matrixRun: { code: number | null; stdout: string; stderr: string };
  let matrix: Report;

  // uvu reports nothing of a hook that throws: the setup's failure is each test's.
  let setup: string | undefined;
  const ready = (): void => assert.is(setup, undefined, setup);

  test.before(async () => {
    try {
      swarm = await startSwarm(3);
      sources = project();
      run = await runCliAsync(['verify', '--json', '--backend', 'swarm', '--engine', swarm.manager, '--vary', 'hostname,umask,cpus,domain,file-order,aslr'], sources);
      report = JSON.parse(run.stdout) as Report;
      // file-order among the variations: the other single-variation builds run on the nodes' disks.
      matrixRun = await runCliAsync(['verify', '--json', '--backend', 'swarm', '--engine', swarm.manager, '--plan', 'matrix', '--jobs', '6', '--vary', 'hostname,umask,file-order'], sources);
      matrix = JSON.parse(matrixRun.stdout) as Report;
    } catch (err) {
      setup = `${(err as Error).message}\n${(matrixRun ?? run)?.stderr.slice(-4000) ?? ''}`;
    }
  });

  test.after(async () => {
    await swarm?.remove();
    for (const dir of made) rmSync(dir, { recursive: true, force: true });
  });

  test('verdict and causes as on the local engine: every finding with the cause the case expected.json gives it', () => {
    ready();
    assert.is(run.code, 1, run.stderr.slice(-3000));
    assert.is(report.verdict, 'not-reproducible');
    assert.equal(compareWithRules(readExpected(CASE).findings, reportFindings(report)), []);
  });

  test('the matrix plan with --jobs: its first round at once, spread over the nodes (control and noise on one), each build\'s node in the report; the same verdict and causes', () => {
    ready();
    assert.is(matrixRun.code, 1, matrixRun.stderr.slice(-3000));
    assert.is(matrix.verdict, 'not-reproducible');
    assert.equal(compareWithRules(readExpected(CASE).findings, reportFindings(matrix)), []);
    assert.is(matrix.plan.kind, 'matrix');
    assert.is(matrix.plan.jobs, 6);
    assert.equal(matrix.plan.rounds.map((r) => r.builds.length), [6]);
    const nodeOf = new Map(matrix.builds.map((b) => [b.id, NODE.exec(b.host.machine)?.[1]]));
    for (const b of matrix.builds) assert.ok(nodeOf.get(b.id), `build ${b.id}: ${b.host.machine}`);
    assert.ok(new Set(nodeOf.values()).size >= 2, matrix.builds.map((b) => `${b.id}: ${b.host.machine}`).join('\n'));
    // The noise check measures the control build's own machine: both ran on one node, as on one engine of a pool.
    assert.is(nodeOf.get('noise'), nodeOf.get('control'));
    // Every build on another node than the control build's is named, with the node: the one difference of these nodes.
    const elsewhere = matrix.builds.filter((b) => b.id !== 'control' && nodeOf.get(b.id) !== nodeOf.get('control')).map((b) => b.id);
    assert.equal(matrix.plan.hosts.map((h) => h.build).sort(), elsewhere.sort());
    for (const h of matrix.plan.hosts) assert.equal(h.differences, [`machine: ${matrix.builds.find((b) => b.id === 'control')!.host.machine} → ${matrix.builds.find((b) => b.id === h.build)!.host.machine}`]);
  });

  test('taskset and the domain-name sysctl take effect on the swarm; aslr cannot, and is reported as not tested', () => {
    ready();
    const byName = new Map(report.variations.map((v) => [v.name, v]));
    for (const name of ['hostname', 'umask', 'cpus', 'domain', 'file-order']) assert.ok(byName.get(name)?.tested, `${name}: ${byName.get(name)?.reason}`);
    assert.is(byName.get('aslr')?.tested, false);
    assert.match(byName.get('aslr')?.reason ?? '', /seccomp/);
  });

  test('verify\'s builds ran on the swarm and say on which node', () => {
    ready();
    for (const b of report.builds) {
      assert.match(b.engine, /^swarm unix:\/\//);
      assert.match(b.host.machine, NODE);
    }
  });

  test('builds at once spread over the nodes; an environment copied from another engine reaches them by digest', async () => {
    ready();
    // A matrix plan's builds, as the library starts them: at once, on one backend.
    const backend = await openSwarmBackend({ host: swarm.manager, registryLock: await readLock('build-image/registry.lock.json'), workDir: '/var/tmp' });
    try {
      const base = (await engine.images.inspect('krepro-base:trixie'))!;
      const environment = await backend.prepare(
        { kind: 'copy', from: new DockerBackend(engine), environment: { id: base.id, ref: 'krepro-base:trixie', variables: [], made: false } },
        { checkoutRoot: sources, hostname: 'test-host' },
      );
      assert.is(environment.id, base.id);
      assert.match(environment.ref, /^10\.251\.\d+\.1:\d+\/krepro-environment@sha256:[0-9a-f]{64}$/);
      const run = newRun('0123456789', { 'io.krepro.test': '1' });
      const results = await Promise.all(
        ['1', '2', '3', '4'].map((id) =>
          backend.build({
            id,
            environment,
            sources: { dir: sources, commit: 'HEAD' },
            command: ['sh', '-c', `mkdir -p out && echo ${id} > out/id && id -u > out/uid && hostname > out/host && sleep 2`],
            variables: {},
            container: { kind: 'plain', user: { uid: 1234, gid: 1234 }, hostname: 'krepro-build', workingDir: '/go/src/k8s.io/kubernetes' },
            network: 'none',
            outputs: ['out'],
            dir: madeDir('krepro-swarm-out-'),
            run,
          }),
        ),
      );
      for (const r of results) {
        assert.is(r.exitCode, 0, readFileSync(r.log, 'utf8'));
        assert.equal(r.outputs.map((o) => `${o.name}=${readFileSync(o.path, 'utf8').trim()}`), [`out/host=krepro-build`, `out/id=${r.id}`, 'out/uid=1234']);
      }
      const nodes = new Set(results.map((r) => NODE.exec(r.host.machine)?.[1]));
      assert.ok(nodes.size >= 2, results.map((r) => r.host.machine).join('\n'));
    } finally {
      await backend.close();
    }
  });

  test('nothing of the run is left on any node: no service, task container, volume, network, config or secret', async () => {
    ready();
    assert.equal(docker(swarm.manager, 'service', 'ls', '-q'), []);
    assert.equal(docker(swarm.manager, 'config', 'ls', '-q'), []);
    assert.equal(docker(swarm.manager, 'secret', 'ls', '-q'), []);
    // Nodes remove the containers of removed services on their own schedule.
    for (const node of swarm.nodes) {
      for (let i = 0; i < 60 && docker(node.host, 'ps', '-aq').length > 0; i++) await new Promise((r) => setTimeout(r, 1000));
      assert.equal(docker(node.host, 'ps', '-a', '--format', '{{.Names}}'), [], node.address);
      assert.equal(docker(node.host, 'volume', 'ls', '-q'), [], node.address);
      assert.equal(docker(node.host, 'network', 'ls', '--format', '{{.Name}}').sort(), OWN_NETWORKS, node.address);
      // What stays is the environment (as on a local engine: the locked one, and the one copied in for the spread
      // test under its name) and, on the manager, the registry image.
      for (const image of docker(node.host, 'images', '--format', '{{.Repository}}')) assert.match(image, /^(krepro-base|krepro-registry|(.+\/)?krepro-environment)$/, `${node.address}: ${image}`);
    }
  });

  test('--backend swarm on an engine that manages no swarm is a usage error saying what it needs; so are --backend values it cannot use', async () => {
    const dir = sources ?? project();
    const r = await runCliAsync(['verify', '--backend', 'swarm', '--engine', engine.endpoint], dir);
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, /is not the manager of an active swarm: --backend swarm needs a manager's engine/);
    const usage: [string[], string][] = [
      [['--backend', 'kubernetes'], '--backend must be docker or swarm, not "kubernetes"'],
      [['--backend', 'swarm', '--engine', engine.endpoint, '--engine', engine.endpoint], '--backend swarm takes one --engine: the manager of the swarm'],
      [['--collect', '--backend', 'swarm', 'bundle'], '--collect runs no build: --backend does not apply'],
    ];
    for (const [args, message] of usage) {
      const u = await runCliAsync(['verify', ...args], dir);
      assert.is(u.code, 2, args.join(' '));
      assert.ok(u.stderr.startsWith(`krepro verify: ${message}\n`), u.stderr);
    }
  });
});

root.run();
