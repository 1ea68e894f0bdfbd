import { createHash } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import { open, lstat, readdir, readlink, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { byteOrder } from '../byte-order.js';
import { KreproError } from '../errors.js';
import { KREPRO_VERSION } from '../version.js';
import { compareGzipLayer } from './comparators/gzip.js';
import { comparatorFor } from './comparators/index.js';
import { type MemberDiff, compareTar, headerFindings, modeCause } from './comparators/tar.js';
import type { ContentContext } from './comparators/types.js';
import { cutTree } from './cut.js';
import { allFindings } from './difference.js';
import { type ExcludeMatcher, excludeMatcher } from './exclude.js';
import { CAUSES, type CauseId, finding } from './findings.js';
import { imagePairs } from './image.js';
import { type MemberPair, type Pairing, StreamPairer, addPairs } from './pairing.js';
import { ArchiveCursor, type ArchiveScan, type ContentKind, type MemberRecord, type ReadContext, SNIFF_BYTES, gzipContent, memberReopener, scanArchive, sniff, symlinkLoops } from './read/archive.js';
import type { GzipHeader } from './read/gzip.js';
import { InflateBudget } from './read/gzip.js';
import { RENAME_METHOD, type RenameCandidate, type RenamePair, pairIdentical, pairSimilar, sketch } from './rename.js';
import { type Source, fileSource, onceThenReopen, sameBytes } from './source.js';
import { DEFAULT_LIMITS, DIFF_REPORT_SCHEMA, type DiffLimits, type DiffOptions, type DiffReport, type Difference, type Finding, type Location, type Refusal } from './types.js';

/** Members (or files) on one side only that are read to pair renames by content; past this they stay unpaired. */
const MAX_RENAME_CANDIDATES = 200;

/** State of one comparison, passed down (no module-level state): limits, the shared inflate budget, refusals, filters. */
interface Run {
  limits: DiffLimits;
  budget: InflateBudget;
  refused: Refusal[];
  gnuGzip?: string;
  signal?: AbortSignal;
  exclude?: ExcludeMatcher;
  excludeMetadata: boolean;
  excluded: number;
  every: boolean;
}

function readContext(run: Run): ReadContext {
  return { limits: run.limits, budget: run.budget, ...(run.signal ? { signal: run.signal } : {}) };
}

/**
 * Explains every difference between two files of any kind or two directories (entries paired by relative path):
 * layer by layer (gzip, tar, image, ELF, JSON, text, bytes), streaming, never extracting. Identical inputs give
 * `identical: true` and no tree; anything refused (limits, unsafe names, loops) is listed in `refused`.
 */
export async function diff(left: string, right: string, options: DiffOptions = {}): Promise<DiffReport> {
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const exclude = excludeMatcher(options.exclude ?? []);
  const run: Run = {
    limits,
    budget: new InflateBudget(limits.maxTotalInflatedBytes),
    refused: [],
    ...(options.gnuGzip ? { gnuGzip: options.gnuGzip } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(exclude ? { exclude } : {}),
    excludeMetadata: options.excludeMetadata ?? false,
    excluded: 0,
    every: options.every ?? false,
  };
  const [sl, sr] = await Promise.all([statOrThrow(left), statOrThrow(right)]);
  let tree: Difference | null;
  const [labelL, labelR] = options.labels ?? [left, right];
  if (sl.isDirectory() && sr.isDirectory()) tree = await compareDirectories({ root: left, label: labelL }, { root: right, label: labelR }, run);
  else if (sl.isFile() && sr.isFile()) tree = await compareFilePair({ file: left, label: labelL, size: sl.size }, { file: right, label: labelR, size: sr.size }, run, []);
  else {
    const fifo = sl.isFIFO() || sr.isFIFO() ? "; a FIFO's bytes are whatever a writer sends, not a file to compare" : '';
    throw new KreproError('E_USAGE', `compare two regular files or two directories: ${left} is ${kindOf(sl)}, ${right} is ${kindOf(sr)}${fifo}`);
  }
  const report = buildReport(labelL, labelR, tree, run);
  if (options.exclude?.length || options.excludeMetadata) report.options = { exclude: [...(options.exclude ?? [])], excludeMetadata: options.excludeMetadata ?? false };
  if (options.maxReportSize !== undefined && report.tree) {
    const cut = cutTree(report.tree, options.maxReportSize);
    if (cut) report.summary.cut = { ...cut, maxReportSize: options.maxReportSize };
  }
  return report;
}

/** What a path is, in words: "a directory", "a regular file", "a FIFO (named pipe)", … */
function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFile()) return 'a regular file';
  const kind = specialKind(st);
  return kind === 'FIFO' ? 'a FIFO (named pipe)' : `a ${kind}`;
}

