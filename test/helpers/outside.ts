import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import * as assert from 'uvu/assert';
import { tempDir } from './stage.js';

/**
 * A directory outside any checkout, with a marker file, that a hostile checkout points its links at. `untouched`
 * asserts that nothing there changed: the marker's bytes and mtime, and the listing (names, kinds, sizes, mtimes).
 */
export interface Outside {
  dir: string;
  untouched(what: string): void;
}

const MARKER = 'original\n';
const MARKER_MTIME = 1_000_000_000;

export function outsideDir(prefix = 'krepro-outside-'): Outside {
  const dir = tempDir(prefix);
  writeFileSync(path.join(dir, 'x'), MARKER);
  mkdirSync(path.join(dir, 'sub'));
  writeFileSync(path.join(dir, 'sub', 'y'), MARKER);
  for (const p of ['sub/y', 'x', 'sub']) utimesSync(path.join(dir, p), MARKER_MTIME, MARKER_MTIME);
  const before = listing(dir);
  return {
    dir,
    untouched(what: string) {
      assert.is(readFileSync(path.join(dir, 'x'), 'utf8'), MARKER, `${what}: the marker's bytes`);
      assert.is(lstatSync(path.join(dir, 'x')).mtimeMs, MARKER_MTIME * 1000, `${what}: the marker's mtime`);
      assert.equal(listing(dir), before, `${what}: the listing of ${dir}`);
    },
  };
}

/** Every entry below `dir`: relative name, kind, size and mtime (a directory's mtime changes when an entry is added). */
export function listing(dir: string): string[] {
  const out: string[] = [`. ${lstatSync(dir).mtimeMs}`];
  for (const rel of (readdirSync(dir, { recursive: true }) as string[]).sort()) {
    const st = lstatSync(path.join(dir, rel));
    out.push(`${rel} ${st.isSymbolicLink() ? 'link' : st.isDirectory() ? 'dir' : 'file'} ${st.isDirectory() ? '' : st.size} ${st.mtimeMs}`);
  }
  return out;
}

/** A committed git checkout of `files`: a string is a file's content, `{ link }` a symbolic link. */
export function gitCheckout(files: Record<string, string | { link: string }>, prefix = 'krepro-checkout-'): string {
  return gitCheckoutIn(tempDir(prefix), files);
}

/** gitCheckout in a directory the caller made (and removes). */
export function gitCheckoutIn(dir: string, files: Record<string, string | { link: string }>): string {
  for (const [rel, v] of Object.entries(files)) {
    const abs = path.join(dir, rel);
    mkdirSync(path.dirname(abs), { recursive: true });
    if (typeof v === 'string') writeFileSync(abs, v);
    else symlinkSync(v.link, abs);
  }
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'add', '-A', '-f');
  git(dir, 'commit', '-q', '-m', 'checkout');
  return dir;
}

export function git(dir: string, ...args: string[]): string {
  const env = { ...process.env, GIT_AUTHOR_DATE: '@1700000000 +0000', GIT_COMMITTER_DATE: '@1700000000 +0000', GIT_AUTHOR_NAME: 'k', GIT_AUTHOR_EMAIL: 'k@x.invalid', GIT_COMMITTER_NAME: 'k', GIT_COMMITTER_EMAIL: 'k@x.invalid' };
  return execFileSync('git', args, { cwd: dir, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
