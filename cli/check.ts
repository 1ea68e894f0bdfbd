import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { checkRelease, type CheckResult, loadVerifyingKey, visible, visibleJson } from '../lib/index.js';
import { type CommandIO, EXIT } from './io.js';
import { byteProgress } from './progress.js';

export const CHECK_HELP = `Usage: krepro check [--key PUB] [options] DIR

Checks that a release directory's files are the ones it names: every file SHA256SUMS and SHA512SUMS list, each
per-file <name>.sha256/<name>.sha512, the size and SRI integrity of every file krepro-manifest.json lists and,
with --key, the signed statements in krepro.intoto.jsonl and krepro.sigstore.json (each signature must verify)
and their subjects that are in the directory. Each file is read once, streamed, whatever its size. The directory is treated as
untrusted: symbolic links are never followed (a listed name that is one fails), lists are read up to 16 MiB,
and names are printed with control characters escaped.

Files no list covers, and signed subjects that are not in the directory (a build's outputs, named by their
checkout path), are reported, not failed.

Options:
  --key PUB          PEM public key (ECDSA P-256 or Ed25519) krepro.intoto.jsonl must verify with
  --json             print the result as JSON (lists, every file with each expectation, uncovered, outside)
  -h, --help         show this help

Exit status: 0 every listed file matches, 1 a file differs from a list or a listed file is missing (each
named), 2 unusable input (no such directory, nothing to check, a list that cannot be read), 130 interrupted.
`;

export async function checkCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, strict: true, allowPositionals: true, options: { key: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    io.stdout.write(CHECK_HELP);
    return EXIT.ok;
  }
  if (positionals.length !== 1) {
    io.stderr.write(`krepro check: give one release directory, e.g. krepro check _output/release-tars (got ${positionals.length} arguments)\n`);
    return EXIT.usage;
  }
  const key = values.key === undefined ? undefined : await loadVerifyingKey(path.resolve(io.cwd, values.key));
  const result = await checkRelease({ dir: path.resolve(io.cwd, positionals[0]!), ...(key ? { key } : {}), signal: io.signal, onProgress: byteProgress(io.stderr) });
  io.stdout.write(values.json ? `${visibleJson(result)}\n` : checkText(result, key?.keyid));
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
export function checkText(r: CheckResult, keyid?: string): string {
  const out = [...r.files.filter((f) => f.verdict === 'match').map((f) => `ok        ${visible(f.name)}`), ...checkFailureLines(r)];
  for (const u of r.uncovered) out.push(`not covered  ${visible(u.name)}${u.kind === 'file' ? '' : ` (${u.kind === 'symlink' ? 'a symbolic link' : 'not a regular file'})`}: no list names it`);
  for (const o of r.outside) out.push(`not here     ${visible(o.name)} (${o.source}): ${o.why}`);
  for (const n of r.notes) out.push(`note: ${visible(n)}`);
  const failed = r.files.filter((f) => f.verdict !== 'match');
  const lists = r.lists.filter((l) => l.kind !== 'file-sum').map((l) => (l.kind === 'attestation' && keyid ? `${l.file} (key ${keyid})` : l.file));
  const perFile = r.lists.filter((l) => l.kind === 'file-sum').length;
  if (perFile > 0) lists.push(`${perFile} per-file sums`);
  const against = lists.join(', ');
  if (r.ok) out.push(`OK: ${r.files.length} file${r.files.length === 1 ? '' : 's'} match ${against}`);
  else {
    const what = [failed.length > 0 ? `${failed.length} of ${r.files.length} files do not match ${against}` : '', r.envelopes.length > 0 ? `${r.envelopes.length} signed envelope(s) do not verify` : ''].filter(Boolean);
    out.push(`FAILED: ${what.join('; ')}`);
  }
  return `${out.join('\n')}\n`;
}
