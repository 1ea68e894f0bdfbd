import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { claimCheckout } from '../lib/checkout/claim.js';
import { DiskFullError } from '../lib/disk-full.js';
import { writeImage } from '../lib/image/write-image.js';
import { extractOutputTar } from '../lib/backend/docker/sync/copy-output.js';
import { testWhen } from './helpers/skip.js';
import { GOLDEN, materializeStage, tempDir } from './helpers/stage.js';
import { cliEnv } from './helpers/cli.js';

// A full disk while writing output, on a real (small) tmpfs: exit 2 / E_NO_SPACE naming the path and the bytes,
// the previous output byte-identical, and no partial file left anywhere on that file system.
const CLI = path.resolve('dist/cli/main.js');
const root = process.getuid?.() === 0 ? undefined : 'mounting a tmpfs needs root (CI runs as root)';

/** Runs `fn` with a fresh tmpfs of `kib` KiB mounted at a temporary directory, unmounted afterwards. */
async function withTmpfs(kib: number, fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = tempDir('krepro-tmpfs-');
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${kib}k,mode=0755`, 'krepro-test', dir]);
  try {
    await fn(dir);
  } finally {
    execFileSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every file below `dir` with its sha256, relative paths sorted. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const rel of (readdirSync(dir, { recursive: true }) as string[]).sort()) {
    const p = path.join(dir, rel);
    if (statSync(p).isFile()) out[rel] = createHash('sha256').update(readFileSync(p)).digest('hex');
  }
  return out;
}

const bytes = String.raw`\d+ bytes( \([\d.]+ [KMG]iB\))?`;

function krepro(args: string[]): { code: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: cliEnv({ SOURCE_DATE_EPOCH: String(GOLDEN.sourceDateEpoch) }) });
  return { code: r.status, stderr: r.stderr };
}

testWhen(root, 'package: a full disk is exit 2 naming --out, the tarball and the bytes; the previous release stays byte-identical', async () => {
  const stage = materializeStage(path.join(tempDir(), 'stage'));
  // Room for one release (about 1.1 MB here) but not for a second one beside it.
  await withTmpfs(1600, (disk) => {
    const out = path.join(disk, 'release-tars');
    const first = krepro(['package', '--stage', stage, '--out', out, '--no-source']);
    assert.is(first.code, 0, first.stderr);
    const before = snapshot(out);
    const r = krepro(['package', '--stage', stage, '--out', out, '--no-source', '--level', '9']);
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`^krepro package: no space left on device \\(ENOSPC\\) writing ${out}: the disk filled at kubernetes-[a-z0-9-]+\\.tar\\.gz, with ${bytes} written; the release's uncompressed input is ${bytes}; ${bytes} free there now, of ${bytes}\\. The previous ${out} was kept as it was, and nothing half-written was left\\. Free space there, or write the release to another disk \\(--out\\), then run again\\n$`));
    assert.not.match(r.stderr, /internal error|NaN|undefined/);
    assert.equal(snapshot(out), before, 'the previous release is byte-identical');
    assert.equal(readdirSync(disk), ['release-tars'], 'no partial directory or file is left');
  });
});

testWhen(root, 'stage: a full disk is exit 2 naming the stage and the bytes copied; the previous stage is kept, nothing half-copied', async () => {
  const work = tempDir();
  const bin = path.join(work, 'bin', 'linux', 'amd64');
  mkdirSync(bin, { recursive: true });
  const source = path.join(work, 'src');
  mkdirSync(path.join(source, 'LICENSES'), { recursive: true });
  writeFileSync(path.join(source, 'LICENSES', 'LICENSE'), 'Apache-2.0\n');
  writeFileSync(path.join(bin, 'kubectl'), randomBytes(300 * 1024), { mode: 0o755 });
  await withTmpfs(1024, (disk) => {
    const stage = path.join(disk, 'release-stage');
    const args = ['stage', '--bin', path.join(work, 'bin'), '--source', source, '--stage', stage, '--version', 'v1.31.0'];
    assert.is(krepro(args).code, 0);
    const before = snapshot(stage);
    writeFileSync(path.join(bin, 'kube-apiserver'), randomBytes(900 * 1024), { mode: 0o755 });
    const r = krepro(args);
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`^krepro stage: no space left on device \\(ENOSPC\\) writing ${stage}: the disk filled, with ${bytes} written; ${bytes} free there now, of ${bytes}\\. The previous ${stage} was kept as it was, and nothing half-written was left\\. Free space there, or stage on another disk \\(--stage\\), then run again\\n$`));
    assert.equal(snapshot(stage), before);
    assert.equal(readdirSync(disk), ['release-stage']);
  });
});

