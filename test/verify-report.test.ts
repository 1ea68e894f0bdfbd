import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { outputArtifacts } from '../lib/integrity/artifact.js';
import { VARIATIONS, VERIFY_SCHEMA, type VerifyResult, verifyHtml, verifyReport, verifyText } from '../lib/api/verify.js';
import type { BuildRun } from '../lib/verify/build-run.js';
import { controlConditions, EXPERIMENT_VALUES } from '../lib/verify/conditions.js';
import { explainDifferences } from '../lib/verify/explain.js';
import { CHROMIUM, layoutWidth } from './helpers/browser.js';
import { tempDir } from './helpers/stage.js';

// explainDifferences on builds faked on this machine with real tools (GNU tar, gzip, xz, sha256sum): every kind of
// finding the report has, a noisy field beside a cause in each artifact, without an engine. Then the three
// presenters, the JSON against its schema, and the HTML in a 1300 px window.
const validate = new Ajv2020({ strict: true, allErrors: true }).compile(JSON.parse(readFileSync(path.resolve('schemas/verify-report.schema.json'), 'utf8')));
const root = tempDir('krepro-verify-report-');
const V = EXPERIMENT_VALUES;
let builds = 0;

/** A fake build: what a project that leaks build path, host name and uid (and a random token) would write. */
async function fakeBuild(variations: readonly string[]): Promise<BuildRun> {
  const id = String(++builds);
  const dir = path.join(root, id);
  const out = path.join(dir, 'out');
  mkdirSync(path.join(out, 'conf'), { recursive: true });
  mkdirSync(path.join(dir, 'tree'), { recursive: true });
  const has = (v: string) => variations.includes(v);
  const where = has('build-path') ? `${V.buildDir}/a-project-with-a-rather-long-name` : '/src/a-project-with-a-rather-long-name';
  const token = randomBytes(8).toString('hex');
  writeFileSync(path.join(out, 'stamp.txt'), `version 1.0\nbuilt in ${where} with token ${token}\n${'x'.repeat(3000)} ${where}\n`);
  writeFileSync(path.join(out, 'info.json'), JSON.stringify({ host: has('hostname') ? V.hostname : 'krepro-control', id: token, version: '1.0' }, null, 2));
  for (let i = 0; i < 21; i++) writeFileSync(path.join(out, 'conf', `component-with-a-long-configuration-name-${i}.toml`), `name = "c${i}"\n`);
  writeFileSync(path.join(dir, 'tree', 'a.txt'), 'a\n');
  writeFileSync(path.join(dir, 'tree', 'b.txt'), 'b\n');
  const uid = has('user') ? V.uid : 1000;
  // Packed with the build's time (noise) and the builder's uid (a cause), as a plain `tar -czf` does.
  execFileSync('sh', ['-c', `tar --sort=name --mtime=@${1700000000 + builds} --owner=${uid} --group=0 --numeric-owner -C tree -cf - . | gzip -n > out/release.tar.gz && sha256sum out/release.tar.gz > out/release.tar.gz.sha256sum`], { cwd: dir });
  execFileSync('sh', ['-c', `printf '%s %s\\n' ${token} ${where} | xz -c > out/blob.xz`], { cwd: dir });
  const conditions = controlConditions('/src/a-project-with-a-rather-long-name');
  const host = { backend: 'fake', machine: 'fake-host', kernel: '6.1.0-fake', cpus: 2, memoryBytes: 2 ** 33, os: 'linux', arch: 'amd64', engineVersion: 'fake' };
  return { id, label: variations.length ? `varies ${variations.join(', ')}` : 'control', conditions, variations: [...variations], engine: 'fake', host, unapplied: [], exitCode: 0, durationMs: 1000, commandMs: 900, probes: {}, artifacts: await outputArtifacts(dir, ['out']), bases: [], dir, log: path.join(dir, 'build.log') };
}

const used = VARIATIONS.filter((v) => ['build-path', 'hostname', 'user', 'tz', 'file-order'].includes(v.name));
const control = await fakeBuild([]);
const experiment = await fakeBuild(used.map((v) => v.name));
const noise = await fakeBuild([]);
const all = [control, experiment, noise];
const explained = await explainDifferences({
  control,
  experiment,
  noise: [noise],
  tested: used,
  variations: used,
  build: async (vs) => {
    const b = await fakeBuild(vs.map((v) => v.name));
    all.push(b);
    return b;
  },
});
const result: VerifyResult = {
  schema: VERIFY_SCHEMA,
  commit: '0'.repeat(40),
  sourceDateEpoch: 1700000000,
  status: 'not-reproducible',
  project: { command: ['make'], outputs: ['out'], env: {}, release: false, images: false, normalize: false, file: 'krepro.json' },
  settings: [],
  variations: used.map((v) => ({ name: v.name, description: v.description, fix: v.fix, tested: true, probe: { control: 'a', experiment: 'b' } })),
  control,
  experiment,
  noise: [noise],
  builds: all,
  differing: [],
  ...explained,
  failures: [],
  plan: { kind: 'adaptive', why: '--jobs 1 < n + 3 = 8: few builds, one after another', jobs: 1, inMemory: { max: 1, why: 'one build at a time' }, source: 'local', rounds: all.map((b, i) => ({ round: i + 1, builds: [b.id], ms: 1000 })), hosts: [] },
  steps: [],
};
const report = verifyReport(result);

