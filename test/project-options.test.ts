import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { projectFor } from '../cli/build-options.js';
import { isKreproError } from '../lib/index.js';
import { tempDir } from './helpers/stage.js';

// Every field of krepro.json has a flag, and a project that is not Kubernetes needs no project file.
const bare = tempDir('krepro-project-');
const withFile = tempDir('krepro-project-');
writeFileSync(path.join(withFile, 'krepro.json'), JSON.stringify({ command: 'make', outputs: ['out'], env: { A: '1' } }));

async function refused(dir: string, values: Parameters<typeof projectFor>[1], message: RegExp): Promise<void> {
  try {
    await projectFor(dir, values);
  } catch (err) {
    assert.ok(isKreproError(err) && err.code === 'E_USAGE', String(err));
    assert.match((err as Error).message, message);
    return;
  }
  assert.unreachable(`refused: ${JSON.stringify(values)}`);
}

test('--output without a project file is a plain project: no Kubernetes release to stage, unless --release', async () => {
  const p = await projectFor(bare, { output: ['build/bin'] });
  assert.equal([p.outputs, p.release, p.images], [['build/bin'], false, false]);
  assert.is((await projectFor(bare, { output: ['build/bin'], release: true })).release, true);
  assert.is((await projectFor(bare, {})).release, true, "Kubernetes' defaults without flags");
});

test('every field: env, release, normalize, images.binaries, images.registry, images.base', async () => {
  const p = await projectFor(withFile, { env: ['B=2', 'A=3', 'EMPTY='], release: true, normalize: true, 'image-binaries': 'kube-proxy', 'image-registry': 'example.org/k8s', 'image-base': 'scratch' });
  assert.equal(p.env, { A: '3', B: '2', EMPTY: '' });
  assert.is(p.release, true);
  assert.is(p.normalize, true);
  assert.equal(p.images, { binaries: ['kube-proxy'], registry: 'example.org/k8s', base: 'scratch' });
  const off = await projectFor(bare, { 'no-release': true, 'no-normalize': true });
  assert.equal([off.release, off.images, off.normalize], [false, false, false]);
});

test('contradictions and bad values are usage errors naming the flag', async () => {
  await refused(bare, { release: true, 'no-release': true }, /--release and --no-release contradict/);
  await refused(bare, { normalize: true, 'no-normalize': true }, /--normalize and --no-normalize contradict/);
  await refused(bare, { env: ['1X=a'] }, /--env needs NAME=VALUE.*"1X=a"/);
  await refused(bare, { env: ['NOVALUE'] }, /--env needs NAME=VALUE/);
  await refused(withFile, { 'image-registry': 'r' }, /--image-registry needs a Kubernetes-shaped release .*krepro\.json, or --release/);
  await refused(bare, { 'no-images': true, 'image-base': 'scratch' }, /--no-images and --image-base contradict/);
  await refused(bare, { 'image-binaries': 'a b' }, /--image-binaries needs binary names/);
});

test.run();
