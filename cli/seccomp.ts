import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { KreproError } from '../lib/index.js';
import { seccompWithPersonality } from '../lib/backend/wrapper.js';
import type { CommandIO } from './io.js';

/** Docker's default seccomp profile as Debian ships it (package golang-github-docker-docker-dev). */
export const DEBIAN_SECCOMP_PROFILE = '/usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json';

/**
 * The profile from --seccomp-profile (must exist), else Debian's if installed, else none; `none` runs every build
 * under the engine's own default profile. Without one, builds cannot switch randomization off: aslr is not tested.
 */
export async function seccompProfile(option: string | undefined, io: CommandIO): Promise<string | undefined> {
  if (option === 'none') return undefined;
  const file = option !== undefined ? path.resolve(io.cwd, option) : existsSync(DEBIAN_SECCOMP_PROFILE) ? DEBIAN_SECCOMP_PROFILE : undefined;
  if (file === undefined) return undefined;
  const text = await readFile(file, 'utf8').catch((err: unknown) => {
    throw new KreproError('E_USAGE', `cannot read the seccomp profile ${file}: ${(err as Error).message}`, { path: file });
  });
  return seccompWithPersonality(text, file);
}
