import { accessSync, constants } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { diff, renderDiffHtml as renderHtml, renderDiffJson as renderJson, renderDiffText as renderText } from '../lib/index.js';
import { type CommandIO, EXIT } from './io.js';
import { integerOption } from './number-option.js';

export const DIFF_HELP = `Usage: krepro diff [options] A B

Explains every difference between two release tarballs (.tar.gz or .tar) or two release directories (files
paired by name), layer by layer: the gzip header and the encoder that made each side, tar members added,
removed or reordered and each header field, then member contents (nested tarballs, ELF build IDs and
embedded paths, text as a unified diff, other bytes as ranges). Each difference gets a probable cause and
the fix. Archives are streamed and never extracted; hostile input (unsafe names, symlink loops, huge
declared sizes, decompression bombs) is refused and listed in the report.

Options:
  --json             print the report as JSON (schemas/diff-report.schema.json) instead of text
  --html FILE        also write a self-contained HTML report (collapsible per member) to FILE
  --max-depth N      nested archives to open (default 4)
  --no-gnu-gzip      do not try GNU gzip (found on PATH) when naming a gzip encoder
  -h, --help         show this help

Exit status: 0 identical, 1 different, 2 usage or input error (the message names the file).
`;

/** GNU gzip from PATH, as the library may not read the environment itself. */
function findGzip(env: Record<string, string | undefined>): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, 'gzip');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this PATH entry
    }
  }
  return undefined;
}

export async function diffCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      json: { type: 'boolean' },
      html: { type: 'string' },
      'max-depth': { type: 'string' },
      'no-gnu-gzip': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    io.stdout.write(DIFF_HELP);
    return EXIT.ok;
  }
  if (positionals.length !== 2) {
    io.stderr.write(`krepro diff: give two tarballs or two directories, got ${positionals.length} argument${positionals.length === 1 ? '' : 's'}\nRun 'krepro diff --help' for usage.\n`);
    return EXIT.usage;
  }
  let maxDepth: number | undefined;
  try {
    maxDepth = integerOption('max-depth', values['max-depth'], { min: 1 });
  } catch (err) {
    io.stderr.write(`krepro diff: ${(err as Error).message}\nRun 'krepro diff --help' for usage.\n`);
    return EXIT.usage;
  }
  const gnuGzip = values['no-gnu-gzip'] ? undefined : findGzip(io.env);
  const [a, b] = positionals as [string, string];
  const report = await diff(path.resolve(io.cwd, a), path.resolve(io.cwd, b), {
    signal: io.signal,
    ...(gnuGzip ? { gnuGzip } : {}),
    ...(maxDepth !== undefined ? { limits: { maxDepth } } : {}),
  });
  // Reports name the inputs as the user typed them.
  const shown = { ...report, source1: a, source2: b };
  if (values.html !== undefined) await writeFile(path.resolve(io.cwd, values.html), renderHtml(shown));
  io.stdout.write(values.json ? renderJson(shown) : renderText(shown));
  return report.identical ? EXIT.ok : EXIT.different;
}
