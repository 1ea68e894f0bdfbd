import picomatch from 'picomatch';

/** Whether a member or directory entry is left out of the comparison; undefined when nothing is excluded. */
export type ExcludeMatcher = (name: string) => boolean;

/**
 * diffoscope's --exclude: a glob matched against each member's path inside its archive, at every nesting level,
 * and against entries' paths relative to a compared directory. A pattern with a slash matches the whole path; one
 * without also matches any single path component (`*.pyc`, `vendor`); `*` does not cross `/`, `**` does; dotfiles
 * match like any name. What lies below an excluded directory is excluded with it, in archives (whose members are
 * listed flat) as in directories.
 */
export function excludeMatcher(patterns: readonly string[]): ExcludeMatcher | undefined {
  if (patterns.length === 0) return undefined;
  // Not picomatch's basename option: with it, a pattern with a slash never matches (picomatch 4).
  const paths = patterns.filter((p) => p.includes('/')).map((p) => p.replace(/^(\.\/)+/, '').replace(/\/+$/, ''));
  const names = patterns.filter((p) => !p.includes('/'));
  const matchPath = paths.length ? picomatch(paths, { dot: true }) : () => false;
  const matchName = names.length ? picomatch(names, { dot: true }) : () => false;
  return (name) => {
    const clean = name.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
    if (clean === '' || clean === '.') return false;
    const parts = clean.split('/');
    // The entry itself or any directory above it.
    for (let i = 1; i <= parts.length; i++) {
      if (matchName(parts[i - 1]!) || matchPath(parts.slice(0, i).join('/'))) return true;
    }
    return false;
  };
}
