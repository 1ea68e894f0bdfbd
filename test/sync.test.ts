import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Engine } from '../lib/engine/engine.js';
import * as tar from 'tar-stream';
import { KreproError } from '../lib/errors.js';
import { copyOutput, extractOutputTar } from '../lib/backend/docker/sync/copy-output.js';
import { MANIFEST_DIR } from '../lib/backend/docker/sync/paths.js';
import { syncSources, type SyncOptions, type SyncProgress } from '../lib/backend/docker/sync/source-sync.js';
import { engineOrSkip, NODE_TEST_IMAGE, runInContainer } from './helpers/engine.js';
import { tempDir as makeTempDir } from './helpers/stage.js';

const docker: Engine | undefined = await engineOrSkip();
const engineTest = (name: string, fn: (docker: Engine) => Promise<void>): void => {
  if (docker) test(name, () => fn(docker));
  else test.skip(name, async () => {});
};

const DIR = '/go/src/k8s.io/kubernetes';
const OWNER = { uid: 1000, gid: 1000 };
const RUN = randomBytes(4).toString('hex');
const LABELS = { 'io.krepro.test': '1', 'io.krepro.sync-test': RUN };
const LONG_NAME = `pkg/long/${'n'.repeat(120)}.go`;

const temps: string[] = [];
function tempDir(prefix?: string): string {
  const dir = makeTempDir(prefix);
  temps.push(dir);
  return dir;
}

// ---------------------------------------------------------------------------------------------------------------
// Fixtures

/** A git checkout with ~300 files in nested directories, an executable, symlinks, a git-ignored file, _output/ and _tmp/. */
function makeRepo(): string {
  const root = tempDir('krepro-sync-src-');
  const write = (rel: string, content: string | Buffer, mode = 0o644): void => {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeFileSync(path.join(root, rel), content);
    chmodSync(path.join(root, rel), mode);
  };
  for (let a = 0; a < 10; a++) {
    for (let b = 0; b < 6; b++) {
      for (let f = 0; f < 5; f++) write(`pkg/a${a}/b${b}/f${f}.go`, `package b${b}\n// ${a}/${b}/${f}\n${'x'.repeat(a * 100 + f)}\n`);
    }
  }
  write('hack/run.sh', '#!/bin/sh\necho hi\n', 0o755);
  write('big/blob.bin', randomBytes(600 * 1024)); // above the small-file threshold: streamed
  write('with space/and ünïcode.txt', 'names\n');
  write(LONG_NAME, 'long\n');
  write('empty.txt', '');
  symlinkSync('pkg/a0', path.join(root, 'vendor-link'));
  symlinkSync('../../../../outside', path.join(root, 'pkg/a1/escape')); // points above the tree: the engine must accept it
  write('.gitignore', '*.log\n/_output/\n/_tmp/\n');
  write('debug.log', 'ignored\n');
  write('_output/local/junk', 'build output on the host\n');
  write('_tmp/scratch', 'temp\n');
  git(root, 'init', '-q');
  git(root, 'add', '-A');
  git(root, '-c', 'user.name=krepro', '-c', 'user.email=krepro@example.invalid', 'commit', '-q', '-m', 'fixture');
  write('untracked.go', 'package main\n'); // untracked but not ignored: synced, like rsync would
  return root;
}

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8' });
}

/** What the volume should hold: path → "type mode sha256-or-target", for files and symlinks. */
function expectedTree(root: string, skip: (rel: string) => boolean): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string): void => {
    for (const name of readdirSync(path.join(root, rel))) {
      const r = rel === '' ? name : `${rel}/${name}`;
      if (skip(r)) continue;
      const abs = path.join(root, r);
      const st = lstatSync(abs);
      if (st.isSymbolicLink()) out.set(r, `l 777 ${readlinkSync(abs)}`);
      else if (st.isDirectory()) walk(r);
      else out.set(r, `f ${st.mode & 0o111 ? 755 : 644} ${createHash('sha256').update(readFileSync(abs)).digest('hex')}`);
    }
  };
  walk('');
  return out;
}

const gitSkip = (r: string): boolean => ['.git', '_output', '_tmp', 'debug.log'].includes(r);

