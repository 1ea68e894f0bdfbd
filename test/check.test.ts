import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { main } from '../cli/main.js';
import { writeAttestations } from '../lib/api/attest.js';
import { inTotoStatement, loadSigningKey, packageRelease, signStatement } from '../lib/index.js';
import { cliEnv } from './helpers/cli.js';
import { GOLDEN, materializeStage, tempDir } from './helpers/stage.js';

// krepro check on a release krepro package wrote (signed), then on copies of it changed the ways a mirror, an
// attacker or a careless upload would: every changed or missing file is named with each list that disagrees, and
// the directory is hostile input (links, FIFOs, names with terminal escapes, huge lists) that never hangs, escapes
// or reaches the terminal raw.
const CLI = path.resolve('dist/cli/main.js');
const work = tempDir('krepro-check-');
const key = path.join(work, 'release.key');
const pub = path.join(work, 'release.pub');
execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', key]);
execFileSync('openssl', ['pkey', '-in', key, '-pubout', '-out', pub]);
const release = path.join(work, 'release');
await packageRelease({ stage: materializeStage(path.join(work, 'stage')), out: release, sourceDateEpoch: GOLDEN.sourceDateEpoch, signingKey: await loadSigningKey(key) });
/** What the release publishes with digests: the tarballs and the release SBOM. */
const TARBALLS = readFileSync(path.join(release, 'SHA256SUMS'), 'utf8').trim().split('\n').map((l) => l.slice(66));
const N = TARBALLS.length;

let copies = 0;
/** A fresh copy of the signed release to change. */
function copy(): string {
  const dir = path.join(work, `copy-${++copies}`);
  cpSync(release, dir, { recursive: true });
  return dir;
}

/** The krepro binary in a child process: for what must not hang the test run if it went wrong. */
function kreproChild(args: string[], timeout: number) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: work, encoding: 'utf8', env: cliEnv(), timeout });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, signal: r.signal };
}

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

