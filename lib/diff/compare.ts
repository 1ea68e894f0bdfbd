import { open, lstat, readdir, readlink, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { byteOrder } from '../byte-order.js';
import { KreproError } from '../errors.js';
import { KREPRO_VERSION } from '../version.js';
import { compareGzipLayer } from './comparators/gzip.js';
import { comparatorFor } from './comparators/index.js';
import { type MemberDiff, compareTar } from './comparators/tar.js';
import type { ContentContext } from './comparators/types.js';
import { allFindings } from './difference.js';
import { CAUSES, type CauseId, finding } from './findings.js';
import { ArchiveCursor, type ArchiveScan, type ContentKind, type ReadContext, SNIFF_BYTES, memberReopener, scanArchive, sniff, symlinkLoops } from './read/archive.js';
import { NotArchiveError } from './read/errors.js';
import { InflateBudget } from './read/gzip.js';
import { type Source, fileSource, onceThenReopen, sameBytes } from './source.js';
import { DEFAULT_LIMITS, DIFF_REPORT_SCHEMA, type DiffLimits, type DiffOptions, type DiffReport, type Difference, type Location, type Refusal } from './types.js';

/** State of one comparison, passed down (no module-level state): limits, the shared inflate budget, refusals. */
interface Run {
  limits: DiffLimits;
  budget: InflateBudget;
  refused: Refusal[];
  gnuGzip?: string;
  signal?: AbortSignal;
}

function readContext(run: Run): ReadContext {
  return { limits: run.limits, budget: run.budget, ...(run.signal ? { signal: run.signal } : {}) };
}

/**
 * Explains every difference between two release tarballs (gzip or plain tar) or two release directories (files
 * paired by relative path): layer by layer, streaming, never extracting. Identical inputs give `identical: true`
 * and no tree; anything refused (limits, unsafe names, loops) is listed in `refused`.
 */
export async function diff(left: string, right: string, options: DiffOptions = {}): Promise<DiffReport> {
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const run: Run = {
    limits,
    budget: new InflateBudget(limits.maxTotalInflatedBytes),
    refused: [],
    ...(options.gnuGzip ? { gnuGzip: options.gnuGzip } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };
  const [sl, sr] = await Promise.all([statOrThrow(left), statOrThrow(right)]);
  let tree: Difference | null;
  if (sl.isDirectory() && sr.isDirectory()) tree = await compareDirectories(left, right, run);
  else if (sl.isFile() && sr.isFile()) tree = options.anyFile ? await compareFilePair(left, right, sl.size, sr.size, run, []) : await compareTopFiles(left, right, run);
  else throw new KreproError('E_USAGE', `compare two tarballs or two directories: ${left} is ${sl.isDirectory() ? 'a directory' : 'a file'}, ${right} is ${sr.isDirectory() ? 'a directory' : 'a file'}`);
  return buildReport(left, right, tree, run.refused);
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

function notArchive(err: NotArchiveError, fallback: string): KreproError {
  const file = err.source ?? fallback;
  return new KreproError('E_UNSUPPORTED_FILE', `${file} ${err.message}`, { path: file });
}

async function compareTopFiles(left: string, right: string, run: Run): Promise<Difference | null> {
  for (const [file, h] of [
    [left, await head(left)],
    [right, await head(right)],
  ] as const) {
    const kind = sniff(h);
    if (kind !== 'gzip' && kind !== 'tar') {
      throw new KreproError('E_UNSUPPORTED_FILE', `${file} is neither a gzip file nor a tar archive (it ${h.length ? `starts with ${h.subarray(0, 8).toString('hex').replace(/(..)(?!$)/g, '$1 ')}` : 'is empty'})`, { path: file });
    }
  }
  if (await sameBytes(fileSource(left, left).open(), fileSource(right, right).open())) return null;
  try {
    return await compareArchivePair(fileSource(left, left, []), fileSource(right, right, []), run, 1, []);
  } catch (err) {
    if (err instanceof NotArchiveError) throw notArchive(err, left);
    throw err;
  }
}

/** Both sides' pass 1 runs concurrently; both are awaited even when one fails, so no reader outlives the call. */
async function scanBoth(left: Source, right: Source, run: Run): Promise<[ArchiveScan, ArchiveScan]> {
  const ctx = readContext(run);
  const [a, b] = await Promise.allSettled([scanArchive(left, 'left', ctx), scanArchive(right, 'right', ctx)]);
  if (a.status === 'rejected') throw a.reason;
  if (b.status === 'rejected') throw b.reason;
  return [a.value, b.value];
}

async function compareArchivePair(left: Source, right: Source, run: Run, depth: number, at: Location): Promise<Difference> {
  const [sl, sr] = await scanBoth(left, right, run);
  run.refused.push(...sl.refusals, ...sr.refusals);
  const stopped = [...sl.refusals, ...sr.refusals].filter((r) => r.kind !== 'unsafe-name' && r.kind !== 'unsafe-link' && r.kind !== 'symlink-loop');
  const tarIdentical = sl.complete && sr.complete && sl.tarSha256 === sr.tarSha256;
  const tarNode = tarIdentical ? undefined : await tarDifference(left, right, sl, sr, run, depth, at);
  let top: Difference;
  if (sl.gzip || sr.gzip) {
    const g = await compareGzipLayer(sl, sr, at, { ...(run.gnuGzip ? { gnuGzip: run.gnuGzip } : {}), ...(run.signal ? { signal: run.signal } : {}) });
    top = { source1: left.name, source2: right.name, kind: 'gzip', comments: g.comments, findings: g.findings, details: tarNode ? [tarNode] : [] };
  } else {
    top = tarNode ?? { source1: left.name, source2: right.name, kind: 'tar', comments: [], findings: [], details: [] };
  }
  for (const r of stopped) top.comments.push(`${r.side}: read stopped early (${r.kind}): ${r.detail}`);
  return top;
}

async function tarDifference(left: Source, right: Source, sl: ArchiveScan, sr: ArchiveScan, run: Run, depth: number, at: Location): Promise<Difference> {
  const t = compareTar(sl, sr, at);
  const contents = await compareContents(left, right, t.members.filter((m) => m.content), run, depth, at);
  const details = t.members.map((m): Difference => {
    const name = (m.left ?? m.right)!.name;
    const node: Difference = { source1: m.left?.name ?? '(absent)', source2: m.right?.name ?? '(absent)', kind: 'member', comments: [], findings: m.findings, details: [] };
    if (m.content && m.left && m.right) {
      if (m.left.size !== m.right.size) node.comments.push(`size ${m.left.size} → ${m.right.size} bytes`);
      const content = contents.get(m);
      if (content) node.details.push(content);
      else node.findings.push(finding('content', [...at, name], 'content', 'sha256', m.left.digest, m.right.digest, `not read again: over the limit of ${run.limits.maxContentDiffs} member pairs explained per archive`));
    }
    return node;
  });
  return { source1: left.name, source2: right.name, kind: 'tar', comments: t.comments, findings: t.findings, details };
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
  type: 'file' | 'directory' | 'symlink' | 'other';
  size: number;
  linkname: string;
}

/** Walks a release directory without following symlinks (so loops cannot trap it), bounded by maxMembers. */
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
      const st = await lstat(path.join(root, r));
      const type = st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'directory' : st.isFile() ? 'file' : 'other';
      entries.set(r, { name: r, type, size: st.size, linkname: type === 'symlink' ? await readlink(path.join(root, r)) : '' });
      if (type === 'directory') queue.push(r);
    }
  }
  run.refused.push(...symlinkLoops([...entries.values()], side, [root]));
  return entries;
}

