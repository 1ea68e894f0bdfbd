import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { MAX_ATTESTATION_BYTES } from '../lib/attest/file.js';
import { jsonSyntaxError, quote } from '../lib/quote.js';
import { cliEnv } from './helpers/cli.js';
import { engineOrSkip } from './helpers/engine.js';
import { gitCheckout, outsideDir } from './helpers/outside.js';
import { suiteWhen } from './helpers/skip.js';
import { tempDir } from './helpers/stage.js';

// What krepro did not write itself never reaches the terminal as it is: a file's bytes are never shown (errors name
// the file, line and column), and a typed value is shown quoted, without control characters, cut to a length.
const CLI = path.resolve('dist/cli/main.js');
const NO_ENGINE = { DOCKER_HOST: 'unix:///nonexistent/docker.sock' };
const SECRET = 'root:$y$j9T$SECRETHASH:19000:0:99999:7:::\n';
const ESC = '\x1b]0;pwned\x07\x1b[2J';
const docker = await engineOrSkip();

function krepro(cwd: string, args: string[], env: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', env: cliEnv({ SOURCE_DATE_EPOCH: '1700000000', ...env }), maxBuffer: 256 * 1024 * 1024 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Nothing of the secret and no control character other than newline and tab in what was printed. */
function clean(out: string, what: string): void {
  assert.not.match(out, 'SECRETHASH', `${what}: the secret's bytes`);
  assert.not.match(out, 'pwned', `${what}: the file's text`);
  assert.not.ok(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/.test(out), `${what}: a control character reached the terminal: ${JSON.stringify(out.slice(0, 300))}`);
}

test('JSON errors name the line and column, never the text, on every V8 message shape', () => {
  const cases: [string, string][] = [
    [SECRET, 'line 1, column 1: unexpected character'],
    ['{\n  "a": 1,\n  "b": tru}', 'line 3, column 11: unexpected character'],
    ['{"a":1,}', 'line 1, column 8: Expected double-quoted property name'],
    [`{"a":"${ESC}"}`, 'line 1, column 7: Bad control character in string literal'],
    ['[1,2', 'line 1, column 5: Expected \',\' or \']\' after array element'],
    ['', 'line 1, column 1: the text ends before the JSON value does'],
  ];
  for (const [text, want] of cases) {
    let err: unknown;
    try {
      JSON.parse(text);
    } catch (e) {
      err = e;
    }
    assert.is(jsonSyntaxError(text, err), want, JSON.stringify(text));
  }
  assert.is(quote(`a${ESC}b`), '"a]0;pwned[2Jb"');
  assert.is(quote('x'.repeat(500)), `"${'x'.repeat(120)}"… (500 characters)`);
});

test('a project file that is a link is refused; a broken one is named by line and column, never shown', () => {
  const outside = outsideDir();
  writeFileSync(path.join(outside.dir, 'shadow'), SECRET);
  const linked = gitCheckout({ 'krepro.json': { link: path.join(outside.dir, 'shadow') } });
  const r = krepro(linked, ['verify'], NO_ENGINE);
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, /[0-9a-f]{40}:krepro\.json is a symbolic link/, 'verify reads the committed file');
  clean(r.stdout + r.stderr, 'a linked project file');

  const broken = gitCheckout({ 'krepro.json': `{\n  "command": "true",\n  ${ESC}${SECRET}` });
  const b = krepro(broken, ['verify'], NO_ENGINE);
  assert.is(b.code, 2, b.stderr);
  assert.match(b.stderr, /[0-9a-f]{40}:krepro\.json is not valid JSON: line 3, column 3: Expected double-quoted property name/);
  clean(b.stdout + b.stderr, 'a broken project file');
  const field = gitCheckout({ 'krepro.json': JSON.stringify({ command: 'true', ['x\x1b[2J']: 1, outputs: ['out'] }) });
  const f = krepro(field, ['verify'], NO_ENGINE);
  assert.is(f.code, 2, f.stderr);
  assert.match(f.stderr, 'unknown field "x[2J"');
  clean(f.stdout + f.stderr, 'an unknown field');
});

