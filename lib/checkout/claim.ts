import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { mapDiskFull } from '../disk-full.js';
import { KreproError } from '../errors.js';
import { outputDirOf, pathBeneath } from './beneath.js';

/**
 * A run's claim on a checkout: one krepro run per checkout at a time. It is held through the lock file
 * `_output/.krepro.lock` (that name kept, so older krepro versions and this one exclude each other).
 */
export interface CheckoutClaim {
  release(): Promise<void>;
}

interface Holder {
  pid: number;
  /** the machine the pid is on: a pid on another machine (a checkout on a shared disk) cannot be checked */
  host: string;
  /** the process's start time (Linux: /proc/<pid>/stat), so a pid reused by another process is not taken for it */
  started?: string;
  command: string;
  /** unique per acquisition, so a process never removes a lock someone else has taken since */
  token: string;
}

type Read = { state: 'held'; holder: Holder } | { state: 'gone' } | { state: 'unreadable'; ageMs: number };

/** An empty or unparsable lock younger than this may be one an older krepro is still writing (it wrote in place). */
const UNREADABLE_GRACE_MS = 2_000;
/** How long to wait for a lock in the middle of changing hands (being broken, or being written) before giving up. */
const SETTLE_MS = 10_000;
const POLL_MS = 50;

/** Start time of `pid` (clock ticks since boot, field 22 of /proc/<pid>/stat), or undefined where there is no /proc. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** False only when the holder is known to be gone: its pid no longer exists on this machine, or is another process now. */
function alive(h: Holder): boolean {
  if (h.host !== hostname()) return true;
  try {
    process.kill(h.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const now = startTime(h.pid);
  return h.started === undefined || now === undefined || now === h.started;
}

async function readLock(file: string): Promise<Read> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'gone' };
    throw new KreproError('E_IO', `cannot read the lock file ${file}: ${(err as Error).message}`, { path: file, cause: err });
  }
  try {
    const v = JSON.parse(text) as Partial<Holder>;
    if (typeof v.pid === 'number' && Number.isInteger(v.pid) && v.pid > 0) {
      // A lock written by an earlier krepro has no host or token: its pid is on this machine.
      return { state: 'held', holder: { pid: v.pid, host: typeof v.host === 'string' ? v.host : hostname(), ...(typeof v.started === 'string' ? { started: v.started } : {}), command: String(v.command ?? '?'), token: typeof v.token === 'string' ? v.token : `pid-${v.pid}` } };
    }
  } catch {
    // not JSON: below
  }
  const st = await stat(file).catch(() => undefined);
  return st === undefined ? { state: 'gone' } : { state: 'unreadable', ageMs: Date.now() - st.mtimeMs };
}

function heldBy(root: string, file: string, h: Holder): KreproError {
  const where = h.host === hostname() ? `pid ${h.pid}` : `pid ${h.pid} on ${h.host}`;
  return new KreproError('E_LOCKED', `another krepro run is using ${root} (${where}: krepro ${h.command}); wait for it to finish, or stop it. Lock file: ${file}`, { path: file });
}

/**
 * Claims the checkout: serializes runs on one checkout. The lock file is written completely under a temporary name and then hard-linked
 * into place (link fails if the name exists), so nobody ever reads a half-written lock, and exactly one of any
 * number of racing processes gets it. A lock whose owner is gone (its pid is not alive on this machine, or belongs
 * to a process started later), or that is empty or garbage for longer than a writer could take, is removed only by
 * the one process holding a second breaker lock, and only after it has read the lock again: nothing else ever
 * removes a lock file but its owner, so what the breaker read is still what it removes, and a lock another process
 * has just taken is never deleted. The breaker lock is itself never broken by guessing: a breaker left by a process
 * that died within those few milliseconds is an error asking for its removal.
 */
