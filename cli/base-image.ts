import { makeBaseImage, openEngine } from '../lib/api/engine.js';
import { KreproError } from '../lib/index.js';
import { defineCommand, type OptionValues, parseCommand, SIGNAL_EXITS } from './command.js';
import { showHelp } from './help.js';
import { signalExit, stoppedBy } from './io.js';
import { uiFor } from './ui.js';

export interface CommandIo {
  env: Record<string, string | undefined>;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Aborted on Ctrl-C by cli/main.ts; when absent (direct callers) this command listens for SIGINT itself. */
  signal?: AbortSignal;
}

export const BASE_IMAGE = defineCommand({
  name: 'base-image',
  summary: 'make a Debian base image locally with debootstrap (no registry needed)',
  usage: ['base-image [options]'],
  description: `Make a minimal Debian image with debootstrap (--variant=minbase) and import it into
the Docker engine. Does nothing when the tag already exists. Needs root.

Prints the image id on stdout; progress goes to stderr.`,
  options: {
    suite: { type: 'string', value: 'SUITE', complete: ['trixie', 'bookworm', 'sid'], help: 'Debian suite (default: trixie)' },
    tag: { type: 'string', value: 'NAME:TAG', complete: 'none', help: 'image to create (default: krepro-base:<suite>)' },
    include: { type: 'string', value: 'PKG,PKG', complete: 'none', help: 'extra Debian packages to install' },
    mirror: { type: 'string', value: 'URL', complete: 'none', help: "Debian mirror (default: debootstrap's, deb.debian.org)" },
    'work-dir': { type: 'string', value: 'DIR', help: 'where the temporary root filesystem goes (default: $TMPDIR or /var/tmp)' },
    host: { type: 'string', value: 'URL', complete: 'none', help: 'Docker engine address (default: DOCKER_HOST, else unix:///var/run/docker.sock)' },
  },
  exits: [
    [0, 'done'],
    [2, 'usage or environment error (engine unreachable, debootstrap failed)'],
    ...SIGNAL_EXITS,
  ],
});

/** `krepro base-image …`: returns the exit status instead of exiting, so main.ts and tests can call it. */
export async function baseImageCommand(argv: string[], io: CommandIo): Promise<number> {
  let values: OptionValues<typeof BASE_IMAGE.options>;
  try {
    ({ values } = parseCommand(BASE_IMAGE, argv));
  } catch (err) {
    io.stderr.write(`krepro base-image: ${(err as Error).message}\nRun 'krepro base-image --help' for usage.\n`);
    return 2;
  }
  if (values.help) return showHelp(BASE_IMAGE, io);
  const ui = uiFor(io, values);

  const suite = values.suite ?? 'trixie';
  const tag = values.tag ?? `krepro-base:${suite}`;
  const include = (values.include ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  // /var/tmp rather than /tmp: /tmp is often a nodev tmpfs, where debootstrap cannot make device nodes.
  const workDir = values['work-dir'] ?? nonEmpty(io.env['TMPDIR']) ?? '/var/tmp';

  // debootstrap runs in its own process group (so it can be stopped as a whole), which also means the terminal's
  // Ctrl-C does not reach it: an abort is what stops it and cleans up the rootfs.
  const controller = new AbortController();
  const signal = io.signal ? AbortSignal.any([io.signal, controller.signal]) : controller.signal;
  const onSigint = (): void => controller.abort(new Error('interrupted'));
  if (!io.signal) process.once('SIGINT', onSigint);
  try {
    const engine = await openEngine({ env: io.env, signal, trace: ui.trace, ...(values.host === undefined ? {} : { host: values.host }) });
    const id = await makeBaseImage(engine, {
      suite,
      tag,
      include,
      workDir,
      signal,
      ...(values.mirror === undefined ? {} : { mirror: values.mirror }),
      onLog: (line) => ui.progress(line),
    });
    io.stdout.write(`${id}\n`);
    return 0;
  } catch (err) {
    if (signal.aborted) {
      io.stderr.write(`krepro base-image: ${stoppedBy(signal) === 'SIGTERM' ? 'terminated (SIGTERM)' : 'interrupted'}; the temporary root filesystem was removed\n`);
      return signalExit(signal);
    }
    if (err instanceof KreproError) {
      // Usage, engine and debootstrap/mirror failures are all "environment" errors in krepro's exit-code scheme.
      io.stderr.write(`krepro base-image: ${err.message}\n`);
      return 2;
    }
    throw err;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
