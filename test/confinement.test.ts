import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import * as path from 'node:path';
import { KreproError } from '../lib/errors.js';
import { pathBeneath } from '../lib/checkout/beneath.js';
import { engineOrSkip } from './helpers/engine.js';
import { git, gitCheckout, outsideDir } from './helpers/outside.js';
import { suiteWhen } from './helpers/skip.js';
import { materializeStage, tempDir } from './helpers/stage.js';
import { cliEnv } from './helpers/cli.js';

// A checkout and its build are hostile input: no link they hold may make krepro write, rename or remove anything
// outside the checkout. Each test points links at a directory outside and asserts that nothing there changed.
const CLI = path.resolve('dist/cli/main.js');
const NO_ENGINE = { DOCKER_HOST: 'unix:///nonexistent/docker.sock' };
const docker = await engineOrSkip();

function krepro(cwd: string, args: string[], env: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', env: cliEnv({ SOURCE_DATE_EPOCH: '1700000000', ...env }), timeout: 900_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const project = (outputs: string[]): string => JSON.stringify({ command: 'true', outputs, release: false, images: false });

test('pathBeneath refuses every link on the way, nested or last, naming it; only an untracked _output is the user’s', async () => {
  const outside = outsideDir();
  const root = gitCheckout({ 'krepro.json': project(['out']), lnk: { link: outside.dir }, 'real/inner': { link: outside.dir }, 'real/file': '' });
  for (const rel of ['lnk', 'lnk/sub', 'real/inner/deeper/x']) {
    const err = await pathBeneath(root, rel).catch((e: unknown) => e);
    assert.instance(err, KreproError, rel);
    assert.is((err as KreproError).code, 'E_UNSAFE_PATH');
    assert.match((err as Error).message, `refusing to write through ${path.join(root, rel.split('/').slice(0, rel.startsWith('lnk') ? 1 : 2).join('/'))}: it is a symbolic link`);
  }
  assert.is(await pathBeneath(root, 'real/new/deeper'), path.join(root, 'real/new/deeper'), 'what does not exist yet is made by krepro');
  const err = await pathBeneath(root, '../x').catch((e: unknown) => e);
  assert.is((err as KreproError).code, 'E_UNSAFE_PATH');

  symlinkSync(outside.dir, path.join(root, '_output'));
  assert.is(await pathBeneath(root, '_output/verify', { userOutputLink: true }), path.join(root, '_output/verify'), "an untracked _output link is the user's");
  assert.is(((await pathBeneath(root, '_output/verify').catch((e: unknown) => e)) as KreproError).code, 'E_UNSAFE_PATH', 'only where the caller keeps it');
  git(root, 'add', '_output');
  const tracked = await pathBeneath(root, '_output/verify', { userOutputLink: true }).catch((e: unknown) => e);
  assert.match((tracked as Error).message, 'git tracks it, so it came with the checkout');
  outside.untouched('pathBeneath');
});

test('clean: a committed _output link is refused and kept; the user’s own link is removed without following it', () => {
  const outside = outsideDir();
  const dir = gitCheckout({ 'krepro.json': project(['out']), _output: { link: outside.dir } });
  const r = krepro(dir, ['clean'], NO_ENGINE);
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, `refusing to write through ${path.join(dir, '_output')}: it is a symbolic link`);
  assert.ok(lstatSync(path.join(dir, '_output')).isSymbolicLink());
  outside.untouched('clean of a committed _output link');

  const mine = outsideDir('krepro-users-output-');
  const own = gitCheckout({ 'krepro.json': project(['out']) });
  symlinkSync(mine.dir, path.join(own, '_output'));
  const c = krepro(own, ['clean'], NO_ENGINE);
  assert.is(c.code, 0, c.stderr);
  assert.not.ok(existsSync(path.join(own, '_output')), 'the link is gone');
  assert.equal(readdirSync(mine.dir).sort(), ['sub', 'x'], 'the lock taken there was removed; nothing else was touched');
  assert.is(readFileSync(path.join(mine.dir, 'x'), 'utf8'), 'original\n');
});

test('package, stage and diff: an output path below the checkout never goes through its links; one outside it is the user’s choice', () => {
  const outside = outsideDir();
  const dir = gitCheckout({ 'krepro.json': project(['out']), out: { link: outside.dir } });
  const stage = materializeStage(path.join(tempDir(), 'stage'));
  const pkg = krepro(dir, ['package', '--stage', stage, '--out', 'out/release-tars', '--no-source']);
  assert.is(pkg.code, 2, pkg.stderr);
  assert.match(pkg.stderr, `refusing to write through ${path.join(dir, 'out')}: it is a symbolic link (to "${outside.dir}")`);
  const st = krepro(dir, ['stage', '--bin', path.join(dir, 'nothing'), '--version', 'v1.0.0', '--stage', 'out/release-stage']);
  assert.is(st.code, 2, st.stderr);
  assert.match(st.stderr, 'it is a symbolic link');
  const d = krepro(dir, ['diff', '--html', 'out/report.html', 'krepro.json', 'krepro.json']);
  assert.is(d.code, 2, d.stderr);
  assert.match(d.stderr, 'it is a symbolic link');
  outside.untouched('package, stage and diff through a committed link');

  const mine = tempDir('krepro-users-out-');
  const ok = krepro(dir, ['package', '--stage', stage, '--out', path.join(mine, 'release-tars'), '--no-source']);
  assert.is(ok.code, 0, ok.stderr);
  assert.ok(existsSync(path.join(mine, 'release-tars', 'SHA256SUMS')), 'an explicit path outside the checkout is written');
});

