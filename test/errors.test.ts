import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { planDirectory, writeTarball } from '../lib/api/archive.js';
import { KreproError, packageRelease } from '../lib/index.js';
import { materializeStage, tempDir } from './helpers/stage.js';

const CLI = path.resolve('dist/cli/main.js');

/** A packed release-tars directory and a listing of its bytes, to prove a failed run left it as it was. */
function existingRelease(): { dir: string; stage: string; out: string; snapshot: () => string } {
  const dir = tempDir();
  const stage = materializeStage(path.join(dir, 'stage'));
  const out = path.join(dir, 'release-tars');
  execFileSync(process.execPath, [CLI, 'package', '--stage', stage, '--out', out, '--no-source', '--mtime', '1700000000'], { stdio: 'pipe' });
  const snapshot = () =>
    readdirSync(dir)
      .sort()
      .join(',') +
    '|' +
    readdirSync(out)
      .sort()
      .map((f) => `${f}:${readFileSync(path.join(out, f)).toString('base64').length}:${execFileSync('sha256sum', [path.join(out, f)], { encoding: 'utf8' }).slice(0, 64)}`)
      .join(',');
  return { dir, stage, out, snapshot };
}

function runPackage(stage: string, out: string, extra: string[] = [], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [CLI, 'package', '--stage', stage, '--out', out, '--no-source', ...extra], {
    encoding: 'utf8',
    env: { ...process.env, SOURCE_DATE_EPOCH: '1700000000', ...env },
  });
}

