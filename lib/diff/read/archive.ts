import { createHash } from 'node:crypto';
import * as posix from 'node:path/posix';
import { byteOrder } from '../../byte-order.js';
import { ByteReader, TruncatedError, hex } from '../bytes.js';
import type { Source } from '../source.js';
import type { DiffLimits, Location, Refusal, Side } from '../types.js';
import { NotArchiveError, RefusedError } from './errors.js';
import { type GzipHeader, type InflateBudget, type InflateCapture, inflate, isGzip, newCapture, parseGzipHeader } from './gzip.js';
import { type TarHeader, type TarMember, isTarHeader, readTar } from './tar.js';

export type ContentKind = 'gzip' | 'tar' | 'elf' | 'text' | 'binary' | 'empty';

/** Enough of a file's start to tell its kind: magic numbers, a tar header, and text-ness of the first 8 KiB. */
export const SNIFF_BYTES = 8192;

export function sniff(head: Buffer): ContentKind {
  if (head.length === 0) return 'empty';
  if (isGzip(head)) return 'gzip';
  if (head.length >= 4 && head.readUInt32BE(0) === 0x7f454c46) return 'elf';
  if (isTarHeader(head)) return 'tar';
  return looksLikeText(head) ? 'text' : 'binary';
}

function looksLikeText(head: Buffer): boolean {
  if (head.includes(0)) return false;
  try {
    // stream: a multi-byte character cut at the end of the sample is not an error
    new TextDecoder('utf-8', { fatal: true }).decode(head, { stream: true });
  } catch {
    return false;
  }
  let control = 0;
  for (const b of head) if (b < 0x20 && b !== 9 && b !== 10 && b !== 13 && b !== 12 && b !== 27) control++;
  return control * 100 <= head.length;
}

/** What pass 1 keeps of a member: its header, a digest of its bytes and its kind; never the bytes. */
export interface MemberRecord extends TarHeader {
  index: number;
  /** sha256 hex of the body; '' for members without one */
  digest: string;
  kind: ContentKind;
}

export interface ArchiveScan {
  gzip?: { header: GzipHeader; capture: InflateCapture };
  /** sha256 of the whole (inflated) tar stream, and whether it was read to its end */
  tarSha256: string;
  tarSize: number;
  complete: boolean;
  members: MemberRecord[];
  refusals: Refusal[];
}

export interface ReadContext {
  limits: DiffLimits;
  budget?: InflateBudget;
  signal?: AbortSignal;
}

interface Layers {
  gzip?: GzipHeader;
  tar: AsyncGenerator<Buffer>;
}

/** Chunks already pulled to sniff the start, then the rest of the iterator. */
async function* replay(first: Buffer[], rest: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  try {
    yield* first;
    for (;;) {
      const r = await rest.next();
      if (r.done) return;
      yield r.value;
    }
  } finally {
    await rest.return?.();
  }
}

/** Opens gzip (when present) and returns the tar byte stream. Anything else is a NotArchiveError. */
async function openLayers(source: Source, ctx: ReadContext, capture?: InflateCapture): Promise<Layers> {
  const it = source.open()[Symbol.asyncIterator]();
  const first: Buffer[] = [];
  let have = 0;
  let gzipHeader: GzipHeader | undefined;
  for (;;) {
    const head = first.length === 1 ? first[0]! : Buffer.concat(first);
    if (isGzip(head)) {
      gzipHeader = parseGzipHeader(head);
      if (gzipHeader) break;
      if (have > ctx.limits.maxHeaderBytes) {
        await it.return?.();
        throw new RefusedError('header-limit', `gzip header is longer than ${ctx.limits.maxHeaderBytes} bytes`);
      }
    } else if (have >= 512) break;
    const r = await it.next();
    if (r.done) break;
    first.push(r.value);
    have += r.value.length;
  }
  const head = Buffer.concat(first);
  const raw = replay(first, it);
  if (gzipHeader) {
    return { gzip: gzipHeader, tar: inflate(raw, { limits: ctx.limits, headerLength: gzipHeader.length, ...(capture ? { capture } : {}), ...(ctx.budget ? { budget: ctx.budget } : {}) }) };
  }
  if (isTarHeader(head)) return { tar: raw };
  await raw.return(undefined);
  const start = head.subarray(0, 8);
  throw new NotArchiveError(head.length === 0 ? 'is empty: neither a gzip file nor a tar archive' : `is neither a gzip file nor a tar archive (it starts with ${hex(start).replace(/(..)/g, '$1 ').trim()})`, source.name);
}

function refusalOf(err: unknown, side: Side, path: Location): Refusal | undefined {
  if (err instanceof RefusedError) return { side, path, kind: err.kind, detail: err.message };
  if (err instanceof TruncatedError) return { side, path, kind: 'truncated', detail: `archive is truncated: ${err.message}` };
  return undefined;
}

/**
 * Pass 1: streams the whole archive once, keeping per member only the header, a digest and the kind. Memory is
 * bounded by the member count, never by member sizes. A refusal stops the scan; what was read before it is kept.
 */
