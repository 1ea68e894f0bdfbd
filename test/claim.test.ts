import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { claimCheckout } from '../lib/checkout/claim.js';
import { isKreproError } from '../lib/errors.js';
import { tempDir } from './helpers/stage.js';

// The claim on a checkout under real concurrency: separate node processes (dist/lib) racing on one lock file.
const LIB = path.resolve('dist/lib/checkout/claim.js');
const lockFile = (root: string): string => path.join(root, '_output', '.krepro.lock');

/**
 * A process that waits for "go" on stdin, then tries the lock once and reports `won` (holding it for `holdMs`, and
 * appending enter/exit lines to `log` around that) or `locked <message>`.
 */
function racer(root: string, name: string, opts: { holdMs?: number; log?: string } = {}): { child: ChildProcess; ready: Promise<void>; result: Promise<string> } {
  const script = `
    import { claimCheckout } from ${JSON.stringify(LIB)};
    import { appendFileSync } from 'node:fs';
    import { createInterface } from 'node:readline';
    const log = ${JSON.stringify(opts.log ?? '')};
    console.log('ready');
    for await (const line of createInterface({ input: process.stdin })) {
      if (line !== 'go') continue;
      try {
        const lock = await claimCheckout(${JSON.stringify(root)}, ${JSON.stringify(name)});
        if (log) appendFileSync(log, 'enter ' + process.pid + '\\n');
        console.log('won');
        await new Promise((r) => setTimeout(r, ${opts.holdMs ?? 500}));
        if (log) appendFileSync(log, 'exit ' + process.pid + '\\n');
        await lock.release();
      } catch (err) {
        console.log(err.code === 'E_LOCKED' ? 'locked ' + err.message : 'error ' + err.stack);
      }
      process.exit(0);
    }`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const next = (): Promise<string> => new Promise((resolve) => lines.once('line', resolve));
  const ready = next().then((l) => assert.is(l, 'ready'));
  return { child, ready, result: ready.then(next) };
}

/** Starts `n` racers, releases them at once, and returns what each reported, with its pid. */
async function race(root: string, n: number, opts: { holdMs?: number; log?: string } = {}): Promise<{ pid: number; said: string }[]> {
  const racers = Array.from({ length: n }, (_, i) => racer(root, `racer-${i}`, opts));
  await Promise.all(racers.map((r) => r.ready));
  for (const r of racers) r.child.stdin!.write('go\n');
  const said = await Promise.all(racers.map((r) => r.result));
  await Promise.all(racers.map((r) => new Promise((resolve) => (r.child.exitCode !== null ? resolve(null) : r.child.on('exit', resolve)))));
  return racers.map((r, i) => ({ pid: r.child.pid!, said: said[i]! }));
}

function assertOneWinner(results: { pid: number; said: string }[], round: string): void {
  const winners = results.filter((r) => r.said === 'won');
  assert.is(winners.length, 1, `${round}: exactly one winner, got ${JSON.stringify(results)}`);
  for (const r of results.filter((x) => x.said !== 'won')) {
    assert.ok(r.said.startsWith('locked '), `${round}: the others are refused with E_LOCKED, got ${r.said}`);
    assert.match(r.said, `pid ${winners[0]!.pid}`, 'the refusal names the holder');
  }
}

/** A pid that is certainly not running: a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout.trim());
}

function checkout(): string {
  const root = tempDir('krepro-lock-');
  mkdirSync(path.join(root, '_output'));
  return root;
}

/** No file but the lock itself may remain: no temporary lock or breaker left behind. */
function assertNoLeftovers(root: string, allowLock = false): void {
  const left = readdirSync(path.join(root, '_output')).filter((f) => !(allowLock && f === '.krepro.lock'));
  assert.equal(left, [], `files left in _output: ${left.join(', ')}`);
}

test('many processes racing for a free lock: exactly one wins, every other is refused naming the holder', async () => {
  const root = checkout();
  for (let round = 0; round < 3; round++) {
    assertOneWinner(await race(root, 8), `round ${round}`);
    assertNoLeftovers(root);
  }
});

