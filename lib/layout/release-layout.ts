import { readdir, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { byteOrder } from '../byte-order.js';

/** Which tree of the stage a tarball holds: `full/` is `final` (kubernetes.tar.gz), `test/kubernetes` is `test-portable`. */
export type TarballKind = 'final' | 'manifests' | 'client' | 'server' | 'node' | 'test' | 'test-portable';

/** One tarball to write: the staged directory holding `kubernetes/`, and the file name in release-tars. */
export interface TarballJob {
  /** The tarball's file name, e.g. `kubernetes-client-linux-amd64.tar.gz`. */
  name: string;
  /** Directory that contains the `kubernetes/` root of this tarball. */
  stagedDir: string;
  /** Which tree of the stage it holds. */
  kind: TarballKind;
  /** The staged `<os>-<arch>` directory name (`linux-amd64`) of a per-platform tarball; absent otherwise. */
  platform?: string;
}

/** The source tarball's name. */
export const SRC_TARBALL = 'kubernetes-src.tar.gz';
/** The manifests tarball's name; it is also packed into kubernetes.tar.gz. */
export const MANIFESTS_TARBALL = 'kubernetes-manifests.tar.gz';

const PLATFORM_KINDS = ['client', 'node', 'server', 'test'] as const;

async function isDir(p: string): Promise<boolean> {
  return (await stat(p).catch(() => undefined))?.isDirectory() ?? false;
}

async function sortedDirs(dir: string): Promise<string[]> {
  if (!(await isDir(dir))) return [];
  const names = (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  return names.sort(byteOrder);
}

/**
 * The tarballs a release stage yields (build/lib/release.sh's table): kubernetes.tar.gz from `full/`, the manifests
 * tarball, and one client/node/server/test tarball per staged `<os>-<arch>`. Inner tarballs come first, as they
 * are packed into later ones. Only what is staged is listed.
 */
export async function planReleaseTarballs(stage: string): Promise<TarballJob[]> {
  const jobs: TarballJob[] = [];
  if (await isDir(path.join(stage, 'manifests', 'kubernetes'))) {
    jobs.push({ name: MANIFESTS_TARBALL, stagedDir: path.join(stage, 'manifests'), kind: 'manifests' });
  }
  if (await isDir(path.join(stage, 'full', 'kubernetes'))) {
    jobs.push({ name: 'kubernetes.tar.gz', stagedDir: path.join(stage, 'full'), kind: 'final' });
  }
  for (const kind of PLATFORM_KINDS) {
    for (const platform of await sortedDirs(path.join(stage, kind))) {
      if (platform === 'kubernetes') continue; // test/kubernetes is the portable test tarball, below
      const stagedDir = path.join(stage, kind, platform);
      if (await isDir(path.join(stagedDir, 'kubernetes'))) jobs.push({ name: `kubernetes-${kind}-${platform}.tar.gz`, stagedDir, kind, platform });
    }
  }
  if (await isDir(path.join(stage, 'test', 'kubernetes'))) {
    jobs.push({ name: 'kubernetes-test-portable.tar.gz', stagedDir: path.join(stage, 'test'), kind: 'test-portable' });
  }
  return jobs;
}
