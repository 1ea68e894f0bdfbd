import { type CommandIO, EXIT } from './io.js';
import { parseArgs } from 'node:util';
import { BUILD_OPTIONS, BUILD_OPTIONS_HELP, openSession } from './build-options.js';

export const RUN_HELP = `Usage: krepro run [options] -- COMMAND [ARGS...]

Runs COMMAND (e.g. 'make cross') in a fresh build container over this checkout's persistent data volume:
syncs the sources into the volume first (only new or changed files are sent; deletions propagate, files
an earlier build created in the source tree are removed and synced files it rewrote are sent again; _output/
and git-ignored files are skipped), streams the output live, then copies the project's outputs back
(_output/dockerized/bin, or krepro.json's "outputs", or --output; only changed files) when COMMAND succeeded. Exits with COMMAND's exit code. Ctrl-C stops and removes the container; the
data volume (sources, Go caches) survives.

Options:
  --no-copy-output     do not copy output back (also KUBE_RUN_COPY_OUTPUT=n)
  --output PATH        checkout-relative path to copy back instead of the project's outputs; repeatable
${BUILD_OPTIONS_HELP}`;

export async function runCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, strict: true, allowPositionals: true, options: { ...BUILD_OPTIONS, 'no-copy-output': { type: 'boolean' }, output: { type: 'string', multiple: true } } });
  if (values.help) {
    io.stdout.write(RUN_HELP);
    return EXIT.ok;
  }
  if (positionals.length === 0) {
    io.stderr.write(`krepro run: no command given; for example: krepro run -- make cross\n`);
    return EXIT.usage;
  }
  const copyBack = !values['no-copy-output'] && !/^[nN]/.test(io.env.KUBE_RUN_COPY_OUTPUT ?? 'y');
  const { session, project } = await openSession(`run ${positionals.join(' ')}`, values, io);
  try {
    const sync = await session.sync();
    io.stderr.write(`synced sources: ${sync.sent} sent (${sync.sentBytes} bytes), ${sync.deleted} deleted, ${sync.unchanged} unchanged\n`);
    if (sync.rewritten.length > 0) io.stderr.write(`note: the last build changed ${sync.rewritten.length} synced source file(s) in the volume (e.g. ${sync.rewritten[0]}); they were sent again\n`);
    if (sync.strays.length > 0) io.stderr.write(`note: removed ${sync.strays.length} file(s) the last build created in the source tree (e.g. ${sync.strays[0]})\n`);
    const code = await session.run(positionals, { stdout: io.stdout as never, stderr: io.stderr as never });
    if (copyBack && code === 0) {
      const copied = await session.copyOutput(project.outputs, { skipMissing: true });
      io.stderr.write(`copied output: ${copied.copied} changed, ${copied.unchanged} unchanged\n`);
    }
    return code;
  } finally {
    await session.close();
  }
}