testWhen(root, 'writeImage: a full disk is E_NO_SPACE naming the image and the binary size; the old image file is untouched', async () => {
  const binary = path.join(tempDir(), 'kube-apiserver');
  writeFileSync(binary, randomBytes(700 * 1024), { mode: 0o755 });
  await withTmpfs(512, async (disk) => {
    const dest = path.join(disk, 'kube-apiserver.tar');
    writeFileSync(dest, 'the old image\n');
    const err = await writeImage({ binaryPath: binary, binaryName: 'kube-apiserver', base: 'scratch', os: 'linux', arch: 'amd64', created: 1, repoTag: 'registry.k8s.io/kube-apiserver-amd64:v1.31.0', dest }).catch((e: unknown) => e);
    assert.instance(err, DiskFullError);
    const e = err as DiskFullError;
    assert.is(e.code, 'E_NO_SPACE');
    assert.is(e.context.target, dest);
    assert.match(e.message, new RegExp(`writing ${dest}.*; the binary alone is 716800 bytes \\(700\\.0 KiB\\); ${bytes} free there now`));
    assert.is(readFileSync(dest, 'utf8'), 'the old image\n');
    assert.equal(readdirSync(disk), ['kube-apiserver.tar'], 'no temporary layer or tarball is left');
  });
});

testWhen(root, 'copy-output: a full disk while receiving build output leaves the old output as it was and no staging files', async () => {
  await withTmpfs(512, async (disk) => {
    const dest = path.join(disk, 'bin');
    mkdirSync(dest);
    writeFileSync(path.join(dest, 'kubectl'), 'the old kubectl\n');
    // What getArchive of the volume's bin directory gives: members rooted at "bin/".
    const pack = tar.pack();
    pack.entry({ name: 'bin', type: 'directory' });
    pack.entry({ name: 'bin/kubectl', mode: 0o755 }, randomBytes(800 * 1024));
    pack.finalize();
    const err = await extractOutputTar(pack as unknown as Readable, dest).catch((e: unknown) => e);
    assert.instance(err, DiskFullError);
    assert.match((err as Error).message, new RegExp(`^no space left on device \\(ENOSPC\\) writing ${dest}: the disk filled at bin/kubectl, with ${bytes} written; that file alone is 819200 bytes \\(800\\.0 KiB\\); ${bytes} free there now, of ${bytes}\\. ${dest} was not changed and the received copies were removed`));
    assert.is(readFileSync(path.join(dest, 'kubectl'), 'utf8'), 'the old kubectl\n');
    assert.equal(readdirSync(disk), ['bin']);
  });
});

testWhen(root, 'the checkout lock on a full disk: E_NO_SPACE naming the lock file, no temporary lock left', async () => {
  await withTmpfs(64, async (disk) => {
    mkdirSync(path.join(disk, '_output'));
    writeFileSync(path.join(disk, 'filler'), Buffer.alloc(0));
    // Fill every block: write until the file system refuses.
    try {
      for (;;) writeFileSync(path.join(disk, 'filler'), randomBytes(4096), { flag: 'a' });
    } catch (err) {
      assert.is((err as NodeJS.ErrnoException).code, 'ENOSPC');
    }
    const err = await claimCheckout(disk, 'run').catch((e: unknown) => e);
    assert.instance(err, DiskFullError);
    assert.match((err as Error).message, `writing ${path.join(disk, '_output', '.krepro.lock')}`);
    assert.equal(readdirSync(path.join(disk, '_output')), []);
  });
});

test.run();
