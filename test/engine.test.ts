import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connectEngine, openEngine, pingEngine } from '../lib/engine/connect.js';
import { resolveEngine } from '../lib/engine/endpoint.js';
import type { Engine } from '../lib/engine/engine.js';
import { KreproError } from '../lib/errors.js';
import { debianNodeImage, engineOrSkip, runInContainer } from './helpers/engine.js';

const docker: Engine | undefined = await engineOrSkip();
// Without an engine (and outside CI) the engine tests are registered as skipped, so the summary shows them.
const engineTest = (name: string, fn: (docker: Engine) => Promise<void>): void => {
  if (docker) test(name, () => fn(docker));
  else test.skip(name, async () => {});
};

// Pure checks of the DOCKER_* mapping: no engine needed.
test('resolveEngine: unix socket, tcp and TLS rules follow docker-modem', () => {
  assert.is(resolveEngine({ env: { DOCKER_HOST: 'unix:///run/x.sock' } }).endpoint, 'unix:///run/x.sock');
  assert.is(resolveEngine({ env: { DOCKER_HOST: 'unix:///run/x.sock' }, host: 'unix:///y.sock' }).options.socketPath, '/y.sock');
  const tcp = resolveEngine({ env: { DOCKER_HOST: 'tcp://builder:2375' } });
  assert.is(tcp.options.protocol, 'http');
  assert.is(tcp.options.host, 'builder');
  assert.is(tcp.options.socketPath, undefined);
  assert.is(resolveEngine({ env: { DOCKER_HOST: 'builder:2375', DOCKER_TLS_VERIFY: '1', HOME: '/nonexistent' } }).options.protocol, 'https');
  assert.is(resolveEngine({ env: { DOCKER_HOST: 'tcp://builder:2376', HOME: '/nonexistent' } }).options.protocol, 'https');
  const ssh = resolveEngine({ env: { DOCKER_HOST: 'ssh://ci@builder:2222', SSH_AUTH_SOCK: '/agent' } });
  assert.is(ssh.options.protocol, 'ssh');
  assert.is(ssh.options.username, 'ci');
  assert.is(ssh.endpoint, 'ssh://ci@builder:2222');
});

test('resolveEngine: bad settings are usage errors naming the variable', () => {
  const codeOf = (env: Record<string, string>): string | undefined => {
    try {
      resolveEngine({ env });
      return undefined;
    } catch (err) {
      assert.instance(err, KreproError);
      return (err as KreproError).code;
    }
  };
  assert.is(codeOf({ DOCKER_HOST: 'ssh://h', DOCKER_TLS_VERIFY: '1' }), 'E_USAGE');
  assert.is(codeOf({ DOCKER_HOST: 'tcp://h:2376', DOCKER_CERT_PATH: '/nonexistent/certs' }), 'E_USAGE');
  assert.is(codeOf({ DOCKER_HOST: 'tcp://h:2375', DOCKER_CLIENT_TIMEOUT: 'soon' }), 'E_USAGE');
});

test('unreachable engine: E_ENGINE_UNREACHABLE naming the socket', async () => {
  const env = { DOCKER_HOST: 'unix:///nonexistent.sock' };
  try {
    await pingEngine(connectEngine({ env }));
    assert.unreachable('ping should fail');
  } catch (err) {
    assert.instance(err, KreproError);
    const e = err as KreproError;
    assert.is(e.code, 'E_ENGINE_UNREACHABLE');
    assert.match(e.message, 'unix:///nonexistent.sock');
    assert.match(e.message, 'dockerd');
    assert.match(e.message, 'DOCKER_HOST');
    assert.is(e.path, '/nonexistent.sock');
  }
  // openEngine goes through the same check.
  try {
    await openEngine({ env });
    assert.unreachable('openEngine should fail');
  } catch (err) {
    assert.is((err as KreproError).code, 'E_ENGINE_UNREACHABLE');
  }
});

engineTest('ping: the engine from the environment answers', async (docker) => {
  await pingEngine(docker);
  const version = await docker.version();
  assert.ok(version.apiVersion, 'engine reports an API version');
});

engineTest('debianNodeImage: Debian nodejs uses the system zlib (no Chromium -suffix)', async (docker) => {
  const image = await debianNodeImage(docker);
  const run = await runInContainer(docker, {
    image,
    cmd: ['node', '-p', "process.versions.zlib + ' ' + process.version"],
    binds: [],
  });
  assert.is(run.exitCode, 0, `node failed: ${run.stderr}`);
  const [zlib, nodeVersion] = run.stdout.trim().split(' ');
  assert.ok(zlib && /^\d+\.\d+(\.\d+)*$/.test(zlib), `zlib version ${JSON.stringify(zlib)} should have no '-' suffix`);
  assert.ok(!zlib.includes('-'));
  assert.match(nodeVersion ?? '', /^v\d+\./);
});

engineTest('runInContainer: separates stdout from stderr and passes the exit code through', async (docker) => {
  const image = await debianNodeImage(docker);
  const dir = await mkdtemp(join(tmpdir(), 'krepro-engine-test-'));
  await writeFile(join(dir, 'in.txt'), 'from host\n');
  await chmod(dir, 0o755); // mkdtemp makes it 0700, and the container runs as nobody
  const run = await runInContainer(docker, {
    image,
    cmd: ['sh', '-c', 'echo out; echo err >&2; echo "$KREPRO_X"; pwd; id -u; cat /in/in.txt; exit 3'],
    binds: [`${dir}:/in:ro`],
    env: ['KREPRO_X=secret-ish'],
    user: '65534',
    workingDir: '/tmp',
  }).finally(() => rm(dir, { recursive: true, force: true }));
  assert.is(run.exitCode, 3);
  assert.is(run.stdout, 'out\nsecret-ish\n/tmp\n65534\nfrom host\n');
  assert.is(run.stderr, 'err\n');
});

test.run();
