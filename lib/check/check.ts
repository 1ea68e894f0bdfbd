import { lstat, readdir, realpath } from 'node:fs/promises';
import * as path from 'node:path';
import { ATTESTATION_FILE, BUNDLE_FILE, verifyAttestations } from '../attest/file.js';
import type { EnvelopeFailure } from '../attest/dsse.js';
import type { VerifyingKey } from '../attest/keys.js';
import { byteOrder } from '../byte-order.js';
import { KreproError } from '../errors.js';
import { digestsOf } from '../integrity/hash-stream.js';
import { MANIFEST_NAME } from '../layout/package-release.js';
import { type Trace, traced } from '../trace.js';
import { nameInside, openInside, readSmall } from './inside.js';
import { CHECKED_ALGORITHMS, type Expectation, listText, type Listed, parseFileSum, parseManifest, parseSums } from './lists.js';

/** The largest list (sums file, manifest, attestation) check reads: lists are kilobytes. */
export const CHECK_LIST_LIMIT = 16 * 1024 * 1024;
/** The most entries check walks in a release directory (a release has tens). */
export const CHECK_ENTRY_LIMIT = 100_000;

const SUMS_FILES: Readonly<Record<string, string>> = { SHA256SUMS: 'sha256', SHA512SUMS: 'sha512' };
const FILE_SUM = /\.(sha256|sha512)$/;

/** What checkRelease checks, and how it reports. */
export interface CheckOptions {
  /** the release directory */
  dir: string;
  /** check the signed statements (krepro.intoto.jsonl, krepro.sigstore.json) with this key, and their subjects in the directory */
  key?: VerifyingKey;
  /** Aborts the check between reads. */
  signal?: AbortSignal;
  /** Called as the check plans, starts each file and reads its bytes. */
  onProgress?: (event: CheckProgress) => void;
  /** each list read and each file hashed, with its time */
  trace?: Trace;
}

/** Progress of a check: the plan (files and bytes to hash), each file as it starts, bytes as read, the end. */
export type CheckProgress =
  | { type: 'plan'; files: number; bytes: number }
  | { type: 'file'; name: string; bytes: number }
  | { type: 'bytes'; bytes: number }
  | { type: 'done' };

/** One thing a list says about a file, and whether the file agrees. */
export interface CheckedExpectation extends Expectation {
  /** what the file has (hex digest or size); absent when the file could not be read */
  actual?: string;
  /** The file agrees. */
  ok: boolean;
}

/** One file the lists name, checked against everything they say about it. */
export interface CheckedFile {
  /** as the lists name it, relative to the directory */
  name: string;
  /**
   * match: every list agrees with the file's bytes; mismatch: a digest or the size differs; missing: listed but
   * absent; not-a-file: a symbolic link (never followed), a directory, a FIFO or a device where a file is listed
   */
  verdict: 'match' | 'mismatch' | 'missing' | 'not-a-file';
  /** for not-a-file: what is there */
  what?: string;
  /** Size in bytes of the file as read, whatever the lists name; absent when it could not be read. */
  size?: number;
  /** SHA-256 (lowercase hex) of the file as read, whatever the lists name; absent when it could not be read. */
  sha256?: string;
  /** What each list says about it, checked. */
  expectations: CheckedExpectation[];
}

/** One list that was read: a sums file, a per-file sum, the manifest or the attestation. */
export interface CheckedList {
  /** relative to the directory */
  file: string;
  /** What kind of list: `SHA256SUMS`, `<name>.sha256`, krepro-manifest.json, or the signed statement. */
  kind: 'sums' | 'file-sum' | 'manifest' | 'attestation';
  /** names it lists (subjects, for the attestation) */
  entries: number;
}

/** The outcome of checking a release directory. */
export interface CheckResult {
  /** the directory, as a real path */
  dir: string;
  /** every listed file matches and every signed envelope verifies */
  ok: boolean;
  /** Every list read, in the order read. */
  lists: CheckedList[];
  /** every name a list gives that is in the directory (or should be), in byte order */
  files: CheckedFile[];
  /** envelopes of the attestation that do not verify with the key: each is a failure */
  envelopes: { file: string; line: number; failures: EnvelopeFailure[] }[];
  /** what no list covers: reported, not failed */
  uncovered: { name: string; kind: 'file' | 'symlink' | 'other' }[];
  /** names a list gives that are not in the directory's tree (a build output's checkout path, `..`): reported, not failed */
  outside: { name: string; source: string; why: string }[];
  /** what was not checked and why (an attestation without a key, a subject without a digest krepro checks) */
  notes: string[];
}

type Entry = { kind: 'file' | 'symlink' | 'other'; size: number };

