import { BUILD_NOTES, BUILD_OPTIONS, openSession } from './build-options.js';
import { defineCommand, parseCommand, SIGNAL_EXITS } from './command.js';
import { showHelp } from './help.js';
import { type CommandIO, EXIT } from './io.js';
import { uiFor } from './ui.js';

export const COPY_OUTPUT = defineCommand({
  name: 'copy-output',
  summary: 'copy _output/dockerized/bin back from the data volume (changed files only)',
  usage: ['copy-output [options] [PATH...]'],
  description: `Copies build results from this checkout's data volume back to the host: _output/dockerized/bin by default,
or the given checkout-relative directories. Only files whose content changed are written.`,
  options: { ...BUILD_OPTIONS },
  positionals: [{ name: 'PATH', help: 'checkout-relative directory to copy back', complete: 'dir', repeat: true }],
  notes: [BUILD_NOTES],
  exits: [
    [0, 'copied'],
    [2, 'usage or environment error'],
    ...SIGNAL_EXITS,
  ],
});

export async function copyOutputCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseCommand(COPY_OUTPUT, argv);
  if (values.help) return showHelp(COPY_OUTPUT, io);
  const ui = uiFor(io, values);
  const { session } = await openSession('copy-output', values, io, ui);
  try {
    const r = await session.copyOutput(positionals.length ? positionals : undefined);
    ui.note(`copied output: ${r.copied} changed, ${r.unchanged} unchanged (${r.bytes} bytes)`);
    return EXIT.ok;
  } finally {
    await session.close();
  }
}
