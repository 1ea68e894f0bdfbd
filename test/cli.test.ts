import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { byteProgress } from '../cli/progress.js';
import { GOLDEN, materializeStage, tempDir } from './helpers/stage.js';

const CLI = path.resolve('dist/cli/main.js');

class Capture extends Writable {
  text = '';
  constructor(readonly isTTY: boolean) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

test('progress is drawn on a terminal with throughput, and nothing is written when piped', () => {
  let clock = 0;
  const tty = new Capture(true);
  const onTty = byteProgress(tty, () => clock);
  const piped = new Capture(false);
  const onPipe = byteProgress(piped, () => clock);
  for (const on of [onTty, onPipe]) {
    on({ type: 'plan', tarballs: 1, bytes: 4 * 1024 * 1024 });
    on({ type: 'tarball', name: 'kubernetes-server-linux-amd64.tar.gz', bytes: 4 * 1024 * 1024 });
  }
  clock = 1000;
  onTty({ type: 'bytes', bytes: 2 * 1024 * 1024 });
  onPipe({ type: 'bytes', bytes: 2 * 1024 * 1024 });
  assert.match(tty.text, /50% 2\/4 MiB, 2\.0 MiB\/s {2}kubernetes-server-linux-amd64\.tar\.gz/);
  assert.is(piped.text, '');
});

test('--json prints the manifest and file list on stdout only; piped stderr carries one summary line', () => {
  const dir = tempDir();
  const stage = materializeStage(path.join(dir, 'stage'));
  // Without the colour variables the test runner sets, which make Node itself warn on stderr.
  const { NO_COLOR: _n, FORCE_COLOR: _f, ...env } = process.env;
  const r = spawnSync(process.execPath, [CLI, 'package', '--stage', stage, '--out', path.join(dir, 'out'), '--no-source', '--json', '--mtime', String(GOLDEN.sourceDateEpoch)], { encoding: 'utf8', env });
  assert.is(r.status, 0, r.stderr);
  const json = JSON.parse(r.stdout);
  assert.is(json.sourceDateEpoch.seconds, GOLDEN.sourceDateEpoch);
  assert.is(json.sourceDateEpoch.origin, 'explicit');
  assert.equal(json.manifest, JSON.parse(readFileSync(path.join(dir, 'out', 'krepro-manifest.json'), 'utf8')));
  assert.ok(json.files.includes('SHA256SUMS') && json.files.includes('kubernetes.tar.gz.sha512'));
  // client tarballs do not nest the source tarball, so they match the golden digests even with --no-source
  const client = json.manifest.files.find((f: { name: string }) => f.name === 'kubernetes-client-linux-amd64.tar.gz');
  assert.ok(client.integrity.includes(Buffer.from(GOLDEN.sha256['kubernetes-client-linux-amd64.tar.gz']!, 'hex').toString('base64')));
  assert.is(r.stderr, '');
});

test('krepro --help lists the commands; --version prints the package version', () => {
  const help = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
  assert.is(help.status, 0);
  for (const c of ['package', 'stage', 'base-image']) assert.match(help.stdout, new RegExp(`^  ${c} `, 'm'));
  const version = spawnSync(process.execPath, [CLI, '--version'], { encoding: 'utf8' });
  assert.is(version.stdout.trim(), JSON.parse(readFileSync('package.json', 'utf8')).version);
  assert.is(spawnSync(process.execPath, [CLI], { encoding: 'utf8' }).status, 2, 'no command is a usage error');
});

test.run();
