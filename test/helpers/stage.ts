import { chmodSync, linkSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, symlinkSync, utimesSync, lutimesSync, writeFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';

export const FIXTURES = fileURLToPath(new URL('../../fixtures/', import.meta.url));
export const FIXTURE_STAGE = path.join(FIXTURES, 'release-stage');
export const GOLDEN = JSON.parse(readFileSync(path.join(FIXTURES, 'release-stage.golden.json'), 'utf8')) as {
  sourceDateEpoch: number;
  level: number;
  /** the gzip format of `sha256` (the current one) */
  encoderVersion: number;
  sha256: Record<string, string>;
  /** the same stage in gzip format 1 (krepro package --encoder 1), as releases made before format 2 have it */
  format1Sha256: Record<string, string>;
};

export interface StageConditions {
  /** applied to every created file and directory, as a build running under that umask would */
  umask?: number;
  /** create entries in reverse order (directory listing order then differs on most file systems) */
  reverse?: boolean;
  /** mtime and atime given to every path */
  mtime?: Date;
  atime?: Date;
  /** chown everything to this uid:gid (tests run as root) */
  owner?: number;
}

interface Item {
  rel: string;
  kind: 'dir' | 'file' | 'symlink';
  exec: boolean;
  target?: string;
}

function listFixture(dir: string, rel = ''): Item[] {
  const items: Item[] = [];
  for (const name of readdirSync(path.join(dir, rel))) {
    const r = rel ? `${rel}/${name}` : name;
    const st = lstatSync(path.join(dir, r));
    if (st.isSymbolicLink()) items.push({ rel: r, kind: 'symlink', exec: false, target: readlinkSync(path.join(dir, r)) });
    else if (st.isDirectory()) items.push({ rel: r, kind: 'dir', exec: true }, ...listFixture(dir, r));
    else items.push({ rel: r, kind: 'file', exec: (st.mode & 0o100) !== 0 });
  }
  return items;
}

export function tempDir(prefix = 'krepro-test-'): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

/**
 * Copies fixtures/release-stage to `dest` under the given conditions, adding what git cannot hold (empty
 * directories, hard links) from release-stage.extras.json. Returns `dest`.
 */
export function materializeStage(dest: string, c: StageConditions = {}, source = FIXTURE_STAGE): string {
  const extras = JSON.parse(readFileSync(path.join(FIXTURES, 'release-stage.extras.json'), 'utf8')) as { emptyDirs: string[]; hardlinks: [string, string][] };
  const umask = c.umask ?? 0o022;
  let items = listFixture(source);
  if (c.reverse) items = items.reverse();
  mkdirSync(dest, { recursive: true });
  const ensureDir = (rel: string) => mkdirSync(path.join(dest, rel), { recursive: true, mode: 0o777 & ~umask });
  for (const item of items) {
    const abs = path.join(dest, item.rel);
    if (item.kind === 'dir') ensureDir(item.rel);
    else {
      ensureDir(path.dirname(item.rel));
      if (item.kind === 'symlink') symlinkSync(item.target!, abs);
      else writeFileSync(abs, readFileSync(path.join(source, item.rel)));
    }
  }
  for (const d of extras.emptyDirs) ensureDir(d);
  for (const [from, to] of c.reverse ? [...extras.hardlinks].reverse() : extras.hardlinks) linkSync(path.join(dest, from), path.join(dest, to));
  // Modes last: mkdir's mode is itself filtered by the process umask, which the test cannot change portably.
  for (const item of items) {
    if (item.kind === 'symlink') continue;
    chmodSync(path.join(dest, item.rel), (item.kind === 'dir' || item.exec ? 0o777 : 0o666) & ~umask);
  }
  for (const d of extras.emptyDirs) chmodSync(path.join(dest, d), 0o777 & ~umask);
  if (c.owner !== undefined) execFileSync('chown', ['-hR', `${c.owner}:${c.owner}`, dest]);
  if (c.mtime || c.atime) {
    const m = c.mtime ?? new Date();
    const a = c.atime ?? m;
    for (const item of [...items, ...extras.emptyDirs.map((rel) => ({ rel, kind: 'dir' as const }))]) {
      const abs = path.join(dest, item.rel);
      if (item.kind === 'symlink') lutimesSync(abs, a, m);
      else utimesSync(abs, a, m);
    }
  }
  return dest;
}

/** A real git repository holding fixtures/src-tree, committed at `epoch` so its commit time is known. */
export function makeSourceRepo(dest: string, epoch: number): string {
  mkdirSync(dest, { recursive: true });
  const items = listFixture(path.join(FIXTURES, 'src-tree'));
  for (const item of items) {
    const abs = path.join(dest, item.rel);
    if (item.kind === 'dir') mkdirSync(abs, { recursive: true });
    else if (item.kind === 'symlink') symlinkSync(item.target!, abs);
    else {
      writeFileSync(abs, readFileSync(path.join(FIXTURES, 'src-tree', item.rel)));
      chmodSync(abs, item.exec ? 0o755 : 0o644);
    }
  }
  const env = { ...process.env, GIT_AUTHOR_DATE: `@${epoch} +0000`, GIT_COMMITTER_DATE: `@${epoch} +0000`, GIT_AUTHOR_NAME: 'krepro', GIT_AUTHOR_EMAIL: 'krepro@example.invalid', GIT_COMMITTER_NAME: 'krepro', GIT_COMMITTER_EMAIL: 'krepro@example.invalid' };
  const git = (...args: string[]) => execFileSync('git', ['-c', 'init.defaultBranch=main', ...args], { cwd: dest, env, stdio: 'pipe' });
  git('init', '-q');
  git('add', '-A');
  git('commit', '-q', '-m', 'fixture');
  return dest;
}
