import { simpleGit } from 'simple-git';
import { KreproError } from '../errors.js';

/**
 * The files that make up the source tarball: tracked and untracked-but-not-ignored files, as git lists them,
 * without top-level `_*` directories (`_output`, `_tmp`), as Kubernetes' package_src_tarball leaves them out.
 */
export async function sourceFiles(repoDir: string): Promise<string[]> {
  let out: string;
  try {
    out = await simpleGit({ baseDir: repoDir }).raw(['ls-files', '-z', '--cached', '--others', '--exclude-standard']);
  } catch (err) {
    throw new KreproError('E_GIT', `cannot list the git tree of ${repoDir}: ${(err as Error).message}`, { path: repoDir, cause: err });
  }
  const files = new Set(out.split('\0').filter((p) => p !== '' && !p.startsWith('_')));
  return [...files];
}
