import { mkdir, open, readFile, rm } from 'node:fs/promises';
import * as path from 'node:path';
import { KreproError } from '../errors.js';

export interface CheckoutLock {
  release(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Serializes runs on one checkout: a lock file created with O_EXCL holding the owner's pid and command. A lock
 * left by a process that no longer exists is taken over; a live one is an error naming its holder.
 */
export async function lockCheckout(root: string, command: string, pid = process.pid): Promise<CheckoutLock> {
  const file = path.join(root, '_output', '.krepro.lock');
  await mkdir(path.dirname(file), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(file, 'wx');
      await handle.writeFile(JSON.stringify({ pid, command }));
      await handle.close();
      return { release: () => rm(file, { force: true }) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = JSON.parse(await readFile(file, 'utf8').catch(() => '{}')) as { pid?: number; command?: string };
      if (holder.pid !== undefined && alive(holder.pid)) {
        throw new KreproError(
          'E_LOCKED',
          `another krepro run is using ${root} (pid ${holder.pid}: krepro ${holder.command ?? '?'}); wait for it to finish, or stop it. Lock file: ${file}`,
          { path: file },
        );
      }
      await rm(file, { force: true }); // its owner is gone
    }
  }
  throw new KreproError('E_LOCKED', `could not take the lock ${file}`, { path: file });
}
