import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Writable } from 'node:stream';
import { main } from '../cli/main.js';
import { tempDir } from './helpers/stage.js';

// Every numeric option of every command, found in the --help texts (an option shown as `--name N`), refuses a value
// that is not a whole number in range by quoting it and the allowed range: "NaN" never reaches the user.
const cwd = tempDir('krepro-options-');

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

/** The CLI in this process (cli/main.ts's main, as the krepro binary runs it), for speed. */
async function krepro(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Capture();
  const stderr = new Capture();
  // No engine and no SOURCE_DATE_EPOCH: a numeric option must be refused before either is looked for.
  const env = { PATH: process.env['PATH'], DOCKER_HOST: 'unix:///nonexistent/docker.sock' };
  const code = await main(args, { env, cwd, stdout, stderr, signal: new AbortController().signal });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

const commands = [...(await krepro(['--help'])).stdout.matchAll(/^ {2}([a-z-]+) {2,}/gm)].map((m) => m[1]!);
/** Positional arguments a command needs before it looks at its options' values. */
const POSITIONALS: Record<string, string[]> = { diff: ['a.tar.gz', 'b.tar.gz'] };

const numeric: { command: string; option: string }[] = [];
for (const command of commands) {
  for (const m of (await krepro([command, '--help'])).stdout.matchAll(/^ +(--[a-z-]+) N\b/gm)) numeric.push({ command, option: m[1]! });
}

test('the numeric options are found in the help texts', () => {
  assert.ok(commands.length >= 10, commands.join(' '));
  const found = numeric.map((n) => `${n.command} ${n.option}`);
  for (const known of ['package --level', 'release --level', 'diff --max-depth']) assert.ok(found.includes(known), `${known} in ${found.join(', ')}`);
});

test('package --level abc names abc and the range (exit 2)', async () => {
  const r = await krepro(['package', '--level', 'abc']);
  assert.is(r.code, 2);
  assert.is(r.stderr, 'krepro package: --level must be a whole number from 1 to 9, got "abc"\n');
});

test('every numeric option refuses a non-number, a fraction, hex, an exponent and values out of range, by name', async () => {
  for (const { command, option } of numeric) {
    for (const value of ['abc', '1.5', '0x6', '1e1', '', '0', '99999999999999999999']) {
      const r = await krepro([command, option, value, ...(POSITIONALS[command] ?? [])]);
      const what = `krepro ${command} ${option} ${JSON.stringify(value)}`;
      assert.is(r.code, 2, `${what}: ${r.stderr}`);
      assert.match(r.stderr, `${option} must be a whole number `, what);
      assert.match(r.stderr, `got ${JSON.stringify(value)}`, what);
      assert.not.match(r.stderr, /NaN|undefined|internal error/, what);
    }
  }
  for (const [command, option, value] of [['package', '--level', '10'], ['release', '--level', '10']] as const) {
    assert.match((await krepro([command, option, value])).stderr, `${option} must be a whole number from 1 to 9, got "10"`);
  }
});

test.run();
