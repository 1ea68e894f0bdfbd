import { mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { KREPRO_VERSION } from '../lib/index.js';
import type { CommandDefinition, OptionSpec } from './command.js';
import { optionSections } from './help.js';

/**
 * Man pages in roff (man(7) macros), generated from the command definitions: krepro(1) and one krepro-CMD(1) per
 * command. `npm run build` writes them into dist/man, which package.json's directories.man installs. No date in
 * the header: the same definitions give the same bytes.
 */

/**
 * Text for roff: backslashes as \e, characters beyond ASCII as groff's \[uXXXX] (no preconv needed), long paths
 * breakable, a line that would start with a control character made plain.
 */
function roff(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .replace(/[^\x00-\x7f]/gu, (c) => `\\[u${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}]`)
    // A long path may break after a slash (\: is a break point that prints nothing).
    .replace(/\S{40,}/g, (word) => word.replace(/\/(?=.)/g, '/\\:'))
    .split('\n')
    .map((l) => (/^[.']/.test(l) ? `\\&${l}` : l))
    .join('\n');
}

/** `-` as roff's minus in an option name, so it copies and searches as a hyphen-minus. */
function flag(text: string): string {
  return roff(text).replace(/-/g, '\\-');
}

/** Preformatted help text as roff: lines starting with spaces stay as they are (.nf), the rest become paragraphs. */
function paragraphs(text: string): string[] {
  const out: string[] = [];
  let paragraph: string[] = [];
  let literal = false;
  const flush = () => {
    if (paragraph.length) out.push(roff(paragraph.join(' ')));
    paragraph = [];
  };
  for (const line of text.trimEnd().split('\n')) {
    const indented = /^ {2}/.test(line);
    if (line.trim() === '') {
      flush();
      if (literal) out.push('.fi');
      literal = false;
      out.push('.PP');
    } else if (indented) {
      flush();
      if (!literal) out.push('.PP', '.nf', '.RS 2');
      literal = true;
      out.push(roff(line.slice(2)));
    } else {
      if (literal) out.push('.RE', '.fi');
      literal = false;
      paragraph.push(line);
    }
  }
  flush();
  if (literal) out.push('.RE', '.fi');
  return out;
}

function header(name: string, summary: string): string[] {
  // Ragged right and no hyphenation, as git's pages are: paths, digests and option names stay whole.
  return [`.TH ${name.toUpperCase()} 1 "" "krepro ${KREPRO_VERSION}" "krepro manual"`, '.ad l', '.nh', '.SH NAME', `${flag(name)} \\- ${roff(summary)}`];
}

function optionEntry(name: string, spec: OptionSpec): string[] {
  const [first, ...more] = spec.help.split('\n');
  const value = spec.type === 'string' ? ` \\fI${roff(spec.value ?? 'VALUE')}\\fR` : '';
  return ['.TP', `\\fB${spec.short ? `\\-${spec.short}, ` : ''}\\-\\-${flag(name)}\\fR${value}`, roff(first!), ...more.flatMap((l) => ['.br', roff(l.trim())])];
}

/** krepro-CMD(1). */
export function commandManPage(d: CommandDefinition): string {
  const out = header(`krepro-${d.name}`, d.summary);
  out.push('.SH SYNOPSIS', '.nf', ...d.usage.map((u) => `.B krepro ${flag(u.split(' ')[0]!)}${u.includes(' ') ? ` ${roff(u.slice(u.indexOf(' ') + 1))}` : ''}`), '.fi');
  out.push('.SH DESCRIPTION', ...paragraphs(d.description));
  for (const { heading, options } of optionSections(d.options)) {
    out.push(heading === 'Options:' ? '.SH OPTIONS' : `.SS ${roff(heading.replace(/:$/, '').split('\n').join(' '))}`);
    for (const [name, spec] of options) out.push(...optionEntry(name, spec));
  }
  if (d.positionals?.length) {
    out.push('.SH ARGUMENTS');
    for (const p of d.positionals) out.push('.TP', `.I ${roff(p.name)}${p.repeat ? '...' : ''}`, roff(p.help));
  }
  if (d.notes?.length) out.push('.SH NOTES', ...d.notes.flatMap((n) => [...paragraphs(n), '.PP']).slice(0, -1));
  if (d.examples?.length) {
    out.push('.SH EXAMPLES');
    for (const e of d.examples) out.push('.PP', roff(e.does), '.PP', '.RS 4', '.nf', roff(e.command), '.fi', '.RE');
  }
  out.push('.SH EXIT STATUS');
  for (const [code, meaning] of d.exits) out.push('.TP', `.B ${code}`, roff(meaning));
  out.push('.SH SEE ALSO', '.BR krepro (1)');
  return `${out.join('\n')}\n`;
}

/** krepro(1): every command with its summary, the common options and exit statuses. */
export function mainManPage(defs: readonly CommandDefinition[], overview: { description: string; exits: CommandDefinition['exits']; notes: readonly string[] }): string {
  const out = header('krepro', 'reproducible Kubernetes-style releases');
  out.push('.SH SYNOPSIS', '.nf', '.B krepro \\fIcommand\\fR [\\fIoptions\\fR]', '.B krepro help \\fIcommand\\fR', '.B krepro \\-\\-version', '.fi');
  out.push('.SH DESCRIPTION', ...paragraphs(overview.description));
  out.push('.SH COMMANDS');
  for (const d of defs) out.push('.TP', `.B ${flag(d.name)}`, `${roff(d.summary)}; see \\fBkrepro\\-${flag(d.name)}\\fR(1)`);
  out.push('.SH OPTIONS', ...optionSections({})[0]!.options.flatMap(([n, s]) => optionEntry(n, s)));
  out.push('.TP', '.B \\-\\-version', 'krepro, Node.js, the gzip format with its WebAssembly digest, and the bundled lock\'s digest');
  for (const note of overview.notes) out.push('.PP', ...paragraphs(note));
  out.push('.SH EXIT STATUS');
  for (const [code, meaning] of overview.exits) out.push('.TP', `.B ${code}`, roff(meaning));
  out.push('.SH SEE ALSO', defs.map((d) => `.BR krepro\\-${flag(d.name)} (1)`).join(',\n'));
  return `${out.join('\n')}\n`;
}

/** Writes krepro.1 and krepro-CMD.1 for every command into `dir`. */
export async function writeManPages(dir: string): Promise<string[]> {
  const { COMMANDS, OVERVIEW } = await import('./commands.js');
  mkdirSync(dir, { recursive: true });
  const defs = COMMANDS.map((c) => c.definition);
  const written = [path.join(dir, 'krepro.1')];
  writeFileSync(written[0]!, mainManPage(defs, OVERVIEW));
  for (const d of defs) {
    const file = path.join(dir, `krepro-${d.name}.1`);
    writeFileSync(file, commandManPage(d));
    written.push(file);
  }
  return written;
}

// `node dist/cli/man.js DIR`, as npm run build runs it.
const invokedPath = process.argv[1] ? realpathSync(process.argv[1]) : '';
if (import.meta.url === pathToFileURL(invokedPath).href) {
  const dir = process.argv[2];
  if (!dir) {
    process.stderr.write('usage: node dist/cli/man.js DIR\n');
    process.exitCode = 2;
  } else await writeManPages(dir);
}