/** The CLI in this process (cli/main.ts's main, as the binary runs it): the machine is shared, spawns are slow. */
async function krepro(args: string[]) {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await main(args, { env: { PATH: process.env['PATH'] }, cwd: work, stdout, stderr, signal: new AbortController().signal });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** No byte that moves a cursor or starts an escape sequence, in what reaches the terminal. */
function assertNoControl(text: string, what: string): void {
  const bad = [...text].find((c) => /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/.test(c));
  assert.is(bad, undefined, `${what} holds U+${bad?.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

test.after(() => rmSync(work, { recursive: true, force: true }));

test('a signed release krepro package wrote: exit 0, every artifact checked against all seven lists', async () => {
  const plain = await krepro(['check', release]);
  assert.is(plain.code, 0, plain.stderr);
  for (const t of TARBALLS) assert.match(plain.stdout, `ok        ${t}\n`);
  assert.match(plain.stdout, /note: krepro\.intoto\.jsonl and krepro\.sigstore\.json were not checked: give the public key/);
  assert.match(plain.stdout, new RegExp(`^OK: ${N} files match SHA256SUMS, SHA512SUMS, krepro-manifest\\.json, ${2 * N} per-file sums$`, 'm'));

  const signed = await krepro(['check', '--key', pub, '--json', release]);
  assert.is(signed.code, 0, signed.stderr);
  const result = JSON.parse(signed.stdout);
  assert.is(result.ok, true);
  assert.equal(result.uncovered, []);
  assert.equal(result.outside, []);
  assert.is(result.files.length, N);
  for (const f of result.files) {
    const sources = f.expectations.map((e: { source: string; what: string }) => `${e.source.replace(/ line \d+$/, '')}:${e.what}`).sort();
    assert.equal(sources, ['SHA256SUMS:sha256', 'SHA512SUMS:sha512', 'krepro-manifest.json:sha256', 'krepro-manifest.json:sha512', 'krepro-manifest.json:size', 'krepro.intoto.jsonl:sha256', 'krepro.intoto.jsonl:sha512', 'krepro.sigstore.json:sha256', 'krepro.sigstore.json:sha512', `${f.name}.sha256:sha256`, `${f.name}.sha512:sha512`].sort(), f.name);
  }
});

test('one byte changed in kubernetes.tar.gz: attest verify still passes, check exits 1 naming the file and every list', async () => {
  const dir = copy();
  const file = path.join(dir, 'kubernetes.tar.gz');
  const bytes = readFileSync(file);
  bytes[bytes.length - 20]! ^= 1;
  writeFileSync(file, bytes);
  // What the issue found: the signature over the statement is still valid, so attest verify cannot see this.
  assert.is((await krepro(['attest', 'verify', '--key', pub, path.join(dir, 'krepro.intoto.jsonl')])).code, 0);
  assert.is(spawnSync('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], { cwd: dir }).status, 1, 'sha256sum -c sees it too');
  const r = await krepro(['check', '--key', pub, dir]);
  assert.is(r.code, 1, r.stderr);
  const line = readFileSync(path.join(dir, 'SHA256SUMS'), 'utf8').split('\n').findIndex((l) => l.endsWith('  kubernetes.tar.gz')) + 1;
  assert.match(r.stdout, /^MISMATCH  kubernetes\.tar\.gz$/m);
  assert.match(r.stdout, new RegExp(`^ {10}sha256 is [0-9a-f]{64}, but SHA256SUMS line ${line} says [0-9a-f]{64}$`, 'm'));
  for (const source of ['SHA512SUMS line \\d+', 'kubernetes\\.tar\\.gz\\.sha256', 'kubernetes\\.tar\\.gz\\.sha512', 'krepro-manifest\\.json', 'krepro\\.intoto\\.jsonl line 1', 'krepro\\.sigstore\\.json']) {
    assert.match(r.stdout, new RegExp(`but ${source} says`), source);
  }
  assert.not.match(r.stdout, /size is/, 'the size still matches');
  assert.match(r.stdout, new RegExp(`^FAILED: 1 of ${N} files do not match `, 'm'));
  assert.is(r.stdout.split('\n').filter((l) => l.startsWith('ok ')).length, N - 1);

  // The same result as reports for CI, all from one run: Markdown on stdout, JSON and HTML into files.
  const reports = await krepro(['check', '--key', pub, '--json-file', path.join(work, 'check.json'), '--html', path.join(work, 'check.html'), '--markdown', '-', dir]);
  assert.is(reports.code, 1);
  assert.match(reports.stdout, /^## ❌ krepro check: FAILED\n/);
  assert.match(reports.stdout, new RegExp(`\\| ❌ \\| \`kubernetes\\.tar\\.gz\` \\| sha256 is [0-9a-f]{64}, but SHA256SUMS line ${line} says [0-9a-f]{64}<br>`));
  assert.equal(JSON.parse(readFileSync(path.join(work, 'check.json'), 'utf8')), JSON.parse((await krepro(['check', '--key', pub, '--json', dir])).stdout));
  assert.match(readFileSync(path.join(work, 'check.html'), 'utf8'), new RegExp(`<div class="verdict">FAILED: ${N - 1} of ${N} files match `));
});

