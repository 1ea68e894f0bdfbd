import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { connectEngine } from '../lib/api/engine.js';
import { checkLock, ENVIRONMENT_SETTINGS, type EnvironmentLock, lockDigest, type LockedPackage, lockEnvironment, makeEnvironmentImage, readEnvironmentSpec, readLock } from '../lib/api/environment.js';
import { isKreproError } from '../lib/index.js';
import { makeEnvironmentRootfs } from '../lib/environment/build.js';
import { parsePrintUris } from '../lib/environment/lock.js';
import { fetchPackages } from '../lib/environment/packages.js';
import { engineOrSkip, runInContainer } from './helpers/engine.js';
import { startSecondEngine } from './helpers/second-engine.js';
import { testWhen } from './helpers/skip.js';
import { tempDir } from './helpers/stage.js';

// The locked build environment: the committed lock is what the spec resolves to, every package is checked against
// it, and two engines that share nothing make byte-identical root filesystems and the same image ID from it.
const LOCK_FILE = path.resolve('build-image/environment.lock.json');
const SPEC_FILE = path.resolve('build-image/environment.json');
const CLI = path.resolve('dist/cli/main.js');
const ajv = new Ajv2020({ strict: true, allErrors: true });
const validateLock = ajv.compile(JSON.parse(readFileSync(path.resolve('schemas/environment-lock.schema.json'), 'utf8')));
const validateSpec = ajv.compile(JSON.parse(readFileSync(path.resolve('schemas/environment.schema.json'), 'utf8')));
// /var/tmp: on the root file system (device nodes allowed), unlike a tmpfs /tmp
const WORK = '/var/tmp';

function expectError(fn: () => unknown, code: string, pattern: RegExp): Promise<void> {
  return Promise.resolve()
    .then(fn)
    .then(
      () => assert.unreachable(`expected ${code}`),
      (err: unknown) => {
        assert.ok(isKreproError(err) && err.code === code, String(err));
        assert.match((err as Error).message, pattern);
      },
    );
}

test('the committed lock resolves the committed spec, follows its schema, and sets no normalizing variable', async () => {
  const lock = await readLock(LOCK_FILE);
  const spec = await readEnvironmentSpec(SPEC_FILE);
  assert.ok(validateLock(lock), JSON.stringify(validateLock.errors, null, 2));
  assert.ok(validateSpec(JSON.parse(readFileSync(SPEC_FILE, 'utf8'))), JSON.stringify(validateSpec.errors, null, 2));
  assert.equal([...lock.requested.packages].sort(), [...spec.packages].sort());
  assert.equal(lock.requested.locales, spec.locales);
  const names = new Set(lock.packages.map((p) => p.name));
  for (const p of [...spec.packages, 'golang-1.24-go', 'libc-bin', 'apt']) assert.ok(names.has(p), `${p} is locked`);
  // Issue 9: the environment must not normalize builds; what it does set is exactly the documented constant.
  assert.not.ok(lock.image.env.some((e) => /^(GOFLAGS|CGO_ENABLED)=/.test(e)), lock.image.env.join(' '));
  assert.equal(lock.settings, ENVIRONMENT_SETTINGS);
  assert.equal(lock.image.env, ENVIRONMENT_SETTINGS.filter((s) => s.kind === 'env').map((s) => `${s.name}=${s.value}`));
  assert.ok(lock.customize.some((h) => h.includes("'tr_TR.UTF-8 UTF-8' 'fr_CH.UTF-8 UTF-8'") && h.includes('locale-gen')));
  // The standard library is precompiled by the lock's own hooks, in the four ways builds ask for it.
  for (const b of ['CGO_ENABLED=0 go build std', 'CGO_ENABLED=1 go build std', 'CGO_ENABLED=0 go build -trimpath std', 'CGO_ENABLED=1 go build -trimpath std']) assert.ok(lock.customize.some((h) => h.includes(b)), b);
  const { NO_COLOR: _n, FORCE_COLOR: _f, ...env } = process.env;
  const listed = spawnSync(process.execPath, [CLI, 'env', 'settings', '--json', '--lock', LOCK_FILE], { encoding: 'utf8', env });
  assert.is(listed.status, 0, listed.stderr);
  assert.equal(JSON.parse(listed.stdout), lock.settings);
  // The digest is of the content, not of the file's formatting or key order.
  const reordered = Object.fromEntries(Object.entries(lock).reverse()) as unknown as EnvironmentLock;
  assert.is(lockDigest(reordered), lockDigest(lock));
  assert.match(lockDigest(lock), /^sha256:[0-9a-f]{64}$/);
});

