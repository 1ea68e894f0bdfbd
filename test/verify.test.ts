import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { makeBaseImage } from '../lib/api/engine.js';
import { VARIATIONS } from '../lib/api/verify.js';
import { layoutWidth, pngColours, screenshot } from './helpers/browser.js';
import { runCliAsync } from './helpers/cli.js';
import { engineOrSkip } from './helpers/engine.js';
import { compareWithRules, causesPerArtifact, readExpected, reportFindings } from './helpers/corpus.js';
import { suiteWhen } from './helpers/skip.js';
import { FIXTURES, tempDir } from './helpers/stage.js';

const validateReport = new Ajv2020({ strict: true, allErrors: true }).compile(JSON.parse(readFileSync(path.resolve('schemas/verify-report.schema.json'), 'utf8')));
function assertSchema(report: unknown): void {
  assert.ok(validateReport(report), JSON.stringify(validateReport.errors, null, 2));
}

// `krepro verify` end to end on a real engine: the Kubernetes-shaped fixture, and the corpus of small projects with
// known causes (fixtures/verify-corpus/*/expected.json), each checked for its exact set of causes.
const CLI = path.resolve('dist/cli/main.js');
const CORPUS = path.join(FIXTURES, 'verify-corpus');
const SDE = 1700000000;
/** Verifies of the corpus at once: builds are mostly waiting on the engine, not on the two CPUs. */
const PARALLEL = 3;
const docker = await engineOrSkip();

const projects: string[] = [];

function project(source: string): string {
  const dir = tempDir('krepro-verify-');
  projects.push(dir);
  cpSync(source, dir, { recursive: true, filter: (p) => path.basename(p) !== 'expected.json' });
  const env = { ...process.env, GIT_AUTHOR_DATE: `@${SDE} +0000`, GIT_COMMITTER_DATE: `@${SDE} +0000`, GIT_AUTHOR_NAME: 'k', GIT_AUTHOR_EMAIL: 'k@x.invalid', GIT_COMMITTER_NAME: 'k', GIT_COMMITTER_EMAIL: 'k@x.invalid' };
  for (const args of [['init', '-q', '-b', 'main'], ['add', '-A'], ['commit', '-q', '-m', 'fixture']]) execFileSync('git', args, { cwd: dir, env });
  return dir;
}

interface ReportFinding {
  artifact: string;
  path: string[];
  field: string;
  diffCause: string;
  left: string | null;
  right: string | null;
}
interface Cause {
  id: string;
  kind: string;
  variations: string[];
  evidence: string[];
  fix: string[];
  diff: { cause: string }[];
  findings: { count: number; shown: ReportFinding[] };
  consequences: { count: number; shown: ReportFinding[] };
}
interface Report {
  verdict: string;
  summary: { causes: number; findings: number };
  causes: Cause[];
  variations: { name: string; tested: boolean; reason?: string; probe: { control: string | null; experiment: string | null } }[];
  artifacts: { name: string; verdict: string; causes: string[] }[];
  builds: { id: string; label: string; variations: string[]; engine: string }[];
  attribution: { builds: number; cleared?: string; guesses: { variation: string; confirmed: boolean }[] } | null;
  failure: { build: string; label: string; exitCode: number; logTail: string[] } | null;
  environment: { settings: { name: string; value: string; source: string }[]; masked: { setting: string; masks: string[] }[] };
}

function parse(stdout: string, stderr: string, status: number | null): Report {
  try {
    return JSON.parse(stdout) as Report;
  } catch {
    throw new Error(`verify printed no JSON (exit ${status}):\n${stderr.slice(-3000)}`);
  }
}

function verify(dir: string, args: string[] = [], env: Record<string, string> = {}): { code: number | null; report: Report; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'verify', '--json', ...args], { cwd: dir, encoding: 'utf8', timeout: 1_800_000, env: { ...process.env, ...env } });
  return { code: r.status, report: parse(r.stdout, r.stderr, r.status), stderr: r.stderr };
}