test('verify: a committed _output link is refused before any engine is reached', () => {
  const outside = outsideDir();
  const dir = gitCheckout({ 'krepro.json': project(['out']), _output: { link: outside.dir } });
  const r = krepro(dir, ['verify'], NO_ENGINE);
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, `refusing to write through ${path.join(dir, '_output')}: it is a symbolic link`);
  outside.untouched('verify of a committed _output link');
});

suiteWhen(docker, 'no Docker engine', (_docker, test) => {
  const dirs: string[] = [];
  const track = (dir: string): string => (dirs.push(dir), dir);
  test.after(() => {
    for (const dir of dirs) {
      if (!lstatSync(path.join(dir, '_output'), { throwIfNoEntry: false })?.isSymbolicLink()) krepro(dir, ['clean']);
      else {
        rmSync(path.join(dir, '_output'));
        krepro(dir, ['clean']);
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('run and copy-output: a committed output link, a nested one, and one the build made are refused', () => {
    const outside = outsideDir();
    const o2 = outsideDir();
    const dir = track(gitCheckout({ 'krepro.json': project(['out', 'lnk/sub', 'made', 'made/b']), out: { link: outside.dir }, lnk: { link: o2.dir } }));
    // The reproduction: the build replaces the link in the volume with a directory holding x.
    const r = krepro(dir, ['run', '--', 'sh', '-c', 'rm -f out lnk && mkdir -p out lnk/sub made && echo pwned > out/x && echo pwned > lnk/sub/x']);
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, `refusing to write through ${path.join(dir, 'out')}: it is a symbolic link`);
    for (const paths of [['lnk/sub'], ['out']]) {
      const c = krepro(dir, ['copy-output', ...paths]);
      assert.is(c.code, 2, c.stderr);
      assert.match(c.stderr, `refusing to write through ${path.join(dir, paths[0]!.split('/')[0]!)}: it is a symbolic link`);
    }
    // A link the build made in one output, below which another output lies.
    const made = krepro(dir, ['run', '--output', 'made', '--output', 'made/b', '--', 'sh', '-c', `mkdir -p made && ln -s ${outside.dir} made/b`]);
    assert.is(made.code, 2, made.stderr);
    assert.match(made.stderr, `refusing to write through ${path.join(dir, 'made/b')}: it is a symbolic link`);
    assert.ok(lstatSync(path.join(dir, 'made/b')).isSymbolicLink(), 'the first output came back as the build made it');
    outside.untouched('run and copy-output');
    o2.untouched('run and copy-output (nested link)');
  });

  test('a committed _output link: run, copy-output, release, verify and clean refuse it; nothing lands behind it', () => {
    const outside = outsideDir();
    const dir = track(gitCheckout({ 'krepro.json': project(['out']), _output: { link: outside.dir } }));
    for (const args of [['run', '--', 'sh', '-c', 'mkdir -p out && echo pwned > out/x'], ['copy-output'], ['release', '--quick'], ['verify'], ['clean']]) {
      const r = krepro(dir, args);
      assert.is(r.code, 2, `${args[0]}: ${r.stderr}`);
      assert.match(r.stderr, `refusing to write through ${path.join(dir, '_output')}: it is a symbolic link`, args[0]);
    }
    outside.untouched('every command with a committed _output link');
  });

  test('release: a committed link where the release directory goes is refused before the build', () => {
    const outside = outsideDir();
    const dir = track(gitCheckout({ 'krepro.json': project(['out']), '_output/release-tars': { link: outside.dir } }));
    const r = krepro(dir, ['release', '--quick', '--command', 'mkdir -p out && echo built > out/x']);
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, `refusing to write through ${path.join(dir, '_output/release-tars')}: it is a symbolic link`);
    assert.not.match(r.stderr, '==> build', 'refused before the build ran');
    outside.untouched('release through a committed release-tars link');
  });

  test('verify: an output link the build made is refused in the build directory; the user’s _output link is honoured', () => {
    const outside = outsideDir();
    const dir = track(gitCheckout({ 'krepro.json': project(['made', 'made/b']) }));
    const r = krepro(dir, ['verify', '--vary', 'hostname', '--command', `mkdir -p made && ln -sfn ${outside.dir} made/b`]);
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, /refusing to write through \S+\/made\/b: it is a symbolic link/);
    outside.untouched('verify of a build that makes a link');

    const mine = tempDir('krepro-users-output-');
    const own = track(gitCheckout({ 'krepro.json': project(['out']) }));
    symlinkSync(mine, path.join(own, '_output'));
    const run = krepro(own, ['run', '--output', '_output/built', '--', 'sh', '-c', 'mkdir -p _output/built && echo ok > _output/built/x']);
    assert.is(run.code, 0, run.stderr);
    assert.is(readFileSync(path.join(mine, 'built', 'x'), 'utf8'), 'ok\n', "the output went where the user's link leads");
    assert.not.ok(existsSync(path.join(mine, '.krepro.lock')), 'and the lock was released there');
  });
});

test.run();