export async function claimCheckout(root: string, command: string, pid = process.pid): Promise<CheckoutClaim> {
  const file = await pathBeneath(await outputDirOf(root), '.krepro.lock');
  const token = randomBytes(8).toString('hex');
  const temp = `${file}.${token}`;
  const started = startTime(pid);
  const me: Holder = { pid, host: hostname(), ...(started !== undefined ? { started } : {}), command, token };
  try {
    await mapDiskFull(
      () => ({ target: file }),
      async () => {
        await mkdir(path.dirname(file), { recursive: true });
        await writeFile(temp, JSON.stringify(me));
      },
    );
    const deadline = Date.now() + SETTLE_MS;
    while (Date.now() < deadline) {
      try {
        await link(temp, file);
        const release = async (): Promise<void> => {
          const now = await readLock(file);
          if (now.state === 'held' && now.holder.token === token) await rm(file, { force: true });
        };
        // Runs sharing the checkout (verify --build) registered before this link: they keep it until they end.
        const sharer = await liveSharers(path.dirname(file));
        if (sharer) {
          await release();
          throw heldBy(root, path.join(sharedDir(path.dirname(file)), `${sharer.token}.json`), sharer);
        }
        return { release };
      } catch (err) {
        if (err instanceof KreproError) throw err;
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new KreproError('E_IO', `cannot create the lock file ${file}: ${(err as Error).message}`, { path: file, cause: err });
      }
      const seen = await readLock(file);
      if (seen.state === 'held' && alive(seen.holder)) throw heldBy(root, file, seen.holder);
      if (seen.state === 'unreadable' && seen.ageMs < UNREADABLE_GRACE_MS) {
        await sleep(POLL_MS);
        continue;
      }
      if (seen.state !== 'gone') await breakStale(file, temp, seen);
    }
    throw new KreproError('E_LOCKED', `could not take the lock ${file} within ${SETTLE_MS / 1000} s: it kept changing hands; try again`, { path: file });
  } finally {
    await rm(temp, { force: true });
  }
}

const sharedDir = (outputDir: string): string => path.join(outputDir, '.krepro.shared');

/** A live run sharing the checkout, if any; the files of gone ones are removed on the way. */
async function liveSharers(outputDir: string): Promise<Holder | undefined> {
  const dir = sharedDir(outputDir);
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const seen = await readLock(path.join(dir, name));
    if (seen.state === 'held' && alive(seen.holder)) return seen.holder;
    // Each file is its holder's alone (named by its token) and never written again: a dead holder's can go.
    if (seen.state === 'held' || (seen.state === 'unreadable' && seen.ageMs >= UNREADABLE_GRACE_MS)) await rm(path.join(dir, name), { force: true });
  }
  return undefined;
}

/**
 * Claims the checkout together with other runs of the same kind (several `verify --build` at once): each writes its
 * own holder file under `_output/.krepro.shared/`, then looks at the exclusive lock; an exclusive claimer links the
 * lock, then looks at the holder files. Whichever looks second sees the other and backs off, so an exclusive run
 * and a sharing one never both proceed. Sharing runs must not remove each other's objects (leftovers) or files.
 */
export async function shareCheckout(root: string, command: string, pid = process.pid): Promise<CheckoutClaim> {
  const outputDir = await outputDirOf(root);
  const lockFile = await pathBeneath(outputDir, '.krepro.lock');
  const dir = await pathBeneath(outputDir, '.krepro.shared');
  const token = randomBytes(8).toString('hex');
  const file = path.join(dir, `${token}.json`);
  const started = startTime(pid);
  const me: Holder = { pid, host: hostname(), ...(started !== undefined ? { started } : {}), command, token };
  await mapDiskFull(
    () => ({ target: file }),
    async () => {
      await mkdir(dir, { recursive: true });
      await writeFile(`${file}.tmp`, JSON.stringify(me));
      await link(`${file}.tmp`, file);
      await rm(`${file}.tmp`, { force: true });
    },
  );
  const release = (): Promise<void> => rm(file, { force: true });
  const seen = await readLock(lockFile);
  if (seen.state === 'held' && alive(seen.holder)) {
    await release();
    throw heldBy(root, lockFile, seen.holder);
  }
  return { release };
}

/** Removes the lock if, read again under the breaker lock, it is still the stale one that was seen. */
async function breakStale(file: string, temp: string, seen: Read): Promise<void> {
  const breaker = `${file}.breaker`;
  try {
    await link(temp, breaker);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new KreproError('E_IO', `cannot create ${breaker}: ${(err as Error).message}`, { path: breaker, cause: err });
    const other = await readLock(breaker);
    if (other.state === 'held' && !alive(other.holder)) {
      throw new KreproError(
        'E_LOCKED',
        `${breaker} was left by pid ${other.holder.pid} (krepro ${other.holder.command}), which died while it was removing a stale lock. If no krepro runs on this checkout, remove ${breaker} and ${file}, then run again`,
        { path: breaker },
      );
    }
    await sleep(POLL_MS); // another process is breaking it (or writing its breaker): look again shortly
    return;
  }
  try {
    const now = await readLock(file);
    const same =
      (now.state === 'held' && seen.state === 'held' && now.holder.token === seen.holder.token && !alive(now.holder)) ||
      (now.state === 'unreadable' && seen.state === 'unreadable' && now.ageMs >= UNREADABLE_GRACE_MS);
    if (same) await rm(file, { force: true });
  } finally {
    await rm(breaker, { force: true });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