/** The volume's source tree as the same map, read by a container (find + sha256sum), plus owners seen. */
async function volumeTree(docker: Engine, volume: string): Promise<{ tree: Map<string, string>; owners: Set<string>; rootOwner: string }> {
  const script = [
    'cd /src',
    `find . -mindepth 1 ! -path './${MANIFEST_DIR}' ! -path './${MANIFEST_DIR}/*' \\( -type f -o -type l \\) -printf '%y\\t%m\\t%U:%G\\t%l\\t%P\\0'`,
    'printf "\\0--\\0"',
    `find . -mindepth 1 ! -path './${MANIFEST_DIR}/*' -type f -print0 | xargs -0 -r sha256sum -z`,
    'printf "\\0--\\0"',
    "stat -c '%u:%g' .",
  ].join('\n');
  const r = await runInContainer(docker, { image: NODE_TEST_IMAGE, cmd: ['sh', '-c', script], binds: [`${volume}:/src`] });
  assert.is(r.exitCode, 0, r.stderr);
  const [listing, sums, root] = r.stdout.split('\0--\0') as [string, string, string];
  const hashes = new Map<string, string>();
  for (const line of sums.split('\0').filter(Boolean)) hashes.set(line.slice(66).replace(/^\.\//, ''), line.slice(0, 64));
  const tree = new Map<string, string>();
  const owners = new Set<string>();
  for (const rec of listing.split('\0').filter(Boolean)) {
    const [type, mode, owner, target, rel] = rec.split('\t') as [string, string, string, string, string];
    owners.add(owner);
    tree.set(rel, type === 'l' ? `l 777 ${target}` : `f ${mode} ${hashes.get(rel)}`);
  }
  return { tree, owners, rootOwner: root.trim() };
}

async function inVolume(docker: Engine, volume: string, script: string): Promise<string> {
  const r = await runInContainer(docker, { image: NODE_TEST_IMAGE, cmd: ['sh', '-c', `cd /src && ${script}`], binds: [`${volume}:/src`] });
  assert.is(r.exitCode, 0, r.stderr);
  return r.stdout;
}

async function withVolume(docker: Engine, fn: (volume: string) => Promise<void>): Promise<void> {
  const volume = `krepro-test-sync-${RUN}-${randomBytes(3).toString('hex')}`;
  await docker.volumes.create(volume, LABELS);
  try {
    await fn(volume);
  } finally {
    await docker.volumes.remove(volume).catch(() => {});
  }
}

async function leftoverHelpers(docker: Engine): Promise<number> {
  return (await docker.containers.list({ 'io.krepro.sync-test': RUN })).length;
}

function syncOpts(checkoutRoot: string, volume: string, extra: Partial<SyncOptions> = {}): SyncOptions {
  return { checkoutRoot, volume, image: NODE_TEST_IMAGE, containerDir: DIR, owner: OWNER, labels: LABELS, ...extra };
}

function mapDiff(actual: Map<string, string>, expected: Map<string, string>): string {
  const lines: string[] = [];
  for (const [k, v] of expected) if (actual.get(k) !== v) lines.push(`${k}: want ${v}, got ${actual.get(k)}`);
  for (const [k, v] of actual) if (!expected.has(k)) lines.push(`${k}: unexpected ${v}`);
  return lines.slice(0, 20).join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// syncSources on the real engine

engineTest('sync: first sync sends every non-ignored file; the volume matches the host; owner is the build user', async (docker) => {
  const root = makeRepo();
  await withVolume(docker, async (volume) => {
    const events: SyncProgress[] = [];
    const r = await syncSources(docker, syncOpts(root, volume, { onProgress: (e) => events.push(e) }));
    const expected = expectedTree(root, gitSkip);
    assert.is(r.scanned, expected.size);
    assert.is(r.sent, expected.size);
    assert.is(r.unchanged, 0);
    assert.is(r.deleted, 0);
    assert.ok(r.sentBytes > 600 * 1024);
    assert.ok(r.tarBytes > r.sentBytes);
    const plan = events.find((e) => e.phase === 'plan');
    assert.equal(plan && plan.phase === 'plan' ? plan.manifest : undefined, 'missing');

    const v = await volumeTree(docker, volume);
    assert.is(mapDiff(v.tree, expected), '');
    assert.equal([...v.owners], ['1000:1000']);
    assert.is(v.rootOwner, '1000:1000', 'the volume root belongs to the build user, so it can create _output/');
    assert.ok(v.tree.has(LONG_NAME) && v.tree.has('untracked.go') && v.tree.has('vendor-link'));
    for (const absent of ['debug.log', '_output/local/junk', '_tmp/scratch', '.git/HEAD']) assert.not.ok(v.tree.has(absent), absent);
    assert.is(await leftoverHelpers(docker), 0);
  });
});

engineTest('sync: no-op, one edit, exec bit, deletions and a directory turned into a file', async (docker) => {
  const root = makeRepo();
  await withVolume(docker, async (volume) => {
    const first = await syncSources(docker, syncOpts(root, volume));

    const again = await syncSources(docker, syncOpts(root, volume));
    assert.is(again.sent, 0);
    assert.is(again.deleted, 0);
    assert.is(again.unchanged, first.sent);
    assert.ok(again.tarBytes < 64 * 1024, `no-op sent ${again.tarBytes} bytes`);

    const edited = path.join(root, 'pkg/a3/b2/f1.go');
    writeFileSync(edited, 'package b2\n// edited\n');
    const one = await syncSources(docker, syncOpts(root, volume));
    assert.is(one.sent, 1);
    assert.is(one.sentBytes, statSync(edited).size);
    assert.ok(one.tarBytes < 32 * 1024, `one small edit sent ${one.tarBytes} bytes`);
    assert.is(await inVolume(docker, volume, 'cat pkg/a3/b2/f1.go'), 'package b2\n// edited\n');

    // Same size and content, only the exec bit: still a change.
    chmodSync(path.join(root, 'pkg/a0/b0/f0.go'), 0o755);
    assert.is((await syncSources(docker, syncOpts(root, volume))).sent, 1);
    assert.is((await inVolume(docker, volume, 'stat -c %a pkg/a0/b0/f0.go')).trim(), '755');

    // A file, a whole directory (5 files) and a symlink go; a directory becomes a file of the same name.
    rmSync(path.join(root, 'pkg/a9/b5/f4.go'));
    rmSync(path.join(root, 'pkg/a8/b5'), { recursive: true });
    rmSync(path.join(root, 'vendor-link'));
    rmSync(path.join(root, 'pkg/a7/b0'), { recursive: true });
    writeFileSync(path.join(root, 'pkg/a7/b0'), 'now a file\n');
    const del = await syncSources(docker, syncOpts(root, volume));
    assert.is(del.deleted, 1 + 5 + 1 + 5);
    assert.is(del.sent, 1);
    const v = await volumeTree(docker, volume);
    assert.is(mapDiff(v.tree, expectedTree(root, gitSkip)), '');
    assert.is(await inVolume(docker, volume, 'ls -d pkg/a8/b5 2>/dev/null || echo gone'), 'gone\n');

    assert.is((await syncSources(docker, syncOpts(root, volume))).sent, 0, 'settled after deletions');
  });
});

engineTest('sync: files the build created in the source tree are removed, and synced files it rewrote are sent again', async (docker) => {
  const root = makeRepo();
  await withVolume(docker, async (volume) => {
    await syncSources(docker, syncOpts(root, volume));
    // What a build might do inside the volume: generate code, rewrite a synced file, delete one, write output.
    await inVolume(docker, volume, 'echo gen > generated.go && mkdir -p gen/deep && echo z > gen/deep/z && echo changed >> pkg/a0/b0/f0.go && rm pkg/a1/b1/f1.go && mkdir -p _output/bin && echo out > _output/bin/x');
    const events: SyncProgress[] = [];
    const r = await syncSources(docker, syncOpts(root, volume, { onProgress: (e) => events.push(e) }));
    assert.equal(r.strays, ['gen', 'generated.go']);
    assert.equal(r.rewritten, ['pkg/a0/b0/f0.go', 'pkg/a1/b1/f1.go']);
    assert.is(r.sent, 2);
    assert.ok(events.some((e) => e.phase === 'plan' && e.strays === 2 && e.rewritten === 2));
    const sources = new Map([...(await volumeTree(docker, volume)).tree].filter(([p]) => !p.startsWith('_output/')));
    assert.is(mapDiff(sources, expectedTree(root, gitSkip)), '', 'the volume matches the checkout again');
    assert.is(await inVolume(docker, volume, 'cat _output/bin/x'), 'out\n', 'build output is never touched');
    const settled = await syncSources(docker, syncOpts(root, volume));
    assert.equal([settled.sent, settled.strays, settled.rewritten], [0, [], []]);
  });
});

engineTest('sync: a new owner resends everything; an unreadable manifest wipes the sources but keeps _output', async (docker) => {
  const root = makeRepo();
  await withVolume(docker, async (volume) => {
    const first = await syncSources(docker, syncOpts(root, volume));
    // Above the 6-digit octal ustar field (tar-stream would clamp it to 262143): carried by pax records.
    const other = await syncSources(docker, syncOpts(root, volume, { owner: { uid: 300_000, gid: 300_001 } }));
    assert.is(other.sent, first.sent);
    const v = await volumeTree(docker, volume);
    assert.equal([...v.owners], ['300000:300001']);
    assert.is(v.rootOwner, '300000:300001');

    // Build output, a stray file no manifest knows, and a manifest shard cut short (as an interrupted put would).
    await inVolume(docker, volume, `mkdir -p _output/dockerized/bin && echo bin > _output/dockerized/bin/x && echo stray > stray.go && head -c 10 ${MANIFEST_DIR}/m00.json.gz > t && mv t ${MANIFEST_DIR}/m00.json.gz`);
    const events: SyncProgress[] = [];
    const wiped = await syncSources(docker, syncOpts(root, volume, { owner: { uid: 300_000, gid: 300_001 }, onProgress: (e) => events.push(e) }));
    assert.is(wiped.sent, first.sent);
    assert.ok(events.some((e) => e.phase === 'plan' && e.manifest === 'unreadable'));
    assert.ok(events.some((e) => e.phase === 'delete' && e.wipe));
    assert.is(await inVolume(docker, volume, 'cat _output/dockerized/bin/x; ls stray.go 2>/dev/null || echo no-stray'), 'bin\nno-stray\n');
    assert.is((await syncSources(docker, syncOpts(root, volume, { owner: { uid: 300_000, gid: 300_001 } }))).sent, 0);
  });
});

engineTest('sync: a directory that is not a git work tree is walked (dot files kept, _output/ and .git/ skipped)', async (docker) => {
  const root = tempDir('krepro-sync-plain-');
  mkdirSync(path.join(root, 'src/.hidden'), { recursive: true });
  writeFileSync(path.join(root, 'src/.hidden/cfg'), 'cfg\n');
  writeFileSync(path.join(root, 'debug.log'), 'no .gitignore applies here\n');
  mkdirSync(path.join(root, '_output'));
  writeFileSync(path.join(root, '_output/junk'), 'junk\n');
  await withVolume(docker, async (volume) => {
    const r = await syncSources(docker, syncOpts(root, volume));
    assert.is(r.sent, 2);
    assert.equal([...(await volumeTree(docker, volume)).tree.keys()].sort(), ['debug.log', 'src/.hidden/cfg']);
  });
});

engineTest('sync: abort while sending rejects and leaves no helper container; a later sync completes', async (docker) => {
  const root = makeRepo();
  await withVolume(docker, async (volume) => {
    const controller = new AbortController();
    const opts = syncOpts(root, volume, {
      signal: controller.signal,
      onProgress: (e) => {
        if (e.phase === 'send' && e.files === 10) controller.abort(new Error('stop'));
      },
    });
    try {
      await syncSources(docker, opts);
      assert.unreachable('the sync should have been aborted');
    } catch (err) {
      assert.is((err as Error).message, 'stop');
    }
    assert.is(await leftoverHelpers(docker), 0);
    const r = await syncSources(docker, syncOpts(root, volume));
    assert.is(mapDiff((await volumeTree(docker, volume)).tree, expectedTree(root, gitSkip)), '');
    assert.ok(r.sent > 0);
  });
});

engineTest('sync: a missing image is E_NOT_FOUND naming it', async (docker) => {
  const root = makeRepo();
  await withVolume(docker, async (volume) => {
    try {
      await syncSources(docker, syncOpts(root, volume, { image: 'krepro-no-such-image:never' }));
      assert.unreachable('should fail');
    } catch (err) {
      assert.instance(err, KreproError);
      assert.is((err as KreproError).code, 'E_NOT_FOUND');
      assert.match((err as Error).message, 'krepro-no-such-image:never');
    }
    assert.is(await leftoverHelpers(docker), 0);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// copyOutput on the real engine

engineTest('copyOutput: brings back binaries and symlinks, then reports them unchanged; never writes through symlinks', async (docker) => {
  const root = tempDir('krepro-copy-');
  const outside = tempDir('krepro-copy-outside-');
  await withVolume(docker, async (volume) => {
    await inVolume(
      docker,
      volume,
      [
        'mkdir -p _output/dockerized/bin/linux/amd64 _output/dockerized/go',
        'printf "ELF-ish" > _output/dockerized/bin/linux/amd64/foo && chmod 755 _output/dockerized/bin/linux/amd64/foo',
        'echo data > _output/dockerized/bin/linux/amd64/notes.txt && chmod 644 _output/dockerized/bin/linux/amd64/notes.txt',
        'ln -s /etc _output/dockerized/bin/evil',
        'ln -s linux/amd64 _output/dockerized/bin/host',
        'echo cache > _output/dockerized/go/cache',
      ].join(' && '),
    );
    // The host already has a symlink where the volume has a directory: it must be replaced, not followed.
    mkdirSync(path.join(root, '_output/dockerized/bin'), { recursive: true });
    symlinkSync(outside, path.join(root, '_output/dockerized/bin/linux'));

    const opts = { volume, image: NODE_TEST_IMAGE, containerDir: DIR, checkoutRoot: root, labels: LABELS };
    const first = await copyOutput(docker, opts);
    assert.equal(first, { copied: 4, unchanged: 0, bytes: 7 + 5 });
    const foo = path.join(root, '_output/dockerized/bin/linux/amd64/foo');
    assert.is(readFileSync(foo, 'utf8'), 'ELF-ish');
    assert.is(statSync(foo).mode & 0o777, 0o755);
    assert.is(statSync(path.join(root, '_output/dockerized/bin/linux/amd64/notes.txt')).mode & 0o777, 0o644);
    assert.is(readlinkSync(path.join(root, '_output/dockerized/bin/evil')), '/etc');
    assert.is(readlinkSync(path.join(root, '_output/dockerized/bin/host')), 'linux/amd64');
    assert.ok(lstatSync(path.join(root, '_output/dockerized/bin/linux')).isDirectory());
    assert.equal(readdirSync(outside), [], 'nothing written through the host symlink');
    assert.not.ok(existsSync(path.join(root, '_output/dockerized/go')), 'only the requested path comes back');
    assert.equal(readdirSync(path.join(root, '_output/dockerized')), ['bin'], 'no staging directory left behind');

    const mtime = statSync(foo).mtimeMs;
    utimesSync(foo, new Date(1_000_000_000_000), new Date(1_000_000_000_000));
    const second = await copyOutput(docker, opts);
    assert.equal(second, { copied: 0, unchanged: 4, bytes: 0 });
    assert.is(statSync(foo).mtimeMs, 1_000_000_000_000, 'an unchanged file is not rewritten');
    assert.ok(mtime !== 1_000_000_000_000);

    await inVolume(docker, volume, 'printf "ELF-v2!" > _output/dockerized/bin/linux/amd64/foo');
    assert.equal(await copyOutput(docker, opts), { copied: 1, unchanged: 3, bytes: 7 });
    assert.is(readFileSync(foo, 'utf8'), 'ELF-v2!');

    try {
      await copyOutput(docker, { ...opts, paths: ['_output/dockerized/nope'] });
      assert.unreachable('missing path');
    } catch (err) {
      assert.instance(err, KreproError);
      assert.match((err as Error).message, '_output/dockerized/nope');
      assert.match((err as Error).message, volume);
    }
    assert.is(await leftoverHelpers(docker), 0);
  });
});

engineTest('copyOutput: a volume that does not exist is a usage error (and is not created)', async (docker) => {
  const volume = `krepro-test-sync-${RUN}-absent`;
  try {
    await copyOutput(docker, { volume, image: NODE_TEST_IMAGE, containerDir: DIR, checkoutRoot: tempDir() });
    assert.unreachable('should fail');
  } catch (err) {
    assert.is((err as KreproError).code, 'E_USAGE');
    assert.match((err as Error).message, volume);
  }
  assert.is(await docker.volumes.inspect(volume), undefined);
});

// ---------------------------------------------------------------------------------------------------------------
// extractOutputTar with hand-made (hostile) archives: no engine needed

type Member = { name: string; type?: 'file' | 'directory' | 'symlink' | 'link'; body?: string; linkname?: string; mode?: number };

async function tarBytes(members: Member[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const m of members) pack.entry({ name: m.name, type: m.type ?? 'file', mode: m.mode ?? 0o644, ...(m.linkname ? { linkname: m.linkname } : {}) }, m.body ?? '');
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function expectUnsafe(members: Member[]): Promise<void> {
  const parent = tempDir('krepro-extract-');
  const dest = path.join(parent, 'bin');
  try {
    await extractOutputTar(Readable.from([await tarBytes(members)]), dest);
    assert.unreachable('should refuse');
  } catch (err) {
    assert.instance(err, KreproError);
    assert.is((err as KreproError).code, 'E_UNSAFE_PATH', (err as Error).message);
  }
  assert.equal(readdirSync(parent), [], 'nothing written, not even the good members before the bad one');
  assert.not.ok(existsSync('/abs'));
}

test('extractOutputTar: `../escape`, `/abs`, foreign roots and members below a symlink are refused, writing nothing', async () => {
  const good: Member[] = [{ name: 'bin/', type: 'directory' }, { name: 'bin/ok', body: 'ok' }];
  await expectUnsafe([...good, { name: '../escape', body: 'x' }]);
  await expectUnsafe([...good, { name: 'bin/../../escape', body: 'x' }]);
  await expectUnsafe([...good, { name: '/abs', body: 'x' }]);
  await expectUnsafe([...good, { name: 'other/x', body: 'x' }]);
  await expectUnsafe([...good, { name: 'bin/evil', type: 'symlink', linkname: '/etc' }, { name: 'bin/evil/passwd', body: 'x' }]);
  await expectUnsafe([{ name: 'bin', type: 'symlink', linkname: '/etc' }]);
  await expectUnsafe([...good, { name: 'bin/hard', type: 'link', linkname: '../etc/passwd' }]);
});

test('extractOutputTar: files, exec bits, symlinks and hard links; a truncated archive fails cleanly', async () => {
  const parent = tempDir('krepro-extract-');
  const dest = path.join(parent, 'bin');
  const members: Member[] = [
    { name: 'bin/', type: 'directory' },
    { name: 'bin/linux/amd64/kubectl', body: 'kubectl', mode: 0o755 },
    { name: 'bin/linux/amd64/kubectl.copy', type: 'link', linkname: 'bin/linux/amd64/kubectl' },
    { name: 'bin/current', type: 'symlink', linkname: 'linux/amd64' },
  ];
  const r = await extractOutputTar(Readable.from([await tarBytes(members)]), dest);
  assert.equal(r, { copied: 3, unchanged: 0, bytes: 14 });
  assert.is(statSync(path.join(dest, 'linux/amd64/kubectl')).mode & 0o777, 0o755);
  assert.is(readFileSync(path.join(dest, 'linux/amd64/kubectl.copy'), 'utf8'), 'kubectl');
  assert.is(readFileSync(path.join(dest, 'current/kubectl'), 'utf8'), 'kubectl');
  assert.equal(await extractOutputTar(Readable.from([await tarBytes(members)]), dest), { copied: 0, unchanged: 3, bytes: 0 });

  const whole = await tarBytes([{ name: 'bin/new', body: 'y'.repeat(5000) }]);
  try {
    await extractOutputTar(Readable.from([whole.subarray(0, 1500)]), dest);
    assert.unreachable('truncated');
  } catch (err) {
    assert.instance(err, KreproError);
  }
  assert.not.ok(existsSync(path.join(dest, 'new')));
  assert.equal(readdirSync(parent), ['bin']);
});

test.after(async () => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
  if (docker) assert.is(await leftoverHelpers(docker), 0);
});

test.run();
