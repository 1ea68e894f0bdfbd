import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { main } from '../cli/main.js';
import { reportTargets, writeReports } from '../cli/reports.js';
import { cliEnv } from './helpers/cli.js';
import { engineOrSkip } from './helpers/engine.js';
import { suiteWhen } from './helpers/skip.js';
import { tempDir } from './helpers/stage.js';

// Reports for CI: every report format of diff and verify in one run, '-' for stdout, every path checked before the
// work, GITHUB_STEP_SUMMARY; and verify's Markdown and JUnit from a real verify run with a hostile artifact name.
const CLI = path.resolve('dist/cli/main.js');
const work = tempDir('krepro-reports-');

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

async function krepro(args: string[], env: Record<string, string> = {}, cwd = work) {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await main(args, { env: { PATH: process.env['PATH'], DOCKER_HOST: 'unix:///nonexistent/docker.sock', ...env }, cwd, stdout, stderr, signal: new AbortController().signal });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** The JUnit XML as Python's ElementTree reads it: suites, and per test case its name and outcome. */
function junitCases(file: string): { suites: { name: string; tests: string; failures: string; errors: string; skipped: string }[]; cases: { suite: string; name: string; outcome: string; message: string }[] } {
  const script = `import json, sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == 'testsuites', root.tag
suites = [dict(s.attrib) for s in root.findall('testsuite')]
cases = []
for s in root.findall('testsuite'):
    for c in s.findall('testcase'):
        outcome = next((e.tag for e in c if e.tag in ('failure', 'error', 'skipped')), 'passed')
        el = c.find(outcome) if outcome != 'passed' else None
        cases.append({'suite': s.get('name'), 'name': c.get('name'), 'outcome': outcome, 'message': el.get('message') if el is not None else ''})
print(json.dumps({'suites': suites, 'cases': cases}))`;
  return JSON.parse(execFileSync('python3', ['-c', script, file], { encoding: 'utf8' }));
}

test.after(() => rmSync(work, { recursive: true, force: true }));

test('verify checks every report path before any work: exit 2 naming it', async () => {
  mkdirSync(path.join(work, 'a-dir'), { recursive: true });
  // Not a git checkout and no engine: any message but the path's would mean the work had started.
  const cases: [string[], Record<string, string>, string][] = [
    [['--html', '/nonexistent/x.html'], {}, 'krepro verify: --html /nonexistent/x.html: the directory /nonexistent does not exist\n'],
    [['--junit', 'a-dir'], {}, `krepro verify: --junit ${path.join(work, 'a-dir')}: is a directory\n`],
    [['--markdown', 'x/y.md'], {}, `krepro verify: --markdown ${path.join(work, 'x/y.md')}: the directory ${path.join(work, 'x')} does not exist\n`],
    [['--markdown', '-', '--junit', '-'], {}, "krepro verify: '-' (stdout) can take one report, got it for --markdown and --junit\nRun 'krepro verify --help' for usage.\n"],
    [['--json', '--junit', '-'], {}, "krepro verify: --junit - and --json both write to stdout: give one\nRun 'krepro verify --help' for usage.\n"],
    [['--html', 'r', '--json-file', './r'], {}, 'krepro verify: --html "r" names the same file as --json-file: give each report its own file\nRun \'krepro verify --help\' for usage.\n'],
    [[], { GITHUB_STEP_SUMMARY: '/nonexistent/summary.md' }, 'krepro verify: GITHUB_STEP_SUMMARY /nonexistent/summary.md: the directory /nonexistent does not exist\n'],
  ];
  for (const [args, env, message] of cases) {
    const r = await krepro(['verify', ...args], env);
    assert.is(r.code, 2, args.join(' '));
    assert.is(r.stderr, message, args.join(' '));
  }
  const off = await krepro(['verify', '--no-step-summary'], { GITHUB_STEP_SUMMARY: '/nonexistent/summary.md' });
  assert.is(off.code, 2);
  assert.not.match(off.stderr, /GITHUB_STEP_SUMMARY/, '--no-step-summary: the summary file is not looked at');
});

test('a report file that fails after its check (its directory removed during the work) is E_IO naming it, after the printed report', async () => {
  const dir = path.join(work, 'gone');
  mkdirSync(dir);
  const stdout = new Capture();
  const io = { env: {}, cwd: work, stdout, stderr: new Capture(), signal: new AbortController().signal };
  const targets = await reportTargets({ html: 'gone/r.html' }, io);
  rmSync(dir, { recursive: true });
  const err = await writeReports(targets, io, { html: () => '<html></html>' }, () => 'the text report\n').then(
    () => undefined,
    (e: unknown) => e as { code?: string; message: string },
  );
  assert.is(err?.code, 'E_IO');
  assert.is(err?.message, `cannot write --html ${path.join(dir, 'r.html')}: ENOENT (the report printed above is complete)`);
  assert.is(stdout.text, 'the text report\n');
});

test('diff writes JSON, HTML and Markdown together in one run, prints one of them with -, and re-renders the saved JSON the same', async () => {
  const dir = path.join(work, 'diff');
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'a.txt'), 'one\ntwo\n');
  writeFileSync(path.join(dir, 'b.txt'), 'one\nthree\n');
  const all = await krepro(['diff', '--json-file', 'r.json', '--html', 'r.html', '--markdown', 'r.md', 'a.txt', 'b.txt'], {}, dir);
  assert.is(all.code, 1, all.stderr);
  assert.match(all.stdout, /three/, 'the text report still on stdout');
  const json = JSON.parse(readFileSync(path.join(dir, 'r.json'), 'utf8'));
  assert.is(json.identical, false);
  assert.match(readFileSync(path.join(dir, 'r.html'), 'utf8'), /^<!doctype html>/i);
  const md = readFileSync(path.join(dir, 'r.md'), 'utf8');
  assert.match(md, /^# krepro diff: `a\.txt` vs `b\.txt`/);
  assert.equal(readdirSync(dir).filter((f) => f.includes('partial')), [], 'no partial files left');

  const printed = await krepro(['diff', '--markdown', '-', '--json-file', 'r2.json', 'a.txt', 'b.txt'], {}, dir);
  assert.is(printed.stdout, md, 'stdout holds the Markdown report instead of the text one');
  const again = await krepro(['diff', '--from-json', 'r.json', '--markdown', '-'], {}, dir);
  assert.is(again.stdout, md);
  assert.is((await krepro(['diff', '--json-file', '-', 'a.txt', 'b.txt'], {}, dir)).stdout, readFileSync(path.join(dir, 'r.json'), 'utf8'));

  const over = await krepro(['diff', '--html', 'a.txt', 'a.txt', 'b.txt'], {}, dir);
  assert.is(over.code, 2);
  assert.match(over.stderr, '--html "a.txt" names the same file as the input: it would be overwritten');
  assert.is(readFileSync(path.join(dir, 'a.txt'), 'utf8'), 'one\ntwo\n');
  const old = await krepro(['diff', '--markdown', 'a.txt', 'b.txt'], {}, dir);
  assert.is(old.code, 2);
  assert.match(old.stderr, 'got 1 argument (--markdown takes the FILE to write; --markdown - prints it)');
  const bad = await krepro(['diff', '--html', '/nonexistent/d.html', 'a.txt', 'b.txt'], {}, dir);
  assert.is(bad.stderr, 'krepro diff: --html /nonexistent/d.html: the directory /nonexistent does not exist\n');
});