test('attest verify and diff --from-json: broken JSON is named by line and column; typed values are quoted clean', () => {
  const dir = tempDir();
  const { publicKey } = generateKeyPairSync('ed25519');
  writeFileSync(path.join(dir, 'key.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  // Line 2: the fields of an envelope with terminal escapes in them.
  writeFileSync(path.join(dir, 'a.intoto.jsonl'), `${ESC}${SECRET}{"payloadType":"\\u001b[2J","payload":"e30=","signatures":[{"keyid":"\\u001b]0;x\\u0007","sig":"AA=="}]}\n`);
  const a = krepro(dir, ['attest', 'verify', '--key', 'key.pub', 'a.intoto.jsonl']);
  assert.is(a.code, 1, a.stderr);
  assert.match(a.stdout, 'line 1: INVALID format: not JSON: column 1: unexpected character');
  assert.match(a.stdout, 'line 2: INVALID payload-type: payload type is "[2J"');
  assert.match(a.stdout, 'line 2: INVALID key-id: signed by key ]0;x, not by this key');
  clean(a.stdout + a.stderr, 'attest verify');

  writeFileSync(path.join(dir, 'r.json'), `{"schema": 1,\n ${ESC}${SECRET}`);
  const d = krepro(dir, ['diff', '--from-json', 'r.json']);
  assert.is(d.code, 2, d.stderr);
  assert.match(d.stderr, 'r.json is not JSON (line 2, column 2: Expected double-quoted property name)');
  clean(d.stdout + d.stderr, 'diff --from-json');

  const typed = krepro(dir, [`bogus\x1b[2J${'y'.repeat(300)}`]);
  assert.is(typed.code, 2);
  assert.match(typed.stderr, `krepro: unknown command "bogus[2J${'y'.repeat(112)}"… (308 characters)`);
  clean(typed.stderr, 'an unknown command');
  const mtime = krepro(dir, ['package', '--mtime', '1\x1b[2J\x07', '--no-source']);
  assert.is(mtime.code, 2);
  assert.match(mtime.stderr, '--mtime "1[2J" is neither');
  clean(mtime.stderr, '--mtime');
});

test('attest verify refuses a file over 16 MiB (exit 2) and lists at most 100 invalid lines of a large one', () => {
  const dir = tempDir();
  const { publicKey } = generateKeyPairSync('ed25519');
  writeFileSync(path.join(dir, 'key.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(path.join(dir, 'big.intoto.jsonl'), randomBytes(MAX_ATTESTATION_BYTES + 1));
  const big = krepro(dir, ['attest', 'verify', '--key', 'key.pub', 'big.intoto.jsonl']);
  assert.is(big.code, 2, big.stderr);
  assert.match(big.stderr, `is ${MAX_ATTESTATION_BYTES + 1} bytes, over the ${MAX_ATTESTATION_BYTES} bytes (16 MiB) krepro reads`);
  assert.is(big.stdout, '');

  // 15 MiB of random bytes: thousands of lines, none of them JSON.
  writeFileSync(path.join(dir, 'noise.intoto.jsonl'), randomBytes(15 * 1024 * 1024));
  const noise = krepro(dir, ['attest', 'verify', '--key', 'key.pub', 'noise.intoto.jsonl']);
  assert.is(noise.code, 1, noise.stderr);
  const lines = noise.stdout.trimEnd().split('\n');
  assert.is(lines.length, 101, 'at most 100 invalid lines and a count of the rest');
  const more = Number(/^… and (\d+) more invalid line\(s\), not listed$/.exec(lines[100]!)?.[1]);
  assert.ok(more > 1000, lines[100]);
  assert.match(noise.stderr, `INVALID: ${100 + more} envelope(s)`);
  assert.ok(noise.stdout.length < 20_000, `${noise.stdout.length} bytes printed`);
  clean(noise.stdout + noise.stderr, 'random bytes');
  const json = krepro(dir, ['attest', 'verify', '--json', '--key', 'key.pub', 'noise.intoto.jsonl']);
  const report = JSON.parse(json.stdout) as { lines: unknown[]; invalidNotListed: number };
  assert.is(report.lines.length, 100);
  assert.ok(report.invalidNotListed > 1000);
});

suiteWhen(docker, 'no Docker engine', (_docker, test) => {
  test('run: a project file linked to a secret is refused before any container, showing nothing of it', () => {
    const outside = outsideDir();
    writeFileSync(path.join(outside.dir, 'shadow'), SECRET);
    const dir = gitCheckout({ 'krepro.json': { link: path.join(outside.dir, 'shadow') } });
    const r = krepro(dir, ['run', '--', 'true']);
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, 'is a symbolic link');
    clean(r.stdout + r.stderr, 'run');
  });
});

test.run();