async function compareDirectories(left: string, right: string, run: Run): Promise<Difference | null> {
  const [ea, eb] = await Promise.all([walk(left, 'left', run), walk(right, 'right', run)]);
  const names = [...new Set([...ea.keys(), ...eb.keys()])].sort(byteOrder);
  const details: Difference[] = [];
  for (const name of names) {
    run.signal?.throwIfAborted();
    const a = ea.get(name);
    const b = eb.get(name);
    const node: Difference = { source1: path.join(left, name), source2: path.join(right, name), kind: 'file', comments: [], findings: [], details: [] };
    if (!a || !b) node.findings.push(finding('file-set', [name], 'file', 'file', a ? name : null, b ? name : null, a ? 'only in left' : 'only in right'));
    else if (a.type !== b.type) node.findings.push(finding('type', [name], 'file', 'type', a.type, b.type));
    else if (a.type === 'symlink' && a.linkname !== b.linkname) node.findings.push(finding('link-target', [name], 'file', 'link target', a.linkname, b.linkname));
    else if (a.type === 'file') {
      const content = await compareFilePair(node.source1, node.source2, a.size, b.size, run, [name]);
      if (content) node.details.push(content);
    }
    if (node.findings.length || node.details.length) details.push(node);
  }
  return details.length ? { source1: left, source2: right, kind: 'directory', comments: [], findings: [], details } : null;
}

/** Two files of any kind, by content: null when their bytes are equal. */
async function compareFilePair(left: string, right: string, leftSize: number, rightSize: number, run: Run, at: Location): Promise<Difference | null> {
  const ls = fileSource(left, left, at);
  const rs = fileSource(right, right, at);
  if (leftSize === rightSize && (await sameBytes(ls.open(), rs.open()))) return null;
  const [kl, kr] = await Promise.all([head(left), head(right)]);
  return compareContent(ls, rs, sniff(kl), sniff(kr), [leftSize, rightSize], run, 0, at);
}

function buildReport(source1: string, source2: string, tree: Difference | null, refused: Refusal[]): DiffReport {
  const counts = new Map<CauseId, number>();
  const findings = allFindings(tree);
  for (const f of findings) counts.set(f.cause, (counts.get(f.cause) ?? 0) + 1);
  const causes = [...counts].sort((a, b) => b[1] - a[1] || byteOrder(a[0], b[0])).map(([cause, count]) => ({ cause, count }));
  return {
    schema: DIFF_REPORT_SCHEMA,
    kreproVersion: KREPRO_VERSION,
    source1,
    source2,
    identical: tree === null && refused.length === 0,
    summary: { findings: findings.length, refused: refused.length, causes },
    causes: Object.fromEntries(causes.map(({ cause }) => [cause, { ...CAUSES[cause] }])),
    refused,
    tree,
  };
}
