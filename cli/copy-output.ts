import { type CommandIO, EXIT } from './io.js';
import { parseArgs } from 'node:util';
import { BUILD_OPTIONS, BUILD_OPTIONS_HELP, openSession } from './build-options.js';

export const COPY_OUTPUT_HELP = `Usage: krepro copy-output [options] [PATH...]

Copies build results from this checkout's data volume back to the host: _output/dockerized/bin by default,
or the given checkout-relative directories. Only files whose content changed are written.

${BUILD_OPTIONS_HELP}`;

export async function copyOutputCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, strict: true, allowPositionals: true, options: BUILD_OPTIONS });
  if (values.help) {
    io.stdout.write(COPY_OUTPUT_HELP);
    return EXIT.ok;
  }
  const { session } = await openSession('copy-output', values, io);
  try {
    const r = await session.copyOutput(positionals.length ? positionals : undefined);
    io.stderr.write(`copied output: ${r.copied} changed, ${r.unchanged} unchanged (${r.bytes} bytes)\n`);
    return EXIT.ok;
  } finally {
    await session.close();
  }
}
