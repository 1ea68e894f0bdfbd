import picomatch from 'picomatch';

/** Whether a member or directory entry is left out of the comparison; undefined when nothing is excluded. */
export type ExcludeMatcher = (name: string) => boolean;

/**
 * diffoscope's --exclude: a glob matched against each member's path inside its archive, at every nesting level,
 * and against entries' paths relative to a compared directory. A pattern without a slash also matches the last
 * path component (`*.pyc`); `*` does not cross `/`, `**` does; dotfiles match like any name.
 */
export function excludeMatcher(patterns: readonly string[]): ExcludeMatcher | undefined {
  if (patterns.length === 0) return undefined;
  const match = picomatch([...patterns], { dot: true, basename: true });
  return (name) => {
    const clean = name.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
    return clean !== '' && clean !== '.' && match(clean);
  };
}
