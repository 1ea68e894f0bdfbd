import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { waitExit } from './run.js';

/**
 * Removes a directory holding a root filesystem. An interrupted debootstrap or mmdebstrap can leave /proc, /sys or
 * /dev/pts mounted inside it, and a recursive delete must never walk into those, so unmount first and refuse to
 * delete while anything is still mounted. `dir` must be canonical (realpath), as mountinfo's paths are.
 */
export async function removeTree(dir: string, log: (line: string) => void): Promise<void> {
  let mounts = await mountsUnder(dir);
  for (const mnt of mounts) {
    const exit = await waitExit(spawn('umount', ['--lazy', mnt], { stdio: 'ignore' }));
    if (exit.code !== 0) log(`warning: could not unmount ${mnt}`);
  }
  mounts = await mountsUnder(dir);
  if (mounts.length > 0) {
    log(`warning: leaving ${dir} in place: still mounted: ${mounts.join(', ')}`);
    return;
  }
  await rm(dir, { recursive: true, force: true }).catch((err: unknown) => log(`warning: could not remove ${dir}: ${(err as Error).message}`));
}

/** Mount points at or below dir, deepest first. */
async function mountsUnder(dir: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const found: string[] = [];
  for (const line of text.split('\n')) {
    const field = line.split(' ')[4];
    if (field === undefined) continue;
    // mountinfo escapes space, tab, newline and backslash as octal.
    const mnt = field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
    if (mnt === dir || mnt.startsWith(`${dir}/`)) found.push(mnt);
  }
  return found.sort((a, b) => b.length - a.length);
}
