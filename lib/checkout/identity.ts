import { readFile, realpath } from 'node:fs/promises';
import * as path from 'node:path';
import { gitWorkTreeOf, runGit } from '../source/git.js';
import { stateNames, type StateNames } from './names.js';

/** What identifies one checkout's build state on an engine: hostname, canonical root and git branch. */
export interface CheckoutIdentity {
  hostname: string;
  /** canonical (realpath) checkout root */
  root: string;
  /** current branch, '' when detached */
  branch: string;
}

/** hostname:canonical root:branch, the inputs of the state names (build/common.sh's KUBE_ROOT_HASH). */
export async function checkoutIdentity(root: string, hostname: string): Promise<CheckoutIdentity> {
  const canonical = await realpath(root);
  // Detached HEAD (git prints no branch) or not a repository: upstream hashes an empty branch too.
  const branch = (await gitWorkTreeOf(canonical)) === undefined ? '' : (await runGit(canonical, ['branch', '--show-current'], `read the branch of ${canonical}`)).trim();
  return { hostname, root: canonical, branch };
}

/** `build-image/VERSION`: bump it to start every checkout's build state afresh. */
export async function buildImageVersion(dockerfileDir: string): Promise<string> {
  return (await readFile(path.join(dockerfileDir, 'VERSION'), 'utf8')).trim();
}

/** This checkout's state names for a state version (see stateNames): what `run`, `release` and `verify` share. */
export async function checkoutStateNames(root: string, hostname: string, version: { version: string; image?: string }): Promise<{ identity: CheckoutIdentity; names: StateNames }> {
  const identity = await checkoutIdentity(root, hostname);
  return { identity, names: stateNames(identity, version.version, version.image) };
}
