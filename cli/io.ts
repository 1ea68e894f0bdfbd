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
export const EXIT = { ok: 0, different: 1, usage: 2, interrupted: 130 } as const;
