import * as path from 'node:path';
import { KreproError } from '../../../errors.js';
import { quote } from '../../../quote.js';

/**
 * Never synced, as upstream's rsync filters `- /_output/ - /_tmp/` leave them out. `.git` is skipped too (as upstream
 * did until ~2018): the version is computed on the host and passed in, so the build never needs the repository,
 * and a large pack would dominate the first sync. MANIFEST_DIR is krepro's own.
 */
export const MANIFEST_DIR = '.krepro-sync';
export const EXCLUDED_TOP: readonly string[] = ['.git', '_output', '_tmp', MANIFEST_DIR];

/** The mount point, without a trailing slash; refuses relative, unnormalized and root paths. */
export function checkContainerDir(dir: string): string {
  if (!path.posix.isAbsolute(dir) || path.posix.normalize(dir) !== dir.replace(/\/+$/, '') || dir.replace(/\/+$/, '') === '') {
    throw new KreproError('E_USAGE', `containerDir must be a normalized absolute path other than /, got ${quote(dir)}`);
  }
  return dir.replace(/\/+$/, '');
}

/** Every parent directory of a relative path, nearest first ('a/b/c' → 'a/b', 'a'). */
export function parentsOf(rel: string): string[] {
  const out: string[] = [];
  for (let dir = path.posix.dirname(rel); dir !== '.'; dir = path.posix.dirname(dir)) out.push(dir);
  return out;
}
