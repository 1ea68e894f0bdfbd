import * as path from 'node:path';
import { checkHtml, checkMarkdown } from '../lib/api/check.js';
import { checkRelease, type CheckResult, loadVerifyingKey } from '../lib/index.js';
import { visible, visibleJson } from '../lib/quote.js';
import { checkedAgainst } from '../lib/report/check.js';
import { defineCommand, parseCommand, UsageError, SIGNAL_EXITS } from './command.js';
import { showHelp } from './help.js';
import { type CommandIO, EXIT } from './io.js';
import { REPORT_OPTIONS, reportTargets, writeReports } from './reports.js';
import { uiFor } from './ui.js';
import { byteProgress } from './progress.js';

export const CHECK = defineCommand({
  name: 'check',
  summary: "check a release directory's files against its SHA256SUMS/SHA512SUMS, manifest and signed statement",
  usage: ['check [--key PUB] [options] DIR'],
  description: `Checks that a release directory's files are the ones it names: every file SHA256SUMS and SHA512SUMS list, each
per-file <name>.sha256/<name>.sha512, the size and SRI integrity of every file krepro-manifest.json lists and,
with --key, the signed statements in krepro.intoto.jsonl and krepro.sigstore.json (each signature must verify)
and their subjects that are in the directory. Each file is read once, streamed, whatever its size. The directory is treated as
untrusted: symbolic links are never followed (a listed name that is one fails), lists are read up to 16 MiB,
and names are printed with control characters escaped.

Files no list covers, and signed subjects that are not in the directory (a build's outputs, named by their
checkout path), are reported, not failed. With --quiet only what fails and the verdict are printed.`,
  options: {
    key: { type: 'string', value: 'PUB', complete: 'file', help: 'PEM public key (ECDSA P-256 or Ed25519) krepro.intoto.jsonl must verify with' },
    json: { type: 'boolean', help: 'print the result as JSON (lists, every file with each expectation, uncovered, outside) instead of text' },
    ...REPORT_OPTIONS,
  },
  positionals: [{ name: 'DIR', help: 'the release directory', complete: 'dir' }],
  examples: [
    { command: 'krepro check --key release.pub _output/release-tars', does: 'check a signed release: exit 0 when every file is what its lists and signed statement say' },
    { command: 'krepro check --json downloads/v1.31.0 | jq \'.files[] | select(.verdict != "match")\'', does: 'the files that fail, as JSON' },
  ],
  exits: [
    [0, 'every listed file matches'],
    [1, 'a file differs from a list or a listed file is missing (each named)'],
    [2, 'unusable input (no such directory, nothing to check, a list that cannot be read)'],
    ...SIGNAL_EXITS,
  ],
});

export async function checkCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseCommand(CHECK, argv);
  if (values.help) return showHelp(CHECK, io);
  const ui = uiFor(io, values);
  if (positionals.length !== 1) throw new UsageError('give the release directory to check, e.g. krepro check _output/release-tars');
  const targets = await reportTargets(values, io, { stdoutTakenBy: values.json ? '--json' : undefined });
  const key = values.key === undefined ? undefined : await loadVerifyingKey(path.resolve(io.cwd, values.key));
  const result = await checkRelease({ dir: path.resolve(io.cwd, positionals[0]!), ...(key ? { key } : {}), signal: io.signal, onProgress: byteProgress(ui.progressStream), trace: ui.trace });
  const json = () => `${visibleJson(result)}\n`;
  await writeReports(targets, io, { 'json-file': json, html: () => checkHtml(result), markdown: () => checkMarkdown(result) }, () => (values.json ? json() : checkText(result, { keyid: key?.keyid, quiet: ui.quiet })));
  return result.ok ? EXIT.ok : EXIT.different;
}

/** One line per listed file that does not match, and per envelope that does not verify, each named. */
export function checkFailureLines(r: CheckResult): string[] {
  const out: string[] = [];
  for (const f of r.files) {
    const sources = [...new Set(f.expectations.map((e) => e.source))].join(', ');
    if (f.verdict === 'missing') out.push(`MISSING   ${visible(f.name)}: listed in ${sources}`);
    else if (f.verdict === 'not-a-file') out.push(`NOT READ  ${visible(f.name)}: ${f.what}; listed in ${sources}`);
    else if (f.verdict === 'mismatch') {
      out.push(`MISMATCH  ${visible(f.name)}`);
      for (const e of f.expectations.filter((x) => !x.ok)) out.push(`          ${e.what} is ${e.actual}, but ${e.source} says ${e.expected}`);
    }
  }
  for (const e of r.envelopes) for (const f of e.failures) out.push(`INVALID   ${e.file} line ${e.line}: ${f.check}: ${visible(f.message)}`);
  return out;
}

/** The result as lines a person reads: every file's verdict, then what was not covered, then one verdict line. */
export function checkText(r: CheckResult, opts: { keyid?: string | undefined; quiet?: boolean } = {}): string {
  const { keyid, quiet = false } = opts;
  const out = [...(quiet ? [] : r.files.filter((f) => f.verdict === 'match').map((f) => `ok        ${visible(f.name)}`)), ...checkFailureLines(r)];
  if (!quiet) {
    for (const u of r.uncovered) out.push(`not covered  ${visible(u.name)}${u.kind === 'file' ? '' : ` (${u.kind === 'symlink' ? 'a symbolic link' : 'not a regular file'})`}: no list names it`);
    // A release's signed recipe names every build output: a few lines per list and reason, not hundreds.
    const groups = new Map<string, CheckResult['outside']>();
    for (const o of r.outside) groups.set(`${o.source}\0${o.why}`, [...(groups.get(`${o.source}\0${o.why}`) ?? []), o]);
    for (const group of groups.values()) {
      const [first] = group;
      if (group.length <= 3) for (const o of group) out.push(`not here     ${visible(o.name)} (${o.source}): ${o.why}`);
      else out.push(`not here     ${group.length} names in ${first!.source}, e.g. ${visible(first!.name)}: ${first!.why}`);
    }
    for (const n of r.notes) out.push(`note: ${visible(n)}`);
  }
  const failed = r.files.filter((f) => f.verdict !== 'match');
  const against = checkedAgainst(r, keyid);
  if (r.ok) out.push(`OK: ${r.files.length} file${r.files.length === 1 ? '' : 's'} match ${against}`);
  else {
    const what = [failed.length > 0 ? `${failed.length} of ${r.files.length} files do not match ${against}` : '', r.envelopes.length > 0 ? `${r.envelopes.length} signed envelope(s) do not verify` : ''].filter(Boolean);
    out.push(`FAILED: ${what.join('; ')}`);
  }
  return `${out.join('\n')}\n`;
}
