import { KreproError } from '../errors.js';
import { gitWorkTreeOf, runGit } from './git.js';

/**
 * The files that make up the source tarball: tracked and untracked-but-not-ignored files, as git lists them,
 * without top-level `_*` directories (`_output`, `_tmp`), as Kubernetes' package_src_tarball leaves them out.
 * HEAD must be a commit: a repository without one (empty, or fetched and never checked out) is refused rather than
 * packed as a tree of untracked files.
 */
export async function sourceFiles(repoDir: string): Promise<string[]> {
  const otherwise = 'leave kubernetes-src.tar.gz out (--no-source)';
  if ((await gitWorkTreeOf(repoDir)) === undefined) {
    throw new KreproError('E_GIT', `cannot make kubernetes-src.tar.gz: ${repoDir} is not a git checkout (no .git in it or a parent), and the source tarball holds git's list of files; pass a git checkout, or ${otherwise}`, { path: repoDir });
  }
  await runGit(repoDir, ['rev-parse', '--verify', 'HEAD^{commit}'], 'make kubernetes-src.tar.gz', otherwise);
  const out = await runGit(repoDir, ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], 'list the files of kubernetes-src.tar.gz', otherwise);
  const files = new Set(out.split('\0').filter((p) => p !== '' && !p.startsWith('_')));
  return [...files];
}