suiteWhen(await engineOrSkip(), 'no Docker engine', (_engine, test) => {
  test('verify: JSON, HTML, Markdown and JUnit in one run, the summary appended to GITHUB_STEP_SUMMARY; a hostile name stays escaped', () => {
    const dir = path.join(work, 'project');
    mkdirSync(dir);
    // A nondeterministic file whose name holds a terminal title escape, beside an identical one.
    const command = `mkdir -p out && echo same > out/ok.txt && head -c 16 /dev/urandom | od -An -tx1 > "out/evil$(printf '\\033')]0;pwned$(printf '\\007').txt"`;
    writeFileSync(path.join(dir, 'krepro.json'), JSON.stringify({ command, outputs: ['out'] }));
    const git = { GIT_AUTHOR_NAME: 'k', GIT_AUTHOR_EMAIL: 'k@x.invalid', GIT_COMMITTER_NAME: 'k', GIT_COMMITTER_EMAIL: 'k@x.invalid', GIT_AUTHOR_DATE: '@1700000000 +0000', GIT_COMMITTER_DATE: '@1700000000 +0000' };
    for (const args of [['init', '-q', '-b', 'main'], ['add', '-A'], ['commit', '-qm', 'x']]) execFileSync('git', args, { cwd: dir, env: { ...process.env, ...git } });
    const summary = path.join(work, 'summary.md');
    writeFileSync(summary, '# earlier step\n');
    try {
      const r = spawnSync(process.execPath, [CLI, 'verify', '--vary', 'tz', '--json-file', 'v.json', '--html', 'v.html', '--markdown', '-', '--junit', 'v.xml'], {
        cwd: dir,
        encoding: 'utf8',
        timeout: 1_200_000,
        env: cliEnv({ GITHUB_STEP_SUMMARY: summary }),
      });
      assert.is(r.status, 1, r.stderr.slice(-3000));
      const report = JSON.parse(readFileSync(path.join(dir, 'v.json'), 'utf8'));
      assert.is(report.verdict, 'not-reproducible');
      const evil = report.artifacts.find((a: { name: string }) => a.name.startsWith('out/evil'));
      assert.is(evil.name, 'out/evil\x1b]0;pwned\x07.txt');
      assert.equal(evil.causes, ['nondeterminism']);
      assert.equal(report.causes.map((c: { kind: string }) => c.kind), ['nondeterminism']);

      // Markdown on stdout (instead of the text report), and the same appended after what was in the summary.
      assert.match(r.stdout, /^## ❌ krepro verify: NOT REPRODUCIBLE\n/);
      assert.match(r.stdout, '`out/evil\\x1b]0;pwned\\x07.txt`');
      assert.match(r.stdout, /\*\*nondeterminism\*\*: \d+ findings? in `out\/evil\\x1b\]0;pwned\\x07\.txt`; seen in noise build/);
      assert.not.match(r.stdout, /[\x00-\x09\x0b-\x1f]/, 'no raw control characters');
      assert.is(readFileSync(summary, 'utf8'), `# earlier step\n${r.stdout}`);

      const junit = junitCases(path.join(dir, 'v.xml'));
      const artifacts = junit.cases.filter((c) => c.suite === 'krepro verify: artifacts');
      assert.equal(artifacts.map((c) => [c.name, c.outcome]), [['out/evil\\x1b]0;pwned\\x07.txt', 'failure'], ['out/ok.txt', 'passed']]);
      assert.match(artifacts[0]!.message, /^differs because of nondeterminism\. Fix: /);
      assert.equal(junit.cases.filter((c) => c.suite === 'krepro verify: variations').map((c) => [c.name, c.outcome]), [['tz', 'passed']]);
      assert.equal(junit.suites.map((s) => [s.tests, s.failures, s.errors]), [['2', '1', '0'], ['1', '0', '0']]);
      assert.match(readFileSync(path.join(dir, 'v.html'), 'utf8'), 'Not reproducible');
    } finally {
      spawnSync(process.execPath, [CLI, 'clean'], { cwd: dir, stdio: 'ignore' });
    }
  });
});

test.run();
