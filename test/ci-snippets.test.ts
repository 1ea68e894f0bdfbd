import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { runAsync } from './helpers/cli.js';
import { engineOrSkip } from './helpers/engine.js';
import { suiteWhen } from './helpers/skip.js';
import { FIXTURES, tempDir } from './helpers/stage.js';

// The README's CI snippets, run as written: every command of the GitHub Actions workflow and of the GitLab job, each
// a process of its own in a fresh clone per job, the matrix filled from `--plan-only`, artifacts carried between jobs
// as the CI systems carry them (upload/download by name; GitLab's paths merged). Only the install lines are not run,
// and the test says which. One small corpus project with two causes.
const CLI = path.resolve('dist/cli/main.js');
const SDE = 1700000000;
/** Jobs at once: the machine has two cores, and each job is a node process with builds of its own. */
const PARALLEL = 6;
const INSTALL = new Set(['npm install -g krepro', 'sudo apt-get install -y mmdebstrap && npm install -g krepro']);
const docker = await engineOrSkip();

/** The README's YAML blocks after "**CI matrices.**": GitHub's first, GitLab's second. */
function snippets(): { github: string; gitlab: string } {
  const readme = readFileSync(path.resolve('README.md'), 'utf8');
  const from = readme.indexOf('**CI matrices.**');
  const blocks = [...readme.slice(from).matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
  return { github: blocks[0]!, gitlab: blocks[1]! };
}

interface Step {
  uses?: string;
  run?: string;
  with: Record<string, string>;
}

/** GitHub's jobs and their steps, from the one shape the README uses (one-line `run:`, `with:` maps). */
function githubJobs(yaml: string): Map<string, { steps: Step[]; matrix?: string }> {
  const jobs = new Map<string, { steps: Step[]; matrix?: string }>();
  let job: { steps: Step[]; matrix?: string } | undefined;
  let step: Step | undefined;
  let inWith = false;
  for (const line of yaml.split('\n')) {
    const name = /^ {2}(\w+):$/.exec(line);
    if (name) jobs.set(name[1]!, (job = { steps: [] }));
    const matrix = /^ {8}build: \$\{\{ (.*) \}\}$/.exec(line);
    if (matrix && job) job.matrix = matrix[1]!;
    const item = /^ {6}- (\w+): (.*)$/.exec(line);
    if (item && job) {
      job.steps.push((step = { with: {} }));
      inWith = false;
      if (item[1] === 'uses') step.uses = item[2]!;
      if (item[1] === 'run') step.run = item[2]!;
    }
    const run = /^ {8}run: (.*)$/.exec(line);
    if (run && step) step.run = run[1]!;
    if (/^ {8}with:$/.test(line)) inWith = true;
    const w = /^ {10}(\w+): (.*)$/.exec(line);
    if (w && step && inWith) step.with[w[1]!] = w[2]!;
  }
  return jobs;
}

function sh(cwd: string, command: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runAsync('bash', ['-e', '-c', command], { cwd, env: { ...process.env, ...env } });
}

async function pool<T>(items: T[], run: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(PARALLEL, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await run(items[i]!, i);
      }
    }),
  );
}