/** Every entry below `root` but directories, not following links, relative and '/'-separated. */
async function walk(root: string): Promise<Map<string, Entry>> {
  const entries = new Map<string, Entry>();
  const visit = async (rel: string): Promise<void> => {
    for (const d of await readdir(rel ? path.join(root, rel) : root, { withFileTypes: true })) {
      if (entries.size >= CHECK_ENTRY_LIMIT) throw new KreproError('E_CHECK', `${root} holds more than ${CHECK_ENTRY_LIMIT} entries: not a release directory`, { path: root });
      const name = rel ? `${rel}/${d.name}` : d.name;
      if (d.isDirectory()) await visit(name);
      else if (d.isFile()) entries.set(name, { kind: 'file', size: (await lstat(path.join(root, name))).size });
      else entries.set(name, { kind: d.isSymbolicLink() ? 'symlink' : 'other', size: 0 });
    }
  };
  await visit('');
  return entries;
}

async function directoryOf(dir: string): Promise<string> {
  const root = await realpath(dir).catch((err: NodeJS.ErrnoException) => {
    throw new KreproError('E_CHECK', err.code === 'ENOENT' ? `${dir} does not exist` : `cannot read ${dir}: ${err.code ?? err.message}`, { path: dir });
  });
  if (!(await lstat(root)).isDirectory()) throw new KreproError('E_CHECK', `${dir} is not a directory`, { path: dir });
  return root;
}

/** A list's text: a regular file in the directory, never a link, at most CHECK_LIST_LIMIT bytes. */
async function readList(root: string, name: string): Promise<string> {
  const opened = await openInside(root, name);
  if (opened.kind !== 'file') {
    const what = opened.kind === 'link' ? 'a symbolic link (not followed)' : opened.kind === 'missing' ? 'gone' : opened.what;
    throw new KreproError('E_CHECK', `${name} in ${root} is ${what}: it cannot be read as a list`, { path: path.join(root, name) });
  }
  return listText(await readSmall(opened, name, CHECK_LIST_LIMIT), name);
}

/**
 * Checks a release directory against what it says of itself: every name `SHA256SUMS` and `SHA512SUMS` list, the
 * per-file `<name>.sha256`/`.sha512`, `krepro-manifest.json` (size and SRI integrity) and, with a key, the subjects of
 * the signed statements in `krepro.intoto.jsonl` and `krepro.sigstore.json` (whose signatures must verify). Each
 * file is hashed once, streamed, with every algorithm a list names for it. The directory is treated as hostile: no symbolic link is followed, a
 * FIFO is never opened for reading, lists are size-bounded, names are returned as written (print them escaped).
 * A list that cannot be read as what it is, a missing directory or nothing to check is an E_CHECK error.
 */
