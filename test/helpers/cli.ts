/**
 * The environment for a krepro child process: this one's without the colour variables the test runner sets (with
 * both NO_COLOR and FORCE_COLOR set, Node warns on stderr, and tests read stderr exactly), plus `extra`.
 */
export function cliEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const { NO_COLOR: _n, FORCE_COLOR: _f, ...env } = process.env;
  return { ...env, ...extra };
}