export async function scanArchive(source: Source, side: Side, ctx: ReadContext): Promise<ArchiveScan> {
  const capture = newCapture();
  const layers = await openLayers(source, ctx, capture);
  const tarHash = createHash('sha256');
  let tarSize = 0;
  const tar = layers.tar;
  async function* hashed(): AsyncGenerator<Buffer> {
    for await (const c of tar) {
      tarHash.update(c);
      tarSize += c.length;
      yield c;
    }
  }
  const stream = hashed();
  const reader = new ByteReader(stream);
  const members: MemberRecord[] = [];
  const refusals: Refusal[] = [];
  let complete = false;
  try {
    for await (const m of readTar(reader, ctx.limits)) {
      ctx.signal?.throwIfAborted();
      members.push(await recordMember(m));
      checkName(m.header, side, source.path, refusals);
    }
    await reader.drain();
    complete = true;
  } catch (err) {
    if (err instanceof NotArchiveError) {
      throw new NotArchiveError(layers.gzip ? 'is gzip-compressed, but what it holds is not a tar archive' : err.message, source.name);
    }
    const refusal = refusalOf(err, side, source.path);
    if (!refusal) throw err;
    refusals.push(refusal);
  } finally {
    await stream.return(undefined);
  }
  refusals.push(...symlinkLoops(members, side, source.path));
  return {
    ...(layers.gzip ? { gzip: { header: layers.gzip, capture } } : {}),
    tarSha256: tarHash.digest('hex'),
    tarSize,
    complete,
    members,
    refusals,
  };
}

async function recordMember(m: TarMember): Promise<MemberRecord> {
  if (m.header.size === 0) {
    return { ...m.header, index: m.index, digest: m.header.type === 'file' ? createHash('sha256').digest('hex') : '', kind: 'empty' };
  }
  const hash = createHash('sha256');
  const head: Buffer[] = [];
  let headBytes = 0;
  for await (const chunk of m.body) {
    hash.update(chunk);
    if (headBytes < SNIFF_BYTES) {
      const part = chunk.subarray(0, SNIFF_BYTES - headBytes);
      head.push(Buffer.from(part));
      headBytes += part.length;
    }
  }
  return { ...m.header, index: m.index, digest: hash.digest('hex'), kind: sniff(Buffer.concat(head)) };
}

function escapes(p: string): boolean {
  return p.startsWith('/') || p.split('/').includes('..');
}

/** krepro never extracts, so such names are harmless here; they are reported because an extractor would not be. */
function checkName(h: TarHeader, side: Side, path: Location, refusals: Refusal[]): void {
  if (escapes(h.name)) {
    refusals.push({ side, path: [...path, h.name], kind: 'unsafe-name', detail: `${JSON.stringify(h.name)} is absolute or climbs out with "..": compared by name only, never extracted` });
  }
  if (h.type === 'symlink' || h.type === 'hardlink') {
    const resolved = h.linkname.startsWith('/') ? h.linkname : h.type === 'hardlink' ? h.linkname : posix.join(posix.dirname(h.name), h.linkname);
    if (escapes(posix.normalize(resolved)) || h.linkname.startsWith('/')) {
      refusals.push({ side, path: [...path, h.name], kind: 'unsafe-link', detail: `${h.type} to ${JSON.stringify(h.linkname)} points outside the archive: not followed` });
    }
  }
}

function clean(name: string): string {
  return posix.normalize(name.replace(/^\.\//, '')).replace(/\/$/, '');
}

/** Symlinks that resolve back to themselves within an archive or tree (never followed; reported once per loop). */
export function symlinkLoops(members: { name: string; type: string; linkname: string }[], side: Side, path: Location): Refusal[] {
  const links = new Map<string, string>();
  for (const m of members) if (m.type === 'symlink') links.set(clean(m.name), m.linkname);
  const reported = new Set<string>();
  const out: Refusal[] = [];
  for (const start of links.keys()) {
    const chain = [start];
    let current = start;
    for (let hop = 0; hop < 40; hop++) {
      const target = links.get(current)!;
      if (target.startsWith('/')) break;
      const next = clean(posix.join(posix.dirname(current), target));
      if (next.startsWith('..') || !links.has(next)) break;
      if (chain.includes(next)) {
        const loop = chain.slice(chain.indexOf(next));
        const key = [...loop].sort(byteOrder).join('\0');
        if (!reported.has(key)) {
          reported.add(key);
          out.push({ side, path: [...path, next], kind: 'symlink-loop', detail: `symlink loop ${[...loop, next].join(' -> ')}: not followed` });
        }
        break;
      }
      chain.push(next);
      current = next;
    }
  }
  return out;
}

/**
 * Pass 2: re-streams an archive to reach members by index, in increasing order, without keeping anything. The
 * caller reopens a new cursor to go backwards (members paired out of order).
 */
export class ArchiveCursor {
  private current = -1;
  private constructor(private readonly members: AsyncGenerator<TarMember>) {}

  static async open(source: Source, ctx: ReadContext): Promise<ArchiveCursor> {
    const layers = await openLayers(source, { limits: ctx.limits });
    return new ArchiveCursor(readTar(new ByteReader(layers.tar), ctx.limits));
  }

  canReach(index: number): boolean {
    return index > this.current;
  }

  async body(index: number): Promise<AsyncGenerator<Buffer>> {
    if (!this.canReach(index)) throw new Error(`cursor is past member ${index}`);
    for (;;) {
      const r = await this.members.next();
      if (r.done) throw new TruncatedError(`member ${index} is no longer there on a second reading`, 0);
      this.current = r.value.index;
      if (r.value.index === index) return r.value.body;
    }
  }

  async close(): Promise<void> {
    await this.members.return(undefined);
  }
}

/** A member as a re-readable source: each opening streams the parent archive up to it. */
export function memberReopener(parent: Source, index: number, ctx: ReadContext): () => AsyncIterable<Buffer> {
  return () =>
    (async function* () {
      const cursor = await ArchiveCursor.open(parent, ctx);
      try {
        yield* await cursor.body(index);
      } finally {
        await cursor.close();
      }
    })();
}
