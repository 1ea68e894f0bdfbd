import { stat } from 'node:fs/promises';
import * as path from 'node:path';
import { simpleGit } from 'simple-git';
import { KreproError } from '../errors.js';

/**
 * The work tree root `dir` belongs to when the file system says it is a git checkout (a `.git` directory, or a
 * `.git` file as worktrees and submodules have, in `dir` or a parent), else undefined. Decided without running git:
 * a missing git, or one that refuses the repository, must never make a checkout look like a plain directory.
 */
export async function gitWorkTreeOf(dir: string): Promise<string | undefined> {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    if ((await stat(path.join(d, '.git')).catch(() => undefined)) !== undefined) return d;
    if (d === path.dirname(d)) return undefined;
  }
}

/** The commit HEAD names in the checkout `dir`: what verify builds. */
export async function headCommit(dir: string): Promise<string> {
  return (await runGit(dir, ['rev-parse', '--verify', 'HEAD^{commit}'], `find the commit of ${dir} to verify`)).trim();
}

/**
 * Runs git in `dir`, a git checkout. A failure is E_GIT naming `purpose`, the cause as the user can act on it (git
 * not installed, a repository git refuses as unsafe, no commit at HEAD, or git's own first line) and `otherwise`,
 * what else the user can do (e.g. "pass --no-source").
 */
export async function runGit(dir: string, args: string[], purpose: string, otherwise?: string): Promise<string> {
  try {
    return await simpleGit({ baseDir: dir }).raw(args);
  } catch (err) {
    throw await gitFailure(dir, err, purpose, otherwise);
  }
}

export type GitFailureKind = 'missing' | 'unsafe' | 'no-head' | 'other';

/** What a git failure means, from its message (git's messages are stable; its exit codes are not specific). */
export function gitFailureKind(err: unknown): GitFailureKind {
  const message = (err as Error)?.message ?? String(err);
  if (/\bspawn \S*git\S* ENOENT\b/.test(message)) return 'missing';
  if (/detected dubious ownership/.test(message)) return 'unsafe';
  if (/ambiguous argument 'HEAD'|Needed a single revision|does not have any commits yet|bad default revision 'HEAD'|invalid object name 'HEAD'|not a valid object name:? '?HEAD/.test(message)) return 'no-head';
  return 'other';
}

async function gitFailure(dir: string, err: unknown, purpose: string, otherwise: string | undefined): Promise<KreproError> {
  const or = otherwise === undefined ? '' : `, or ${otherwise}`;
  const message = (err as Error)?.message ?? String(err);
  let why: string;
  switch (gitFailureKind(err)) {
    case 'missing':
      why = `git is not installed (no git on PATH), and ${dir} is a git checkout. Install git (e.g. apt-get install git)${or}`;
      break;
    case 'unsafe': {
      const at = /repository at '([^']+)'/.exec(message)?.[1] ?? dir;
      const owner = (await stat(at).catch(() => undefined))?.uid;
      const ownedBy = owner === undefined ? 'another user' : `uid ${owner}`;
      const me = process.getuid?.();
      why =
        `git refuses the repository at ${at} as unsafe: it is owned by ${ownedBy}${me === undefined ? '' : `, not by you (uid ${me})`} (git's safe.directory check). ` +
        `If you trust it: git config --global --add safe.directory ${at}${or}`;
      break;
    }
    case 'no-head':
      why = `${dir} has no commit at HEAD (an empty repository, or a clone or fetch that never checked a commit out). Commit or check out a commit${or}`;
      break;
    default:
      why = `git failed in ${dir}: ${firstLine(message)}${or === '' ? '' : `. Fix that${or}`}`;
  }
  return new KreproError('E_GIT', `cannot ${purpose}: ${why}`, { path: dir, cause: err });
}

export function firstLine(message: string): string {
  return message.trim().split('\n')[0] ?? '';
}
