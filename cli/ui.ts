import { Writable } from 'node:stream';
import { type Trace, type TraceEvent } from '../lib/index.js';
import { visible } from '../lib/quote.js';
import { UsageError } from './command.js';
import type { CommandIO } from './io.js';

/** How much a command says on stderr besides its results and errors: --quiet, the default, or --verbose. */
export interface Ui {
  readonly quiet: boolean;
  readonly verbose: boolean;
  /** something krepro noticed or did on the side ("note: …", "wrote 25 files …"): nothing with --quiet */
  note(text: string): void;
  /** where the work is ("==> make cross", "build 2: experiment…"): nothing with --quiet, timed with --verbose */
  progress(text: string): void;
  /** the stream progress bars are drawn on: stderr, or nothing with --quiet */
  readonly progressStream: NodeJS.WritableStream & { isTTY?: boolean };
  /** with --verbose, the library's trace (each engine call and step, with its time) printed on stderr */
  readonly trace: Trace | undefined;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(3).padStart(8)}s`;
}

function traceLine(e: TraceEvent): string {
  if (e.type === 'step') return `step ${visible(e.step)} (${e.ms} ms)`;
  return `engine ${e.call}${e.target !== undefined ? ` ${visible(e.target)}` : ''} (${e.ms} ms)${e.error !== undefined ? ` failed: ${visible(e.error)}` : ''}`;
}

/** The Ui the common options ask for; --quiet with --verbose is a usage error. */
export function uiFor(io: Pick<CommandIO, 'stderr'>, values: { quiet?: boolean | undefined; verbose?: boolean | undefined }, now: () => number = performance.now.bind(performance)): Ui {
  if (values.quiet && values.verbose) throw new UsageError('--quiet and --verbose ask for opposite things: give one');
  const started = now();
  const stamp = () => (values.verbose ? `[${seconds(now() - started)}] ` : '');
  const quiet = values.quiet === true;
  return {
    quiet,
    verbose: values.verbose === true,
    note: (text) => {
      if (!quiet) io.stderr.write(`${text}\n`);
    },
    progress: (text) => {
      if (!quiet) io.stderr.write(`${stamp()}${text}\n`);
    },
    progressStream: quiet ? new Writable({ write: (_c, _e, cb) => cb() }) : io.stderr,
    trace: values.verbose ? (e) => void io.stderr.write(`${stamp()}${traceLine(e)}\n`) : undefined,
  };
}