test('a listed file missing: exit 1, named with every list that names it', async () => {
  const dir = copy();
  unlinkSync(path.join(dir, 'kubernetes-node-linux-amd64.tar.gz'));
  const r = await krepro(['check', '--key', pub, dir]);
  assert.is(r.code, 1);
  assert.match(r.stdout, /^MISSING   kubernetes-node-linux-amd64\.tar\.gz: listed in SHA256SUMS line \d+, SHA512SUMS line \d+, kubernetes-node-linux-amd64\.tar\.gz\.sha256, kubernetes-node-linux-amd64\.tar\.gz\.sha512, krepro-manifest\.json, krepro\.intoto\.jsonl line 1, krepro\.sigstore\.json$/m);
  // A per-file sum left behind names its file too.
  unlinkSync(path.join(dir, 'kubernetes.tar.gz'));
  for (const list of ['SHA256SUMS', 'SHA512SUMS', 'krepro-manifest.json', 'krepro.intoto.jsonl', 'krepro.sigstore.json']) unlinkSync(path.join(dir, list));
  const alone = await krepro(['check', dir]);
  assert.is(alone.code, 1);
  assert.match(alone.stdout, /^MISSING   kubernetes\.tar\.gz: listed in kubernetes\.tar\.gz\.sha256, kubernetes\.tar\.gz\.sha512$/m);
});

test('files no list covers and signed subjects outside the directory are reported, not failed; a bare subject missing fails', async () => {
  const dir = copy();
  writeFileSync(path.join(dir, 'README.md'), 'notes\n');
  mkdirSync(path.join(dir, 'extra'));
  writeFileSync(path.join(dir, 'extra', 'data.bin'), 'x');
  symlinkSync('/etc/hostname', path.join(dir, 'hostname-link'));
  const digest = { sha256: '0'.repeat(64) };
  const statement = inTotoStatement(
    [
      ...['kubectl', 'kubelet', 'kubeadm', 'kube-proxy'].map((b) => ({ name: `_output/dockerized/bin/linux/amd64/${b}`, digest })),
      { name: '../outside.tar.gz', digest },
      { name: '/etc/passwd', digest },
      { name: 'kubernetes.tar.gz', digest: { sha256: execFileSync('sha256sum', [path.join(dir, 'kubernetes.tar.gz')], { encoding: 'utf8' }).slice(0, 64) } },
    ],
    'https://example.test/predicate',
    {},
  );
  await writeAttestations(path.join(dir, 'krepro.intoto.jsonl'), [signStatement(statement, await loadSigningKey(key))]);
  const r = await krepro(['check', '--key', pub, dir]);
  assert.is(r.code, 0, r.stdout);
  assert.match(r.stdout, /^not covered  README\.md: no list names it$/m);
  assert.match(r.stdout, /^not covered  extra\/data\.bin: no list names it$/m);
  assert.match(r.stdout, /^not covered  hostname-link \(a symbolic link\): no list names it$/m);
  // Four build outputs of one statement: one line, not four (a real release's recipe names hundreds).
  assert.match(r.stdout, /^not here     4 names in krepro\.intoto\.jsonl line 1, e\.g\. _output\/dockerized\/bin\/linux\/amd64\/kubectl: not in the directory \(a build output/m);
  const json = JSON.parse((await krepro(['check', '--key', pub, '--json', dir])).stdout);
  assert.is(json.outside.filter((o: { name: string }) => o.name.startsWith('_output/')).length, 4, 'JSON lists each');
  assert.match(r.stdout, /^not here     \.\.\/outside\.tar\.gz \(krepro\.intoto\.jsonl line 1\): a path that leaves the directory/m);
  assert.match(r.stdout, /^not here     \/etc\/passwd \(krepro\.intoto\.jsonl line 1\): an absolute path$/m);

  // A subject named by a bare file name belongs in the release directory.
  const named = inTotoStatement([{ name: 'kubernetes-extra.tar.gz', digest }], 'https://example.test/predicate', {});
  await writeAttestations(path.join(dir, 'krepro.intoto.jsonl'), [signStatement(named, await loadSigningKey(key))]);
  const missing = await krepro(['check', '--key', pub, dir]);
  assert.is(missing.code, 1);
  assert.match(missing.stdout, /^MISSING   kubernetes-extra\.tar\.gz: listed in krepro\.intoto\.jsonl line 1$/m);
});

test('an envelope that does not verify with the key fails, named by line and check', async () => {
  const dir = copy();
  const file = path.join(dir, 'krepro.intoto.jsonl');
  const envelope = JSON.parse(readFileSync(file, 'utf8'));
  const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString());
  statement.predicate.buildDefinition.externalParameters.sourceDateEpoch = 1;
  envelope.payload = Buffer.from(JSON.stringify(statement)).toString('base64');
  writeFileSync(file, `${JSON.stringify(envelope)}\n`);
  const r = await krepro(['check', '--key', pub, dir]);
  assert.is(r.code, 1);
  assert.match(r.stdout, /^INVALID   krepro\.intoto\.jsonl line 1: signature: /m);
  assert.match(r.stdout, /FAILED: 1 signed envelope\(s\) do not verify/);
});

