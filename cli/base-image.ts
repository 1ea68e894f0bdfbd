import { parseArgs } from 'node:util';
import { makeBaseImage } from '../lib/environment/base-image.js';
import { openEngine } from '../lib/engine/connect.js';
import { KreproError } from '../lib/errors.js';

export interface CommandIo {
  env: Record<string, string | undefined>;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Aborted on Ctrl-C by cli/main.ts; when absent (direct callers) this command listens for SIGINT itself. */
  signal?: AbortSignal;
}

const HELP = `Usage: krepro base-image [options]

Make a minimal Debian image with debootstrap (--variant=minbase) and import it into
the Docker engine. Does nothing when the tag already exists. Needs root.

Options:
  --suite SUITE        Debian suite (default: trixie)
  --tag NAME:TAG       image to create (default: krepro-base:<suite>)
  --include PKG,PKG    extra Debian packages to install
  --mirror URL         Debian mirror (default: debootstrap's, deb.debian.org)
  --work-dir DIR       where the temporary root filesystem goes (default: $TMPDIR or /var/tmp)
  --host URL           Docker engine address (default: DOCKER_HOST, else unix:///var/run/docker.sock)
  -h, --help           show this help

Prints the image id on stdout; progress goes to stderr.
Exit status: 0 done, 2 usage or environment error (engine unreachable, debootstrap failed), 130 interrupted.
`;

/** `krepro base-image …`: returns the exit status instead of exiting, so main.ts and tests can call it. */
export async function baseImageCommand(argv: string[], io: CommandIo): Promise<number> {
  let values: { suite?: string; tag?: string; include?: string; mirror?: string; 'work-dir'?: string; host?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        suite: { type: 'string' },
        tag: { type: 'string' },
        include: { type: 'string' },
        mirror: { type: 'string' },
        'work-dir': { type: 'string' },
        host: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    io.stderr.write(`krepro base-image: ${(err as Error).message}\nTry 'krepro base-image --help'.\n`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }

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
    const engine = await openEngine({ env: io.env, signal, ...(values.host === undefined ? {} : { host: values.host }) });
    const id = await makeBaseImage(engine, {
      suite,
      tag,
      include,
      workDir,
      signal,
      ...(values.mirror === undefined ? {} : { mirror: values.mirror }),
      onLog: (line) => io.stderr.write(`${line}\n`),
    });
    io.stdout.write(`${id}\n`);
    return 0;
  } catch (err) {
    if (signal.aborted) {
      io.stderr.write('krepro base-image: interrupted; the temporary root filesystem was removed\n');
      return 130;
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
