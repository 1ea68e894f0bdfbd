import { BUILD_NOTES, BUILD_OPTIONS, openSession } from './build-options.js';
import { defineCommand, parseCommand, SIGNAL_EXITS, UsageError } from './command.js';
import { showHelp } from './help.js';
import type { CommandIO } from './io.js';
import { uiFor } from './ui.js';

export const RUN = defineCommand({
  name: 'run',
  summary: 'run a command (e.g. make cross) in a build container over the synced sources; copy output back',
  usage: ['run [options] -- COMMAND [ARGS...]'],
  description: `Runs COMMAND (e.g. 'make cross') in a fresh build container over this checkout's persistent data volume:
syncs the sources into the volume first (only new or changed files are sent; deletions propagate, files
an earlier build created in the source tree are removed and synced files it rewrote are sent again; _output/
and git-ignored files are skipped), streams the output live, then copies the project's outputs back
(_output/dockerized/bin, or krepro.json's "outputs", or --output; only changed files) when COMMAND succeeded.
Exits with COMMAND's exit code. Ctrl-C stops and removes the container; the data volume (sources, Go caches)
survives.`,
  options: {
    'no-copy-output': { type: 'boolean', help: 'do not copy output back (also KUBE_RUN_COPY_OUTPUT=n)' },
    output: { type: 'string', value: 'PATH', multiple: true, complete: 'file', help: "checkout-relative path to copy back instead of the project's outputs; repeatable" },
    ...BUILD_OPTIONS,
  },
  positionals: [{ name: 'COMMAND', help: 'the command and its arguments, after --', complete: 'none', repeat: true }],
  notes: [BUILD_NOTES],
  examples: [{ command: 'krepro run -- make cross KUBE_BUILD_PLATFORMS=linux/amd64', does: "cross-build one platform in the locked environment and copy _output/dockerized/bin back" }],
  exits: [
    [0, "COMMAND succeeded (any other status is COMMAND's own, passed through)"],
    [2, 'usage or environment error'],
    ...SIGNAL_EXITS,
  ],
});

export async function runCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseCommand(RUN, argv);
  if (values.help) return showHelp(RUN, io);
  const ui = uiFor(io, values);
  if (positionals.length === 0) throw new UsageError('no command given; for example: krepro run -- make cross');
  const copyBack = !values['no-copy-output'] && !/^[nN]/.test(io.env.KUBE_RUN_COPY_OUTPUT ?? 'y');
  const { session, inputs } = await openSession(`run ${positionals.join(' ')}`, values, io, ui);
  try {
    const sync = await session.sync();
    ui.note(`synced sources: ${sync.sent} sent (${sync.sentBytes} bytes), ${sync.deleted} deleted, ${sync.unchanged} unchanged`);
    if (sync.rewritten.length > 0) ui.note(`note: the last build changed ${sync.rewritten.length} synced source file(s) in the volume (e.g. ${sync.rewritten[0]}); they were sent again`);
    if (sync.strays.length > 0) ui.note(`note: removed ${sync.strays.length} file(s) the last build created in the source tree (e.g. ${sync.strays[0]})`);
    const code = await session.run(positionals, { stdout: io.stdout as never, stderr: io.stderr as never });
    if (copyBack && code === 0) {
      const copied = await session.copyOutput(inputs.project.outputs, { skipMissing: true });
      ui.note(`copied output: ${copied.copied} changed, ${copied.unchanged} unchanged`);
    }
    return code;
  } finally {
    await session.close();
  }
}
