import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { attributeCauses, type Outcome, worstCaseBuilds } from '../lib/verify/attribution.js';

// The attribution search on a simulated build: each artifact differs when any of its single causes is applied, or
// when all variations of one of its interactions are. No engine: this is the pure search.
const VARIATIONS = ['build-path', 'tz', 'locale', 'umask', 'user', 'group', 'hostname', 'domain', 'home', 'env', 'path', 'cpus', 'file-order', 'clock', 'kernel', 'aslr'];

type World = Record<string, { any?: string[]; all?: string[][] }>;

function simulate(world: World) {
  let n = 0;
  const log: string[][] = [];
  const build = async (vs: readonly string[]): Promise<Outcome> => {
    log.push([...vs]);
    const differing = new Set(
      Object.entries(world)
        .filter(([, rule]) => (rule.any ?? []).some((v) => vs.includes(v)) || (rule.all ?? []).some((set) => set.every((v) => vs.includes(v))))
        .map(([a]) => a),
    );
    return { id: `b${++n}`, differing };
  };
  return { build, log };
}

async function attribute(world: World) {
  const sim = simulate(world);
  const experiment = await sim.build(VARIATIONS);
  sim.log.length = 0;
  const result = await attributeCauses(VARIATIONS, experiment, undefined, (vs) => sim.build(vs));
  const byArtifact: Record<string, string[][]> = {};
  for (const c of result.causes) (byArtifact[c.artifact] ??= []).push(c.variations);
  return { result, byArtifact, log: sim.log };
}

test('one cause: found, with the build that shows it alone', async () => {
  const { result, byArtifact } = await attribute({ 'out/a': { any: ['tz'] } });
  assert.equal(byArtifact, { 'out/a': [['tz']] });
  assert.equal(result.unexplained, []);
  assert.ok(result.cleared, 'a build without the cause shows nothing');
  assert.ok(result.builds <= worstCaseBuilds(1, VARIATIONS.length), `${result.builds} builds`);
});

test('two causes in one artifact: both found, not only the first (path and a local-time date)', async () => {
  const { result, byArtifact } = await attribute({ 'out/stamp': { any: ['build-path', 'tz'] } });
  assert.equal(byArtifact, { 'out/stamp': [['build-path'], ['tz']] });
  assert.ok(result.builds <= worstCaseBuilds(2, VARIATIONS.length), `${result.builds} builds`);
});

test('two causes in two artifacts, and an artifact with no cause stays out', async () => {
  const { byArtifact } = await attribute({ 'out/a': { any: ['umask'] }, 'out/b': { any: ['aslr'] } });
  assert.equal(byArtifact, { 'out/a': [['umask']], 'out/b': [['aslr']] });
});

test('the last variation of the list and the first', async () => {
  assert.equal((await attribute({ x: { any: ['aslr'] } })).byArtifact, { x: [['aslr']] });
  assert.equal((await attribute({ x: { any: ['build-path'] } })).byArtifact, { x: [['build-path']] });
});

test('three causes of one artifact, and one of them also acts on another artifact', async () => {
  const { result, byArtifact } = await attribute({ a: { any: ['locale', 'clock', 'group'] }, b: { any: ['clock'] } });
  assert.equal(byArtifact, { a: [['clock'], ['group'], ['locale']], b: [['clock']] });
  assert.ok(result.builds <= worstCaseBuilds(3, VARIATIONS.length), `${result.builds} builds`);
});

test('an interaction (only together) is reported as such, never as one of its parts', async () => {
  const { result } = await attribute({ a: { all: [['tz', 'kernel']] } });
  assert.is(result.causes.length, 1);
  const [cause] = result.causes;
  assert.is(cause!.kind, 'interaction');
  assert.ok(cause!.variations.includes('tz') && cause!.variations.includes('kernel'), JSON.stringify(cause));
  assert.equal(result.unexplained, []);
});

test('nondeterministic artifacts are blamed on nobody; the rest is still attributed', async () => {
  const sim = simulate({ a: { any: ['hostname'] } });
  const experiment: Outcome = { id: 'exp', differing: new Set(['a', 'noisy']) };
  const result = await attributeCauses(VARIATIONS, experiment, { id: 'noise', control: 'control', noisy: new Set(['noisy']) }, (vs) => sim.build(vs));
  assert.equal(
    result.causes.map((c) => [c.artifact, c.kind, c.variations, c.evidence]),
    [
      ['a', 'variation', ['hostname'], [result.causes[0]!.evidence[0]]],
      ['noisy', 'nondeterminism', [], ['control', 'noise']],
    ],
  );
});

test('worst case: log2(n) + 2 builds per cause', () => {
  assert.is(worstCaseBuilds(1, 16), 6);
  assert.is(worstCaseBuilds(2, 16), 12);
  assert.is(worstCaseBuilds(3, 11), 18);
});

test.run();
