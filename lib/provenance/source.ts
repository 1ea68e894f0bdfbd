import { runGit } from '../source/git.js';
import type { Recipe } from './recipe.js';

/** The repository's `origin` URL as an SPDX-style `git+` URI, or the local path when there is no remote. */
export async function repositoryUri(root: string): Promise<string> {
  const url = (await runGit(root, ['config', '--get', 'remote.origin.url'], `read the origin of ${root}`).catch(() => '')).trim();
  return url ? `git+${url}` : `git+file://${root}`;
}

/** The commit at HEAD, its tree, and where the repository lives: what a rebuilder checks out. */
export async function recipeSource(root: string): Promise<Recipe['source']> {
  const [commit, tree] = (await runGit(root, ['rev-parse', 'HEAD^{commit}', 'HEAD^{tree}'], `find the commit of ${root}`)).trim().split('\n');
  return { uri: await repositoryUri(root), commit: commit!, tree: tree! };
}
