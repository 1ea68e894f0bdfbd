import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { cliEnv } from './helpers/cli.js';

// A test that cannot run here is counted as skipped by uvu and by .ci/run's closing line, with its reason; under
// CI it fails instead. Checked by running uvu on a probe suite, as npm test runs the real ones.
// Inside the repository (in the ignored _output/), so the probe resolves uvu and tsx from node_modules.
mkdirSync('_output', { recursive: true });
const dir = mkdtempSync(path.join(path.resolve('_output'), 'skip-count-'));
writeFileSync(
  path.join(dir, 'probe.test.ts'),
  `import { test } from 'uvu';
import { suiteWhen, testWhen } from ${JSON.stringify(path.resolve('test/helpers/skip.js'))};
test('runs', () => {});
testWhen('no frobnicator (apt-get install frobnicator)', 'needs a frobnicator', () => {});
testWhen(undefined, 'needs nothing', () => {});
suiteWhen(undefined, 'no engine', (_engine, test) => {
  test.before(() => { throw new Error('a hook of a skipped suite must not run'); });
  test('engine one', () => {});
  test('engine two', () => {});
});
test.run();
`,
);

function uvu(env: Record<string, string | undefined>): { status: number | null; output: string; summary: string } {
  const run = spawnSync(process.execPath, ['--import', 'tsx/esm', 'node_modules/uvu/bin.js', path.relative('.', dir), 'probe\\.test\\.ts$'], {
    encoding: 'utf8',
    env: cliEnv({ NO_COLOR: '1', CI: undefined, ...env }),
  });
  const output = run.stdout + run.stderr;
  const summary = spawnSync('.ci/test-summary', { input: output, encoding: 'utf8' });
  return { status: run.status, output, summary: summary.stdout };
}

test('outside CI: uvu counts the missing prerequisites as skipped, and .ci/run says so with the reasons', () => {
  const r = uvu({});
  assert.is(r.status, 0, r.output);
  assert.match(r.output, /Total: +2\n/);
  assert.match(r.output, /Passed: +2\n/);
  assert.match(r.output, /Skipped: +3\n/);
  assert.is(
    r.summary,
    '2 passed, 0 failed, 3 skipped\n  skipped: needs a frobnicator (no frobnicator (apt-get install frobnicator))\n  skipped: engine one (no engine)\n  skipped: engine two (no engine)\n',
  );
});

test('under CI: a missing prerequisite is a failure, not a skip', () => {
  const r = uvu({ CI: 'true' });
  assert.is.not(r.status, 0, r.output);
  assert.match(r.output, /no frobnicator \(apt-get install frobnicator\); CI must provide it/);
  assert.is(r.summary, '2 passed, 3 failed, 0 skipped\n');
});

test.run();