const badStages: [string, (stage: string) => string | Promise<string>, RegExp][] = [
  [
    'a socket',
    (stage) => {
      const p = path.join(stage, 'server/linux-amd64/kubernetes/server/bin/agent.sock');
      // Python leaves the bound socket file behind when it exits (Node would unlink it on close).
      execFileSync('python3', ['-c', 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', p]);
      return p;
    },
    /is a socket/,
  ],
  [
    'a FIFO',
    (stage) => {
      const p = path.join(stage, 'node/linux-amd64/kubernetes/node/bin/pipe');
      execFileSync('mkfifo', [p]);
      return p;
    },
    /is a FIFO/,
  ],
  [
    'a character device',
    (stage) => {
      const p = path.join(stage, 'client/linux-amd64/kubernetes/client/bin/null');
      execFileSync('mknod', [p, 'c', '1', '3']);
      return p;
    },
    /is a character device/,
  ],
  [
    'an absolute symlink',
    (stage) => {
      const p = path.join(stage, 'server/linux-amd64/kubernetes/passwd');
      symlinkSync('/etc/passwd', p);
      return p;
    },
    /points outside/,
  ],
  [
    'a relative symlink climbing out of the tree',
    (stage) => {
      const p = path.join(stage, 'server/linux-amd64/kubernetes/addons/escape');
      symlinkSync('../../../node', p);
      return p;
    },
    /points outside/,
  ],
  [
    'a symlink escaping through another symlink',
    (stage) => {
      const dir = path.join(stage, 'server/linux-amd64/kubernetes/addons');
      symlinkSync('.', path.join(dir, 'here'));
      // Lexically "here/../../.." stays inside; on disk "here" is addons itself, so it climbs out.
      symlinkSync('here/../../..', path.join(dir, 'sneaky'));
      return path.join(dir, 'sneaky');
    },
    /points outside/,
  ],
];

for (const [name, make, message] of badStages) {
  test(`a stage with ${name} fails with exit 2, names the path and leaves release-tars as it was`, async () => {
    const { stage, out, snapshot } = existingRelease();
    const before = snapshot();
    const bad = await make(stage);
    const r = runPackage(stage, out);
    assert.is(r.status, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.ok(r.stderr.includes(bad), `stderr names ${bad}: ${r.stderr}`);
    assert.is(snapshot(), before);
  });
}

test('--allow-external-symlinks keeps an absolute symlink verbatim', async () => {
  const { stage, out } = existingRelease();
  symlinkSync('/etc/passwd', path.join(stage, 'server/linux-amd64/kubernetes/passwd'));
  const r = runPackage(stage, out, ['--allow-external-symlinks']);
  assert.is(r.status, 0, r.stderr);
  assert.match(execFileSync('tar', ['-tvzf', path.join(out, 'kubernetes-server-linux-amd64.tar.gz')], { encoding: 'utf8' }), /kubernetes\/passwd -> \/etc\/passwd/);
});

test('malformed SOURCE_DATE_EPOCH is an error showing the value; --mtime takes precedence', () => {
  const { stage, out, snapshot } = existingRelease();
  const before = snapshot();
  for (const bad of ['yesterday', '1.5', '-3', '99999999999']) {
    const r = runPackage(stage, out, [], { SOURCE_DATE_EPOCH: bad });
    assert.is(r.status, 2, `${bad}: ${r.stderr}`);
    assert.ok(r.stderr.includes(`SOURCE_DATE_EPOCH="${bad}"`), r.stderr);
  }
  assert.is(snapshot(), before);
  assert.is(runPackage(stage, out, ['--mtime', '2020-01-01T00:00:00Z'], { SOURCE_DATE_EPOCH: 'junk' }).status, 0);
});

test('no SOURCE_DATE_EPOCH and no git commit: exit 2 suggesting --mtime', () => {
  const { stage, out } = existingRelease();
  const r = spawnSync(process.execPath, [CLI, 'package', '--stage', stage, '--out', out, '--source', tempDir()], {
    encoding: 'utf8',
    env: { ...process.env, SOURCE_DATE_EPOCH: '' },
  });
  assert.is(r.status, 2);
  assert.match(r.stderr, /--mtime/);
});

test('usage errors exit 2: unknown option, bad level, unknown command', () => {
  const { stage, out } = existingRelease();
  assert.is(runPackage(stage, out, ['--frobnicate']).status, 2);
  const level = runPackage(stage, out, ['--level', '11']);
  assert.is(level.status, 2);
  assert.match(level.stderr, '--level must be a whole number from 1 to 9, got "11"');
  assert.is(spawnSync(process.execPath, [CLI, 'frobnicate']).status, 2);
  const help = spawnSync(process.execPath, [CLI, 'package', '--help'], { encoding: 'utf8' });
  assert.is(help.status, 0);
  assert.match(help.stdout, /SOURCE_DATE_EPOCH/);
});

test('a missing stage directory is an error naming it', () => {
  const dir = tempDir();
  const r = runPackage(path.join(dir, 'nope'), path.join(dir, 'out'));
  assert.is(r.status, 2);
  assert.ok(r.stderr.includes(path.join(dir, 'nope')), r.stderr);
});

test('a file that grows while it is read is an error naming it, and no partial tarball is left', async () => {
  const dir = tempDir();
  const root = path.join(dir, 'tree', 'kubernetes');
  mkdirSync(root, { recursive: true });
  const file = path.join(root, 'growing');
  writeFileSync(file, Buffer.alloc(8 << 20, 1));
  const entries = await planDirectory(root, { prefix: 'kubernetes' });
  appendFileSync(file, 'more');
  const dest = path.join(dir, 'out.tar.gz');
  const err = await writeTarball(entries, { mtime: 0 }, dest, { gzip: { level: 1 } }).catch((e: unknown) => e);
  assert.instance(err, KreproError);
  assert.is((err as KreproError).code, 'E_FILE_CHANGED');
  assert.ok((err as KreproError).message.includes(file));
  assert.equal(readdirSync(dir), ['tree']);
});

test('a file rewritten in place during packing (same size, new mtime) is caught too', async () => {
  const dir = tempDir();
  const stage = materializeStage(path.join(dir, 'stage'));
  const target = path.join(stage, 'server/linux-amd64/kubernetes/server/bin/kube-apiserver');
  let touched = false;
  const err = await packageRelease({
    stage,
    out: path.join(dir, 'out'),
    sourceDateEpoch: 0,
    onProgress: (e) => {
      // Rewrite the server binary as soon as packing starts, before it is read.
      if (!touched && e.type === 'tarball') {
        touched = true;
        writeFileSync(target, readFileSync(target));
        execFileSync('touch', ['-d', '2001-01-01', target]);
      }
    },
  }).catch((e: unknown) => e);
  assert.instance(err, KreproError);
  assert.is((err as KreproError).code, 'E_FILE_CHANGED');
  assert.ok((err as KreproError).message.includes(target));
  assert.equal(readdirSync(dir), ['stage']);
});

test('an abort while packing rejects, removes the partial directory and keeps the old release-tars', async () => {
  const { dir, stage, out, snapshot } = existingRelease();
  const before = snapshot();
  const controller = new AbortController();
  const err = await packageRelease({
    stage,
    out,
    sourceDateEpoch: 1,
    signal: controller.signal,
    onProgress: (e) => {
      if (e.type === 'bytes') controller.abort(new Error('user pressed Ctrl-C'));
    },
  }).catch((e: unknown) => e);
  assert.instance(err, Error);
  assert.is(snapshot(), before);
  assert.equal(readdirSync(dir).sort(), ['release-tars', 'stage']);
});

test.run();
