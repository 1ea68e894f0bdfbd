import { rename, rm, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { mapDiskFull } from '../disk-full.js';
import { KreproError } from '../errors.js';

/**
 * Replaces `out` with `work` by two renames; the old directory is removed only after the new one is in place.
 * `work` must be a sibling of `out` (same file system), e.g. `${out}.partial-<random>`. If the renames fail (a full
 * disk can refuse even a rename), `out` is put back as it was.
 */
export async function swapInto(work: string, out: string): Promise<void> {
  const existing = await stat(out).catch(() => undefined);
  if (existing && !existing.isDirectory()) throw new KreproError('E_IO', `${out} exists and is not a directory`, { path: out });
  const kept = existing ? `${out} was kept as it was; the new one is still in ${work}` : `the new one is still in ${work}`;
  await mapDiskFull(
    () => ({ target: out, kept }),
    async () => {
      if (!existing) {
        await rename(work, out);
        return;
      }
      const old = `${out}.old-${randomBytes(6).toString('hex')}`;
      await rename(out, old);
      try {
        await rename(work, out);
      } catch (err) {
        await rename(old, out);
        throw err;
      }
      await rm(old, { recursive: true, force: true });
    },
  );
}
