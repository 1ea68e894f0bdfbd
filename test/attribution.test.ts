import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Span } from '../lib/diff/types.js';
import { attributeFindings, explainFindings, type Outcome, spansMeet, type Verdict, worstCaseBuilds } from '../lib/verify/attribution.js';
import { groupCauses } from '../lib/verify/causes.js';
import { controlFor, EXPERIMENT_VALUES, projectBuildPath, repositoryName, VARIATIONS } from '../lib/verify/conditions.js';
import type { LocatedFinding } from '../lib/verify/findings.js';
import { markConsequences } from '../lib/verify/findings.js';
import { recognizer } from '../lib/verify/recognize.js';
import { hashFile } from '../lib/integrity/hash-stream.js';
import { tempDir } from './helpers/stage.js';

// The finding-level search on simulated builds: each place of the world differs when one of its variations is
// applied (or all of one of its sets), or on every build when it is noise. No engine: this is the pure search.
const NAMES = VARIATIONS.map((v) => v.name);
const recognize = recognizer(VARIATIONS);

interface Place {
  artifact: string;
  field?: string;
  at?: Span;
  path?: string[];
  /** right side per build: a function of the applied variations and the build number */
  right: (vs: readonly string[], n: number) => string;
  left?: string;
  any?: string[];
  all?: string[][];
  noise?: boolean;
  /** noise shows only on these build numbers (an unlucky noise build shows none) */
  noiseOn?: (n: number) => boolean;
  opaque?: boolean;
  diffCause?: LocatedFinding['diffCause'];
}

const line = (n: number, from: number, to: number, total = 10): Span => ({ unit: 'line', start: n, end: n, columns: [from, to], total });

function simulate(world: Place[]) {
  let n = 0;
  const log: string[][] = [];
  const build = async (vs: readonly string[]): Promise<Outcome> => {
    n++;
    log.push([...vs]);
    const findings: LocatedFinding[] = [];
    for (const p of world) {
      const caused = (p.any ?? []).some((v) => vs.includes(v)) || (p.all ?? []).some((set) => set.every((v) => vs.includes(v)));
      const noisy = p.noise && (p.noiseOn ?? (() => true))(n);
      if (!caused && !noisy) continue;
      findings.push({
        artifact: p.artifact,
        path: p.path ?? [],
        field: p.field ?? 'text',
        diffCause: p.diffCause ?? 'content',
        left: p.left ?? 'control',
        right: p.right(vs, n),
        ...(p.at ? { at: p.at } : {}),
        opaque: p.opaque ?? false,
      });
    }
    markConsequences(findings, []);
    return { id: `b${n}`, findings };
  };
  return { build, log };
}

