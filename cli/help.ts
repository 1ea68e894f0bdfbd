import { KREPRO_VERSION } from '../lib/index.js';
import { COMMON_OPTIONS, type CommandDefinition, type OptionSpec, type OptionSpecs } from './command.js';
import { type CommandIO, EXIT } from './io.js';

/** Help text is wrapped to this many columns; option help starts at HELP_COLUMN. */
const WIDTH = 112;
const HELP_COLUMN = 21;

/** `text` broken into lines of at most `width` columns at spaces, the first line after `first`, the rest after `rest`. */
export function wrap(text: string, width: number, first: string, rest: string): string[] {
  const out: string[] = [];
  let line = first;
  let empty = true;
  for (const word of text.split(' ')) {
    if (!empty && line.length + 1 + word.length > width) {
      out.push(line);
      line = rest + word;
    } else line += (empty ? '' : ' ') + word;
    empty = false;
  }
  out.push(line);
  return out;
}

/** How an option is written on the command line: `-h, --help`, `--stage DIR`. */
export function flagsOf(name: string, spec: OptionSpec): string {
  return `${spec.short ? `-${spec.short}, ` : ''}--${name}${spec.type === 'string' ? ` ${spec.value ?? 'VALUE'}` : ''}`;
}

function optionLines(name: string, spec: OptionSpec): string[] {
  const flags = `  ${flagsOf(name, spec)}`;
  const indent = ' '.repeat(HELP_COLUMN);
  const [first, ...more] = spec.help.split('\n');
  const lines = flags.length <= HELP_COLUMN - 2 ? wrap(first!, WIDTH, flags.padEnd(HELP_COLUMN), indent) : [flags, ...wrap(first!, WIDTH, indent, indent)];
  for (const line of more) {
    const lead = /^ */.exec(line)![0];
    lines.push(...wrap(line.slice(lead.length), WIDTH, indent + lead, indent + lead));
  }
  return lines;
}

/** The options grouped as help lists them: the command's own (and the common ones), then each section in order. */
export function optionSections(options: OptionSpecs): { heading: string; options: [string, OptionSpec][] }[] {
  const sections = new Map<string, [string, OptionSpec][]>([['Options:', []]]);
  for (const [name, spec] of Object.entries({ ...options, ...COMMON_OPTIONS })) {
    const heading = (spec as OptionSpec).section ?? 'Options:';
    sections.set(heading, [...(sections.get(heading) ?? []), [name, spec as OptionSpec]]);
  }
  // The common options close the command's own list, after anything a shared set put there.
  const own = sections.get('Options:')!;
  const common = own.filter(([n]) => n in COMMON_OPTIONS);
  sections.set('Options:', [...own.filter(([n]) => !(n in COMMON_OPTIONS)), ...common]);
  return [...sections].map(([heading, opts]) => ({ heading, options: opts }));
}

export function exitLine(exits: CommandDefinition['exits']): string[] {
  return wrap(`Exit status: ${exits.map(([code, meaning]) => `${code} ${meaning}`).join(', ')}.`, WIDTH, '', '');
}

/** `krepro CMD --help` and `krepro help CMD`: rendered from the command's definition. */
export function renderHelp(d: CommandDefinition): string {
  const out: string[] = [];
  d.usage.forEach((u, i) => out.push(`${i === 0 ? 'Usage: ' : '       '}krepro ${u}`));
  out.push('', d.description.trimEnd(), '');
  for (const { heading, options } of optionSections(d.options)) {
    out.push(...wrap(heading, WIDTH, '', ''));
    for (const [name, spec] of options) out.push(...optionLines(name, spec));
    out.push('');
  }
  for (const note of d.notes ?? []) out.push(note.trimEnd(), '');
  if (d.examples?.length) {
    out.push('Examples:');
    for (const e of d.examples) out.push(`  ${e.command}`, ...wrap(e.does, WIDTH, '      ', '      '));
    out.push('');
  }
  out.push(...exitLine(d.exits));
  return `${out.join('\n')}\n`;
}

export function showHelp(definition: CommandDefinition, io: Pick<CommandIO, 'stdout'>): number {
  io.stdout.write(renderHelp(definition));
  return EXIT.ok;
}

/** `krepro --help`: every command with its summary, then what every command shares. */
export function renderOverview(defs: readonly CommandDefinition[], overview: { description: string; exits: CommandDefinition['exits']; notes: readonly string[] }): string {
  const width = Math.max(...defs.map((d) => d.name.length));
  const out = [
    `krepro ${KREPRO_VERSION}: reproducible Kubernetes-style releases`,
    '',
    "Usage: krepro <command> [options]     'krepro help <command>' or 'krepro <command> --help' for its options",
    '',
    overview.description.trimEnd(),
    '',
    'Commands:',
    ...defs.flatMap((d) => wrap(d.summary, WIDTH, `  ${d.name.padEnd(width)}  `, ' '.repeat(width + 4))),
    '',
    'Options for every command (also before it: krepro --quiet package):',
    ...Object.entries(COMMON_OPTIONS).flatMap(([name, spec]) => optionLines(name, spec)),
    '',
    ...overview.notes.flatMap((n) => [n.trimEnd(), '']),
    ...exitLine(overview.exits),
  ];
  return `${out.join('\n')}\n`;
}