test('a damaged lock is refused naming the package and field, with how to regenerate it', async () => {
  const lock = JSON.parse(readFileSync(LOCK_FILE, 'utf8'));
  lock.packages[3].sha256 = 'not-a-digest';
  await expectError(() => checkLock(lock, 'x.lock.json'), 'E_ENVIRONMENT', new RegExp(`x\\.lock\\.json: packages\\[3\\] \\("${lock.packages[3].name}"\\) has no SHA-256 \\(regenerate it with krepro env lock\\)`));
  await expectError(() => readLock(path.join(tempDir(), 'missing.json')), 'E_ENVIRONMENT', /no such file \(make it with krepro env lock\)/);
});

test("lock: apt's print-uris lines become packages with their mirror, pool path, size and SHA-256 (epochs, escapes)", () => {
  const mirrors = { debian: 'http://deb.debian.org/debian', 'debian-security': 'http://security.debian.org/debian-security' };
  const sha = 'a'.repeat(64);
  const lines = [
    `'http://security.debian.org/debian-security/pool/updates/main/s/shadow/login.defs_4.17.4-2%2bdeb13u1_all.deb' login.defs_1%3a4.17.4-2+deb13u1_all.deb 186196 SHA256:${sha}`,
    `'http://deb.debian.org/debian/pool/main/m/make-dfsg/make_4.4.1-2_amd64.deb' make_4.4.1-2_amd64.deb 100 SHA256:${sha}`,
  ].join('\n');
  assert.equal(parsePrintUris(lines, mirrors), [
    { name: 'login.defs', version: '1:4.17.4-2+deb13u1', architecture: 'all', mirror: 'debian-security', filename: 'pool/updates/main/s/shadow/login.defs_4.17.4-2+deb13u1_all.deb', size: 186196, sha256: sha },
    { name: 'make', version: '4.4.1-2', architecture: 'amd64', mirror: 'debian', filename: 'pool/main/m/make-dfsg/make_4.4.1-2_amd64.deb', size: 100, sha256: sha },
  ]);
  assert.throws(() => parsePrintUris(`'http://elsewhere.invalid/pool/x_1_all.deb' x_1_all.deb 1 SHA256:${sha}`, mirrors), /cannot place .* on a mirror/);
});

