import { realpath, readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { simpleGit } from 'simple-git';
import type { CheckoutIdentity } from '../engine/names.js';

/** hostname:canonical root:branch, the inputs of the state names (build/common.sh's KUBE_ROOT_HASH). */
export async function checkoutIdentity(root: string, hostname: string): Promise<CheckoutIdentity> {
  const canonical = await realpath(root);
  let branch = '';
  try {
    branch = (await simpleGit({ baseDir: canonical }).raw(['symbolic-ref', '--short', '-q', 'HEAD'])).trim();
  } catch {
    branch = ''; // detached HEAD or not a repository: upstream hashes an empty branch too
  }
  return { hostname, root: canonical, branch };
}

/** `build-image/VERSION`: bump it to start every checkout's build state afresh. */
export async function buildImageVersion(dockerfileDir: string): Promise<string> {
  return (await readFile(path.join(dockerfileDir, 'VERSION'), 'utf8')).trim();
}
