import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test as root } from 'uvu';
import type { BuildRequest } from '../lib/backend/backend.js';
import { DockerBackend } from '../lib/backend/docker/backend.js';
import { seccompWithPersonality } from '../lib/backend/wrapper.js';
import { LABEL_RUN, newRun } from '../lib/checkout/names.js';
import { controlConditions, variationNamed } from '../lib/verify/conditions.js';
import { debianNodeImage, engineOrSkip } from './helpers/engine.js';
import { suiteWhen } from './helpers/skip.js';
import { makeSourceRepo, tempDir } from './helpers/stage.js';

// The Docker backend itself, on the real engine: one build, controlled or plain, in fresh objects that are gone
// afterwards; what it could not apply is said, never silently dropped.
const SECCOMP = '/usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json';

suiteWhen(await engineOrSkip(), 'no Docker engine', (engine, test) => {
  const sources = makeSourceRepo(tempDir('krepro-backend-src-'), 1700000000);
  const commit = { dir: sources, commit: 'HEAD' };
  let image = '';
  let id = '';

  test.before(async () => {
    image = await debianNodeImage(engine);
    id = (await engine.images.inspect(image))!.id;
  });

  const request = (over: Partial<BuildRequest>): BuildRequest => ({
    id: '1',
    environment: { id, ref: image, variables: [], made: false },
    sources: commit,
    command: ['sh', '-c', 'mkdir -p out && pwd > out/where && id -u > out/uid && ls > out/listing && echo built'],
    variables: { SOURCE_DATE_EPOCH: '1700000000' },
    container: { kind: 'controlled', conditions: controlConditions() },
    network: 'none',
    outputs: ['out'],
    dir: tempDir('krepro-backend-out-'),
    run: newRun('0123456789', { 'io.krepro.test': '1' }),
    ...over,
  });

  const leftOf = async (runId: string): Promise<number> => (await engine.containers.list({ [LABEL_RUN]: runId })).length + (await engine.volumes.list({ [LABEL_RUN]: runId })).length;

  test('a controlled build: the conditions applied, probes seen, outputs hashed, nothing left on the engine', async () => {
    const backend = new DockerBackend(engine, { seccomp: seccompWithPersonality(readFileSync(SECCOMP, 'utf8'), SECCOMP) });
    const conditions = variationNamed('build-path').apply(controlConditions());
    const req = request({ container: { kind: 'controlled', conditions } });
    const phases: string[] = [];
    const r = await backend.build(req, { onProgress: (p) => phases.push(p) });
    assert.is(r.exitCode, 0, readFileSync(r.log, 'utf8'));
    assert.equal(phases, ['sources', 'command', 'outputs']);
    assert.equal(r.unapplied, []);
    assert.is(readFileSync(path.join(r.dir, 'out/where'), 'utf8'), `${conditions.buildPath}\n`);
    assert.is(readFileSync(path.join(r.dir, 'out/uid'), 'utf8'), '1000\n');
    assert.equal(r.outputs.map((a) => a.name), ['out/listing', 'out/uid', 'out/where']);
    assert.is(r.probes['build-path'], conditions.buildPath);
    assert.is(r.probes['aslr']?.split(' | ')[0], r.probes['aslr']?.split(' | ')[1], 'randomization off');
    assert.match(readFileSync(r.log, 'utf8'), /^built$/m);
    assert.not.match(readFileSync(r.log, 'utf8'), /krepro-probe/);
    assert.is(r.host.backend, backend.name);
    assert.ok(r.host.cpus > 0 && r.host.kernel.length > 0);
    assert.is(await leftOf(req.run.runId), 0);
  });

  test('without a seccomp profile: aslr off cannot be applied, and the result says so; a failing command is a result', async () => {
    const backend = new DockerBackend(engine);
    const req = request({ id: '2', command: ['sh', '-c', 'echo broken >&2; exit 3'] });
    const r = await backend.build(req);
    assert.is(r.exitCode, 3);
    assert.equal(r.outputs, []);
    assert.equal(r.unapplied.map((u) => u.condition), ['aslr']);
    assert.match(r.unapplied[0]!.reason, /seccomp/);
    assert.match(readFileSync(r.log, 'utf8'), /broken/);
    assert.is(await leftOf(req.run.runId), 0);
  });

  test('a plain build (a release container): its user, hostname and working directory, no probes', async () => {
    const backend = new DockerBackend(engine);
    const req = request({ id: '3', container: { kind: 'plain', user: { uid: 1234, gid: 1234 }, hostname: 'krepro-build', workingDir: '/go/src/k8s.io/kubernetes' }, command: ['sh', '-c', 'mkdir -p out && hostname > out/host && id -u > out/uid && pwd > out/where'] });
    const r = await backend.build(req);
    assert.is(r.exitCode, 0, readFileSync(r.log, 'utf8'));
    assert.equal(r.probes, {});
    assert.is(readFileSync(path.join(r.dir, 'out/host'), 'utf8'), 'krepro-build\n');
    assert.is(readFileSync(path.join(r.dir, 'out/uid'), 'utf8'), '1234\n');
    assert.is(readFileSync(path.join(r.dir, 'out/where'), 'utf8'), '/go/src/k8s.io/kubernetes\n');
    assert.is(await leftOf(req.run.runId), 0);
  });
});

root.run();
