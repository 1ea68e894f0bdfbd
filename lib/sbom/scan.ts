import { createHash, type Hash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { ByteReader, TruncatedError } from '../diff/bytes.js';
import { NotArchiveError, RefusedError } from '../diff/read/errors.js';
import { inflate, isGzip } from '../diff/read/gzip.js';
import { isTarHeader, readTar } from '../diff/read/tar.js';
import { DEFAULT_LIMITS } from '../diff/types.js';
import { type ExecutableFormat, type ExecutableScan, executableFormat, readExecutable } from './go-buildinfo.js';

/** An ELF, Mach-O or PE file, with its digest and, for a Go binary, its build info. */
export interface FoundBinary extends ExecutableScan {
  /** its path in the archive that holds it (for an image: in its layer) */
  path: string;
  size: number;
  sha256: string;
  format: ExecutableFormat;
}

/** A tar or gzip file and the binaries found in it, down to archives nested three deep (an image's layers). */
export interface FoundArchive {
  path: string;
  size: number;
  sha256: string;
  sha512: string;
  /** a docker-archive or OCI image layout (manifest.json or index.json at its root) */
  image: boolean;
  binaries: FoundBinary[];
  /** why part of it was not read (a corrupt member, a limit) */
  problem?: string;
}

export type Found = { kind: 'binary'; binary: FoundBinary } | { kind: 'archive'; archive: FoundArchive } | undefined;

const SNIFF = 4096;
const MAX_DEPTH = 3;

/** Chunks of `source`, each fed to `hashes` as it is pulled. */
function hashed(source: AsyncIterable<Buffer>, hashes: Hash[], size: { n: number }): AsyncIterator<Buffer> {
  return (async function* () {
    for await (const chunk of source) {
      for (const h of hashes) h.update(chunk);
      size.n += chunk.length;
      yield chunk;
    }
  })();
}

/**
 * At least the first `n` bytes (fewer only at the end: every chunk pulled so far, so exactly what was hashed) and
 * an iterator that yields them again before the rest.
 */
async function peek(it: AsyncIterator<Buffer>, n: number): Promise<{ head: Buffer; all: AsyncIterator<Buffer> }> {
  const parts: Buffer[] = [];
  let got = 0;
  let done = false;
  while (got < n) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    parts.push(r.value);
    got += r.value.length;
  }
  const head = Buffer.concat(parts);
  const all = (async function* () {
    if (head.length) yield head;
    if (done) return;
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
  })();
  return { head, all };
}

/** `it` as an iterable whose consumer cannot close it early: the caller drains what is left, so every byte is hashed. */
function unclosable(it: AsyncIterator<Buffer>): AsyncIterable<Buffer> {
  return { [Symbol.asyncIterator]: () => ({ next: () => it.next(), return: async () => ({ done: true, value: undefined }) }) };
}

async function drain(it: AsyncIterator<Buffer>): Promise<void> {
  for (let r = await it.next(); !r.done; r = await it.next());
}

/** Reads one executable's build info while hashing all of it. */
async function scanExecutable(all: AsyncIterator<Buffer>, path: string, sha256: Hash, size: { n: number }): Promise<FoundBinary> {
  const reader = new ByteReader(all);
  const exe = await readExecutable(reader);
  await reader.drain();
  return { path, size: size.n, sha256: sha256.digest('hex'), ...exe! };
}

/** Binaries in a tar (or gzip of a tar) stream, recursing into nested archives; `topNames` gets the root's names. */
async function walkArchive(all: AsyncIterator<Buffer>, head: Buffer, depth: number, out: FoundBinary[], topNames?: Set<string>): Promise<void> {
  let reader: ByteReader;
  if (isGzip(head)) {
    const inflated = inflate(unclosable(all), { limits: DEFAULT_LIMITS, headerLength: 10 });
    const inner = await peek(inflated, 512);
    if (!isTarHeader(inner.head)) return drain(inner.all);
    reader = new ByteReader(inner.all);
  } else reader = new ByteReader(all);
  for await (const member of readTar(reader, DEFAULT_LIMITS)) {
    if (depth === 0 && topNames) topNames.add(member.header.name.replace(/^\.\//, ''));
    if (member.header.type !== 'file' || member.header.size === 0) continue;
    const sha256 = createHash('sha256');
    const size = { n: 0 };
    const p = await peek(hashed(member.body, [sha256], size), SNIFF);
    if (executableFormat(p.head)) out.push(await scanExecutable(p.all, member.header.name, sha256, size));
    else if (depth + 1 < MAX_DEPTH && (isGzip(p.head) || isTarHeader(p.head))) await walkArchive(p.all, p.head, depth + 1, out);
  }
  await reader.drain();
}

/**
 * What one file is, read once as a stream: an executable (digest and Go build info), or a tar/gzip archive with the
 * binaries inside it (digests of the archive itself too); undefined for anything else (read no further than its
 * start).
 */
export async function scanFile(file: string, name = file, signal?: AbortSignal): Promise<Found> {
  const fh = await open(file, 'r');
  // Most files of a release are neither: their first bytes say so, and nothing more is read.
  const start = Buffer.alloc(SNIFF);
  const { bytesRead } = await fh.read(start, 0, SNIFF, 0);
  const sniffed = start.subarray(0, bytesRead);
  if (!executableFormat(sniffed) && !isGzip(sniffed) && !isTarHeader(sniffed)) {
    await fh.close();
    return undefined;
  }
  const stream = fh.createReadStream({ start: 0, highWaterMark: 1 << 20, autoClose: false, ...(signal ? { signal } : {}) });
  try {
    const sha256 = createHash('sha256');
    const size = { n: 0 };
    const hashes = [sha256];
    const first = await peek(hashed(stream, hashes, size), SNIFF);
    if (executableFormat(first.head)) return { kind: 'binary', binary: await scanExecutable(first.all, name, sha256, size) };
    if (!isGzip(first.head) && !isTarHeader(first.head)) return undefined;
    // Archives get a SHA-512 too: from the bytes read so far, then with every chunk.
    const sha512 = createHash('sha512').update(first.head);
    hashes.push(sha512);
    const binaries: FoundBinary[] = [];
    const topNames = new Set<string>();
    let problem: string | undefined;
    try {
      await walkArchive(first.all, first.head, 0, binaries, topNames);
    } catch (err) {
      if (!(err instanceof RefusedError || err instanceof TruncatedError || err instanceof NotArchiveError)) throw err;
      problem = err.message;
    }
    await drain(first.all);
    const image = topNames.has('manifest.json') || (topNames.has('index.json') && topNames.has('oci-layout'));
    return { kind: 'archive', archive: { path: name, size: size.n, sha256: sha256.digest('hex'), sha512: sha512.digest('hex'), image, binaries, ...(problem ? { problem } : {}) } };
  } finally {
    stream.destroy();
    await fh.close();
  }
}
