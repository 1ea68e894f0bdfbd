import { simpleGit } from 'simple-git';
import { KreproError } from '../errors.js';
import { gitWorkTreeOf, runGit } from './git.js';

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
 * `commitOnly` (default false): the version of HEAD's commit as a clean copy of it has it (verify builds such a copy), never dirty,
 * so every job of a CI matrix agrees on it whatever else its checkout holds.
 */
export async function gitVersion(repoDir: string, opts: { commitOnly?: boolean } = {}): Promise<string> {
  const otherwise = 'set KUBE_GIT_VERSION (krepro stage: --version)';
  if ((await gitWorkTreeOf(repoDir)) === undefined) {
    throw new KreproError('E_GIT', `cannot read the git version of ${repoDir}: it is not a git checkout (no .git in it or a parent); ${otherwise}`, { path: repoDir });
  }
  const purpose = `read the git version of ${repoDir}`;
  const commit = (await runGit(repoDir, ['rev-parse', '--verify', 'HEAD^{commit}'], purpose, otherwise)).trim();
  let version: string;
  try {
    version = semverFromDescribe((await simpleGit({ baseDir: repoDir }).raw(['describe', '--tags', '--abbrev=14', 'HEAD'])).trim());
  } catch {
    version = `v0.0.0-master+${commit.slice(0, 14)}`; // no tag reachable from HEAD
  }
  if (opts.commitOnly) return version;
  const status = await runGit(repoDir, ['status', '--porcelain'], purpose, otherwise);
  return status.trim() === '' ? version : `${version}-dirty`;
}