/** A loopback mirror: serves `files` (path → bytes) and answers 404 otherwise; counts requests. */
async function localMirror(files: Map<string, Buffer>): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
  let count = 0;
  const server: Server = createServer((req, res) => {
    count++;
    const body = files.get(decodeURIComponent(req.url ?? ''));
    res.writeHead(body ? 200 : 404).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/`, requests: () => count, close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections(); // fetch keeps connections alive, and close() would wait for them
    }) };
}

function fakePackage(name: string, body: Buffer, mirror = 'debian'): LockedPackage {
  return { name, version: '1.0-1', architecture: 'amd64', mirror, filename: `pool/main/${name[0]}/${name}/${name}_1.0-1_amd64.deb`, size: body.length, sha256: createHash('sha256').update(body).digest('hex') };
}

test('packages: every .deb is checked against the lock; missing ones are all named with a snapshot mirror to use; other bytes are refused', async () => {
  const lock = await readLock(LOCK_FILE);
  const good = Buffer.from('a verified package');
  const pkgs = [fakePackage('alpha', good), fakePackage('beta', Buffer.from('beta')), fakePackage('gamma', Buffer.from('gamma'), 'debian-security')];
  const files = new Map([[`/${pkgs[0]!.filename}`, good]]);
  const mirror = await localMirror(files);
  const mirrors = { debian: mirror.url, 'debian-security': mirror.url };
  try {
    const dir = tempDir();
    const small: EnvironmentLock = { ...lock, packages: pkgs };
    await expectError(
      () => fetchPackages(small, path.join(dir, 'repo'), { mirrors }),
      'E_PACKAGE_UNAVAILABLE',
      /2 locked packages are not on the mirror:\n {2}beta 1\.0-1 \(amd64\): http:\/\/127\.0\.0\.1:\d+\/pool\/main\/b\/beta\/beta_1\.0-1_amd64\.deb: HTTP 404[^\n]*\n {2}gamma [^\n]*\n.*--mirror debian=http:\/\/snapshot\.debian\.org\/archive\/debian\/\d{8}T\d{6}Z\/ --mirror debian-security=http:\/\/snapshot\.debian\.org\/archive\/debian-security\/\d{8}T\d{6}Z\//s,
    );
    // The same name with other bytes: refused with both digests.
    files.set(`/${pkgs[1]!.filename}`, Buffer.from('BETA'));
    await expectError(() => fetchPackages({ ...lock, packages: [pkgs[1]!] }, path.join(dir, 'repo2'), { mirrors }), 'E_PACKAGE_MISMATCH', new RegExp(`beta 1\\.0-1 from .* is not the locked file: SHA-256 [0-9a-f]{64} \\(4 bytes\\), the lock has ${pkgs[1]!.sha256}`));
    // A verified package is kept in the store and reused, re-hashed, without asking the mirror again.
    const store = path.join(dir, 'store');
    await fetchPackages({ ...lock, packages: [pkgs[0]!] }, path.join(dir, 'repo3'), { mirrors, packageCache: store });
    const asked = mirror.requests();
    await fetchPackages({ ...lock, packages: [pkgs[0]!] }, path.join(dir, 'repo4'), { mirrors, packageCache: store });
    assert.is(mirror.requests(), asked);
    assert.equal(readFileSync(path.join(dir, 'repo4', 'alpha_1.0-1_amd64.deb')), good);
    // A store entry whose bytes changed is not used: it is downloaded again.
    writeFileSync(path.join(store, `${pkgs[0]!.sha256}.deb`), 'tampered');
    await fetchPackages({ ...lock, packages: [pkgs[0]!] }, path.join(dir, 'repo5'), { mirrors, packageCache: store });
    assert.is(mirror.requests(), asked + 1);
  } finally {
    await mirror.close();
  }
});

test('env build: a mirror without the locked packages is exit 2 naming them; a tampered cached root filesystem is not used', async () => {
  const mirror = await localMirror(new Map());
  try {
    const cache = tempDir();
    const lock = await readLock(LOCK_FILE);
    // A cached root filesystem whose recorded digest does not match: buildRootfs goes to the from-scratch path
    // (and fails there, at the empty mirror).
    const hex = lockDigest(lock).slice('sha256:'.length);
    mkdirSync(path.join(cache, 'rootfs'));
    writeFileSync(path.join(cache, 'rootfs', `${hex}.tar`), 'not a root filesystem');
    writeFileSync(path.join(cache, 'rootfs', `${hex}.tar.sha256`), `sha256:${'0'.repeat(64)}\n`);
    const logs: string[] = [];
    await expectError(
      () => makeEnvironmentRootfs(lock, { workDir: WORK, cacheDir: cache, mirrors: { debian: mirror.url, 'debian-security': mirror.url }, onLog: (l) => logs.push(l) }),
      'E_PACKAGE_UNAVAILABLE',
      new RegExp(`${lock.packages.length} locked packages are not on the mirror`),
    );
    assert.ok(logs.some((l) => l.includes('does not match its recorded digest')), logs.join('\n'));
    // A work directory apt's _apt user cannot reach would change owners in the root filesystem: refused.
    const closed = tempDir();
    chmodSync(closed, 0o700);
    await expectError(() => makeEnvironmentRootfs(lock, { workDir: closed }), 'E_ENVIRONMENT', new RegExp(`inside ${closed}, which other users cannot enter \\(mode 700\\).*--work-dir /var/tmp`));

    const { NO_COLOR: _n, FORCE_COLOR: _f, ...env } = process.env;
    // Not spawnSync: the mirror answering it lives in this process's event loop.
    const r = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
      // --no-cache: the engine may already have this lock's image, and then nothing would be downloaded
      const args = ['env', 'build', '--no-cache', '--lock', LOCK_FILE, '--cache-dir', cache, '--mirror', mirror.url, '--mirror', `debian-security=${mirror.url}`];
      const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('close', (status) => resolve({ status, stderr }));
    });
    assert.is(r.status, 2, r.stderr);
    assert.match(r.stderr, /krepro env: \d+ locked packages are not on the mirror:\n {2}apt /);
    assert.match(r.stderr, /--mirror debian=http:\/\/snapshot\.debian\.org\/archive\/debian\//);
    const bad = spawnSync(process.execPath, [CLI, 'env', 'build', '--lock', LOCK_FILE, '--mirror', 'nosuch=http://x.invalid/'], { encoding: 'utf8', env });
    assert.is(bad.status, 2);
    assert.match(bad.stderr, /the lock has no mirror named nosuch/);
  } finally {
    await mirror.close();
  }
});

const defaultEngine = await engineOrSkip();
testWhen(defaultEngine ? undefined : 'no Docker engine', 'two engines that share nothing make the environment from the lock: byte-identical root filesystems, one image ID', async () => {
  const engine = defaultEngine!;
  let lock = await readLock(LOCK_FILE);
  const second = await startSecondEngine();
  const cache = tempDir('krepro-env-cache-');
  const run = randomBytes(4).toString('hex');
  const tagA = `krepro-env-test-a:${run}`;
  try {
    const engineB = connectEngine({ host: second.host });
    const log = (line: string) => (/^(packages|root filesystem|loading|note)/.test(line) ? process.stderr.write(`[env] ${line}\n`) : undefined);
    // From scratch on both: no cached root filesystem (the verified .debs are shared, as apt's cache would be).
    const fromScratch = { workDir: WORK, cacheDir: cache, noCache: true, image: tagA, onLog: log };
    const a = await makeEnvironmentImage(engine, lock, fromScratch).catch(async (err: unknown) => {
      // The live mirror drops superseded versions: the proof below still holds for a fresh lock of the same spec.
      if (!(isKreproError(err) && err.code === 'E_PACKAGE_UNAVAILABLE')) throw err;
      process.stderr.write(`note: ${(err as Error).message.split('\n')[0]} — the committed lock needs krepro env lock; this test locks afresh\n`);
      lock = (await lockEnvironment(await readEnvironmentSpec(SPEC_FILE), { workDir: WORK })).lock;
      return makeEnvironmentImage(engine, lock, fromScratch);
    });
    const b = await makeEnvironmentImage(engineB, lock, { workDir: WORK, cacheDir: cache, noCache: true, image: `krepro-env-test-b:${run}`, onLog: log });
    process.stderr.write(`[env] engine A: ${JSON.stringify(a.seconds)} engine B: ${JSON.stringify(b.seconds)}\n[env] root filesystems ${a.rootfsDigest} ${b.rootfsDigest}, image ${a.id} ${b.id}\n`);
    assert.is(a.cached || b.cached, false);
    assert.is(a.rootfsDigest, b.rootfsDigest, 'two mmdebstrap runs from one lock give the same bytes');
    assert.is(a.id, b.id);
    assert.is((await engine.images.inspect(tagA))?.id, a.id);
    assert.is((await engineB.images.inspect(b.image))?.id, a.id);
    // The second engine had nothing but loopback: it made nothing over the network.
    const links = spawnSync('ip', ['-n', second.netns, '-o', 'link'], { encoding: 'utf8' }).stdout.trim().split('\n');
    assert.equal(links.map((l) => l.split(': ')[1]), ['lo']);

    // Present on the engine: nothing is made again.
    const again = await makeEnvironmentImage(engine, lock, { workDir: WORK, cacheDir: cache, image: tagA });
    assert.ok(again.present && again.id === a.id);

    // What verify's variations need takes effect inside it, as a non-root uid, without a network.
    const probe = await runInContainer(engine, {
      image: tagA,
      user: '1000:1000',
      binds: [],
      cmd: [
        'sh',
        '-c',
        [
          'go version',
          'locale -a | sort | tr "\\n" " "; echo',
          'printf "i\\nI\\nı\\nİ\\n" | LC_ALL=C sort | tr -d "\\n"; echo',
          'printf "i\\nI\\nı\\nİ\\n" | LC_ALL=tr_TR.UTF-8 sort | tr -d "\\n"; echo',
          'env | grep -E "^(GOFLAGS|CGO_ENABLED)=" || echo no-normalizing-variables',
          'setarch --uname-2.6 uname -r',
          // cgo with gcc and libc6-dev; C's stdout is a pipe here, so flush before Go exits
          'cd /tmp && printf "package main\\n// #include <stdio.h>\\n// static void hello(void) { puts(\\"cgo ok\\"); fflush(stdout); }\\nimport \\"C\\"\\nfunc main() { C.hello() }\\n" > m.go && go run m.go',
          'git --version && git config --system safe.directory',
        ].join(' && '),
      ],
    });
    assert.is(probe.exitCode, 0, probe.stderr);
    const [goVersion, locales, cOrder, trOrder, ...rest] = probe.stdout.trim().split('\n');
    assert.match(goVersion!, /^go version go1\.24\.\d+ linux\/amd64$/);
    assert.match(locales!, /C\.utf8 .*fr_CH\.utf8 .*tr_TR\.utf8/);
    assert.is.not(trOrder, cOrder, 'tr_TR collation differs from C');
    assert.equal(rest, ['no-normalizing-variables', rest[1], 'cgo ok', rest[3], '*']);
    assert.match(rest[1]!, /^2\.6\./);

    // The precompiled standard library: entries dated by the lock, used by a build uid in the two ways a build
    // most often asks for, and kept by Go's trim even when the image is used a month after its lock (root only
    // ages trim.txt and the mtimes; the builds run as uid 1000).
    const entryTime = `${lock.sourceDateEpoch}000000000`.padStart(20);
    const std = await runInContainer(engine, {
      image: tagA,
      user: '0:0',
      binds: [],
      env: [`SDE=${lock.sourceDateEpoch}`, `ENTRY_TIME=${entryTime}`],
      cmd: [
        'sh',
        '-ec',
        [
          'cd /go/cache',
          `echo "modes $(find . -mindepth 1 -type d -exec stat -c %a {} + | sort | uniq -c | awk '{ print $1, $2 }') trim $(cat trim.txt) entries $(find . -name '*-a' | wc -l) undated $(find . -name '*-a' -exec grep -L -x -E "v1 [0-9a-f]{64} [0-9a-f]{64} [ 0-9]{20} $ENTRY_TIME" {} + | wc -l)"`,
          // a month old: Go's next trim is due, and every entry is past its 5 days
          'printf %s $((SDE - 30 * 86400)) > trim.txt && find . -exec touch -h -d @$((SDE - 30 * 86400)) {} +',
          'image=$(find . -type f -user 0 | wc -l)',
          `cd /tmp && printf 'package main\\n\\nimport "fmt"\\n\\nfunc main() { fmt.Println("hello") }\\n' > hello.go`,
          'build() { setpriv --reuid=1000 --regid=1000 --clear-groups env "$@" go build -x -o hello hello.go 2>&1 | sed -n "s/.*\\/compile .* -p \\([^ ]*\\) .*/compiled \\1/p"; ./hello; }',
          'build CGO_ENABLED=0 GOFLAGS=-trimpath',
          'build CGO_ENABLED=1',
          'echo "trim $(cat /go/cache/trim.txt) kept $(find /go/cache -type f -user 0 | wc -l) of $image"',
        ].join('\n'),
      ],
    });
    assert.is(std.exitCode, 0, std.stderr);
    const [summary, ...builds] = std.stdout.trim().split('\n');
    const m = /^modes 256 1777 trim (\d+) entries (\d+) undated 0$/.exec(summary!);
    assert.ok(m && Number(m[1]) === lock.sourceDateEpoch && Number(m[2]) > 1000, summary);
    // Nothing but the program's own package is compiled: std comes from the image's cache.
    assert.equal(builds.slice(0, 4), ['compiled main', 'hello', 'compiled main', 'hello'], std.stdout);
    // Go trimmed (trim.txt moved to now) and every entry of the image is still there.
    const kept = /^trim (\d+) kept (\d+) of (\d+)$/.exec(builds[4] ?? '');
    assert.ok(kept && Number(kept[1]) > Date.now() / 1000 - 3600 && kept[2] === kept[3], std.stdout);
  } finally {
    await engine.images.remove(tagA).catch(() => undefined);
    await second.remove();
    spawnSync('rm', ['-rf', cache]);
  }
});

test.run();
