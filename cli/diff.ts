import { accessSync, constants } from 'node:fs';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { parseDiffJson, renderDiffHtml as renderHtml, renderDiffJson as renderJson, renderDiffMarkdown as renderMarkdown, renderDiffText as renderText } from '../lib/api/diff.js';
import { diff, type DiffReport, KreproError } from '../lib/index.js';
import { defineCommand, parseCommand, SIGNAL_EXITS } from './command.js';
import { showHelp } from './help.js';
import { type CommandIO, EXIT } from './io.js';
import { REPORT_OPTIONS, reportTargets, writeReports } from './reports.js';
import { integerOption } from './number-option.js';

export const DIFF = defineCommand({
  name: 'diff',
  summary: 'explain every difference between two release tarballs or directories: cause and fix, layer by layer',
  usage: ['diff [options] A B', 'diff --from-json REPORT [--json] [--json-file FILE] [--markdown FILE] [--html FILE]'],
  description: `Explains every difference between two files of any kind or two directories (entries paired by relative
path), layer by layer, each with a probable cause and the fix:
  gzip       header fields (FNAME, MTIME, XFL, OS), the encoder that made each side, then what it holds,
             compared as what it is (a tar, text, JSON, an ELF binary, bytes)
  tar        members added, removed, renamed (paired by content similarity) or reordered, each header
             field, then each member's content; nested archives are opened (see --max-depth)
  images     docker-archive and OCI image tarballs: manifests and config as JSON, each layer as a tar,
             so a change reads image → layer → file
  ELF        build IDs (Go and GNU), embedded build paths and dates, which sections differ, then bytes
  JSON       by key; text as a unified diff; anything else as differing byte ranges
Archives are streamed and never extracted; hostile input (unsafe names, symlink loops, huge declared
sizes, decompression bombs) is refused and listed in the report.`,
  options: {
    exclude: {
      type: 'string',
      value: 'GLOB',
      multiple: true,
      complete: 'none',
      help: "leave out members and directory entries whose path matches GLOB, at any nesting level, and everything below a directory it matches (repeatable; a GLOB with '/' matches the whole path, e.g. 'kubernetes/server/*'; one without matches any path component, e.g. '*.pyc'; '*' stays within one directory, '**' crosses them)",
    },
    'exclude-metadata': { type: 'boolean', help: "do not compare directory entries' mode, owner and mtime (on-disk metadata of the copies, which says nothing about their bytes: two copies of one release differ there)" },
    'max-depth': { type: 'string', value: 'N', complete: 'none', help: 'nested archives to open (default 4)' },
    'max-diff-lines': { type: 'string', value: 'N', complete: 'none', help: "lines of one member's unified diff before it is cut with a note (default 4000)" },
    'max-report-size': { type: 'string', value: 'N', complete: 'none', help: 'cut the report once it passes N bytes (JSON size), saying where; the summary still counts everything' },
    json: { type: 'boolean', help: 'print the report as JSON (schemas/diff-report.schema.json) instead of text' },
    ...REPORT_OPTIONS,
    'from-json': { type: 'string', value: 'FILE', complete: 'file', help: 're-render a saved JSON report (text, --json, --markdown, --html) without the inputs' },
    'no-gnu-gzip': { type: 'boolean', help: 'do not try GNU gzip (found on PATH) when naming a gzip encoder' },
  },
  positionals: [
    { name: 'A', help: 'the first file or directory', complete: 'file' },
    { name: 'B', help: 'the second file or directory', complete: 'file' },
  ],
  examples: [
    { command: 'krepro diff old/kubernetes.tar.gz new/kubernetes.tar.gz', does: 'every difference between two tarballs, with its cause and fix' },
    { command: "krepro diff --exclude '**/*.sha256' --json-file diff.json --html diff.html --markdown - old/ new/", does: 'two release directories: the JSON and HTML reports saved, the Markdown one printed' },
  ],
  exits: [
    [0, 'identical'],
    [1, 'different'],
    [2, 'usage or input error (the message names the file or value)'],
    ...SIGNAL_EXITS,
  ],
});

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

async function savedReport(file: string): Promise<DiffReport> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new KreproError('E_IO', `cannot read ${file}: ${(err as Error).message}`, { path: file, cause: err });
  }
  return parseDiffJson(text, file);
}

export async function diffCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseCommand(DIFF, argv);
  if (values.help) return showHelp(DIFF, io);
  const usage = (message: string) => {
    io.stderr.write(`krepro diff: ${message}\nRun 'krepro diff --help' for usage.\n`);
    return EXIT.usage;
  };
  // The numbers first: in `--max-depth rel-a rel-b` the mistake is the value the option took, not the count of inputs.
  let maxDepth: number | undefined, maxDiffLines: number | undefined, maxReportSize: number | undefined;
  try {
    [maxDepth, maxDiffLines, maxReportSize] = (['max-depth', 'max-diff-lines', 'max-report-size'] as const).map((o) => integerOption(o, values[o], { min: 1 }));
  } catch (err) {
    return usage((err as Error).message);
  }
  const fromJson = values['from-json'];
  if (fromJson !== undefined && positionals.length) return usage(`--from-json re-renders a saved report: give no inputs, got ${positionals.join(' ')}`);
  if (fromJson === undefined && positionals.length !== 2) {
    // --markdown took a FILE from 0.2 on: `diff --markdown A B` now reads A as the report file.
    const hint = values.markdown !== undefined && values.markdown !== '-' && positionals.length === 1 ? ` (--markdown takes the FILE to write; --markdown - prints it)` : '';
    return usage(`give two files or two directories, got ${positionals.length} argument${positionals.length === 1 ? '' : 's'}${hint}`);
  }
  // Report files are checked before the comparison, which may take long.
  const inputs = [...positionals, ...(fromJson !== undefined ? [fromJson] : [])].map((p) => path.resolve(io.cwd, p));
  const targets = await reportTargets(values, io, { stdoutTakenBy: values.json ? '--json' : undefined, inputs });
  let report: DiffReport;
  if (fromJson !== undefined) {
    report = await savedReport(path.resolve(io.cwd, fromJson));
  } else {
    const gnuGzip = values['no-gnu-gzip'] ? undefined : findGzip(io.env);
    const [a, b] = positionals as [string, string];
    const limits = { ...(typeof maxDepth === 'number' ? { maxDepth } : {}), ...(typeof maxDiffLines === 'number' ? { maxDiffLines } : {}) };
    const result = await diff(path.resolve(io.cwd, a), path.resolve(io.cwd, b), {
      signal: io.signal,
      limits,
      labels: [a, b],
      ...(gnuGzip ? { gnuGzip } : {}),
      ...(values.exclude?.length ? { exclude: values.exclude } : {}),
      ...(values['exclude-metadata'] ? { excludeMetadata: true } : {}),
      ...(typeof maxReportSize === 'number' ? { maxReportSize } : {}),
    });
    report = result;
  }
  await writeReports(targets, io, { 'json-file': () => renderJson(report), html: () => renderHtml(report), markdown: () => renderMarkdown(report) }, () => (values.json ? renderJson(report) : renderText(report)));
  return report.identical ? EXIT.ok : EXIT.different;
}
