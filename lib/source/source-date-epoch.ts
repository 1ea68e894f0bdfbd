import { KreproError } from '../errors.js';
import { MAX_MTIME } from '../archive/header.js';
import { gitFailureKind, gitWorkTreeOf, runGit } from './git.js';
import { quote } from '../quote.js';

/** Where SOURCE_DATE_EPOCH came from: given explicitly, the environment, or the last commit's time. */
export type SourceDateEpochOrigin = 'explicit' | 'environment' | 'git';

/** The time every file of a release is dated, and where it came from. */
export interface SourceDateEpoch {
  /** Seconds since 1970-01-01T00:00:00Z. */
  seconds: number;
  /** Where it came from. */
  origin: SourceDateEpochOrigin;
}

/** Parses a SOURCE_DATE_EPOCH value: decimal seconds, nothing else (reproducible-builds.org spec). */
export function parseSourceDateEpoch(value: string, name = 'SOURCE_DATE_EPOCH'): number {
  const trimmed = value.trim();
  if (!/^\d+$/.test(trimmed) || Number(trimmed) > MAX_MTIME) {
    throw new KreproError('E_SOURCE_DATE_EPOCH', `${name}=${quote(value)} is not a whole number of seconds since 1970 (0 to ${MAX_MTIME})`);
  }
  return Number(trimmed);
}

/** `--mtime` accepts what SOURCE_DATE_EPOCH does, or an ISO 8601 date with a time zone. */
export function parseMtimeOption(value: string): number {
  if (/^\s*\d+\s*$/.test(value)) return parseSourceDateEpoch(value, '--mtime');
  const ms = /\d{4}-\d{2}-\d{2}T.*(Z|[+-]\d{2}:?\d{2})$/.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) {
    throw new KreproError('E_USAGE', `--mtime ${quote(value)} is neither seconds since 1970 nor an ISO 8601 date with a zone (e.g. 2024-01-02T03:04:05Z)`);
  }
  return parseSourceDateEpoch(String(Math.floor(ms / 1000)), '--mtime');
}

/**
 * Commit time of HEAD (`git show -s --format=%ct HEAD`), what Kubernetes CI sets SOURCE_DATE_EPOCH to; undefined when
 * `repoDir` is not a git checkout or has no commit yet. In a checkout, a git that is missing or refuses it is E_GIT.
 */
export async function commitTime(repoDir: string): Promise<number | undefined> {
  if ((await gitWorkTreeOf(repoDir)) === undefined) return undefined;
  let out: string;
  try {
    out = await runGit(repoDir, ['show', '-s', '--format=%ct', 'HEAD'], `read HEAD's commit time (SOURCE_DATE_EPOCH) in ${repoDir}`, 'set SOURCE_DATE_EPOCH or pass --mtime');
  } catch (err) {
    if (gitFailureKind((err as KreproError).cause) === 'no-head') return undefined;
    throw err;
  }
  return parseSourceDateEpoch(out, `commit time of HEAD in ${repoDir}`);
}

/**
 * SOURCE_DATE_EPOCH in order of precedence: an explicit value (--mtime), the environment's, then HEAD's commit
 * time. Each source that is present must be valid; a malformed environment value is an error, never skipped.
 */
export async function resolveSourceDateEpoch(opts: { explicit?: number; environment?: string; repoDir?: string }): Promise<SourceDateEpoch> {
  if (opts.explicit !== undefined) return { seconds: opts.explicit, origin: 'explicit' };
  if (opts.environment !== undefined && opts.environment !== '') {
    return { seconds: parseSourceDateEpoch(opts.environment), origin: 'environment' };
  }
  const fromGit = opts.repoDir === undefined ? undefined : await commitTime(opts.repoDir);
  if (fromGit !== undefined) return { seconds: fromGit, origin: 'git' };
  throw new KreproError(
    'E_SOURCE_DATE_EPOCH',
    `no SOURCE_DATE_EPOCH: it is not set in the environment and ${opts.repoDir === undefined ? 'no source checkout was given to take a commit time from' : `${opts.repoDir} has no git commit to take it from`}. ` +
      'Set SOURCE_DATE_EPOCH, or pass --mtime SECONDS (or an ISO 8601 date).',
  );
}
