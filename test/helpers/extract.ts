import { execFileSync } from 'node:child_process';
import { tempDir } from './stage.js';

/** Extracts `tarball` with GNU tar, bsdtar and Python's tarfile, each into its own new directory. */
export function extractWithEach(tarball: string): { tool: string; dir: string }[] {
  return (
    [
      ['tar', ['-xzf', tarball]],
      ['bsdtar', ['-xzf', tarball]],
      ['python3', ['-c', 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(".", filter="tar")', tarball]],
    ] as const
  ).map(([tool, args]) => {
    const dir = tempDir();
    execFileSync(tool, [...args], { cwd: dir, stdio: 'pipe' });
    return { tool, dir };
  });
}
