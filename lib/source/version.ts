import { simpleGit, type SimpleGit } from 'simple-git';
import { KreproError } from '../errors.js';

/**
 * Turns `git describe --tags --abbrev=14` output into the semver form hack/lib/version.sh gives KUBE_GIT_VERSION:
 * `v1.2.3-4-g<sha>` → `v1.2.3-4+<sha>` (distance to a release tag), `v1.2.3-alpha.0-4-g<sha>` →
 * `v1.2.3-alpha.0.4+<sha>` (distance to a pre-release tag). An exact tag, or a tag that carries build metadata
 * (`+…`) already, is kept as it is.
 */
export function semverFromDescribe(described: string): string {
  const m = /^(.*)-(\d+)-g([0-9a-f]{14,})$/.exec(described);
  if (!m) return described;
  const [, tag = '', distance = '', sha = ''] = m;
  if (tag.includes('+')) return described;
  return tag.includes('-') ? `${tag}.${distance}+${sha}` : `${tag}-${distance}+${sha}`;
}

/**
 * KUBE_GIT_VERSION for the checkout at `repoDir`, as hack/lib/version.sh computes it: `git describe --tags
 * --abbrev=14 HEAD` in semver form, or `v0.0.0-master+<14-char commit>` when no tag is reachable; `-dirty` is
 * appended when `git status --porcelain` lists anything (untracked files count, as new .go files change a build).
 */
export async function gitVersion(repoDir: string): Promise<string> {
  let git: SimpleGit;
  let commit: string;
  try {
    git = simpleGit({ baseDir: repoDir });
    commit = (await git.raw(['rev-parse', '--verify', 'HEAD^{commit}'])).trim();
  } catch (err) {
    throw new KreproError('E_GIT', `cannot read the git version of ${repoDir}: it is not a git checkout with a commit (${firstLine(err)}); pass --version`, {
      path: repoDir,
      cause: err,
    });
  }
  let version: string;
  try {
    version = semverFromDescribe((await git.raw(['describe', '--tags', '--abbrev=14', 'HEAD'])).trim());
  } catch {
    version = `v0.0.0-master+${commit.slice(0, 14)}`; // no tag reachable from HEAD
  }
  let status: string;
  try {
    status = await git.raw(['status', '--porcelain']);
  } catch (err) {
    throw new KreproError('E_GIT', `cannot run git status in ${repoDir}: ${firstLine(err)}`, { path: repoDir, cause: err });
  }
  return status.trim() === '' ? version : `${version}-dirty`;
}

function firstLine(err: unknown): string {
  return ((err as Error).message ?? String(err)).trim().split('\n')[0] ?? '';
}
