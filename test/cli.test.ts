import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { COMMON_OPTIONS, type OptionSpec } from '../cli/command.js';
import { COMMANDS } from '../cli/commands.js';
import { renderHelp } from '../cli/help.js';
import { main } from '../cli/main.js';
import { byteProgress } from '../cli/progress.js';
import { LIBDEFLATE_WASM_SHA256 } from '../lib/api/archive.js';
import { KREPRO_VERSION } from '../lib/index.js';
import { lockDigest, readLock } from '../lib/api/environment.js';
import { cliEnv } from './helpers/cli.js';
import { engineOrSkip } from './helpers/engine.js';
import { suiteWhen } from './helpers/skip.js';
import { GOLDEN, makeSourceRepo, materializeStage, tempDir } from './helpers/stage.js';

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

/** The CLI in this process (cli/main.ts's main, as the binary runs it): spawning is slow on a shared machine. */
async function krepro(args: string[], opts: { cwd?: string; tty?: boolean; env?: Record<string, string | undefined> } = {}) {
  const stdout = new Capture(false);
  const stderr = new Capture(opts.tty ?? false);
  const env = { PATH: process.env['PATH'], DOCKER_HOST: 'unix:///nonexistent/docker.sock', ...opts.env };
  const code = await main(args, { env, cwd: opts.cwd ?? process.cwd(), stdout, stderr, signal: new AbortController().signal });
  return { code, stdout: stdout.text, stderr: stderr.text };
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

test('krepro --help lists the commands; --version names krepro, Node, the gzip format and its wasm, the lock', async () => {
  const help = await krepro(['--help']);
  assert.is(help.code, 0);
  for (const c of ['package', 'stage', 'base-image', 'check', 'completion', 'help']) assert.match(help.stdout, new RegExp(`^  ${c} `, 'm'));
  const version = await krepro(['--version']);
  assert.is(version.code, 0);
  const lines = version.stdout.trimEnd().split('\n');
  assert.is(lines[0], `krepro ${JSON.parse(readFileSync('package.json', 'utf8')).version}`);
  assert.match(lines[1]!, `Node.js ${process.version} (linux `);
  assert.match(lines[2]!, `gzip format 2: libdeflate 1.23 in WebAssembly, sha256 ${LIBDEFLATE_WASM_SHA256} (the installed module matches)`);
  const lock = await readLock(path.resolve('build-image/environment.lock.json'));
  assert.match(lines[3]!, `environment lock: ${lockDigest(lock)} (Debian ${lock.suite} ${lock.architecture}, ${lock.packages.length} packages;`);
  const none = spawnSync(process.execPath, [CLI], { encoding: 'utf8', env: cliEnv() });
  assert.is(none.status, 2, 'no command is a usage error');
  assert.is(none.stdout, '');
  assert.match(none.stderr, `krepro ${KREPRO_VERSION}: reproducible`);
});

test('help comes from each definition: krepro help CMD is CMD --help, and lists every option the parser accepts', async () => {
  for (const { definition } of COMMANDS) {
    const viaHelp = await krepro(['help', definition.name]);
    const viaFlag = await krepro([definition.name, '--help']);
    assert.is(viaHelp.code, 0, definition.name);
    assert.is(viaHelp.stdout, viaFlag.stdout, definition.name);
    assert.is(viaHelp.stdout, renderHelp(definition));
    assert.match(viaHelp.stdout, `Usage: krepro ${definition.usage[0]}`);
    for (const [name, spec] of Object.entries({ ...definition.options, ...COMMON_OPTIONS })) {
      assert.match(viaHelp.stdout, new RegExp(`^  (-${(spec as OptionSpec).short}, )?--${name}( |\n|$)`, 'm'), `${definition.name} --${name}`);
    }
    assert.match(viaHelp.stdout, /\nExit status: 0 /);
  }
  assert.is((await krepro(['help'])).stdout, (await krepro(['--help'])).stdout);
  const unknown = await krepro(['help', 'pakage']);
  assert.is(unknown.code, 2);
  assert.is(unknown.stderr, 'krepro help: unknown command "pakage"; did you mean package?\nRun \'krepro help --help\' for usage.\n');
});

test('an unknown command is one line and a hint, with the nearest commands; never the whole help', async () => {
  const typo = await krepro(['pakage', '--stage', 'x']);
  assert.is(typo.code, 2);
  assert.is(typo.stdout, '');
  assert.is(typo.stderr, 'krepro: unknown command "pakage"; did you mean package?\nRun \'krepro --help\' for the list of commands.\n');
  assert.match((await krepro(['re'])).stderr, /^krepro: unknown command "re"; did you mean release, rebuild or \w+\?|^krepro: unknown command "re"; did you mean release or rebuild\?/);
  assert.is((await krepro(['frobnicate'])).stderr, 'krepro: unknown command "frobnicate"\nRun \'krepro --help\' for the list of commands.\n');
  // What was typed is quoted without its control characters (lib/quote.ts), never as a terminal would act on it.
  assert.is((await krepro(['evil\x1b]0;x\x07'])).stderr.split('\n')[0], 'krepro: unknown command "evil]0;x"');
  assert.is((await krepro(['--verison'])).stderr.split('\n')[0], 'krepro: unknown option --verison; did you mean --version?');
});

test('an unknown option is named as typed, without Node\'s parser quoting, with the nearest options', async () => {
  const cases: [string[], string][] = [
    [['package', '--bogus'], 'krepro package: unknown option --bogus'],
    [['package', '--stag', 'x'], 'krepro package: unknown option --stag; did you mean --stage?'],
    [['package', '--sign', 'k.pem'], 'krepro package: unknown option --sign; did you mean --sign-key?'],
    [['verify', '--no-attributon'], 'krepro verify: unknown option --no-attributon; did you mean --no-attribution?'],
    [['diff', '--exlcude', 'x', 'a', 'b'], 'krepro diff: unknown option --exlcude; did you mean --exclude?'],
    [['package', '-x'], 'krepro package: unknown option -x'],
    [['package', '--a\x1b[2Jb'], 'krepro package: unknown option --a[2Jb'],
    [['package', '--out', '--json'], "krepro package: --out needs a value (--out DIR), got the option \"--json\"; write --out=--json if that is the value"],
    [['package', '--out'], 'krepro package: --out needs a value (--out DIR)'],
    [['package', '--json=yes'], 'krepro package: --json takes no value, got "yes"'],
    [['package', 'extra'], 'krepro package: unexpected argument "extra": package takes no arguments'],
    [['check', 'a', 'b'], 'krepro check: unexpected argument "b": check takes DIR'],
    [['package', '-q', '-v'], 'krepro package: --quiet and --verbose ask for opposite things: give one'],
    [['completion', 'bahs'], 'krepro completion: no completion for "bahs": bash, zsh or fish; did you mean bash?'],
    [['env', 'biuld'], 'krepro env: unknown subcommand "biuld" (known: lock, build, settings); did you mean build?'],
  ];
  for (const [args, message] of cases) {
    const r = await krepro(args);
    assert.is(r.code, 2, args.join(' '));
    assert.is(r.stderr, `${message}\nRun 'krepro ${args[0]} --help' for usage.\n`, args.join(' '));
    assert.not.match(r.stderr, /'--|as in '-- "|ERR_PARSE_ARGS/);
  }
});

test('--quiet drops progress and notes, --verbose times each step; both work before the command too', async () => {
  const dir = tempDir();
  const stage = materializeStage(path.join(dir, 'stage'));
  const args = (out: string) => ['package', '--stage', stage, '--out', path.join(dir, out), '--no-source', '--mtime', String(GOLDEN.sourceDateEpoch)];
  const plain = await krepro(args('plain'), { tty: true });
  assert.match(plain.stderr, /wrote \d+ files to /);
  assert.match(plain.stderr, /MiB\/s/, 'progress on a terminal');
  const quiet = await krepro([...args('quiet'), '--quiet'], { tty: true });
  assert.is(quiet.code, 0);
  assert.is(quiet.stderr, '', 'nothing but results and errors');
  assert.is(quiet.stdout, plain.stdout.replaceAll('plain', 'quiet'), 'the results are the same');
  assert.is((await krepro(['--quiet', ...args('quiet2')], { tty: true })).stderr, '', 'krepro --quiet package');
  const verbose = await krepro(['-v', ...args('verbose')]);
  assert.is(verbose.code, 0);
  for (const step of ['plan the tarballs', 'write kubernetes.tar.gz', 'write kubernetes-server-linux-amd64.tar.gz', 'write the checksums', 'write krepro-manifest.json']) {
    assert.match(verbose.stderr, new RegExp(`^\\[ +\\d+\\.\\d{3}s\\] step ${step.replace(/\./g, '\\.')} \\(\\d+ ms\\)$`, 'm'), step);
  }
  const check = await krepro(['check', '--quiet', path.join(dir, 'plain')]);
  assert.match(check.stdout, /^OK: (\d+) files match SHA256SUMS, SHA512SUMS, krepro-manifest\.json, \d+ per-file sums\n$/, 'check --quiet: the verdict alone');
});

// The messages a new user met (issue 22), each as it reads now.
test('a missing stage is "does not exist", and a stage that is a file says so', async () => {
  const dir = tempDir();
  const missing = await krepro(['package', '--stage', 'nope', '--no-source', '--mtime', '1'], { cwd: dir });
  assert.is(missing.code, 2);
  assert.is(missing.stderr, `krepro package: nothing to package: the stage ${path.join(dir, 'nope')} does not exist (krepro stage makes it from the built binaries)\n`);
  writeFileSync(path.join(dir, 'file'), 'x');
  assert.match((await krepro(['package', '--stage', 'file', '--no-source', '--mtime', '1'], { cwd: dir })).stderr, `the stage ${path.join(dir, 'file')} is not a directory`);
  mkdirSync(path.join(dir, 'empty'));
  assert.match((await krepro(['package', '--stage', 'empty', '--no-source', '--mtime', '1'], { cwd: dir })).stderr, 'has no client/, server/, node/, test/, full/ or manifests/ tree');
});

test('in an empty directory "nothing to package" comes first, not the missing SOURCE_DATE_EPOCH', async () => {
  const dir = tempDir();
  const r = await krepro(['package'], { cwd: dir });
  assert.is(r.code, 2);
  assert.is(r.stderr, `krepro package: nothing to package: the stage ${path.join(dir, '_output/release-stage')} does not exist (krepro stage makes it from the built binaries)\n`);
});

test('with --no-source the SOURCE_DATE_EPOCH error does not talk of the source\'s commit', async () => {
  const dir = tempDir();
  const stage = materializeStage(path.join(dir, 'stage'));
  const r = await krepro(['package', '--stage', stage, '--out', path.join(dir, 'out'), '--no-source'], { cwd: dir });
  assert.is(r.code, 2);
  assert.is(r.stderr, 'krepro package: no SOURCE_DATE_EPOCH: it is not set in the environment and no source checkout was given to take a commit time from. Set SOURCE_DATE_EPOCH, or pass --mtime SECONDS (or an ISO 8601 date).\n');
});

test('diff --max-depth rel-a rel-b names the value --max-depth took, not "got 1 argument"', async () => {
  const r = await krepro(['diff', '--max-depth', 'rel-a', 'rel-b']);
  assert.is(r.code, 2);
  assert.is(r.stderr, 'krepro diff: --max-depth must be a whole number 1 or more, got "rel-a"\nRun \'krepro diff --help\' for usage.\n');
});

test('SOURCE_DATE_EPOCH\'s origin in words: from --mtime, from $SOURCE_DATE_EPOCH, from the commit time of HEAD', async () => {
  const dir = tempDir();
  const stage = materializeStage(path.join(dir, 'stage'));
  const base = ['package', '--stage', stage, '--no-source'];
  assert.match((await krepro([...base, '--out', 'a', '--mtime', '1700000000'], { cwd: dir })).stderr, '(SOURCE_DATE_EPOCH=1700000000 from --mtime)\n');
  assert.match((await krepro([...base, '--out', 'b'], { cwd: dir, env: { SOURCE_DATE_EPOCH: '1700000001' } })).stderr, '(SOURCE_DATE_EPOCH=1700000001 from $SOURCE_DATE_EPOCH)\n');
  const repo = makeSourceRepo(path.join(dir, 'repo'), 1700000002);
  assert.match((await krepro(['package', '--stage', stage, '--source', repo, '--out', 'c'], { cwd: dir })).stderr, '(SOURCE_DATE_EPOCH=1700000002 from the commit time of HEAD)\n');
  assert.not.match((await krepro([...base, '--out', 'd', '--mtime', '1'], { cwd: dir })).stderr, /from explicit/);
});

suiteWhen(await engineOrSkip(), 'no Docker engine', (_engine, test) => {
  test('--verbose shows every engine call with its target and time (krepro clean on a real engine)', async () => {
    const dir = tempDir();
    execFileSync('git', ['init', '-q'], { cwd: dir });
    const r = await krepro(['clean', '--verbose'], { cwd: dir, env: { DOCKER_HOST: process.env['DOCKER_HOST'] } });
    assert.is(r.code, 0, r.stderr);
    for (const call of ['ping', 'containers.list', 'volumes.list', 'images.list']) assert.match(r.stderr, new RegExp(`^\\[ +\\d+\\.\\d{3}s\\] engine ${call.replace('.', '\\.')}( \\S+)? \\(\\d+ ms\\)$`, 'm'), call);
    const quiet = await krepro(['clean', '-q'], { cwd: dir, env: { DOCKER_HOST: process.env['DOCKER_HOST'] } });
    assert.is(quiet.stderr, '');
  });
});

test.run();test.run();