export async function checkRelease(opts: CheckOptions): Promise<CheckResult> {
  const root = await directoryOf(opts.dir);
  const entries = await walk(root);
  const listed: Listed[] = [];
  const lists: CheckedList[] = [];
  const listFiles = new Set<string>();
  const notes: string[] = [];
  const outside: CheckResult['outside'] = [];
  const envelopes: CheckResult['envelopes'] = [];

  for (const [file, algorithm] of Object.entries(SUMS_FILES)) {
    if (!entries.has(file)) continue;
    const parsed = parseSums(await readList(root, file), file, algorithm);
    listed.push(...parsed);
    lists.push({ file, kind: 'sums', entries: parsed.length });
    listFiles.add(file);
  }
  for (const [file, entry] of [...entries].sort(([a], [b]) => byteOrder(a, b))) {
    const m = FILE_SUM.exec(file);
    if (!m || entry.kind !== 'file' || file in SUMS_FILES) continue;
    const target = file.slice(0, -m[0].length);
    listed.push({ name: target, expectations: [parseFileSum(await readList(root, file), file, target, m[1]!)] });
    lists.push({ file, kind: 'file-sum', entries: 1 });
    listFiles.add(file);
  }
  if (entries.has(MANIFEST_NAME)) {
    const parsed = parseManifest(await readList(root, MANIFEST_NAME), MANIFEST_NAME);
    listed.push(...parsed);
    lists.push({ file: MANIFEST_NAME, kind: 'manifest', entries: parsed.length });
    listFiles.add(MANIFEST_NAME);
  }
  const signed = [ATTESTATION_FILE, BUNDLE_FILE].filter((f) => entries.has(f));
  if (opts.key) {
    if (signed.length === 0) throw new KreproError('E_CHECK', `--key was given, but ${root} has no ${ATTESTATION_FILE} or ${BUNDLE_FILE} to check with it`, { path: root });
    for (const file of signed) {
      const verified = await verifyAttestations(await readList(root, file), file, opts.key);
      let subjects = 0;
      for (const line of verified.lines) {
        const source = verified.form === 'sigstore-bundle' ? file : `${file} line ${line.line}`;
        if (!line.valid) {
          envelopes.push({ file, line: line.line, failures: line.failures });
          continue;
        }
        for (const subject of line.statement?.subject ?? []) {
          subjects++;
          const digests = Object.entries(subject.digest ?? {}).filter(([a]) => a in CHECKED_ALGORITHMS);
          if (digests.length === 0) {
            notes.push(`${source}: the subject ${subject.name} has no sha256, sha384 or sha512 digest; not checked`);
            continue;
          }
          listed.push({ name: subject.name, expectations: digests.map(([what, hex]) => ({ source, what, expected: String(hex).toLowerCase() })) });
        }
      }
      lists.push({ file, kind: 'attestation', entries: subjects });
      listFiles.add(file);
    }
  } else if (signed.length > 0) {
    notes.push(`${signed.join(' and ')} ${signed.length === 1 ? 'was' : 'were'} not checked: give the public key ${signed.length === 1 ? 'it was' : 'they were'} signed with (--key PUB)`);
    for (const file of signed) listFiles.add(file);
  }
  if (lists.length === 0) {
    throw new KreproError('E_CHECK', `nothing to check: ${root} has no SHA256SUMS, SHA512SUMS, <file>.sha256, <file>.sha512 or ${MANIFEST_NAME}${signed.length > 0 ? ` (and ${signed.join(' and ')} ${signed.length === 1 ? 'needs' : 'need'} --key)` : ''}`, { path: root });
  }

  // One entry per name, every list's expectations together, so each file is read once.
  const byName = new Map<string, Expectation[]>();
  for (const l of listed) {
    const inside = nameInside(l.name);
    if ('outside' in inside) {
      for (const e of l.expectations) outside.push({ name: l.name, source: e.source, why: inside.outside });
      continue;
    }
    byName.set(inside.name, [...(byName.get(inside.name) ?? []), ...l.expectations]);
  }
  // A subject with a path that only the signed statements name is a build's output (verify and release sign the
  // outputs beside the tarballs): not expected in a release directory. A bare name belongs in it.
  const signedSource = (e: Expectation) => e.source.startsWith(ATTESTATION_FILE) || e.source.startsWith(BUNDLE_FILE);
  for (const [name, expectations] of byName) {
    const fromSubjectsOnly = expectations.every(signedSource);
    if (fromSubjectsOnly && name.includes('/') && !entries.has(name)) {
      for (const e of expectations) outside.push({ name, source: e.source, why: 'not in the directory (a build output, named by its path in the checkout)' });
      byName.delete(name);
    }
  }

  const names = [...byName.keys()].sort(byteOrder);
  const progress = opts.onProgress ?? (() => {});
  progress({ type: 'plan', files: names.length, bytes: names.reduce((s, n) => s + (entries.get(n)?.size ?? 0), 0) });
  const files: CheckedFile[] = [];
  for (const name of names) {
    opts.signal?.throwIfAborted();
    files.push(await traced(opts.trace, `hash ${name}`, () => checkFile(root, name, byName.get(name)!, opts.signal, progress)));
  }
  progress({ type: 'done' });

  const covered = new Set([...names, ...listFiles]);
  const uncovered = [...entries]
    .filter(([name]) => !covered.has(name))
    .map(([name, e]) => ({ name, kind: e.kind }))
    .sort((a, b) => byteOrder(a.name, b.name));
  const ok = envelopes.length === 0 && files.every((f) => f.verdict === 'match');
  return { dir: root, ok, lists, files, envelopes, uncovered, outside, notes };
}

async function checkFile(root: string, name: string, expectations: Expectation[], signal: AbortSignal | undefined, progress: (e: CheckProgress) => void): Promise<CheckedFile> {
  const opened = await openInside(root, name);
  const unread = expectations.map((e) => ({ ...e, ok: false }));
  if (opened.kind === 'missing') return { name, verdict: 'missing', expectations: unread };
  if (opened.kind === 'link') return { name, verdict: 'not-a-file', what: opened.at === name ? 'a symbolic link (not followed)' : `below the symbolic link ${opened.at} (not followed)`, expectations: unread };
  if (opened.kind === 'not-a-file') return { name, verdict: 'not-a-file', what: opened.what, expectations: unread };
  progress({ type: 'file', name, bytes: opened.size });
  const algorithms = [...new Set(['sha256', ...expectations.map((e) => e.what).filter((w) => w !== 'size')])];
  const { size, hex } = await digestsOf(opened.handle.createReadStream(), algorithms, { ...(signal ? { signal } : {}), onBytes: (bytes) => progress({ type: 'bytes', bytes }) });
  const checked = expectations.map((e) => {
    const actual = e.what === 'size' ? String(size) : hex[e.what]!;
    return { ...e, actual, ok: actual === e.expected };
  });
  return { name, verdict: checked.every((e) => e.ok) ? 'match' : 'mismatch', size, sha256: hex['sha256']!, expectations: checked };
}
