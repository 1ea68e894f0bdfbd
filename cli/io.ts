import { createRequire } from 'node:module';
import * as path from 'node:path';
import { type Engine, openEngine } from '../lib/api/engine.js';
import { type ProxySettings } from '../lib/api/environment.js';
import { resolveSourceDateEpoch, type SourceDateEpoch } from '../lib/index.js';
import { checkoutOf, commandLinePath } from '../lib/checkout/beneath.js';
import { parseMtimeOption } from '../lib/source/source-date-epoch.js';
import type { Ui } from './ui.js';

/** What a command may touch of the process: passed in so commands stay testable and lib stays pure. */
export interface CommandIO {
  env: Record<string, string | undefined>;
  cwd: string;
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  signal: AbortSignal;
}

export type Command = (argv: string[], io: CommandIO) => Promise<number>;

/** Exit codes shared by every command. */
export const EXIT = { ok: 0, different: 1, usage: 2, buildFailed: 3, interrupted: 130, terminated: 143 } as const;

/** Which signal stopped a command, as main's handler records it in the abort reason. */
export function stoppedBy(signal: AbortSignal): 'SIGINT' | 'SIGTERM' {
  return (signal.reason as { signal?: string } | undefined)?.signal === 'SIGTERM' ? 'SIGTERM' : 'SIGINT';
}

/** The exit status of a command a signal stopped: 128 + the signal's number (SIGINT 130, SIGTERM 143). */
export function signalExit(signal: AbortSignal): number {
  return stoppedBy(signal) === 'SIGTERM' ? EXIT.terminated : EXIT.interrupted;
}

/** SOURCE_DATE_EPOCH as every command takes it: --mtime, else the environment, else HEAD's commit time in repoDir. */
export function sourceDateEpochFor(io: CommandIO, opts: { mtime?: string | undefined; repoDir?: string | undefined }): Promise<SourceDateEpoch> {
  return resolveSourceDateEpoch({
    ...(opts.mtime !== undefined ? { explicit: parseMtimeOption(opts.mtime) } : {}),
    ...(io.env.SOURCE_DATE_EPOCH ? { environment: io.env.SOURCE_DATE_EPOCH } : {}),
    ...(opts.repoDir !== undefined ? { repoDir: opts.repoDir } : {}),
  });
}

/**
 * A path the command will write (a directory it makes, or a report), as given on the command line: outside the
 * checkout it is the user's choice; below it, no link of the checkout's is followed (commandLinePath).
 */
export async function writePath(io: CommandIO, value: string): Promise<string> {
  return commandLinePath(await checkoutOf(io.cwd), path.resolve(io.cwd, value));
}

/** Where SOURCE_DATE_EPOCH came from, as the user gave it: `--mtime`, `$SOURCE_DATE_EPOCH`, the commit time. */
export function originWords(sde: SourceDateEpoch): string {
  return sde.origin === 'explicit' ? '--mtime' : sde.origin === 'environment' ? '$SOURCE_DATE_EPOCH' : 'the commit time of HEAD';
}

export function proxiesFrom(env: CommandIO['env']): ProxySettings {
  return {
    ...(env.KUBERNETES_HTTP_PROXY ? { http: env.KUBERNETES_HTTP_PROXY } : {}),
    ...(env.KUBERNETES_HTTPS_PROXY ? { https: env.KUBERNETES_HTTPS_PROXY } : {}),
    ...(env.KUBERNETES_NO_PROXY ? { no: env.KUBERNETES_NO_PROXY } : {}),
  };
}

export function packageRoot(): string {
  return path.dirname(createRequire(import.meta.url).resolve('krepro/package.json'));
}

/** The engine `host` names (else DOCKER_HOST and friends), pinged, its calls traced with --verbose. */
export function openEngineFor(io: CommandIO, ui: Ui, host?: string): Promise<Engine> {
  return openEngine({ env: io.env, ...(host ? { host } : {}), trace: ui.trace, signal: io.signal });
}