/** "artifact path… field" → verdict, for the findings of one artifact. */
function verdicts(artifact: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of explained.findings.filter((x) => x.artifact === artifact)) {
    const v = f.verdict!;
    const label = 'variations' in v ? v.variations.join('+') : v.kind;
    const key = [...f.path, f.field].join(' ');
    out[key] = out[key] && out[key] !== label ? `${out[key]}|${label}` : label;
  }
  return out;
}

test('a cause beside noise in every artifact: each finding gets its own verdict', () => {
  assert.equal(verdicts('out/stamp.txt'), { 'embedded path': 'build-path', text: 'nondeterminism' });
  assert.equal(verdicts('out/info.json'), { 'key .host': 'hostname', 'key .id': 'nondeterminism' });
  const tar = verdicts('out/release.tar.gz');
  assert.equal([...new Set(Object.entries(tar).map(([k, v]) => `${k.replace(/^\S+ /, 'member ')}=${v}`))].sort(), ['member mtime=nondeterminism', 'member uid=user'], JSON.stringify(tar));
  assert.equal(verdicts('out/release.tar.gz.sha256sum'), { digest: 'consequence' });
  assert.equal(verdicts('out/blob.xz'), { bytes: 'masked-by-noise' });
});

test('k + 4 builds for k = 3 recognizable causes; every finding counted once', () => {
  assert.is(builds, 3 + 3 + 1, `${builds} builds: control, experiment, noise, 3 guesses, 1 clearing`);
  assert.equal(
    explained.attribution?.guesses.map((g) => [g.variation, g.confirmed]),
    [
      ['build-path', true],
      ['user', true],
      ['hostname', true],
    ],
  );
  assert.ok(explained.attribution?.cleared);
  const counted = report.causes.reduce((n, c) => n + c.findings.count + c.consequences.count, 0);
  assert.is(counted, explained.findings.length);
  assert.is(report.summary.findings, explained.findings.length);
});

test('the JSON report: schema v3, causes first with fixes, consequences under what they follow from, identical artifacts counted', () => {
  assert.ok(validate(report), JSON.stringify(validate.errors, null, 2));
  assert.is(report.schema, 'https://krepro.dev/schemas/verify-report/v3');
  assert.equal(report.causes.map((c) => c.id), ['build-path', 'user', 'hostname', 'nondeterminism', 'masked-by-noise']);
  const user = report.causes.find((c) => c.id === 'user')!;
  assert.ok(user.consequences.shown.some((f) => f.artifact === 'out/release.tar.gz.sha256sum' && f.follows?.artifact === 'out/release.tar.gz'), JSON.stringify(user.consequences));
  assert.match(report.causes.find((c) => c.id === 'masked-by-noise')!.fix[0]!, /^first make the build deterministic/);
  assert.is(report.summary.causes, 5);
  assert.is(report.summary.artifacts.identical, 21);
  assert.ok(report.builds.every((b) => b.diffMs === null || b.diffMs >= 0));
});

test('the text report leads with the verdict and the causes, and counts identical artifacts', () => {
  const text = verifyText(report);
  assert.match(text, /: NOT REPRODUCIBLE: 5 causes, \d+ findings in 5 artifacts \(21 identical\)\n/);
  assert.ok(text.indexOf('causes:') < text.indexOf('artifacts:'));
  assert.match(text, /1\. build-path: \d+ findings? in .*out\/stamp\.txt.*; proven by build \d+\n\s+fix: build with `go build -trimpath`/);
  assert.match(text, /masked by noise: 1 finding in out\/blob\.xz/);
  assert.match(text, /artifacts: 5 differ, 21 identical\n/);
  assert.not.match(text, /component-with-a-long-configuration-name/);
});

test('a finding with neither value (an ELF section compared whole) is said by its note, not as two absences', () => {
  const whole = structuredClone(report);
  const note = 'the section differs (size 1021448 → 1020904 bytes); compared whole because the layouts differ';
  Object.assign(whole.causes[0]!.findings.shown[0]!, { left: null, right: null, note });
  const text = verifyText(whole);
  assert.ok(text.includes(`: ${note}\n`), text);
  assert.not.match(text, /\(absent\) -> \(absent\)/);
});

const chromium = existsSync(CHROMIUM);
test(`the HTML report leads with causes, folds identical artifacts, and fits a 1300 px window${chromium ? '' : ' (SKIPPED: no chromium)'}`, () => {
  const html = verifyHtml(report);
  assert.ok(html.indexOf('Causes and fixes') < html.indexOf('<h2>Artifacts'));
  assert.match(html, /<summary>21 artifacts identical<\/summary>/);
  if (!chromium) {
    if (process.env.CI) assert.unreachable('chromium is required in CI');
    return;
  }
  const file = path.join(root, 'report.html');
  writeFileSync(file, html);
  const { scrollWidth, innerWidth } = layoutWidth(file, 1300);
  assert.is(innerWidth, 1300);
  assert.ok(scrollWidth <= 1300, `scrollWidth ${scrollWidth} px in a 1300 px window`);
});

test.run();