async function attribute(world: Place[], noiseBuilds = 1) {
  const sim = simulate(world);
  const experiment = await sim.build(NAMES);
  const noise: Outcome[] = [];
  for (let i = 0; i < noiseBuilds; i++) noise.push(await sim.build([]));
  sim.log.length = 0;
  const result = await attributeFindings({ variations: NAMES, experiment, noise, recognize }, (vs) => sim.build(vs));
  const verdicts = experiment.findings.map((f, i) => [`${f.artifact}${f.at ? `@${f.at.start}:${f.at.columns?.[0] ?? ''}` : `#${f.field}`}`, label(result.verdicts[i]!)]);
  return { result, verdicts: Object.fromEntries(verdicts) as Record<string, string>, log: sim.log, experiment };
}

function label(v: Verdict): string {
  if (v.kind === 'variation' || v.kind === 'interaction') return `${v.kind}:${v.variations.join('+')}`;
  return v.kind;
}

const fixed = (s: string) => () => s;
const token = (_: readonly string[], n: number) => `token-${n}`;

test('a random token beside a build path on one line: the path is build-path, the token nondeterminism, in k + 1 extra builds', async () => {
  const { result, verdicts } = await attribute([
    { artifact: 'out/stamp.txt', at: line(2, 9, 20), any: ['build-path'], right: fixed(`${EXPERIMENT_VALUES.buildDir}/x`), diffCause: 'build-path' },
    { artifact: 'out/stamp.txt', at: line(2, 30, 40), noise: true, right: token },
  ]);
  assert.equal(verdicts, { 'out/stamp.txt@2:9': 'variation:build-path', 'out/stamp.txt@2:30': 'nondeterminism' });
  assert.equal(result.guesses.map((g) => [g.variation, g.confirmed]), [['build-path', true]]);
  assert.ok(result.cleared, 'a build with every other variation shows nothing beyond the noise');
  assert.is(result.builds, 2, 'one confirmation, one clearing build: k + 4 with control, experiment and noise');
});

test('k recognizable causes in one archive beside noise (owner, group, modes, mtimes): k + 1 extra builds', async () => {
  const member = (m: string, field: string, p: Omit<Place, 'artifact' | 'path' | 'field'>): Place => ({ artifact: 'out/r.tar.gz', path: ['r.tar', m], field, ...p });
  const world: Place[] = [];
  for (const m of ['a', 'b', 'c']) {
    world.push(member(m, 'uid', { any: ['user'], left: '1000', right: fixed(String(EXPERIMENT_VALUES.uid)), diffCause: 'owner' }));
    world.push(member(m, 'gid', { any: ['group'], left: '1000', right: fixed(String(EXPERIMENT_VALUES.gid)), diffCause: 'owner' }));
    world.push(member(m, 'mode', { any: ['umask'], left: '0644', right: fixed('0664'), diffCause: 'umask' }));
    world.push(member(m, 'mtime', { noise: true, right: token, diffCause: 'timestamp' }));
  }
  const { result, verdicts } = await attribute(world);
  assert.equal(new Set(Object.values(verdicts)), new Set(['variation:user', 'variation:group', 'nondeterminism', 'variation:umask']));
  assert.is(verdicts['out/r.tar.gz#uid'], 'variation:user');
  assert.is(result.builds, 4);
});

test('an unrecognizable cause (file order) beside a recognizable one: the search finds it within ⌈log₂ n⌉ + 2', async () => {
  const { result, verdicts } = await attribute([
    { artifact: 'out/bundle.txt', at: { unit: 'line', start: 3, end: 9, total: 20 }, any: ['file-order'], right: fixed('part b') },
    { artifact: 'out/buildinfo.txt', at: line(1, 9, 30, 1), any: ['hostname'], right: fixed(`built on ${EXPERIMENT_VALUES.hostname}`), diffCause: 'hostname' },
  ]);
  assert.equal(verdicts, { 'out/bundle.txt@3:': 'variation:file-order', 'out/buildinfo.txt@1:9': 'variation:hostname' });
  // One guess and a clearing build for the recognized cause, and the search's bound for the other.
  assert.ok(result.builds <= 2 + worstCaseBuilds(1, NAMES.length), `${result.builds} builds`);
});

test('only together: an interaction of two variations without values, never one of its parts', async () => {
  const { verdicts } = await attribute([{ artifact: 'a', at: line(1, 0, 4, 1), all: [['cpus', 'aslr']], right: fixed('x') }]);
  const v = Object.values(verdicts)[0]!;
  assert.ok(v.startsWith('interaction:') && v.includes('cpus') && v.includes('aslr'), v);
});

test('an opaque blob noise rewrites whole is "masked by noise", even where a variation changes it too; its neighbour is still attributed', async () => {
  const { verdicts } = await attribute([
    { artifact: 'out/blob.xz', at: { unit: 'byte', start: 24, end: 199, total: 200 }, noise: true, any: ['build-path'], right: fixed('\u0000\u0001'), opaque: true },
    { artifact: 'out/stamp.txt', at: line(1, 0, 20, 1), any: ['build-path'], right: fixed(`${EXPERIMENT_VALUES.buildDir}/x`) },
  ]);
  assert.equal(verdicts, { 'out/blob.xz@24:': 'masked-by-noise', 'out/stamp.txt@1:0': 'variation:build-path' });
});

test('dense noise (a map printed in random order) masks the whole file; a line in it carrying a value is still attributed', async () => {
  const world: Place[] = [];
  // 100 lines, each noisy on most builds (a line sometimes keeps its place by chance).
  for (let i = 1; i <= 100; i++) world.push({ artifact: 'out/table.txt', at: line(i, 0, 6, 101), noise: true, noiseOn: (n) => (n + i) % 7 !== 0, right: token });
  world.push({ artifact: 'out/table.txt', at: line(101, 0, 30, 101), any: ['home'], right: fixed(`${EXPERIMENT_VALUES.home}/.config`) });
  const { verdicts, result } = await attribute(world);
  const values = Object.entries(verdicts);
  assert.is(verdicts['out/table.txt@101:0'], 'variation:home');
  assert.ok(values.filter(([k]) => k !== 'out/table.txt@101:0').every(([, v]) => v === 'nondeterminism'), JSON.stringify(values));
  assert.is(result.builds, 2);
});

test('noise the one noise build did not show: one more noise build, then nondeterminism (never blamed on a variation)', async () => {
  // Noise in a 3-line file that the first noise build (build 2) happens not to show.
  const { verdicts, result } = await attribute([{ artifact: 'out/t.txt', at: line(2, 0, 8, 3), noise: true, noiseOn: (n) => n !== 2, right: token }]);
  assert.equal(verdicts, { 'out/t.txt@2:0': 'nondeterminism' });
  assert.is(result.noise.length, 2, 'a second noise build joined the mask');
});

test('consequences: a Go build ID beside other findings of its binary, and the checksum of a differing artifact', async () => {
  const { verdicts } = await attribute([
    { artifact: 'out/app', field: 'Go build ID', any: ['build-path'], right: fixed('abc/def'), diffCause: 'go-build-id' },
    { artifact: 'out/app', field: 'embedded build path', any: ['build-path'], right: fixed(EXPERIMENT_VALUES.buildDir), diffCause: 'build-path' },
  ]);
  assert.equal(verdicts, { 'out/app#Go build ID': 'consequence', 'out/app#embedded build path': 'variation:build-path' });

  const dir = tempDir();
  const file = (n: string, s: string) => (writeFileSync(path.join(dir, n), s), path.join(dir, n));
  const left = { name: 'out/x.tar.gz', path: file('l', 'left'), ...(await hashFile(file('l', 'left'))) };
  const right = { name: 'out/x.tar.gz', path: file('r', 'right!'), ...(await hashFile(file('r', 'right!'))) };
  const sha = left.digests.sha256;
  const findings: LocatedFinding[] = [
    { artifact: 'out/x.tar.gz.sha256sum', path: [], field: 'digest', diffCause: 'derived-digest', left: `${sha}  x.tar.gz`, right: 'ff', opaque: false },
    { artifact: 'SHA256SUMS', path: [], field: 'digest', diffCause: 'derived-digest', left: 'a'.repeat(64), right: 'b'.repeat(64), opaque: false },
    { artifact: 'krepro-manifest.json', path: [], field: 'key .artifacts[0].size', diffCause: 'content', left: String(left.size), right: String(right.size), opaque: false },
    { artifact: 'out/notes.txt', path: [], field: 'text', diffCause: 'content', left: 'a', right: 'b', opaque: false },
  ];
  markConsequences(findings, [{ name: 'out/x.tar.gz', left, right }]);
  assert.equal(
    findings.map((f) => f.consequenceOf?.artifact ?? null),
    ['out/x.tar.gz', 'SHA256SUMS', 'out/x.tar.gz', null],
  );
});

test('the matrix plan reuses it: every single-variation build at once explains each finding, or leaves it for a second round', () => {
  const f = (artifact: string, right: string, at: Span): LocatedFinding => ({ artifact, path: [], field: 'text', diffCause: 'content', left: 'c', right, at, opaque: false });
  const experiment: Outcome = { id: 'e', findings: [f('a', `${EXPERIMENT_VALUES.hostname}`, line(1, 0, 5)), f('b', 'x', line(1, 0, 1)), f('c', 'y', line(1, 0, 1)), f('n', 'r1', line(1, 0, 1))] };
  const noise: Outcome[] = [{ id: 'n1', findings: [f('n', 'r2', line(1, 0, 1))] }];
  const singles = [
    { variations: ['hostname'], outcome: { id: 's1', findings: [f('a', EXPERIMENT_VALUES.hostname, line(1, 0, 5))] } },
    { variations: ['locale'], outcome: { id: 's2', findings: [f('b', 'x', line(1, 0, 1))] } },
    { variations: ['tz'], outcome: { id: 's3', findings: [] } },
  ];
  const v = explainFindings({ variations: NAMES, experiment, noise, recognize }, singles);
  assert.equal(v.map((x) => (x ? label(x) : null)), ['variation:hostname', 'variation:locale', null, 'nondeterminism']);
});

test('spans: columns of one line, whole lines, insertions inside a range but not beside it', () => {
  assert.ok(spansMeet(line(2, 0, 5), line(2, 4, 9)));
  assert.not.ok(spansMeet(line(2, 0, 5), line(2, 5, 9)));
  assert.not.ok(spansMeet(line(2, 0, 5), line(3, 0, 5)));
  assert.ok(spansMeet(line(2, 0, 5), { unit: 'line', start: 1, end: 3, total: 10 }));
  const ins = (s: number): Span => ({ unit: 'line', start: s, end: s - 1, total: 10 });
  assert.ok(spansMeet(ins(4), ins(4)));
  assert.not.ok(spansMeet(ins(4), ins(5)));
  assert.not.ok(spansMeet(ins(4), { unit: 'line', start: 3, end: 3, total: 10 }), 'beside a changed line is not in it');
  assert.ok(spansMeet(ins(4), { unit: 'line', start: 2, end: 6, total: 10 }));
  assert.ok(spansMeet({ unit: 'byte', start: 10, end: 20, total: 99 }, { unit: 'byte', start: 20, end: 30, total: 99 }));
  assert.not.ok(spansMeet({ unit: 'byte', start: 10, end: 20, total: 99 }, { unit: 'line', start: 10, end: 20, total: 99 }));
});

test('recognizer: the longest value first, numbers as words, modes that gained group write, a year ahead, Turkish names', () => {
  const r = (left: string | null, right: string | null, field = 'text') => recognize({ field, left, right });
  assert.equal(r('/src/x', `${EXPERIMENT_VALUES.buildDir}/x`), ['build-path']);
  assert.equal(r('HOME=/tmp/krepro-home/control', `HOME=${EXPERIMENT_VALUES.home}`), ['home']);
  assert.equal(r(null, `${EXPERIMENT_VALUES.extraEnv[0]}=${EXPERIMENT_VALUES.extraEnv[1]}`), ['env']);
  assert.equal(r('PATH=/usr/bin', `PATH=/usr/bin:${EXPERIMENT_VALUES.pathEntry}`), ['path']);
  assert.equal(r('krepro-control control.invalid', `${EXPERIMENT_VALUES.hostname} ${EXPERIMENT_VALUES.domainname}`), ['hostname', 'domain']);
  assert.equal(r('1000', '2345', 'uid'), ['user']);
  assert.equal(r('1000', '3456', 'gid'), ['group']);
  assert.equal(r('1000', '123456', 'uid'), [], 'a number inside another is not the value');
  assert.equal(r('0644', '0664', 'mode'), ['umask']);
  assert.equal(r('0644', '0755', 'mode'), []);
  assert.equal(r('-rw-r--r-- 1 a b', '-rw-rw-r-- 1 a b'), ['umask']);
  assert.equal(r('2023-11-14 22:13:20 +0000', '2023-11-15 12:13:20 +1345'), ['tz']);
  assert.equal(r('Copyright 2026 Someone', 'Copyright 2027 Someone'), ['clock']);
  assert.equal(r('2026-01-02 10:00:00', '2027-01-10 10:00:00'), ['clock']);
  assert.equal(r('Tue Nov 14 2023', 'Sal Kas 14 2023'), ['locale']);
  assert.equal(r('Linux 6.1.0 x86_64', 'Linux 2.6.61 i686'), ['kernel']);
  assert.equal(r('a b c', 'a c b'), [], 'collation leaves no value: the search finds it');
  assert.equal(r(`${EXPERIMENT_VALUES.hostname}`, `${EXPERIMENT_VALUES.hostname}`), [], 'on both sides: not new');
});

test('groups: causes first in the variations order, then nondeterminism and masked by noise, consequences under their origin', () => {
  const f = (artifact: string, p: string[] = [], consequenceOf?: LocatedFinding['consequenceOf']): LocatedFinding => ({ artifact, path: p, field: 'x', diffCause: 'content', left: 'a', right: 'b', opaque: false, ...(consequenceOf ? { consequenceOf } : {}) });
  const findings = [f('out/app', ['m']), f('out/app', ['m'], { artifact: 'out/app', path: ['m'], why: 'id' }), f('out/t'), f('out/b'), f('out/z'), f('SUMS', [], { artifact: 'SUMS', path: [], why: 'listed' })];
  const verdicts: Verdict[] = [
    { kind: 'variation', variations: ['home'], build: '5' },
    { kind: 'consequence', of: { artifact: 'out/app', path: ['m'], why: 'id' } },
    { kind: 'nondeterminism', builds: ['3'] },
    { kind: 'masked-by-noise', builds: ['3'] },
    { kind: 'variation', variations: ['build-path'], build: '4' },
    { kind: 'consequence', of: { artifact: 'SUMS', path: [], why: 'listed' } },
  ];
  const groups = groupCauses(findings, verdicts, VARIATIONS);
  assert.equal(groups.map((g) => [g.id, g.findings, g.consequences]), [
    ['build-path', [4], []],
    ['home', [0], [1]],
    ['nondeterminism', [2], []],
    ['masked-by-noise', [3], []],
    ['consequence', [], [5]],
  ]);
  assert.match(groups[3]!.fix[0]!, /^first make the build deterministic/);
});

test('worst case: ⌈log₂ n⌉ + 2 builds per cause', () => {
  assert.is(worstCaseBuilds(1, 16), 6);
  assert.is(worstCaseBuilds(2, 16), 12);
  assert.is(worstCaseBuilds(3, 11), 18);
});

test('the control build path follows the project: go.mod module path (without /vN), else the checkout directory name; nothing unsafe', async () => {
  assert.is(projectBuildPath('', 'cri-tools'), '/src/cri-tools');
  assert.is(projectBuildPath('module sigs.k8s.io/cri-tools\n\ngo 1.24\n', 'x'), '/go/src/sigs.k8s.io/cri-tools');
  assert.is(projectBuildPath('module github.com/containerd/containerd/v2\n\ngo 1.24.2\n', 'x'), '/go/src/github.com/containerd/containerd', 'a major-version suffix is not a directory');
  assert.is(projectBuildPath('module example.com/v1\n', 'x'), '/go/src/example.com/v1', 'v1 is no major-version suffix');
  assert.is(projectBuildPath('module ../../etc\n', 'ok'), '/src/ok');
  assert.is(projectBuildPath('', '..'), '/src/project');
  assert.is(projectBuildPath('', '.hidden'), '/src/project');
  // from a commit: its go.mod, not the working tree's, and the checkout's top directory wherever verify runs
  const dir = path.join(tempDir(), 'cri-tools');
  mkdirSync(path.join(dir, 'sub'), { recursive: true });
  writeFileSync(path.join(dir, 'go.mod'), 'module sigs.k8s.io/cri-tools\n');
  writeFileSync(path.join(dir, 'sub', 'a'), 'a\n');
  const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=k', '-c', 'user.email=k@x.invalid', ...args], { cwd: dir, encoding: 'utf8' }).trim();
  git('init', '-q');
  git('add', '-A');
  git('commit', '-qm', 'x');
  const commit = git('rev-parse', 'HEAD');
  writeFileSync(path.join(dir, 'go.mod'), 'module example.com/other\n');
  assert.is((await controlFor(path.join(dir, 'sub'), commit)).buildPath, '/go/src/sigs.k8s.io/cri-tools');
  git('rm', '-qf', 'go.mod');
  git('commit', '-qm', 'no go.mod');
  assert.is((await controlFor(path.join(dir, 'sub'), git('rev-parse', 'HEAD'))).buildPath, '/src/cri-tools');
  // a clone in a directory of another name (a CI job's) names the repository, as its origin does
  const clone = path.join(tempDir(), 'job-1');
  execFileSync('git', ['clone', '-q', dir, clone]);
  assert.is((await controlFor(clone, git('rev-parse', 'HEAD'))).buildPath, '/src/cri-tools');
  assert.equal(['git@github.com:org/repo.git', 'https://github.com/org/repo/', '/srv/git/repo', ''].map(repositoryName), ['repo', 'repo', 'repo', undefined]);
});

test.run();
