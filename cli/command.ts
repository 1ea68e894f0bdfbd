import { parseArgs } from 'node:util';
import { quote, shortened } from '../lib/quote.js';

/**
 * One option of a command, as data: the parser's options, `--help`, the man page and shell completion all come
 * from it.
 */
export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
  /** the value's name in help and completion (FILE, DIR, N, URL); required for a string option */
  readonly value?: string;
  /** what it does; lines after the first are shown indented under it */
  readonly help: string;
  /** what a shell offers for the value: file names, directory names or these words; from `value` when absent */
  readonly complete?: 'file' | 'dir' | 'none' | readonly string[];
  /** the heading of the help section it is listed under; the command's own options when absent */
  readonly section?: string;
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

export interface PositionalSpec {
  readonly name: string;
  readonly help: string;
  readonly complete?: 'file' | 'dir' | 'none' | readonly string[];
  /** the last positional may repeat (PATH...) */
  readonly repeat?: boolean;
}

/** A command as data: everything a person or a shell learns about it, next to the function that runs it. */
export interface CommandDefinition<O extends OptionSpecs = OptionSpecs> {
  readonly name: string;
  /** one line: the command list, the man page's NAME */
  readonly summary: string;
  /** each a way to call it, after `krepro ` */
  readonly usage: readonly string[];
  /** what it does, as preformatted text (indented lines stay as they are) */
  readonly description: string;
  readonly options: O;
  /** none when absent: an argument is then an error */
  readonly positionals?: readonly PositionalSpec[];
  /** paragraphs after the options: environment variables, files written */
  readonly notes?: readonly string[];
  readonly examples?: readonly { readonly command: string; readonly does: string }[];
  /** each exit status and what it means */
  readonly exits: readonly (readonly [number, string])[];
}

/**
 * How a command a signal stopped exits, listed by every command that can be stopped: 128 + the signal's number, as a
 * shell reports a process the signal killed (cli/main.ts, signalExit in io.ts).
 */
export const SIGNAL_EXITS = [
  [130, 'interrupted (Ctrl-C, SIGINT)'],
  [143, 'terminated (SIGTERM, as a CI system cancels a job)'],
] as const;

/** What every command accepts. */
export const COMMON_OPTIONS = {
  quiet: { type: 'boolean', short: 'q', help: 'no progress and no notes: only results and errors' },
  verbose: { type: 'boolean', short: 'v', help: 'each step and engine call with its time, on stderr' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
} as const satisfies OptionSpecs;

/** Keeps the literal types of a definition, so the parsed values are typed from it. */
export function defineCommand<const O extends OptionSpecs>(definition: CommandDefinition<O>): CommandDefinition<O> {
  return definition;
}

type AllOptions<O extends OptionSpecs> = O & typeof COMMON_OPTIONS;
export type OptionValues<O extends OptionSpecs> = {
  -readonly [K in keyof AllOptions<O>]?: AllOptions<O>[K] extends { type: 'boolean' } ? boolean : AllOptions<O>[K] extends { multiple: true } ? string[] : string;
};

/** A mistake on the command line: main prints it with a pointer to the command's help (exit 2). */
export class UsageError extends Error {
  // main.ts and tests recognize command-line errors by this code, as they did Node's parser errors.
  readonly code = 'ERR_PARSE_ARGS_KREPRO';
}

function distance(a: string, b: string): number {
  // Damerau-Levenshtein (optimal string alignment): a swapped pair of letters is one mistake.
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** The known words closest to `word`: a unique prefix, else those within a typo or two. */
export function didYouMean(word: string, known: readonly string[]): string[] {
  const prefixed = known.filter((k) => word.length >= 2 && k.startsWith(word));
  if (prefixed.length > 0 && prefixed.length <= 3) return prefixed;
  // A one-letter option is one typo away from every other: no guess there.
  if (word.replace(/^-+/, '').length <= 1) return [];
  const limit = word.length <= 4 ? 1 : 2;
  const scored = known.map((k) => ({ k, d: distance(word, k) })).filter((x) => x.d <= limit);
  const best = Math.min(...scored.map((x) => x.d));
  return scored.filter((x) => x.d === best).map((x) => x.k);
}

function suggestion(candidates: string[]): string {
  if (candidates.length === 0) return '';
  return `; did you mean ${candidates.length === 1 ? candidates[0] : `${candidates.slice(0, -1).join(', ')} or ${candidates.at(-1)}`}?`;
}

/**
 * The command line of one command, checked against its definition: an unknown option (with the nearest known
 * ones), a value missing or given to a flag, an argument the command does not take, each as a UsageError that
 * quotes what was typed (escaped), never Node's parser text.
 */
export function parseCommand<O extends OptionSpecs>(definition: CommandDefinition<O>, argv: readonly string[]): { values: OptionValues<O>; positionals: string[] } {
  const specs: OptionSpecs = { ...definition.options, ...COMMON_OPTIONS };
  const config = Object.fromEntries(Object.entries(specs).map(([name, s]) => [name, { type: s.type, ...(s.short ? { short: s.short } : {}), ...(s.multiple ? { multiple: true } : {}) }]));
  const { values, positionals, tokens } = parseArgs({ args: [...argv], options: config, strict: false, allowPositionals: true, tokens: true });
  const longNames = Object.keys(specs).map((n) => `--${n}`);
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    const spec = specs[token.name];
    const typed = token.rawName;
    if (spec === undefined) {
      const shortNames = Object.values(specs).flatMap((s) => (s.short ? [`-${s.short}`] : []));
      const near = typed.startsWith('--') ? didYouMean(typed, longNames) : didYouMean(typed, [...shortNames, ...longNames]);
      throw new UsageError(`unknown option ${shortened(typed)}${suggestion(near)}`);
    }
    const shown = spec.short === token.name ? `-${spec.short}` : `--${token.name}`;
    if (spec.type === 'boolean' && token.inlineValue) throw new UsageError(`${shown} takes no value, got ${quote(token.value ?? '')}`);
    if (spec.type === 'string') {
      if (token.value === undefined) throw new UsageError(`${shown} needs a value (${shown} ${spec.value ?? 'VALUE'})`);
      // Node's strict mode refuses these too: "--out --json" is far more often a forgotten value than a name.
      if (!token.inlineValue && token.value.length > 1 && token.value.startsWith('-')) {
        throw new UsageError(`${shown} needs a value (${shown} ${spec.value ?? 'VALUE'}), got the option ${quote(token.value)}; write ${shown}=${shortened(token.value)} if that is the value`);
      }
    }
  }
  const allowed = definition.positionals ?? [];
  const repeats = allowed.at(-1)?.repeat === true;
  if (!repeats && positionals.length > allowed.length) {
    const extra = positionals[allowed.length]!;
    const what = allowed.length === 0 ? `${definition.name} takes no arguments` : `${definition.name} takes ${allowed.map((p) => p.name).join(' ')}`;
    throw new UsageError(`unexpected argument ${quote(extra)}: ${what}`);
  }
  return { values: values as OptionValues<O>, positionals };
}

/** The same options listed under another help section (a shared set shown apart, e.g. the engine options). */
export function inSection<const O extends OptionSpecs>(options: O, section: string): O {
  return Object.fromEntries(Object.entries(options).map(([name, spec]) => [name, { ...spec, section }])) as unknown as O;
}
