import { type CommandIO, EXIT } from './io.js';
import { parseArgs } from 'node:util';
import { BUILD_OPTIONS, BUILD_OPTIONS_HELP, openSession } from './build-options.js';

export const SHELL_HELP = `Usage: krepro shell [options] [-- COMMAND...]

Opens an interactive bash (or COMMAND) with a TTY in a build container holding a snapshot of the sources
(synced into the data volume first). Nothing is copied back unless --copy-output is given.

Options:
  --copy-output        copy _output/dockerized/bin back when the shell exits
${BUILD_OPTIONS_HELP}`;

export async function shellCommand(argv: string[], io: CommandIO & { stdin?: NodeJS.ReadStream }): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, strict: true, allowPositionals: true, options: { ...BUILD_OPTIONS, 'copy-output': { type: 'boolean' } } });
  if (values.help) {
    io.stdout.write(SHELL_HELP);
    return EXIT.ok;
  }
  const stdin = io.stdin ?? process.stdin;
  const { session } = await openSession('shell', values, io);
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