test('a stale lock left by a killed holder is taken over, and by exactly one of many racers', async () => {
  const root = checkout();
  for (let round = 0; round < 2; round++) {
    // A real holder, killed while it holds the lock: its lock file stays behind, naming a dead pid.
    const victim = racer(root, 'victim', { holdMs: 60_000 });
    await victim.ready;
    victim.child.stdin!.write('go\n');
    assert.is(await victim.result, 'won');
    victim.child.kill('SIGKILL');
    await new Promise((resolve) => victim.child.on('exit', resolve));
    assert.match(readFileSync(lockFile(root), 'utf8'), `"pid":${victim.child.pid}`);
    assertOneWinner(await race(root, 8), `round ${round}`);
    assertNoLeftovers(root);
  }
});

/**
 * A worker that, until `until` (epoch ms), takes the lock (retrying while refused), holds it briefly and releases it
 * — or, one time in four, dies holding it (SIGKILL, no cleanup), leaving a stale lock for the others to break.
 */
function worker(root: string, log: string): { child: ChildProcess; ready: Promise<void> } {
  const script = `
    import { claimCheckout } from ${JSON.stringify(LIB)};
    import { appendFileSync } from 'node:fs';
    import { createInterface } from 'node:readline';
    const note = (what) => appendFileSync(${JSON.stringify(log)}, what + ' ' + process.pid + '\\n');
    const pause = (ms) => new Promise((r) => setTimeout(r, ms));
    console.log('ready');
    const lines = createInterface({ input: process.stdin });
    const until = Number(await new Promise((resolve) => lines.once('line', resolve)));
    while (Date.now() < until) {
      let lock;
      try {
        lock = await claimCheckout(${JSON.stringify(root)}, 'worker');
      } catch (err) {
        if (err.code !== 'E_LOCKED') throw err;
        await pause(Math.random() * 10);
        continue;
      }
      note('enter');
      await pause(Math.random() * 15);
      if (Math.random() < 0.25) {
        note('die');
        process.kill(process.pid, 'SIGKILL');
      }
      note('exit');
      await lock.release();
    }
    process.exit(0);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const ready = new Promise<void>((resolve) => createInterface({ input: child.stdout! }).once('line', () => resolve()));
  return { child, ready };
}

test('workers taking, releasing, dying with and breaking the lock for 3 s: never two holders at once', async () => {
  const root = checkout();
  const log = path.join(root, 'holders.log');
  writeFileSync(log, '');
  const failures: string[] = [];
  let until = Infinity;
  const ended: Promise<void>[] = [];
  // Keeps one worker running until `until`: one that died holding the lock is replaced.
  const keep = async (): Promise<void> => {
    const w = worker(root, log);
    const exit = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => w.child.on('exit', (code, signal) => resolve([code, signal])));
    await w.ready;
    const start = (): void => void w.child.stdin!.write(`${until}\n`);
    if (until !== Infinity) start();
    ended.push(
      exit.then(([code, signal]) => {
        if (signal === 'SIGKILL') return Date.now() < until ? keep() : undefined;
        if (code !== 0) failures.push(`worker ${w.child.pid} exited with ${code ?? signal}`);
      }),
    );
    starters.push(start);
  };
  const starters: (() => void)[] = [];
  await Promise.all(Array.from({ length: 6 }, keep));
  until = Date.now() + 3_000; // all six are up: start them together
  for (const start of starters) start();
  while (ended.length > 0) await ended.shift();
  assert.equal(failures, []);
  const lines = readFileSync(log, 'utf8').trim().split('\n');
  for (let i = 0; i < lines.length; i += 2) {
    const pid = lines[i]!.split(' ')[1];
    assert.is(lines[i], `enter ${pid}`, `line ${i}: ${lines.slice(Math.max(0, i - 3), i + 3).join(' | ')}`);
    assert.ok(lines[i + 1] === `exit ${pid}` || lines[i + 1] === `die ${pid}`, `holder ${pid} leaves before anyone else enters: ${lines.slice(Math.max(0, i - 3), i + 4).join(' | ')}`);
  }
  const deaths = lines.filter((l) => l.startsWith('die ')).length;
  assert.ok(deaths >= 2, `stale locks were broken (${deaths} holders died, ${lines.length / 2} acquisitions)`);
  console.log(`  lock stress: ${lines.length / 2} acquisitions, ${deaths} by holders that then died`);
  assertNoLeftovers(root, true);
});

test('an empty or garbage lock file older than a writer could take is taken over', async () => {
  for (const content of ['', '{"pid":', 'garbage\n', '{}', 'null']) {
    const root = checkout();
    writeFileSync(lockFile(root), content);
    const old = new Date(Date.now() - 60_000);
    utimesSync(lockFile(root), old, old);
    const lock = await claimCheckout(root, 'taker');
    assert.match(readFileSync(lockFile(root), 'utf8'), '"command":"taker"', JSON.stringify(content));
    await lock.release();
    assert.not.ok(existsSync(lockFile(root)), 'released');
    assertNoLeftovers(root);
  }
});

test('a fresh empty lock is one being written (as older krepro versions did, in place): it is waited for, not broken', async () => {
  const root = checkout();
  writeFileSync(lockFile(root), '');
  // The "writer" fills it in 300 ms, naming a live process (this one).
  setTimeout(() => writeFileSync(lockFile(root), JSON.stringify({ pid: process.pid, command: 'old-writer' })), 300);
  const started = Date.now();
  const err = await claimCheckout(root, 'taker').catch((e: unknown) => e);
  assert.ok(isKreproError(err) && err.code === 'E_LOCKED', String(err));
  assert.match((err as Error).message, `pid ${process.pid}: krepro old-writer`);
  assert.ok(Date.now() - started >= 250, 'it waited for the writer');
});

test('a lock whose pid now belongs to another process (a reused pid) is stale', async () => {
  const root = checkout();
  // This test process is alive, but it started at another time than the holder recorded.
  writeFileSync(lockFile(root), JSON.stringify({ pid: process.pid, host: hostname(), started: '1', command: 'long gone', token: 'x' }));
  const lock = await claimCheckout(root, 'taker');
  await lock.release();
  assertNoLeftovers(root);
});

test('a lock held on another machine (a checkout on a shared disk) is never broken', async () => {
  const root = checkout();
  writeFileSync(lockFile(root), JSON.stringify({ pid: deadPid(), host: 'other-machine.invalid', command: 'run -- make', token: 'x' }));
  const err = await claimCheckout(root, 'taker').catch((e: unknown) => e);
  assert.ok(isKreproError(err) && err.code === 'E_LOCKED', String(err));
  assert.match((err as Error).message, /on other-machine\.invalid: krepro run -- make/);
});

test('a breaker left by a process that died while breaking is reported with the files to remove, never guessed away', async () => {
  const root = checkout();
  const dead = deadPid();
  writeFileSync(lockFile(root), JSON.stringify({ pid: dead, host: hostname(), command: 'dead', token: 'a' }));
  writeFileSync(`${lockFile(root)}.breaker`, JSON.stringify({ pid: dead, host: hostname(), command: 'breaker', token: 'b' }));
  const err = await claimCheckout(root, 'taker').catch((e: unknown) => e);
  assert.ok(isKreproError(err) && err.code === 'E_LOCKED', String(err));
  assert.match((err as Error).message, `${lockFile(root)}.breaker was left by pid ${dead}`);
  assert.match((err as Error).message, `remove ${lockFile(root)}.breaker and ${lockFile(root)}`);
});

test('release removes only its own lock', async () => {
  const root = checkout();
  const lock = await claimCheckout(root, 'first');
  // Someone replaced it (by hand): releasing must not remove the other one.
  writeFileSync(lockFile(root), JSON.stringify({ pid: process.pid, host: hostname(), command: 'other', token: 'other' }));
  await lock.release();
  assert.match(readFileSync(lockFile(root), 'utf8'), '"token":"other"');
});

test.run();
