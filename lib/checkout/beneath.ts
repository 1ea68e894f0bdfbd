import { lstat, realpath, readlink } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import * as path from 'node:path';
import { KreproError } from '../errors.js';
import { quote } from '../quote.js';
import { gitWorkTreeOf, runGit } from '../source/git.js';

/** The checkout's output directory: krepro's lock, verify's builds, the stage and the release live in it. */
export const OUTPUT_DIR = '_output';

/**
 * Where krepro may write, rename or remove `rel` below the checkout `root`. A checkout and its build are untrusted
 * input (a pull request's build runs in CI), so no existing component of `rel` may be a symbolic link: each one is
 * lstat'ed in turn and a link is refused, naming it. The one link kept is the user's own: `_output` as the first
 * component, when `userOutputLink` is set and git does not track it (`_output` on another disk); a tracked one came
 * with the checkout and is refused.
 *
 * Node has no openat(2) or RESOLVE_BENEATH, so the check and the write that follows are two steps. That is enough
 * only because nothing else writes the checkout meanwhile: krepro holds the claim on the checkout, and builds run in
 * volumes, never in the checkout. Components that do not exist yet are made by krepro itself, as directories.
 */
export async function pathBeneath(root: string, rel: string, opts: { userOutputLink?: boolean } = {}): Promise<string> {
  const parts = rel.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.includes('..')) throw new KreproError('E_UNSAFE_PATH', `${quote(rel)} must stay below ${root}: it has a .. component`, { path: rel });
  let at = root;
  for (const [i, part] of parts.entries()) {
    at = path.join(at, part);
    const st = await lstatOrUndefined(at);
    if (st === undefined) break; // nothing below exists: krepro makes it
    if (!st.isSymbolicLink()) continue;
    if (i === 0 && part === OUTPUT_DIR && opts.userOutputLink && !(await tracked(root, OUTPUT_DIR))) continue;
    throw await linkRefused(root, parts.slice(0, i + 1).join('/'), at, i === 0 && part === OUTPUT_DIR && opts.userOutputLink === true);
  }
  return path.join(root, ...parts);
}

/**
 * The checkout's `_output`, where krepro keeps its lock: the real directory a link the user made leads to (so what
 * krepro puts there is found again after `clean` removes the link), else `root/_output`.
 */
export async function outputDirOf(root: string): Promise<string> {
  const dir = await pathBeneath(root, OUTPUT_DIR, { userOutputLink: true });
  if (!(await lstatOrUndefined(dir))?.isSymbolicLink()) return dir;
  try {
    return await realpath(dir);
  } catch (cause) {
    throw new KreproError('E_IO', `${dir} is a symbolic link to ${quote(await readlink(dir))}, which cannot be followed (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}): make that directory, or remove the link`, { path: dir, cause });
  }
}

/**
 * A path given on the command line to write to. Outside the checkout `root` it is the user's own choice and is taken
 * as given (`--out /srv/release`, `--html /tmp/r.html`); below it, the checkout's links are refused as pathBeneath
 * refuses them, since the checkout may be a pull request's.
 */
export async function commandLinePath(root: string, target: string): Promise<string> {
  const rel = path.relative(root, path.resolve(root, target));
  if (rel === '' || rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) return path.resolve(root, target);
  return pathBeneath(root, rel.split(path.sep).join('/'), { userOutputLink: true });
}

/** The checkout a command-line path is judged against: the git work tree `cwd` is in, else `cwd` itself. */
export async function checkoutOf(cwd: string): Promise<string> {
  return (await gitWorkTreeOf(cwd)) ?? path.resolve(cwd);
}

/** Whether git tracks `rel` itself (not only files below it) in the checkout at `root`. */
async function tracked(root: string, rel: string): Promise<boolean> {
  if ((await gitWorkTreeOf(root)) === undefined) return false;
  const listed = await runGit(root, ['ls-files', '-z', '--', `:(literal)${rel}`], `tell whether git tracks ${path.join(root, rel)}`);
  return listed.split('\0').includes(rel);
}

async function linkRefused(root: string, rel: string, at: string, trackedOutput: boolean): Promise<KreproError> {
  const target = await readlink(at).catch(() => '?');
  const why = trackedOutput ? 'git tracks it, so it came with the checkout' : 'krepro never writes through a link below the checkout';
  return new KreproError(
    'E_UNSAFE_PATH',
    `refusing to write through ${path.join(root, rel)}: it is a symbolic link (to ${quote(target)}), and ${why}. Remove the link${trackedOutput ? ' from the repository' : ''}, or choose a path outside the checkout`,
    { path: at },
  );
}

async function lstatOrUndefined(p: string): Promise<Stats | undefined> {
  try {
    return await lstat(p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}
