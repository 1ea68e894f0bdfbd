#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { isKreproError } from '../lib/index.js';
import { printable, shortened } from '../lib/quote.js';
import { COMMON_OPTIONS, didYouMean } from './command.js';
import { findCommand, overview, unknownCommand } from './commands.js';
import { type CommandIO, EXIT, signalExit, stoppedBy } from './io.js';
import { versionText } from './version.js';

/** The common options, which may come before the command too (krepro --quiet package). */
const LEADING = new Set(Object.entries(COMMON_OPTIONS).flatMap(([name, spec]) => [`--${name}`, ...('short' in spec ? [`-${spec.short}`] : [])]).filter((o) => o !== '--help' && o !== '-h'));

/** The one place that turns outcomes into exit codes and errors into messages. */
export async function main(argv: string[], io: CommandIO): Promise<number> {
  let first = 0;
  while (first < argv.length && LEADING.has(argv[first]!)) first++;
  const [name, ...rest] = argv.slice(first);
  if (name === undefined) {
    io.stderr.write(overview());
    return EXIT.usage;
  }
  if (name === '--help' || name === '-h') {
    io.stdout.write(overview());
    return EXIT.ok;
  }
  if (name === '--version' || name === 'version') {
    io.stdout.write(await versionText());
    return EXIT.ok;
  }
  const command = findCommand(name);
  if (!command) {
    const message = name.startsWith('-') ? `unknown option ${shortened(name)}${suggest(name)}` : unknownCommand(name);
    io.stderr.write(`krepro: ${message}\nRun 'krepro --help' for the list of commands.\n`);
    return EXIT.usage;
  }
  try {
    return await command.run([...argv.slice(0, first), ...rest], io);
  } catch (err) {
    if (io.signal.aborted) {
      io.stderr.write(`\nkrepro ${name}: ${stoppedBy(io.signal) === 'SIGTERM' ? 'terminated (SIGTERM)' : 'interrupted'}; nothing was left half-written\n`);
      return signalExit(io.signal);
    }
    if (isKreproError(err)) {
      // Messages may carry what a build or a file held: never a terminal's control sequence.
      io.stderr.write(`krepro ${name}: ${printable(err.message)}\n`);
      // A failed build passes the build's own exit code through; everything else is an environment error.
      return err.code === 'E_BUILD_FAILED' ? (err.exitCode ?? 1) : EXIT.usage;
    }
    if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr.write(`krepro ${name}: ${printable((err as Error).message)}\nRun 'krepro ${name} --help' for usage.\n`);
      return EXIT.usage;
    }
    throw err;
  }
}

const invokedPath = process.argv[1] ? realpathSync(process.argv[1]) : '';
if (import.meta.url === pathToFileURL(invokedPath).href) {
  const controller = new AbortController();
  let interrupts = 0;
  let settled = false;
  const onSignal = (signal: 'SIGINT' | 'SIGTERM') => {
    // The first signal cancels cleanly (temp files removed); a second one exits at once. Either way the status is
    // 128 + the signal's number, as a shell reports a process the signal killed.
    if (++interrupts > 1) {
      settled = true;
      process.exit(signal === 'SIGTERM' ? EXIT.terminated : EXIT.interrupted);
    }
    controller.abort(Object.assign(new Error(signal === 'SIGTERM' ? 'terminated' : 'interrupted'), { signal }));
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  // A command whose work was dropped unfinished (a promise nothing will ever settle) must not exit 0 in silence.
  process.on('exit', () => {
    if (settled) return;
    process.stderr.write('krepro: internal error: the command stopped before it finished (an operation never completed)\nPlease report this with the command you ran.\n');
    process.exitCode = 70;
  });
  main(process.argv.slice(2), { env: process.env, cwd: process.cwd(), stdout: process.stdout, stderr: process.stderr, signal: controller.signal }).then(
    (code) => {
      settled = true;
      process.exitCode = code;
    },
    (err: unknown) => {
      settled = true;
      process.stderr.write(`krepro: internal error: ${(err as Error).stack ?? String(err)}\nPlease report this with the command you ran.\n`);
      process.exitCode = 70;
    },
  );
}

function suggest(option: string): string {
  const near = didYouMean(option, ['--help', '--version', ...LEADING]);
  return near.length ? `; did you mean ${near.join(' or ')}?` : '';
}
