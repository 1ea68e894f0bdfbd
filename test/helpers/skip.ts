import { test, type Test } from 'uvu';
import * as assert from 'uvu/assert';

/**
 * Registers a test that needs something this machine may lack (`missing` says what, and how to get it). Outside
 * CI a missing prerequisite registers it with test.skip, so uvu's "Skipped" count shows it, and prints why; under
 * CI it is a failing test, since .ci/run installs everything.
 */
export function testWhen(missing: string | undefined, name: string, fn: () => unknown): void {
  if (missing === undefined) test(name, async () => void (await fn()));
  else if (process.env['CI']) test(name, () => assert.unreachable(`${missing}; CI must provide it`));
  else skipped(name, missing);
}

function skipped(name: string, why: string): void {
  process.stderr.write(`  skipped: ${name} (${why})\n`);
  test.skip(name);
}

/**
 * Registers a suite of tests that all need `what` (an engine, say): `register` gets it and uvu's `test`, or,
 * without it, a `test` that registers each test as skipped (with `why` printed) and drops the hooks.
 */
export function suiteWhen<T>(what: T | undefined, why: string, register: (what: T, t: Test) => void): void {
  if (what !== undefined) {
    register(what, test);
    return;
  }
  const hook = Object.assign(() => {}, { each: () => {} });
  const register1 = (name: string): void => (process.env['CI'] ? test(name, () => assert.unreachable(`${why}; CI must provide it`)) : skipped(name, why));
  const skipping = Object.assign(register1, { only: register1, skip: test.skip, before: hook, after: hook, run: () => {} });
  // The callbacks are never run, so the missing value is never used.
  register(undefined as T, skipping);
}
