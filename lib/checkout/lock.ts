import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { KreproError } from '../errors.js';

export interface CheckoutLock {
  release(): Promise<void>;
}

interface Holder {
  pid: number;
  command: string;
  /** unique per acquisition, so a process never removes a lock someone else has taken since */
  token: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readHolder(file: string): Promise<Holder | undefined> {
  try {
    const v = JSON.parse(await readFile(file, 'utf8')) as Partial<Holder>;
    // A lock without a token was written by an earlier krepro: its pid still counts.
    return typeof v.pid === 'number' ? { pid: v.pid, command: String(v.command ?? '?'), token: typeof v.token === 'string' ? v.token : `pid-${v.pid}` } : undefined;
  } catch {
    return undefined; // gone, or not JSON
  }
}

/** A breaker older than this belongs to a process that died while breaking a stale lock. */
const BREAKER_STALE_MS = 10_000;

/**
 * Serializes runs on one checkout. The lock file is written completely under a temporary name and then hard-linked
 * into place (link fails if the name exists), so nobody ever reads a half-written lock. A lock whose owner process is
 * gone is removed only by the one process holding a second, short-lived breaker lock, after it has read the lock
 * again: nothing else ever removes a lock file but its owner, so what the breaker read is still what it removes, and
 * a lock another process has just taken is never deleted.
 */
export async function lockCheckout(root: string, command: string, pid = process.pid): Promise<CheckoutLock> {
  const file = path.join(root, '_output', '.krepro.lock');
  await mkdir(path.dirname(file), { recursive: true });
  const token = randomBytes(8).toString('hex');
  const temp = `${file}.${token}`;
  await writeFile(temp, JSON.stringify({ pid, command, token } satisfies Holder));
  try {
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        await link(temp, file);
        return {
          release: async () => {
            if ((await readHolder(file))?.token === token) await rm(file, { force: true });
          },
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = await readHolder(file);
      if (holder !== undefined && alive(holder.pid)) {
        throw new KreproError('E_LOCKED', `another krepro run is using ${root} (pid ${holder.pid}: krepro ${holder.command}); wait for it to finish, or stop it. Lock file: ${file}`, { path: file });
      }
      await breakStale(file, temp, holder?.token);
    }
    throw new KreproError('E_LOCKED', `could not take the lock ${file}: it keeps changing hands; try again`, { path: file });
  } finally {
    await rm(temp, { force: true });
  }
}

/** Removes the lock if it is still the stale one that was read (`staleToken`; undefined = unreadable). */
async function breakStale(file: string, temp: string, staleToken: string | undefined): Promise<void> {
  const breaker = `${file}.breaker`;
  try {
    await link(temp, breaker);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const age = Date.now() - ((await stat(breaker).catch(() => undefined))?.mtimeMs ?? Date.now());
    if (age > BREAKER_STALE_MS) await rm(breaker, { force: true });
    await new Promise((r) => setTimeout(r, 50)); // another process is breaking it: look again shortly
    return;
  }
  try {
    const now = await readHolder(file);
    // An unreadable lock is only broken when it is still unreadable: a writer never leaves one (link is atomic).
    if (now?.token === staleToken && (now === undefined || !alive(now.pid))) await rm(file, { force: true });
  } finally {
    await rm(breaker, { force: true });
  }
}