test('hostile: a tarball replaced by a link (to a FIFO outside), a linked directory, a FIFO inside: never followed, never blocks', async () => {
  const dir = copy();
  const outside = path.join(work, `outside-${copies}`);
  mkdirSync(outside);
  execFileSync('mkfifo', [path.join(outside, 'fifo')]);
  // The outside copy has the right bytes: following the link would wrongly pass.
  cpSync(path.join(dir, 'kubernetes-client-linux-amd64.tar.gz'), path.join(outside, 'client.tar.gz'));
  rmSync(path.join(dir, 'kubernetes.tar.gz'));
  symlinkSync(path.join(outside, 'fifo'), path.join(dir, 'kubernetes.tar.gz'));
  rmSync(path.join(dir, 'kubernetes-client-linux-amd64.tar.gz'));
  symlinkSync(path.join(outside, 'client.tar.gz'), path.join(dir, 'kubernetes-client-linux-amd64.tar.gz'));
  rmSync(path.join(dir, 'kubernetes-test-linux-amd64.tar.gz'));
  execFileSync('mkfifo', [path.join(dir, 'kubernetes-test-linux-amd64.tar.gz')]);
  symlinkSync(outside, path.join(dir, 'sub'));
  appendFileSync(path.join(dir, 'SHA256SUMS'), `${execFileSync('sha256sum', [path.join(outside, 'client.tar.gz')], { encoding: 'utf8' }).slice(0, 64)}  sub/client.tar.gz\n`);
  const r = kreproChild(['check', dir], 20_000);
  assert.is(r.signal, null, 'check finished (it did not block on a FIFO)');
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stdout, /^NOT READ  kubernetes\.tar\.gz: a symbolic link \(not followed\); listed in SHA256SUMS/m);
  assert.match(r.stdout, /^NOT READ  kubernetes-client-linux-amd64\.tar\.gz: a symbolic link \(not followed\)/m);
  assert.match(r.stdout, /^NOT READ  kubernetes-test-linux-amd64\.tar\.gz: a FIFO; listed in/m);
  assert.match(r.stdout, new RegExp(`^NOT READ  sub/client\\.tar\\.gz: below the symbolic link sub \\(not followed\\); listed in SHA256SUMS line ${N + 1}$`, 'm'));
  assert.match(r.stdout, /^not covered  sub \(a symbolic link\)/m);
});

