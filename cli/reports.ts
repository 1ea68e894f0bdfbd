import { constants } from 'node:fs';
import { access, appendFile, lstat, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { isKreproError, KreproError } from '../lib/index.js';
import { writeSmallFile } from '../lib/archive/pack.js';
import { quote } from '../lib/quote.js';
import { type OptionSpecs, UsageError } from './command.js';
import { type CommandIO, writePath } from './io.js';

/**
 * The report files a command writes besides what it prints: any of them together in one run, `-` for stdout
 * (one of them at most), every path checked before the work starts and each file written whole or not at all.
 */
export const REPORT_OPTIONS = {
  'json-file': { type: 'string', value: 'FILE', complete: 'file', help: "also write the JSON report to FILE ('-': to stdout, instead of the text report)" },
  html: { type: 'string', value: 'FILE', complete: 'file', help: "also write a self-contained HTML report to FILE ('-': to stdout)" },
  markdown: { type: 'string', value: 'FILE', complete: 'file', help: "also write the report as GitHub Markdown to FILE, e.g. for a pull-request comment ('-': to stdout)" },
} as const satisfies OptionSpecs;

/** verify's JUnit XML, for CI systems that show test results (GitLab, Jenkins, Azure, GitHub test reporters). */
export const JUNIT_OPTION = {
  junit: { type: 'string', value: 'FILE', complete: 'file', help: "also write a JUnit XML report to FILE: one test case per artifact, its causes and fixes as the failure message ('-': to stdout)" },
} as const satisfies OptionSpecs;

export type ReportFormat = keyof typeof REPORT_OPTIONS | keyof typeof JUNIT_OPTION;

export interface ReportTargets {
  /** format → absolute path, or '-' for stdout */
  files: Partial<Record<ReportFormat, string>>;
  /** the format that goes to stdout instead of the text report, if one does */
  stdout?: ReportFormat;
  /** GITHUB_STEP_SUMMARY, when the command appends its Markdown summary there */
  stepSummary?: string;
}

async function checkWritable(what: string, file: string): Promise<void> {
  const fail = (why: string): never => {
    throw new KreproError('E_USAGE', `${what} ${file}: ${why}`, { path: file });
  };
  const existing = await lstat(file).catch(() => undefined);
  if (existing?.isDirectory()) fail('is a directory');
  const dir = path.dirname(file);
  const parent = await stat(dir).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : fail(`cannot use ${dir} (${err.code})`)));
  if (parent === undefined) fail(`the directory ${dir} does not exist`);
  if (!parent!.isDirectory()) fail(`${dir} is not a directory`);
  await access(dir, constants.W_OK).catch((err: NodeJS.ErrnoException) => fail(`cannot write in ${dir} (${err.code})`));
  if (existing) await access(file, constants.W_OK).catch((err: NodeJS.ErrnoException) => fail(`cannot be replaced (${err.code})`));
}

/**
 * The report files the options name, checked before any work: at most one `-`, and not together with an option
 * that prints to stdout itself (`stdoutTakenBy`, e.g. --json); no two options (and no input) naming one file; each
 * file's directory existing and writable. With `stepSummary`, GITHUB_STEP_SUMMARY is checked the same way.
 */
export async function reportTargets(
  values: Partial<Record<ReportFormat, string | undefined>>,
  io: CommandIO,
  opts: { stdoutTakenBy?: string | undefined; inputs?: readonly string[]; stepSummary?: string | undefined } = {},
): Promise<ReportTargets> {
  const formats = [...Object.keys(REPORT_OPTIONS), ...Object.keys(JUNIT_OPTION)] as ReportFormat[];
  const given = formats.flatMap((f): [ReportFormat, string][] => (values[f] === undefined ? [] : [[f, values[f]!]]));
  const toStdout = given.filter(([, v]) => v === '-').map(([f]) => `--${f}`);
  if (toStdout.length > 1) throw new UsageError(`'-' (stdout) can take one report, got it for ${toStdout.join(' and ')}`);
  if (toStdout.length === 1 && opts.stdoutTakenBy) throw new UsageError(`${toStdout[0]} - and ${opts.stdoutTakenBy} both write to stdout: give one`);
  const files: ReportTargets['files'] = {};
  const seen = new Map<string, string>((opts.inputs ?? []).map((i) => [i, 'the input']));
  for (const [format, value] of given) {
    if (value === '-') {
      files[format] = '-';
      continue;
    }
    if (value === '') throw new UsageError(`--${format} needs a file name (or - for stdout)`);
    // Below the checkout no link of the checkout's is followed (writePath); outside it, the user's path is theirs.
    const file = await writePath(io, value);
    const other = seen.get(file);
    if (other) throw new UsageError(`--${format} ${quote(value)} names the same file as ${other}: ${other === 'the input' ? 'it would be overwritten' : 'give each report its own file'}`);
    seen.set(file, `--${format}`);
    await checkWritable(`--${format}`, file);
    files[format] = file;
  }
  if (opts.stepSummary) await checkWritable('GITHUB_STEP_SUMMARY', path.resolve(io.cwd, opts.stepSummary));
  const stdout = given.find(([, v]) => v === '-')?.[0];
  return { files, ...(stdout ? { stdout } : {}), ...(opts.stepSummary ? { stepSummary: path.resolve(io.cwd, opts.stepSummary) } : {}) };
}

/**
 * Prints what goes to stdout first (the report given '-', else `text`, e.g. the text report), so a file that cannot
 * be written after all never costs it; then writes each report file whole or not at all (beside the target, then
 * renamed), rendering only those asked for, and appends the Markdown summary to GITHUB_STEP_SUMMARY in one write.
 */
export async function writeReports(targets: ReportTargets, io: Pick<CommandIO, 'stdout'>, render: Partial<Record<ReportFormat, () => string>>, text: () => string): Promise<void> {
  const renderer = (format: ReportFormat) => {
    const r = render[format];
    if (!r) throw new Error(`no renderer for --${format}`);
    return r;
  };
  io.stdout.write(targets.stdout ? renderer(targets.stdout)() : text());
  // Checked before the work, a path can still fail now (its directory removed, the disk full): an error naming it,
  // never an internal error, and the report already printed stands.
  const failed = (what: string, file: string) => (cause: unknown): never => {
    if (isKreproError(cause)) throw cause;
    const why = (cause as NodeJS.ErrnoException).code ?? (cause as Error).message;
    throw new KreproError('E_IO', `cannot write ${what} ${file}: ${why} (the report printed above is complete)`, { path: file, cause });
  };
  for (const [format, file] of Object.entries(targets.files) as [ReportFormat, string][]) {
    if (file !== '-') await writeSmallFile(file, renderer(format)()).catch(failed(`--${format}`, file));
  }
  if (targets.stepSummary) {
    const summary = renderer('markdown')();
    await appendFile(targets.stepSummary, summary.endsWith('\n') ? summary : `${summary}\n`).catch(failed('GITHUB_STEP_SUMMARY', targets.stepSummary));
  }
}