function specialKind(st: Stats): 'FIFO' | 'socket' | 'character device' | 'block device' {
  return st.isFIFO() ? 'FIFO' : st.isSocket() ? 'socket' : st.isCharacterDevice() ? 'character device' : 'block device';
}

async function statOrThrow(p: string) {
  try {
    return await stat(p);
  } catch (err) {
    throw new KreproError('E_IO', `cannot read ${p}: ${(err as Error).message}`, { path: p, cause: err });
  }
}

async function head(file: string): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const buf = Buffer.alloc(SNIFF_BYTES);
    const { bytesRead } = await handle.read(buf, 0, SNIFF_BYTES, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

const NO_PATH: Location = [];

/** Whether a pair made by name must be kept: a header field or the content differs. */
function pairDiffers(a: MemberRecord, b: MemberRecord): boolean {
  return (a.type === 'file' && b.type === 'file' && a.digest !== b.digest) || headerFindings(a, b, NO_PATH, true).length > 0;
}

/**
 * Pass 1 of both sides, concurrently, pairing members as they stream (pairing.ts); both are awaited even when
 * one fails, so no reader outlives the call.
 */
async function scanBoth(left: Source, right: Source, run: Run): Promise<[ArchiveScan, ArchiveScan, Pairing]> {
  const ctx = readContext(run);
  const pairer = new StreamPairer(pairDiffers, run.exclude);
  const scan = async (source: Source, side: 'left' | 'right') => {
    try {
      return await scanArchive(source, side, ctx, (m) => pairer.add(side, m));
    } finally {
      pairer.finish(side);
    }
  };
  const [a, b] = await Promise.allSettled([scan(left, 'left'), scan(right, 'right')]);
  if (a.status === 'rejected') throw a.reason;
  if (b.status === 'rejected') throw b.reason;
  return [a.value, b.value, pairer.result(a.value.names.length)];
}

/** gzip's own name for what it holds (FNAME), else the file name without its .gz, as diffoscope names it. */
function innerName(name: string, header: GzipHeader): string {
  if (header.fname) return header.fname;
  const file = path.posix.basename(name);
  const base = file.replace(/\.tgz$/i, '.tar').replace(/\.(gz|z)$/i, '');
  return base === file ? `${file}-content` : base;
}

/** Two archives or gzip files: the gzip layer, then a tar's members, or whatever else the gzip holds as content. */
async function compareArchivePair(left: Source, right: Source, run: Run, depth: number, at: Location): Promise<Difference> {
  const [sl, sr, pairing] = await scanBoth(left, right, run);
  run.refused.push(...sl.refusals, ...sr.refusals);
  run.excluded += pairing.excluded;
  const stopped = [...sl.refusals, ...sr.refusals].filter((r) => r.kind !== 'unsafe-name' && r.kind !== 'unsafe-link' && r.kind !== 'symlink-loop');
  const complete = sl.complete && sr.complete;
  let inner: Difference | undefined;
  if (!complete || sl.contentSha256 !== sr.contentSha256) {
    if (sl.inner === 'tar' && sr.inner === 'tar') {
      inner = await tarDifference(left, right, sl, sr, pairing, run, depth, at);
      // Named as diffoscope names what a gzip holds (FNAME, or the file name without .gz).
      if (sl.gzip) inner.source1 = innerName(left.name, sl.gzip.header);
      if (sr.gzip) inner.source2 = innerName(right.name, sr.gzip.header);
    } else if (complete) {
      const ctx = readContext(run);
      const content = (s: Source, scan: ArchiveScan) => (scan.gzip ? gzipContent(s, innerName(s.name, scan.gzip.header), ctx) : s);
      inner = await compareContent(content(left, sl), content(right, sr), sl.inner, sr.inner, [sl.contentSize, sr.contentSize], run, depth, at);
    }
  }
  let top: Difference;
  if (sl.gzip || sr.gzip) {
    const g = await compareGzipLayer(sl, sr, at, { ...(run.gnuGzip ? { gnuGzip: run.gnuGzip } : {}), ...(run.signal ? { signal: run.signal } : {}) });
    top = { source1: left.name, source2: right.name, kind: 'gzip', comments: g.comments, findings: g.findings, details: inner ? [inner] : [] };
  } else {
    top = inner ?? { source1: left.name, source2: right.name, kind: 'tar', comments: [], findings: [], details: [] };
  }
  for (const r of stopped) top.comments.push(`${r.side}: read stopped early (${r.kind}): ${r.detail}`);
  return top;
}

async function tarDifference(left: Source, right: Source, sl: ArchiveScan, sr: ArchiveScan, pairing: Pairing, run: Run, depth: number, at: Location): Promise<Difference> {
  const image = imagePairs(sl, sr, pairing);
  if (image) addPairs(pairing, image.pairs);
  const comments: string[] = [];
  if (image) comments.push(`${image.format} image: the config and each layer are paired by their place in the manifests, and each layer is compared as a tar`);
  const renamed = await pairArchiveRenames(left, right, pairing, run);
  if (renamed) comments.push(renamed);
  const t = compareTar(sl, sr, pairing, at, pairing.excluded > 0);
  comments.unshift(...t.comments);
  if (pairing.excluded) comments.push(`${pairing.excluded} members left out by --exclude`);
  const contents = await compareContents(left, right, t.members.filter((m) => m.content), run, depth, at);
  const details = t.members.map((m): Difference => {
    const name = (m.left ?? m.right)!.name;
    const node: Difference = { source1: m.left?.name ?? '(absent)', source2: m.right?.name ?? '(absent)', kind: 'member', comments: m.comment ? [m.comment] : [], findings: m.findings, details: [] };
    if (m.content && m.left && m.right) {
      if (m.left.size !== m.right.size) node.comments.push(`size ${m.left.size} → ${m.right.size} bytes`);
      const content = contents.get(m);
      if (content) node.details.push(content);
      else node.findings.push(finding('content', [...at, name], 'content', 'sha256', m.left.digest, m.right.digest, `not read again: over the limit of ${run.limits.maxContentDiffs} member pairs explained per archive`));
    }
    return node;
  });
  return { source1: left.name, source2: right.name, kind: image ? 'image' : 'tar', comments, findings: t.findings, details };
}

/** Reads the given members of an archive once, in order, into content sketches. */
async function sketchMembers(source: Source, members: MemberRecord[], run: Run): Promise<Map<MemberRecord, Uint32Array>> {
  const out = new Map<MemberRecord, Uint32Array>();
  if (!members.length) return out;
  const cursor = await ArchiveCursor.open(source, readContext(run));
  try {
    for (const m of [...members].sort((a, b) => a.index - b.index)) out.set(m, await sketch(await cursor.body(m.index)));
  } finally {
    await cursor.close();
  }
  return out;
}

/**
 * Members only on one side, paired by content (rename.ts): identical digests need no reading; the rest are read
 * once more per side to sketch them. Adds the pairs to `pairing` and returns the comment stating the method.
 */
async function pairArchiveRenames(left: Source, right: Source, pairing: Pairing, run: Run): Promise<string | undefined> {
  const candidates = (ms: MemberRecord[]) => ms.filter((m) => m.type === 'file' && m.size > 0).map((m): RenameCandidate<MemberRecord> => ({ item: m, digest: m.digest }));
  const cl = candidates(pairing.leftOnly);
  const cr = candidates(pairing.rightOnly);
  if (!cl.length || !cr.length) return undefined;
  const same = pairIdentical(cl, cr);
  const pairs = [...same.pairs];
  let note = RENAME_METHOD;
  if (same.left.length && same.right.length) {
    if (same.left.length > MAX_RENAME_CANDIDATES || same.right.length > MAX_RENAME_CANDIDATES) {
      note += `; ${same.left.length} and ${same.right.length} members are on one side only, over the ${MAX_RENAME_CANDIDATES} compared by content`;
    } else {
      const [kl, kr] = await Promise.all([sketchMembers(left, same.left.map((c) => c.item), run), sketchMembers(right, same.right.map((c) => c.item), run)]);
      for (const c of same.left) c.sketch = kl.get(c.item)!;
      for (const c of same.right) c.sketch = kr.get(c.item)!;
      pairs.push(...pairSimilar(same.left, same.right));
    }
  }
  addPairs(
    pairing,
    pairs.map((p): MemberPair => ({ left: p.left, right: p.right, how: { comment: `renamed: ${p.left.name} → ${p.right.name}`, rename: { similarity: p.similarity } } })),
  );
  return note;
}

/**
 * Pass 2: reads the differing members of both archives again, in one stream per side when the members are in the
 * same order (a side is reopened only to go backwards), and runs the content comparator for each pair.
 */
async function compareContents(left: Source, right: Source, pairs: MemberDiff[], run: Run, depth: number, at: Location): Promise<Map<MemberDiff, Difference>> {
  const out = new Map<MemberDiff, Difference>();
  if (pairs.length === 0) return out;
  const ctx = readContext(run);
  const todo = [...pairs].sort((a, b) => a.left!.index - b.left!.index);
  if (todo.length > run.limits.maxContentDiffs) {
    run.refused.push({ side: 'both', path: at, kind: 'content-limit', detail: `${todo.length} members differ in content; the first ${run.limits.maxContentDiffs} are explained, the rest reported by digest` });
    todo.length = run.limits.maxContentDiffs;
  }
  const cl = await ArchiveCursor.open(left, ctx);
  let cr: ArchiveCursor | undefined;
  try {
    cr = await ArchiveCursor.open(right, ctx);
    for (const m of todo) {
      run.signal?.throwIfAborted();
      const l = m.left!;
      const r = m.right!;
      if (!cr.canReach(r.index)) {
        await cr.close();
        cr = await ArchiveCursor.open(right, ctx);
      }
      const memberPath = [...at, l.name];
      const ls = onceThenReopen(l.name, memberPath, await cl.body(l.index), memberReopener(left, l.index, ctx));
      const rs = onceThenReopen(r.name, memberPath, await cr.body(r.index), memberReopener(right, r.index, ctx));
      out.set(m, await compareContent(ls, rs, l.kind, r.kind, [l.size, r.size], run, depth, memberPath));
    }
  } finally {
    await Promise.all([cl.close(), cr?.close()]);
  }
  return out;
}

function compareContent(ls: Source, rs: Source, kl: ContentKind, kr: ContentKind, sizes: [number, number], run: Run, depth: number, at: Location): Promise<Difference> {
  const ctx: ContentContext = {
    path: at,
    limits: run.limits,
    sizes,
    every: run.every,
    nested: async (a, b, p) => {
      if (depth >= run.limits.maxDepth) {
        run.refused.push({ side: 'both', path: p, kind: 'depth-limit', detail: `archives nested more than ${run.limits.maxDepth} deep are compared as bytes` });
        return null;
      }
      return compareArchivePair(a, b, run, depth + 1, p);
    },
  };
  return comparatorFor(kl, kr, ctx).compare(ls, rs, ctx);
}

interface DirEntry {
  name: string;
  type: 'file' | 'directory' | 'symlink' | 'FIFO' | 'socket' | 'character device' | 'block device';
  size: number;
  linkname: string;
  mode: number;
  uid: number;
  gid: number;
  mtimeMs: number;
}

/** Walks a directory without following symlinks (so loops cannot trap it), bounded by maxMembers; excluded entries are not entered. */
async function walk(root: string, side: 'left' | 'right', run: Run): Promise<Map<string, DirEntry>> {
  const entries = new Map<string, DirEntry>();
  const queue = [''];
  while (queue.length) {
    const rel = queue.shift()!;
    for (const name of (await readdir(path.join(root, rel))).sort(byteOrder)) {
      if (entries.size >= run.limits.maxMembers) {
        run.refused.push({ side, path: [root], kind: 'member-limit', detail: `stopped after ${run.limits.maxMembers} entries (limit)` });
        return entries;
      }
      const r = rel ? `${rel}/${name}` : name;
      if (run.exclude?.(r)) {
        run.excluded++;
        continue;
      }
      const st = await lstat(path.join(root, r));
      const type = st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'directory' : st.isFile() ? 'file' : specialKind(st);
      entries.set(r, { name: r, type, size: st.size, linkname: type === 'symlink' ? await readlink(path.join(root, r)) : '', mode: st.mode, uid: st.uid, gid: st.gid, mtimeMs: st.mtimeMs });
      if (type === 'directory') queue.push(r);
    }
  }
  run.refused.push(...symlinkLoops([...entries.values()], side, [root]));
  return entries;
}

const octal = (m: number) => `0${(m & 0o7777).toString(8).padStart(3, '0')}`;

/** An entry's metadata as `stat` shows it (diffoscope compares this too): mode, owner and modification time. */
function metadataFindings(a: DirEntry, b: DirEntry, at: Location): Finding[] {
  const out: Finding[] = [];
  if (a.type !== 'symlink' && (a.mode & 0o7777) !== (b.mode & 0o7777)) out.push(finding(modeCause(a.mode, b.mode), at, 'file', 'mode', octal(a.mode), octal(b.mode)));
  if (a.uid !== b.uid) out.push(finding('owner', at, 'file', 'uid', String(a.uid), String(b.uid)));
  if (a.gid !== b.gid) out.push(finding('owner', at, 'file', 'gid', String(a.gid), String(b.gid)));
  // An mtime on disk belongs to the copy, not to its bytes: its own cause, with no fix aimed at the build.
  if (a.mtimeMs !== b.mtimeMs) out.push(finding('fs-metadata', at, 'file', 'mtime', new Date(a.mtimeMs).toISOString(), new Date(b.mtimeMs).toISOString()));
  return out;
}

/** Reads files once for their digest and sketch (the candidates of directory renames). */
async function fileCandidate(root: string, e: DirEntry): Promise<RenameCandidate<DirEntry>> {
  const hash = createHash('sha256');
  const s = await sketch(
    (async function* () {
      for await (const c of createReadStream(path.join(root, e.name), { highWaterMark: 1 << 20 })) {
        hash.update(c as Buffer);
        yield c as Buffer;
      }
    })(),
  );
  return { item: e, digest: hash.digest('hex'), sketch: s };
}

interface Tree {
  root: string;
  /** shown in reports instead of the root */
  label: string;
}

async function directoryRenames(left: string, right: string, onlyL: DirEntry[], onlyR: DirEntry[]): Promise<RenamePair<DirEntry>[] | string> {
  const files = (es: DirEntry[]) => es.filter((e) => e.type === 'file' && e.size > 0);
  const fl = files(onlyL);
  const fr = files(onlyR);
  if (!fl.length || !fr.length) return [];
  if (fl.length > MAX_RENAME_CANDIDATES || fr.length > MAX_RENAME_CANDIDATES) return `${fl.length} and ${fr.length} files are on one side only, over the ${MAX_RENAME_CANDIDATES} compared by content`;
  const [cl, cr] = await Promise.all([Promise.all(fl.map((e) => fileCandidate(left, e))), Promise.all(fr.map((e) => fileCandidate(right, e)))]);
  const same = pairIdentical(cl, cr);
  return [...same.pairs, ...pairSimilar(same.left, same.right)];
}

async function compareDirectories(left: Tree, right: Tree, run: Run): Promise<Difference | null> {
  const [ea, eb] = await Promise.all([walk(left.root, 'left', run), walk(right.root, 'right', run)]);
  const onlyL = [...ea.values()].filter((e) => !eb.has(e.name));
  const onlyR = [...eb.values()].filter((e) => !ea.has(e.name));
  const renames = await directoryRenames(left.root, right.root, onlyL, onlyR);
  const renamedTo = new Map<string, { to: DirEntry; similarity: number }>();
  const renamedFrom = new Set<string>();
  if (typeof renames !== 'string') {
    for (const p of renames) {
      renamedTo.set(p.left.name, { to: p.right, similarity: p.similarity });
      renamedFrom.add(p.right.name);
    }
  }
  const names = [...new Set([...ea.keys(), ...eb.keys()])].filter((n) => !renamedFrom.has(n)).sort(byteOrder);
  const details: Difference[] = [];
  for (const name of names) {
    run.signal?.throwIfAborted();
    const a = ea.get(name);
    const rename = renamedTo.get(name);
    const b = rename?.to ?? eb.get(name);
    const node: Difference = { source1: path.join(left.label, name), source2: path.join(right.label, b?.name ?? name), kind: 'file', comments: [], findings: [], details: [] };
    if (rename) node.findings.push(finding('rename', [name], 'file', 'name', name, rename.to.name, `paired by content similarity ${rename.similarity.toFixed(2)}`));
    if (!a || !b) node.findings.push(finding('file-set', [name], 'file', 'file', a ? name : null, b ? name : null, a ? 'only in left' : 'only in right'));
    else if (a.type !== b.type) node.findings.push(finding('type', [name], 'file', 'type', a.type, b.type));
    else {
      if (!run.excludeMetadata) node.findings.push(...metadataFindings(a, b, [name]));
      if (a.type === 'symlink' && a.linkname !== b.linkname) node.findings.push(finding('link-target', [name], 'file', 'link target', a.linkname, b.linkname));
      if (a.type === 'file') {
        const content = await compareFilePair(
          { file: path.join(left.root, name), label: node.source1, size: a.size },
          { file: path.join(right.root, b.name), label: node.source2, size: b.size },
          run,
          [name],
        );
        if (content) node.details.push(content);
      }
    }
    if (node.findings.length || node.details.length) details.push(node);
  }
  if (!details.length) return null;
  const comments = renamedTo.size || typeof renames === 'string' ? [`${RENAME_METHOD}${typeof renames === 'string' ? `; ${renames}` : ''}`] : [];
  if (details.every((d) => d.details.length === 0 && d.findings.every((f) => f.cause === 'fs-metadata'))) {
    comments.push('every file holds the same bytes on both sides: only the file-system metadata of the two copies differs (compare contents alone with --exclude-metadata)');
  }
  if (run.excluded) comments.push(`${run.excluded} entries left out by --exclude`);
  return { source1: left.label, source2: right.label, kind: 'directory', comments, findings: [], details };
}

interface InputFile {
  file: string;
  label: string;
  size: number;
}

/** Two files of any kind, by content: null when their bytes are equal. */
async function compareFilePair(left: InputFile, right: InputFile, run: Run, at: Location): Promise<Difference | null> {
  const ls = fileSource(left.file, left.label, at);
  const rs = fileSource(right.file, right.label, at);
  if (left.size === right.size && (await sameBytes(ls.open(), rs.open()))) return null;
  const [kl, kr] = await Promise.all([head(left.file), head(right.file)]);
  return compareContent(ls, rs, sniff(kl), sniff(kr), [left.size, right.size], run, 0, at);
}

function buildReport(source1: string, source2: string, tree: Difference | null, run: Run): DiffReport {
  const counts = new Map<CauseId, number>();
  let findings = allFindings(tree);
  // Only --exclude may leave differing bytes without a finding; anything else would be a silent "equal".
  if (tree && findings.length === 0 && run.excluded === 0) {
    tree.findings.push(finding('content', [], 'file', 'bytes', null, null, 'the bytes differ, but no comparator explained how'));
    findings = allFindings(tree);
  }
  for (const f of findings) counts.set(f.cause, (counts.get(f.cause) ?? 0) + 1);
  const causes = [...counts].sort((a, b) => b[1] - a[1] || byteOrder(a[0], b[0])).map(([cause, count]) => ({ cause, count }));
  const identical = findings.length === 0 && run.refused.length === 0;
  return {
    schema: DIFF_REPORT_SCHEMA,
    kreproVersion: KREPRO_VERSION,
    source1,
    source2,
    identical,
    summary: { findings: findings.length, refused: run.refused.length, causes, ...(run.excluded ? { excluded: run.excluded } : {}) },
    causes: Object.fromEntries(causes.map(({ cause }) => [cause, { ...CAUSES[cause] }])),
    refused: run.refused,
    tree: identical ? null : tree,
  };
}
