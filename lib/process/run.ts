import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

export function waitExit(child: ChildProcess): Promise<Exit> {
  return new Promise((resolve) => {
    let error: Error | undefined;
    // 'error' covers spawn failures (ENOENT) and aborts; 'close' still follows an abort, but not a failed spawn.
    child.once('error', (err) => {
      error = err;
      if (child.pid === undefined) resolve({ code: null, signal: null, error: err });
    });
    child.once('close', (code, signal) => resolve({ code, signal, ...(error === undefined ? {} : { error }) }));
  });
}

export interface RunLoggedOptions {
  /** The whole environment of the command; absent: inherited on purpose (debootstrap's wget honours http_proxy). */
  env?: Record<string, string>;
  signal?: AbortSignal;
  /** How many last lines to keep for error messages (default 20). */
  tailLines?: number;
}

/**
 * Runs a command, forwarding each output line to `log` and keeping the last lines for error messages.
 * The command gets its own process group and an abort signals the whole group: debootstrap and mmdebstrap run
 * children (wget, apt, chrooted dpkg) that would otherwise keep writing into a root filesystem being removed.
 */
export async function runLogged(cmd: string, args: string[], log: (line: string) => void, opts: RunLoggedOptions = {}): Promise<Exit & { tail: string[] }> {
  const { signal } = opts;
  if (signal?.aborted) return { code: null, signal: null, error: abortError(signal), tail: [] };
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...(opts.env ? { env: opts.env } : {}) });
  const done = waitExit(child);
  const onAbort = (): void => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
    } catch {
      // Already gone.
    }
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  const keep = opts.tailLines ?? 20;
  const tail: string[] = [];
  const onLine = (line: string): void => {
    tail.push(line);
    if (tail.length > keep) tail.shift();
    log(line);
  };
  createInterface({ input: child.stdout! }).on('line', onLine);
  createInterface({ input: child.stderr! }).on('line', onLine);
  // 'close' waits for the pipes, which every process of the group holds: so this also waits for the children.
  const exit = await done;
  signal?.removeEventListener('abort', onAbort);
  if (signal?.aborted && exit.error === undefined) return { ...exit, error: abortError(signal), tail };
  return { ...exit, tail };
}

export function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('aborted');
}
