import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { KreproError } from '../lib/errors.js';
import { loadCommittedProject } from '../lib/project/project.js';
import { cliEnv } from './helpers/cli.js';
import { engineOrSkip } from './helpers/engine.js';
import { git, gitCheckout, outsideDir } from './helpers/outside.js';
import { suiteWhen } from './helpers/skip.js';

// verify proves a commit: the project file it builds with is the commit's, never an uncommitted one.
const CLI = path.resolve('dist/cli/main.js');
const docker = await engineOrSkip();

const project = (command: string): string => JSON.stringify({ command, outputs: ['out'], release: false, images: false });
const COMMITTED = project('mkdir -p out && echo committed > out/x');
const UNCOMMITTED = project('mkdir -p out && echo uncommitted > out/x');

test('loadCommittedProject reads the commit’s file and says when the working tree’s differs; a committed link is refused', async () => {
  const dir = gitCheckout({ 'krepro.json': COMMITTED });
  const head = git(dir, 'rev-parse', 'HEAD').trim();
  const same = await loadCommittedProject(dir, head);
  assert.equal(same.project.command, ['sh', '-c', 'mkdir -p out && echo committed > out/x']);
  assert.is(same.project.file, `${head}:krepro.json`);
  assert.is(same.workingTreeDiffers, false);
  writeFileSync(path.join(dir, 'krepro.json'), UNCOMMITTED);
  const changed = await loadCommittedProject(dir, head);
  assert.equal(changed.project.command, ['sh', '-c', 'mkdir -p out && echo committed > out/x']);
  assert.is(changed.workingTreeDiffers, true);
  unlinkSync(path.join(dir, 'krepro.json'));
  assert.is((await loadCommittedProject(dir, head)).workingTreeDiffers, true, 'removed in the working tree');

  const none = gitCheckout({ 'README': 'no project file\n' });
  const defaults = await loadCommittedProject(none, git(none, 'rev-parse', 'HEAD').trim());
  assert.equal(defaults.project.command, ['make', 'cross']);
  assert.is(defaults.workingTreeDiffers, false);
  writeFileSync(path.join(none, 'krepro.json'), UNCOMMITTED);
  assert.is((await loadCommittedProject(none, git(none, 'rev-parse', 'HEAD').trim())).workingTreeDiffers, true, 'added in the working tree');

  const outside = outsideDir();
  const linked = gitCheckout({ 'krepro.json': { link: path.join(outside.dir, 'x') } });
  const err = await loadCommittedProject(linked, git(linked, 'rev-parse', 'HEAD').trim()).catch((e: unknown) => e);
  assert.instance(err, KreproError);
  assert.match((err as Error).message, 'krepro.json is a symbolic link');
  outside.untouched('a committed project file link');
});

suiteWhen(docker, 'no Docker engine', (_docker, test) => {
  test('verify builds the committed krepro.json, says the working tree’s differs, and records the committed command', () => {
    const outside = outsideDir();
    const dir = gitCheckout({ 'krepro.json': COMMITTED, lnk: { link: outside.dir } });
    writeFileSync(path.join(dir, 'krepro.json'), project(`mkdir -p out && echo uncommitted > out/x && ln -sfn ${outside.dir} lnk2`));
    symlinkSync(outside.dir, path.join(dir, 'uncommitted-link'));
    try {
      const r = spawnSync(process.execPath, [CLI, 'verify', '--json', '--vary', 'hostname'], { cwd: dir, encoding: 'utf8', env: cliEnv({ SOURCE_DATE_EPOCH: '1700000000' }), timeout: 900_000 });
      assert.is(r.status, 0, r.stderr);
      assert.match(r.stderr, /note: krepro\.json in the working tree differs from commit [0-9a-f]{12}'s; verify builds the commit, with its krepro\.json/);
      const report = JSON.parse(r.stdout) as { verdict: string; project: { command: string[]; file: string } };
      assert.is(report.verdict, 'reproducible');
      assert.equal(report.project.command, ['sh', '-c', 'mkdir -p out && echo committed > out/x']);
      assert.match(report.project.file, /^[0-9a-f]{40}:krepro\.json$/);
      assert.is(readFileSync(path.join(dir, '_output/verify/1/out/x'), 'utf8'), 'committed\n', 'the control build ran the committed command');
      const provenance = readFileSync(path.join(dir, '_output/verify/1/krepro-provenance.json'), 'utf8');
      assert.match(provenance, 'echo committed > out/x');
      assert.not.match(provenance, 'uncommitted');
      outside.untouched('verify with an uncommitted project file');
    } finally {
      spawnSync(process.execPath, [CLI, 'clean'], { cwd: dir, env: cliEnv() });
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test.run();
