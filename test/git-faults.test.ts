import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, cpSync, existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { testWhen } from './helpers/skip.js';
import { GOLDEN, makeSourceRepo, materializeStage, tempDir } from './helpers/stage.js';
import { cliEnv } from './helpers/cli.js';

// Never a silently different release: in a git checkout, a git that is missing or refuses the repository, or a
// HEAD that is no commit, is an error naming the cause and --no-source; kubernetes-src.tar.gz is never left out.
const CLI = path.resolve('dist/cli/main.js');
const SDE = GOLDEN.sourceDateEpoch;
const stage = materializeStage(path.join(tempDir(), 'stage'));
const work = tempDir('krepro-git-faults-');

/** A PATH with node and nothing else: no git. */
const noGitPath = path.join(work, 'no-git-bin');
mkdirSync(noGitPath);
symlinkSync(process.execPath, path.join(noGitPath, 'node'));

/** git's global config is this (empty) one, whatever the machine has; simple-git drops GIT_* variables, so HOME. */
const home = path.join(work, 'home');
mkdirSync(home);
const gitConfig = path.join(home, '.gitconfig');
writeFileSync(gitConfig, '');
const gitEnv = { HOME: home, XDG_CONFIG_HOME: home };

function krepro(cwd: string, args: string[], env: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', env: cliEnv({ ...gitEnv, ...env }) });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `krepro package` with the default source (the current directory): returns the result and whether any output appeared. */
function packageIn(cwd: string, env: Record<string, string> = { SOURCE_DATE_EPOCH: String(SDE) }, extra: string[] = []) {
  const out = path.join(tempDir(), 'out');
  const r = krepro(cwd, ['package', '--stage', stage, '--out', out, ...extra], env);
  return { ...r, wrote: existsSync(out) ? readdirSync(out) : [] };
}

function repo(): string {
  return makeSourceRepo(path.join(tempDir('krepro-src-'), 'kubernetes'), SDE);
}

test('no git on PATH, in a git checkout: package fails naming git and --no-source, and writes nothing', () => {
  const src = repo();
  const r = packageIn(src, { SOURCE_DATE_EPOCH: String(SDE), PATH: noGitPath });
  assert.is(r.code, 2, r.stderr);
  assert.is(
    r.stderr,
    `krepro package: cannot make kubernetes-src.tar.gz: git is not installed (no git on PATH), and ${src} is a git checkout. Install git (e.g. apt-get install git), or leave kubernetes-src.tar.gz out (--no-source)\n`,
  );
  assert.equal(r.wrote, []);
  // Without SOURCE_DATE_EPOCH, the commit time cannot be read either: the same cause, named first.
  const noSde = packageIn(src, { PATH: noGitPath });
  assert.is(noSde.code, 2);
  assert.match(noSde.stderr, /^krepro package: cannot read HEAD's commit time \(SOURCE_DATE_EPOCH\) in .*: git is not installed \(no git on PATH\)/);
  // What the user was told to do works without git.
  const noSource = packageIn(src, { SOURCE_DATE_EPOCH: String(SDE), PATH: noGitPath }, ['--no-source']);
  assert.is(noSource.code, 0, noSource.stderr);
  assert.not.ok(noSource.wrote.includes('kubernetes-src.tar.gz'));
});

testWhen(process.getuid?.() === 0 ? undefined : 'chown to another uid needs root (CI runs as root)', 'a checkout git refuses as unsafe (owned by another uid): package fails naming the owner, safe.directory and --no-source', () => {
  const src = repo();
  execFileSync('chown', ['-R', '4242:4242', src]);
  const r = packageIn(src);
  assert.is(r.code, 2, r.stderr);
  assert.is(
    r.stderr,
    `krepro package: cannot make kubernetes-src.tar.gz: git refuses the repository at ${src} as unsafe: it is owned by uid 4242, not by you (uid 0) (git's safe.directory check). ` +
      `If you trust it: git config --global --add safe.directory ${src}, or leave kubernetes-src.tar.gz out (--no-source)\n`,
  );
  assert.equal(r.wrote, []);
  // The fix it names works.
  writeFileSync(gitConfig, `[safe]\n\tdirectory = ${src}\n`);
  try {
    const fixed = packageIn(src);
    assert.is(fixed.code, 0, fixed.stderr);
    assert.ok(fixed.wrote.includes('kubernetes-src.tar.gz'));
  } finally {
    writeFileSync(gitConfig, '');
    chownSync(src, 0, 0);
  }
});

test('a shallow fetch never checked out (no HEAD commit) and an empty git init: package fails naming HEAD and --no-source', () => {
  const origin = repo();
  const shallow = path.join(tempDir(), 'shallow');
  execFileSync('git', ['-c', 'init.defaultBranch=main', 'init', '-q', shallow]);
  execFileSync('git', ['fetch', '-q', '--depth', '1', `file://${origin}`, 'HEAD'], { cwd: shallow });
  assert.ok(existsSync(path.join(shallow, '.git', 'shallow')), 'a shallow repository');
  const empty = path.join(tempDir(), 'empty');
  execFileSync('git', ['-c', 'init.defaultBranch=main', 'init', '-q', empty]);
  for (const dir of [shallow, empty]) {
    // Files in the work tree, as a CI job that fetched and copied sources in might leave: still no commit.
    cpSync(path.join(origin, 'README.md'), path.join(dir, 'README.md'));
    const r = packageIn(dir);
    assert.is(r.code, 2, r.stderr);
    assert.is(
      r.stderr,
      `krepro package: cannot make kubernetes-src.tar.gz: ${dir} has no commit at HEAD (an empty repository, or a clone or fetch that never checked a commit out). Commit or check out a commit, or leave kubernetes-src.tar.gz out (--no-source)\n`,
    );
    assert.equal(r.wrote, []);
    const noSde = packageIn(dir, {});
    assert.is(noSde.code, 2);
    assert.match(noSde.stderr, `${dir} has no git commit to take it from`);
  }
});

test('not a git checkout: the default source is left out with a note; --source naming it is an error', () => {
  const plain = tempDir('krepro-plain-');
  writeFileSync(path.join(plain, 'README.md'), 'not a repository\n');
  const r = packageIn(plain);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, `note: no kubernetes-src.tar.gz: ${plain} is not a git checkout`);
  assert.not.ok(r.wrote.includes('kubernetes-src.tar.gz'));
  const explicit = packageIn(plain, { SOURCE_DATE_EPOCH: String(SDE) }, ['--source', plain]);
  assert.is(explicit.code, 2);
  assert.match(explicit.stderr, `${plain} is not a git checkout (no .git in it or a parent)`);
});

/** Evaluates `expr` (with `k`, dist/lib's checkout identity and git version, and `scan`, dist/lib/backend/docker/sync/scan.js) in a child process: "ok <json>" or "<code> <message>". */
function inChild(expr: string, env: Record<string, string>): string {
  const lib = (p: string) => JSON.stringify(path.resolve('dist/lib', p));
  const script = `Promise.all([import(${lib('checkout/identity.js')}), import(${lib('source/version.js')}), import(${lib('backend/docker/sync/scan.js')})]).then(([identity, version, scan]) => { const k = { ...identity, ...version }; return ${expr}; }).then((v) => console.log('ok ' + JSON.stringify(v)), (e) => console.log(e.code + ' ' + e.message))`;
  return spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: cliEnv({ ...gitEnv, ...env }) }).stdout.trim();
}