async function verifyAsync(dir: string, args: string[] = []): Promise<{ code: number | null; report: Report; stderr: string }> {
  const { code, stdout, stderr } = await runCliAsync(['verify', '--json', ...args], dir);
  return { code, report: parse(stdout, stderr, code), stderr };
}

/** What differs between a report and the case's expected.json, one line per problem. */
function mismatches(caseName: string, report: Report): string[] {
  return compareWithRules(readExpected(path.join(CORPUS, caseName)).findings, reportFindings(report));
}

suiteWhen(docker, 'no Docker engine', (docker, test) => {
  test.before(async () => {
    await makeBaseImage(docker, { suite: 'trixie', tag: 'krepro-base:trixie', workDir: '/var/tmp' });
  });

  // Each project made its own build image; remove them (and everything else of theirs) like a user would.
  test.after(() => {
    for (const dir of projects) spawnSync(process.execPath, [CLI, 'clean'], { cwd: dir, stdio: 'ignore' });
  });

  test('the Kubernetes-shaped fixture verifies: exit 0, every artifact identical, every variation took effect, provenance', () => {
    const dir = project(path.join(FIXTURES, 'kube-like'));
    // One platform keeps the test's time down; the release tarballs and images are the same kinds as with four.
    const { code, report, stderr } = verify(dir, ['--html', 'report.html'], { KUBE_BUILD_PLATFORMS: 'linux/amd64' });
    assert.is(code, 0, stderr.slice(-2000));
    assertSchema(report);
    assert.is(report.verdict, 'reproducible');
    assert.ok(report.artifacts.some((a) => a.name.startsWith('kubernetes-server-linux-amd64')), 'release tarballs compared');
    assert.ok(report.artifacts.some((a) => a.name === '_output/dockerized/bin/linux/amd64/kubectl'), 'binaries compared');
    assert.ok(report.artifacts.every((a) => a.verdict === 'identical'));
    // Every variation's effect probe, on the real engine: control and experiment saw different things.
    assert.equal(report.variations.map((v) => v.name), VARIATIONS.map((v) => v.name));
    for (const v of report.variations) assert.ok(v.tested, `${v.name} took effect: ${v.reason ?? ''} ${JSON.stringify(v.probe)}`);
    // Nothing normalizing is set behind the project's back, and what is set is listed.
    const names = report.environment.settings.map((s) => s.name);
    assert.not.ok(names.includes('GOFLAGS') || names.includes('CGO_ENABLED'), JSON.stringify(report.environment.settings));
    assert.ok(names.includes('GOTOOLCHAIN') && names.includes('SOURCE_DATE_EPOCH'));
    const statementFile = execFileSync('find', [path.join(dir, '_output/verify'), '-name', 'krepro-provenance.json'], { encoding: 'utf8' }).trim();
    const statement = JSON.parse(readFileSync(statementFile, 'utf8'));
    assert.is(statement._type, 'https://in-toto.io/Statement/v1');
    const sums = readFileSync(path.join(path.dirname(statementFile), 'SHA256SUMS'), 'utf8');
    for (const s of statement.subject.filter((x: { name: string }) => x.name.endsWith('.tar.gz'))) assert.ok(sums.includes(`${s.digest.sha256}  ${s.name}\n`), s.name);
    assert.match(readFileSync(path.join(dir, 'report.html'), 'utf8'), 'Reproducible');
  });

  // The corpus: started all at once (PARALLEL at a time), then checked case by case.
  const cases = existsSync(CORPUS) ? readdirSync(CORPUS).filter((c) => existsSync(path.join(CORPUS, c, 'expected.json'))).sort() : [];
  type Run = { code: number | null; report: Report; stderr: string; dir: string };
  const results = new Map<string, Promise<Run>>();
  const queue: (() => void)[] = [];
  let running = 0;
  const schedule = (name: string): Promise<Run> =>
    new Promise((resolve, reject) => {
      const start = (): void => {
        running++;
        const dir = project(path.join(CORPUS, name));
        verifyAsync(dir, ['--html', 'report.html'])
          .then((r) => resolve({ ...r, dir }), reject)
          .finally(() => {
            running--;
            queue.shift()?.();
          });
      };
      if (running < PARALLEL) start();
      else queue.push(start);
    });
  test.before(() => {
    for (const name of cases) results.set(name, schedule(name));
  });

  test('the corpus: a case per variation alone, several causes in one and in two artifacts, nondeterminism, a clean one, and noise beside causes in every kind of artifact', () => {
    const rules = cases.map((c) => readExpected(path.join(CORPUS, c)).findings);
    const perArtifact = rules.map(causesPerArtifact);
    const alone = new Set(perArtifact.filter((e) => Object.keys(e).length === 1 && Object.values(e)[0]!.length === 1).map((e) => Object.values(e)[0]![0]));
    for (const v of VARIATIONS) assert.ok(alone.has(v.name), `a case for ${v.name} alone`);
    assert.ok(alone.has('nondeterminism'));
    assert.ok(perArtifact.some((e) => Object.values(e).some((vs) => vs.length >= 2)), 'two causes in one artifact');
    assert.ok(perArtifact.some((e) => Object.keys(e).length >= 2), 'causes in two artifacts');
    assert.ok(rules.some((r) => r.length === 0), 'a clean case');
    // Noise and a real cause in one artifact, for each kind krepro diff opens; and the masked-by-noise outcome.
    const shared = (re: RegExp) => perArtifact.some((e) => Object.entries(e).some(([a, vs]) => re.test(a) && vs.includes('nondeterminism') && vs.some((v) => VARIATIONS.some((x) => x.name === v))));
    for (const [kind, re] of [['text', /\.txt$/], ['JSON', /\.json$/], ['tar.gz packed by GNU tar', /release\.tar\.gz$/], ['tar.gz packed by Perl', /perl\.tar\.gz$/], ['gzip of text', /\.txt\.gz$/]] as const) assert.ok(shared(re), `noise beside a cause in ${kind}`);
    for (const bin of ['out/hello', 'out/app']) assert.ok(perArtifact.some((e) => e[bin]?.includes('masked-by-noise') && e[bin]?.includes('build-path')), `noise beside a cause in the ${bin === 'out/app' ? 'Go' : 'C'} binary`);
    assert.ok(rules.some((r) => r.some((x) => x.cause === 'masked-by-noise' && x.artifact === 'out/blob.bin')), 'an opaque blob masked by noise');
    assert.ok(rules.some((r) => r.some((x) => x.cause === 'consequence' && /sha256sum$/.test(x.artifact))), 'a checksum file as a consequence');
    assert.ok(cases.length >= 29);
  });

  for (const name of cases) {
    test(`corpus ${name}: every finding with exactly its expected cause, each proven by a build of this run`, async () => {
      const rules = readExpected(path.join(CORPUS, name)).findings;
      const { code, report, stderr } = await results.get(name)!;
      assertSchema(report);
      const clean = rules.length === 0;
      assert.is(code, clean ? 0 : 1, stderr.slice(-2000));
      for (const v of report.variations) assert.ok(v.tested, `${v.name}: ${v.reason ?? ''}`);
      assert.equal(mismatches(name, report), []);
      for (const c of report.causes) {
        assert.ok(c.evidence.length > 0 && c.evidence.every((id) => report.builds.some((b) => b.id === id)), `${c.id}: proven by builds of this run`);
        assert.ok(c.fix.length > 0 && c.fix.every((f) => f.length > 10), `${c.id}: a fix`);
      }
      // k causes recognized by their values: k + 4 builds; each one the bisection finds: at most ceil(log2 n) + 2 more.
      const k = report.causes.filter((c) => c.kind === 'variation' || c.kind === 'interaction').length;
      const guessed = report.attribution?.guesses.filter((g) => g.confirmed).length ?? 0;
      const n = report.variations.filter((v) => v.tested).length;
      if (!clean) assert.ok(report.builds.length <= 4 + guessed + (k - guessed) * (Math.ceil(Math.log2(n)) + 2), `${report.builds.length} builds for ${k} causes (${guessed} recognized)`);
    });
  }

  test('k + 4: the noise cases find every recognizable cause with one build each', async () => {
    for (const [name, k] of [['noise-text-json', 4], ['noise-archives', 4], ['noise-binaries', 1], ['env-dump', 8]] as const) {
      const { report } = await results.get(name)!;
      assert.is(report.builds.length, k + 4, `${name}: ${report.builds.map((b) => b.label).join('; ')}`);
    }
  });

  test('path-and-tz: the findings agree with the attribution (a build path finding and a time-zone finding)', async () => {
    const { report } = await results.get('path-and-tz')!;
    const diffCauses = (id: string) => report.causes.find((c) => c.id === id)!.diff.map((d) => d.cause);
    assert.equal(diffCauses('tz'), ['timezone'], 'not "set SOURCE_DATE_EPOCH": it was set');
    assert.equal(diffCauses('build-path'), ['build-path']);
  });

  test('the HTML report of a failing case renders in Chromium with its causes, and fits a 1300 px window', async () => {
    const { report, dir } = await results.get('hostname-and-umask')!;
    assert.is(report.verdict, 'not-reproducible');
    const html = path.join(dir, 'report.html');
    assert.match(readFileSync(html, 'utf8'), 'Not reproducible');
    assert.match(readFileSync(html, 'utf8'), 'out/buildinfo.txt');
    assert.ok(pngColours(screenshot(html)) > 20, 'screenshot has real content');
    const wide = path.join((await results.get('noise-binaries'))!.dir, 'report.html');
    const { scrollWidth } = layoutWidth(wide, 1300);
    assert.ok(scrollWidth <= 1300, `noise-binaries: scrollWidth ${scrollWidth} px in a 1300 px window`);
  });

  test('normalize: true hides the missing -trimpath, and the report says which causes it may mask', async () => {
    const { report } = await results.get('go-trimpath-normalized')!;
    assert.is(report.verdict, 'reproducible');
    assert.ok(report.environment.masked.some((m) => m.setting === 'GOFLAGS=-trimpath' && m.masks.includes('build-path')));
    assert.ok(report.environment.settings.some((s) => s.name === 'GOFLAGS' && s.source === 'normalization'));
  });

  test('two verifies of two checkouts at once on one engine, and a leftover old-style volume, do not meet', async () => {
    // A volume with the name every checkout's first verify build had before builds were named per run.
    execFileSync('docker', ['volume', 'create', '--label', 'io.krepro.test=1', 'krepro-verify-verify-1'], { stdio: 'ignore' });
    try {
      const [a, b] = await Promise.all([verifyAsync(project(path.join(CORPUS, 'clean'))), verifyAsync(project(path.join(CORPUS, 'umask')))]);
      assert.is(a.code, 0, a.stderr.slice(-1500));
      assert.equal(mismatches('clean', a.report), []);
      assert.is(b.code, 1, b.stderr.slice(-1500));
      assert.equal(mismatches('umask', b.report), []);
    } finally {
      execFileSync('docker', ['volume', 'rm', '-f', 'krepro-verify-verify-1'], { stdio: 'ignore' });
    }
  });

  test('a second verify of a checkout while one runs is refused, naming the first', async () => {
    const dir = project(path.join(CORPUS, 'clean'));
    const first = verifyAsync(dir, ['--vary', 'tz']);
    for (let i = 0; i < 600 && !existsSync(path.join(dir, '_output/.krepro.lock')); i++) await new Promise((r) => setTimeout(r, 100));
    const second = spawnSync(process.execPath, [CLI, 'verify'], { cwd: dir, encoding: 'utf8' });
    assert.is(second.status, 2);
    assert.match(second.stderr, /another krepro run is using .* \(pid \d+: krepro verify\)/);
    assert.is((await first).code, 0);
  });

  test('a failing build: exit 3 and a report naming the build with the end of its log', () => {
    const dir = project(path.join(CORPUS, 'clean'));
    writeFileSync(path.join(dir, 'krepro.json'), JSON.stringify({ command: 'echo compiling; echo "error: no such thing" >&2; exit 4', outputs: ['out'] }));
    execFileSync('git', ['commit', '-qam', 'broken'], { cwd: dir, env: { ...process.env, GIT_AUTHOR_NAME: 'k', GIT_AUTHOR_EMAIL: 'k@x.invalid', GIT_COMMITTER_NAME: 'k', GIT_COMMITTER_EMAIL: 'k@x.invalid' } });
    const { code, report } = verify(dir, ['--html', 'report.html']);
    assert.is(code, 3);
    assertSchema(report);
    assert.is(report.verdict, 'build-failed');
    assert.is(report.failure?.label, 'control');
    assert.is(report.failure?.exitCode, 4);
    assert.ok(report.failure?.logTail.includes('error: no such thing'), JSON.stringify(report.failure));
    assert.match(readFileSync(path.join(dir, 'report.html'), 'utf8'), 'Build failed');
    const text = spawnSync(process.execPath, [CLI, 'verify'], { cwd: dir, encoding: 'utf8' });
    assert.is(text.status, 3);
    assert.match(text.stdout, /: BUILD FAILED\n/, 'the verdict in words, not the JSON value build-failed');
    assert.match(text.stdout, /build 1 \(control\) failed with exit code 4/);
    // The exit status verify gave is the one krepro --help documents for a failed build.
    assert.match(spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' }).stdout, new RegExp(`\\b${text.status} a build of verify or rebuild failed`));
  });

  test('a variation that cannot take effect is reported as not tested, never as passed', () => {
    // One file in the whole tree: no directory listing can come in another order.
    const dir = tempDir('krepro-verify-');
    projects.push(dir);
    writeFileSync(path.join(dir, 'krepro.json'), JSON.stringify({ command: 'mkdir -p out && echo ok > out/x', outputs: ['out'] }));
    execFileSync('git', ['init', '-q', '-b', 'main'], { cwd: dir });
    execFileSync('git', ['add', '-A'], { cwd: dir });
    execFileSync('git', ['-c', 'user.name=k', '-c', 'user.email=k@x.invalid', 'commit', '-qm', 'x'], { cwd: dir, env: { ...process.env, GIT_COMMITTER_DATE: `@${SDE} +0000` } });
    const { code, report } = verify(dir, ['--vary', 'file-order,umask']);
    assert.is(code, 0);
    const order = report.variations.find((v) => v.name === 'file-order')!;
    assert.is(order.tested, false);
    assert.match(order.reason ?? '', /did not take effect/);
    assert.ok(report.variations.find((v) => v.name === 'umask')!.tested);
    const text = spawnSync(process.execPath, [CLI, 'verify', '--vary', 'file-order'], { cwd: dir, encoding: 'utf8' });
    assert.match(text.stdout, /NOT TESTED: file-order/);
  });
});

test('unknown variation names are a usage error listing the known ones', () => {
  const r = spawnSync(process.execPath, [CLI, 'verify', '--vary', 'moon-phase'], { encoding: 'utf8' });
  assert.is(r.status, 2);
  assert.match(r.stderr, /moon-phase.*known: build-path, tz/);
});

test('a bad project file is a usage error naming the file and the field', () => {
  const dir = tempDir('krepro-verify-bad-');
  writeFileSync(path.join(dir, 'krepro.json'), JSON.stringify({ outputs: ['../outside'] }));
  // verify builds a commit, with the project file it holds
  execFileSync('git', ['init', '-q'], { cwd: dir });
  execFileSync('git', ['add', '-A'], { cwd: dir });
  execFileSync('git', ['-c', 'user.name=k', '-c', 'user.email=k@x.invalid', 'commit', '-qm', 'x'], { cwd: dir });
  const r = spawnSync(process.execPath, [CLI, 'verify'], { cwd: dir, encoding: 'utf8' });
  assert.is(r.status, 2);
  assert.match(r.stderr, /krepro\.json.*"\.\.\/outside"/);
});

test.run();