suiteWhen(docker, 'no Docker engine', (_docker, t) => {
  const work = tempDir('krepro-ci-snippets-');
  const bin = path.join(work, 'bin');
  const origin = path.join(work, 'origin');
  const clones: string[] = [];
  let env: Record<string, string> = {};
  let clone: (name: string) => string = () => '';

  t.before(() => {
    mkdirSync(bin);
    writeFileSync(path.join(bin, 'krepro'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} "$@"\n`);
    chmodSync(path.join(bin, 'krepro'), 0o755);
    env = { PATH: `${bin}:${process.env['PATH']}` };
    cpSync(path.join(FIXTURES, 'verify-corpus', 'path-and-tz'), origin, { recursive: true, filter: (p) => path.basename(p) !== 'expected.json' });
    const gitEnv = { ...process.env, GIT_AUTHOR_DATE: `@${SDE} +0000`, GIT_COMMITTER_DATE: `@${SDE} +0000`, GIT_AUTHOR_NAME: 'k', GIT_AUTHOR_EMAIL: 'k@x.invalid', GIT_COMMITTER_NAME: 'k', GIT_COMMITTER_EMAIL: 'k@x.invalid' };
    for (const args of [['init', '-q', '-b', 'main'], ['add', '-A'], ['commit', '-q', '-m', 'fixture']]) execFileSync('git', args, { cwd: origin, env: gitEnv });
    // actions/checkout and GitLab's clone: each job starts from a fresh clone of the commit
    clone = (name) => {
      const dir = path.join(work, 'jobs', name);
      execFileSync('git', ['clone', '-q', origin, dir]);
      clones.push(dir);
      return dir;
    };
  });

  t.after(async () => {
    await pool(clones, async (dir) => void (await sh(dir, `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} clean`, {})));
    rmSync(work, { recursive: true, force: true });
  });

  t("GitHub Actions: the README's workflow, job by job — plan, the matrix of builds with their artifacts, collect", async () => {
    const jobs = githubJobs(snippets().github);
    assert.equal([...jobs.keys()], ['plan', 'build', 'collect']);
    const skipped: string[] = [];
    const runStep = async (dir: string, step: Step, vars: Record<string, string>, extra: Record<string, string> = {}) => {
      if (INSTALL.has(step.run!)) return void skipped.push(step.run!);
      const command = step.run!.replace(/\$\{\{ ([^}]+) \}\}/g, (_m, expr: string) => {
        assert.ok(expr in vars, `no value for ${expr}`);
        return vars[expr]!;
      });
      const r = await sh(dir, command, { ...env, ...extra });
      return r;
    };
    // plan
    const planDir = clone('github-plan');
    const output = path.join(work, 'github-output');
    writeFileSync(output, '');
    for (const step of jobs.get('plan')!.steps) {
      if (step.uses) assert.is(step.uses, 'actions/checkout@v4');
      else {
        const r = await runStep(planDir, step, {}, { GITHUB_OUTPUT: output });
        if (r) assert.is(r.code, 0, r.stderr);
      }
    }
    const plan = JSON.parse(/^plan=(.*)$/m.exec(readFileSync(output, 'utf8'))![1]!) as { matrix: string[] };
    assert.is(jobs.get('build')!.matrix, 'fromJSON(needs.plan.outputs.plan).matrix');
    // build: one job per matrix value, each with its own clone and artifact
    const artifacts = new Map<string, string>();
    await pool(plan.matrix, async (value, index) => {
      const dir = clone(`github-build-${index}`);
      for (const step of jobs.get('build')!.steps) {
        const vars = { 'matrix.build': value, 'strategy.job-index': String(index) };
        if (step.uses === 'actions/checkout@v4') continue;
        if (step.uses === 'actions/upload-artifact@v4') {
          const name = step.with['name']!.replace('${{ strategy.job-index }}', String(index));
          artifacts.set(name, path.join(dir, step.with['path']!));
          continue;
        }
        assert.is(step.uses, undefined, `unknown step ${step.uses}`);
        const r = await runStep(dir, step, vars);
        if (r) assert.is(r.code, 0, `${value}: ${r.stderr.slice(-2000)}`);
      }
    });
    // collect: every artifact of the pattern, each in a directory of its name below the path
    const collectDir = clone('github-collect');
    let result: { code: number | null; stdout: string; stderr: string } | undefined;
    for (const step of jobs.get('collect')!.steps) {
      if (step.uses === 'actions/checkout@v4') continue;
      if (step.uses === 'actions/download-artifact@v4') {
        const prefix = step.with['pattern']!.replace(/\*$/, '');
        for (const [name, from] of artifacts) if (name.startsWith(prefix)) cpSync(from, path.join(collectDir, step.with['path']!, name), { recursive: true });
        continue;
      }
      result = (await runStep(collectDir, step, {})) ?? result;
    }
    assert.equal(new Set(skipped), new Set(INSTALL), 'only the install lines are not run');
    assert.is(result?.code, 1, result?.stderr);
    assert.match(result!.stdout, /^commit [0-9a-f]{40}, SOURCE_DATE_EPOCH=\d+: NOT REPRODUCIBLE: 2 causes, /m);
    assert.match(result!.stdout, /^plan: matrix \(--collect, collected from bundles\): 19 build\(s\)/m);
    assert.match(result!.stdout, /^ {2}\d\. build-path: \d+ findings? in .*; proven by build build-path$/m);
    assert.match(result!.stdout, /^ {2}\d\. tz: \d+ findings? in .*; proven by build tz$/m);
    assert.ok(existsSync(path.join(collectDir, 'report.html')));
  });

  t("GitLab CI: the README's parallel matrix is the plan's, and its jobs' scripts, run as written, give the same verdict", async () => {
    const yaml = snippets().gitlab;
    const list = /- BUILD: \[(.*)\]/.exec(yaml)![1]!;
    const values = [...list.matchAll(/"([^"]*)"|([^,\s]+)/g)].map((m) => m[1] ?? m[2]!);
    const planDir = clone('gitlab-plan');
    const plan = JSON.parse(execFileSync(process.execPath, [CLI, 'verify', '--plan-only'], { cwd: planDir, encoding: 'utf8' })) as { matrix: string[] };
    assert.equal(values, plan.matrix, 'the static list is the plan');
    const scripts = [...yaml.matchAll(/ {2}script:\n((?: {4}- .*\n)+)/g)].map((m) => m[1]!.trimEnd().split('\n').map((l) => l.replace(/^ {4}- /, '')));
    assert.is(scripts.length, 2);
    const [build, verify] = scripts as [string[], string[]];
    const verifyDir = clone('gitlab-verify');
    await pool(values, async (value, index) => {
      const dir = clone(`gitlab-build-${index}`);
      for (const command of build) {
        const r = await sh(dir, command, { ...env, BUILD: value, CI_NODE_INDEX: String(index + 1) });
        assert.is(r.code, 0, `${value}: ${r.stderr.slice(-2000)}`);
      }
      // artifacts: paths [bundles/], merged into the later stage's clone
      assert.match(yaml, /artifacts:\n {4}paths: \[bundles\/\]/);
      cpSync(path.join(dir, 'bundles'), path.join(verifyDir, 'bundles'), { recursive: true });
    });
    assert.is(readdirSync(path.join(verifyDir, 'bundles')).length, values.length);
    let last: { code: number | null; stdout: string; stderr: string } | undefined;
    for (const command of verify) last = await sh(verifyDir, command, env);
    assert.is(last?.code, 1, last?.stderr);
    assert.match(last!.stdout, /^ {2}\d\. build-path: \d+ findings? in .*; proven by build build-path$/m);
    assert.match(last!.stdout, /^ {2}\d\. tz: \d+ findings? in .*; proven by build tz$/m);
    assert.ok(existsSync(path.join(verifyDir, 'report.html')));
  });
});

test.run();