test('sync (run, release, shell, verify) in a checkout without git: E_GIT, never a walk that would send .gitignored files', () => {
  const src = repo();
  writeFileSync(path.join(src, '.gitignore'), 'secret.env\n');
  writeFileSync(path.join(src, 'secret.env'), 'TOKEN=1\n');
  const scan = `scan.scanSources(${JSON.stringify(src)}).then((found) => found.has('secret.env'))`;
  assert.is(inChild(scan, {}), 'ok false', 'git leaves the ignored file out');
  const r = inChild(scan, { PATH: noGitPath });
  assert.is(r, `E_GIT cannot list the files to sync from the git checkout ${src}: git is not installed (no git on PATH), and ${src} is a git checkout. Install git (e.g. apt-get install git)`);
  // The checkout identity (which names the engine state) and KUBE_GIT_VERSION need git too, and say so.
  assert.match(inChild(`k.checkoutIdentity(${JSON.stringify(src)}, 'h')`, { PATH: noGitPath }), /^E_GIT cannot read the branch of .*: git is not installed/);
  assert.match(inChild(`k.gitVersion(${JSON.stringify(src)})`, { PATH: noGitPath }), /^E_GIT cannot read the git version of .*: git is not installed .*, or set KUBE_GIT_VERSION/);
});

test.run();
