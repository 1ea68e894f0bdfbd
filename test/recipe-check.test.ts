import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { encoderIdentity } from '../lib/archive/gzip.js';
import { lockDigest, readLock } from '../lib/environment/lock.js';
import { KreproError } from '../lib/errors.js';
import { type Recipe, recipeOf, recipeStatement } from '../lib/provenance/recipe.js';
import { controlConditions } from '../lib/verify/conditions.js';
import { cliEnv } from './helpers/cli.js';
import { engineOrSkip } from './helpers/engine.js';
import { gitCheckout } from './helpers/outside.js';
import { suiteWhen } from './helpers/skip.js';
import { tempDir } from './helpers/stage.js';

// A recipe is checked whole before a rebuild makes an environment or builds anything: each field a rebuild follows
// must be one krepro could have written, and the error names it.
const CLI = path.resolve('dist/cli/main.js');
const docker = await engineOrSkip();
const lock = await readLock(path.resolve('build-image/environment.lock.json'));

function recipe(): Recipe {
  return {
    source: { uri: 'git+file:///src', commit: 'a'.repeat(40), tree: 'b'.repeat(40) },
    project: { command: ['sh', '-c', 'make'], outputs: ['out'], release: true, images: {}, normalize: false },
    environment: { lock, lockDigest: lockDigest(lock), imageId: `sha256:${'c'.repeat(64)}` },
    env: { SOURCE_DATE_EPOCH: '1700000000', KUBE_GIT_VERSION: 'v1.0.0' },
    container: { kind: 'release', user: { uid: 1000, gid: 1000 }, hostname: 'krepro-build', workingDir: '/go/src/k8s.io/kubernetes' },
    sourceDateEpoch: 1700000000,
    version: 'v1.0.0',
    package: { level: 6, encoder: encoderIdentity({ level: 6 }) },
  };
}

const statement = (r: Recipe) => JSON.parse(JSON.stringify(recipeStatement(r, [{ name: 'kubernetes.tar.gz', digests: { sha256: createHash('sha256').update('x').digest('hex'), sha512: createHash('sha512').update('x').digest('hex') } }], 'release'))) as unknown;

/** Each broken field, and what the error must name. */
const BROKEN: [string, (r: Recipe) => void, string][] = [
  ['package.level 99', (r) => (r.package!.level = 99), 'package.level must be a gzip level from 1 to 9, got 99'],
  ['package.encoder.version 7', (r) => (r.package!.encoder = { ...r.package!.encoder, version: 7 as never }), 'package.encoder.version must be a gzip format krepro writes'],
  ['sourceDateEpoch −1', (r) => (r.sourceDateEpoch = -1), 'sourceDateEpoch must be a whole number of seconds from 0 to'],
  ['sourceDateEpoch 1.5', (r) => (r.sourceDateEpoch = 1.5), 'sourceDateEpoch must be a whole number'],
  ['outputs ../x', (r) => (r.project.outputs = ['../x']), 'output path "../x" must be relative to the checkout'],
  ['an environment name the project file refuses', (r) => (r.env = { 'A-B': '1' }), '"env.A-B" must be a variable name'],
  ['an empty command', (r) => (r.project.command = []), '"command" must be a non-empty string or array of strings'],
  ['images without release', (r) => (r.project.release = false), '"images" needs "release": true'],
  ['a version of two lines', (r) => (r.version = 'v1\nv2'), 'version must be one non-empty line'],
  ['a root build user', (r) => (r.container = { kind: 'release', user: { uid: 0, gid: 0 }, hostname: 'h', workingDir: '/src' }), 'container.user must be a non-root uid and a gid'],
  ['verify conditions without a kernel', (r) => (r.container = { kind: 'verify-control', conditions: { ...controlConditions(), kernel: 'bsd' as never } }), 'container.conditions.kernel must be what verify records'],
  ['a tree that is not a hash', (r) => (r.source.tree = 'HEAD'), 'source must be a repository URI, a commit and a tree'],
];

test('recipeOf accepts what krepro writes and refuses every field a rebuild could not follow, naming it', () => {
  assert.ok(recipeOf(statement(recipe()), 'p.json').recipe);
  assert.ok(recipeOf(statement({ ...recipe(), container: { kind: 'verify-control', conditions: controlConditions() } }), 'p.json').recipe);
  for (const [what, breakIt, message] of BROKEN) {
    const r = recipe();
    breakIt(r);
    let err: unknown;
    try {
      recipeOf(statement(r), 'p.json');
    } catch (e) {
      err = e;
    }
    assert.instance(err, KreproError, what);
    assert.match((err as Error).message, message, `${what}: ${(err as Error).message}`);
  }
});

suiteWhen(docker, 'no Docker engine', (_docker, test) => {
  test('rebuild refuses a broken recipe (exit 2, naming the field) before it makes an environment or builds', () => {
    const checkout = gitCheckout({ 'krepro.json': '{}' });
    for (const [what, breakIt, message] of BROKEN.slice(0, 6)) {
      const release = tempDir('krepro-release-');
      const r = recipe();
      breakIt(r);
      writeFileSync(path.join(release, 'krepro-provenance.json'), JSON.stringify(statement(r)));
      const started = Date.now();
      const run = spawnSync(process.execPath, [CLI, 'rebuild', release], { cwd: checkout, encoding: 'utf8', env: cliEnv() });
      assert.is(run.status, 2, `${what}: ${run.stderr}`);
      assert.match(run.stderr, message, what);
      assert.not.match(run.stderr, /\[env\]|==> build|rebuild failed/, `${what}: nothing was made or built`);
      assert.ok(Date.now() - started < 60_000, `${what}: refused at once`);
    }
  });
});

test.run();
