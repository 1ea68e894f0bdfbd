import { BUILD_NOTES, BUILD_OPTIONS, openSession } from './build-options.js';
import { defineCommand, parseCommand, SIGNAL_EXITS } from './command.js';
import { showHelp } from './help.js';
import type { CommandIO } from './io.js';
import { uiFor } from './ui.js';

export const SHELL = defineCommand({
  name: 'shell',
  summary: 'interactive shell in a build container with a snapshot of the sources',
  usage: ['shell [options] [-- COMMAND...]'],
  description: `Opens an interactive bash (or COMMAND) with a TTY in a build container holding a snapshot of the sources
(synced into the data volume first). Nothing is copied back unless --copy-output is given.`,
  options: {
    'copy-output': { type: 'boolean', help: 'copy _output/dockerized/bin back when the shell exits (also KUBE_RUN_COPY_OUTPUT=y)' },
    ...BUILD_OPTIONS,
  },
  positionals: [{ name: 'COMMAND', help: 'what to run instead of bash, after --', complete: 'none', repeat: true }],
  notes: [BUILD_NOTES],
  exits: [
    [0, "the shell exited 0 (any other status is the shell's own, passed through)"],
    [2, 'usage or environment error'],
    ...SIGNAL_EXITS,
  ],
});

export async function shellCommand(argv: string[], io: CommandIO & { stdin?: NodeJS.ReadStream }): Promise<number> {
  const { values, positionals } = parseCommand(SHELL, argv);
  if (values.help) return showHelp(SHELL, io);
  const ui = uiFor(io, values);
  const stdin = io.stdin ?? process.stdin;
  const { session } = await openSession('shell', values, io, ui);
  try {
    await session.sync();
    const code = await session.shell(positionals.length ? positionals : ['bash'], { stdin, stdout: io.stdout as NodeJS.WriteStream });
    if (values['copy-output'] || /^[yY]/.test(io.env.KUBE_RUN_COPY_OUTPUT ?? 'n')) await session.copyOutput();
    return code;
  } finally {
    stdin.pause();
    await session.close();
  }
}
