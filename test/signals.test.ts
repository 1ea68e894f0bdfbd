import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { checkoutIdentity } from '../lib/checkout/identity.js';
import { checkoutHash, LABEL_CHECKOUT } from '../lib/checkout/names.js';
import { cliEnv } from './helpers/cli.js';
import { engineOrSkip } from './helpers/engine.js';
import { gitCheckout } from './helpers/outside.js';
import { suiteWhen } from './helpers/skip.js';
import { materializeStage, tempDir } from './helpers/stage.js';

// Output paths are checked before any work (exit 2, naming them), and a signal's exit status is 128 + its number.
const CLI = path.resolve('dist/cli/main.js');
const NO_ENGINE = { DOCKER_HOST: 'unix:///nonexistent/docker.sock' };
const docker = await engineOrSkip();

function krepro(cwd: string, args: string[], env: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string; ms: number } {
  const started = Date.now();
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', env: cliEnv({ SOURCE_DATE_EPOCH: '1700000000', ...env }) });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - started };
}

test('a report file that cannot be written is exit 2 naming it, before any build or comparison', () => {
  const dir = gitCheckout({ 'krepro.json': JSON.stringify({ command: 'true', outputs: ['out'] }) });
  const v = krepro(dir, ['verify', '--html', '/nonexistent/x.html'], NO_ENGINE);
  assert.is(v.code, 2, v.stderr);
  assert.is(v.stderr, 'krepro verify: --html /nonexistent/x.html: the directory /nonexistent does not exist\n', 'before the engine is reached');
  const stage = materializeStage(path.join(tempDir(), 'stage'));
  for (const [option, value, why] of [
    ['--html', '/nonexistent/x.html', 'the directory /nonexistent does not exist'],
    ['--json-file', dir, 'is a directory'],
  ] as const) {
    const d = krepro(dir, ['diff', option, value, stage, stage]);
    assert.is(d.code, 2, d.stderr);
    assert.is(d.stderr, `krepro diff: ${option} ${value}: ${why}\n`);
    assert.is(d.stdout, '', 'no comparison ran');
  }
});

test('--help and the README document 143 for SIGTERM', () => {
  // Help text is wrapped: compare it as one line.
  const help = (args: string[]) => krepro(tempDir(), args).stdout.replace(/\s+/g, ' ');
  assert.match(help(['--help']), '130 interrupted (Ctrl-C, SIGINT), 143 terminated (SIGTERM, as a CI system cancels a job)');
  for (const command of ['verify', 'run', 'diff', 'package']) assert.match(help([command, '--help']), '143 terminated (SIGTERM', command);
  assert.match(readFileSync('README.md', 'utf8').replace(/\s+/g, ' '), '130 interrupted (Ctrl-C, SIGINT), 143 terminated (SIGTERM');
});

suiteWhen(docker, 'no Docker engine', (main, test) => {
  test('SIGTERM during krepro run: exit 143, the build container removed', async () => {
    const dir = gitCheckout({ 'krepro.json': JSON.stringify({ command: 'true', outputs: ['out'] }) });
    const child = spawn(process.execPath, [CLI, 'run', '--', 'sleep', '120'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], env: cliEnv() });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const hash = checkoutHash(await checkoutIdentity(dir, hostname()));
    const running = async () => (await main.containers.list({ [LABEL_CHECKOUT]: hash })).some((c) => c.state === 'running' && c.name.startsWith(`krepro-build-1-${hash}-`));
    for (let i = 0; i < 1500 && !(await running()); i++) await new Promise((r) => setTimeout(r, 200));
    assert.ok(await running(), `the build never started: ${stderr}`);
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.is(code, 143, stderr);
    assert.match(stderr, 'krepro run: terminated (SIGTERM); nothing was left half-written');
    assert.equal((await main.containers.list({ [LABEL_CHECKOUT]: hash })).map((c) => c.name), [], 'no container left');
    krepro(dir, ['clean']);
  });
});

test.run();