test('names with terminal escapes, C1 controls, bidi overrides and newlines: checked, printed escaped, JSON stays JSON', async () => {
  const dir = path.join(work, 'names');
  mkdirSync(dir);
  const names = ['title\x1b]0;pwned\x07.tar.gz', 'csi\u009b2J.tar.gz', 'bidi\u202egz.rat.tar.gz', 'new\nline.tar.gz', 'back\\slash.tar.gz'];
  for (const n of names) writeFileSync(path.join(dir, n), n);
  // GNU sha256sum writes the newline and backslash names in its escaped form ("\<hex>  new\nline…").
  writeFileSync(path.join(dir, 'SHA256SUMS'), execFileSync('sha256sum', ['--', ...names], { cwd: dir }));
  writeFileSync(path.join(dir, 'uncovered\x1b[31m.txt'), 'x');
  assert.is(spawnSync('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], { cwd: dir }).status, 0);
  const ok = await krepro(['check', dir]);
  assert.is(ok.code, 0, ok.stdout + ok.stderr);
  assertNoControl(ok.stdout, 'stdout');
  assertNoControl(ok.stderr, 'stderr');
  assert.match(ok.stdout, 'ok        title\\x1b]0;pwned\\x07.tar.gz\n');
  assert.match(ok.stdout, 'ok        csi\\x9b2J.tar.gz\n');
  assert.match(ok.stdout, 'ok        bidi\\u202egz.rat.tar.gz\n');
  assert.match(ok.stdout, 'ok        new\\x0aline.tar.gz\n');
  assert.match(ok.stdout, 'ok        back\\\\slash.tar.gz\n');
  assert.match(ok.stdout, 'not covered  uncovered\\x1b[31m.txt');

  writeFileSync(path.join(dir, names[0]!), 'changed');
  const bad = await krepro(['check', '--json', dir]);
  assert.is(bad.code, 1);
  assertNoControl(bad.stdout.replace(/\n/g, ''), 'JSON');
  const json = JSON.parse(bad.stdout);
  assert.equal(json.files.find((f: { verdict: string }) => f.verdict === 'mismatch').name, names[0]);
  assert.ok(json.files.some((f: { name: string }) => f.name === 'csi\u009b2J.tar.gz'), 'JSON keeps the exact name');
});

test('sums in the forms sha256sum writes: binary mode (*), ./ prefixes, BSD tags', async () => {
  const dir = path.join(work, 'forms');
  mkdirSync(dir);
  for (const n of ['a.tar.gz', 'b.tar.gz', 'c.tar.gz']) writeFileSync(path.join(dir, n), n);
  const binary = execFileSync('sha256sum', ['-b', 'a.tar.gz'], { cwd: dir, encoding: 'utf8' });
  const dotted = execFileSync('sha256sum', ['./b.tar.gz'], { cwd: dir, encoding: 'utf8' });
  const tagged = execFileSync('sha256sum', ['--tag', 'c.tar.gz'], { cwd: dir, encoding: 'utf8' });
  assert.match(binary, / \*a\.tar\.gz/);
  assert.match(tagged, /^SHA256 \(c\.tar\.gz\) = /);
  writeFileSync(path.join(dir, 'SHA256SUMS'), binary + dotted + tagged);
  writeFileSync(path.join(dir, 'SHA512SUMS'), execFileSync('sha512sum', ['a.tar.gz', 'b.tar.gz', 'c.tar.gz'], { cwd: dir }));
  // A per-file sum as `sha256sum name > name.sha256` writes it, beside Kubernetes' bare digest form.
  writeFileSync(path.join(dir, 'a.tar.gz.sha256'), execFileSync('sha256sum', ['a.tar.gz'], { cwd: dir }));
  writeFileSync(path.join(dir, 'b.tar.gz.sha256'), execFileSync('sha256sum', ['b.tar.gz'], { cwd: dir, encoding: 'utf8' }).slice(0, 64));
  const r = await krepro(['check', '--json', dir]);
  assert.is(r.code, 0, r.stdout + r.stderr);
  const json = JSON.parse(r.stdout);
  assert.equal(json.files.map((f: { name: string; expectations: unknown[] }) => [f.name, f.expectations.length]), [['a.tar.gz', 3], ['b.tar.gz', 3], ['c.tar.gz', 2]]);
});

test('unusable input is exit 2 with the file and line named, never its bytes', async () => {
  const r = (args: string[]) => krepro(['check', ...args]);
  const empty = path.join(work, 'empty');
  mkdirSync(empty);
  const cases: [string[], RegExp][] = [
    [[path.join(work, 'no-such-dir')], /no-such-dir does not exist/],
    [[path.join(release, 'SHA256SUMS')], /SHA256SUMS is not a directory/],
    [[empty], /nothing to check: .*empty has no SHA256SUMS, SHA512SUMS, <file>\.sha256, <file>\.sha512 or krepro-manifest\.json/],
    [[], /give the release directory to check, e.g\. krepro check _output\/release-tars\nRun 'krepro check --help' for usage\./],
  ];
  const malformed = copy();
  appendFileSync(path.join(malformed, 'SHA256SUMS'), 'not a sums line\x1b[2J\n');
  cases.push([[malformed], new RegExp(`SHA256SUMS line ${N + 1} is not a sha256 sums line`)]);
  const badJson = copy();
  writeFileSync(path.join(badJson, 'krepro-manifest.json'), '{\n  "files": [\x1b[31m]\n}\n');
  cases.push([[badJson], /krepro-manifest\.json is not valid JSON/]);
  const notManifest = copy();
  writeFileSync(path.join(notManifest, 'krepro-manifest.json'), '{"files":[{"name":"kubernetes.tar.gz","size":"12","integrity":"sha256-x"}]}');
  cases.push([[notManifest], /krepro-manifest\.json files\[0\] is not \{"name", "size", "integrity"\}/]);
  const noAttestation = copy();
  unlinkSync(path.join(noAttestation, 'krepro.intoto.jsonl'));
  unlinkSync(path.join(noAttestation, 'krepro.sigstore.json'));
  cases.push([['--key', pub, noAttestation], /--key was given, but .* has no krepro\.intoto\.jsonl or krepro\.sigstore\.json to check with it/]);
  const huge = copy();
  truncateSync(path.join(huge, 'SHA512SUMS'), 17 * 1024 * 1024);
  cases.push([[huge], /SHA512SUMS is 17825792 bytes; a list krepro reads may be at most 16777216 bytes/]);
  const linked = copy();
  rmSync(path.join(linked, 'SHA256SUMS'));
  symlinkSync(path.join(release, 'SHA256SUMS'), path.join(linked, 'SHA256SUMS'));
  cases.push([[linked], /SHA256SUMS in .* is a symbolic link \(not followed\): it cannot be read as a list/]);
  const latin1 = copy();
  appendFileSync(path.join(latin1, 'SHA256SUMS'), Buffer.from(`${'0'.repeat(64)}  caf\xe9.tar.gz\n`, 'latin1'));
  cases.push([[latin1], /SHA256SUMS is not UTF-8 text/]);
  for (const [args, message] of cases) {
    const result = await r(args);
    assert.is(result.code, 2, `${args.join(' ')}: ${result.stdout}${result.stderr}`);
    assert.match(result.stderr, message, args.join(' '));
    assertNoControl(result.stderr.replace(/\n/g, ''), `stderr of check ${args.join(' ')}`);
  }
  assert.match((await r([badJson])).stderr, 'krepro-manifest.json is not valid JSON (line 2, column 13: unexpected character)');
});

test('a 512 MiB file is hashed as a stream: memory stays flat', async () => {
  const dir = path.join(work, 'big');
  mkdirSync(dir);
  const big = path.join(dir, 'big.tar.gz');
  writeFileSync(big, '');
  truncateSync(big, 512 * 1024 * 1024);
  writeFileSync(path.join(dir, 'SHA256SUMS'), execFileSync('sha256sum', ['big.tar.gz'], { cwd: dir }));
  const script = `import { checkRelease } from ${JSON.stringify(path.resolve('dist/lib/index.js'))};
const r = await checkRelease({ dir: ${JSON.stringify(dir)} });
console.log(JSON.stringify({ ok: r.ok, rss: process.resourceUsage().maxRSS }));`;
  const out = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: cliEnv(), timeout: 120_000 });
  assert.is(out.status, 0, out.stderr);
  const { ok, rss } = JSON.parse(out.stdout);
  assert.is(ok, true);
  assert.ok(rss < 200 * 1024, `max RSS ${rss} KiB for a 512 MiB file`);
});

test.run();
