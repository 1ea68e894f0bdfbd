import { Readable, pipeline } from 'node:stream';
import * as zlib from 'node:zlib';
import { TruncatedError } from '../bytes.js';
import type { DiffLimits } from '../types.js';
import { RefusedError, formatBytes } from './errors.js';

/** RFC 1952 header fields, as written: the report compares each one. */
export interface GzipHeader {
  flg: number;
  mtime: number;
  xfl: number;
  os: number;
  fname?: string;
  fcomment?: string;
  fextra?: string;
  /** bytes before the deflate data */
  length: number;
}

const FHCRC = 2;
const FEXTRA = 4;
const FNAME = 8;
const FCOMMENT = 16;

export function isGzip(head: Uint8Array): boolean {
  return head.length >= 3 && head[0] === 0x1f && head[1] === 0x8b && head[2] === 8;
}

/** The header at the start of `buf`, or undefined when `buf` ends inside it (read more and retry). */
export function parseGzipHeader(buf: Buffer): GzipHeader | undefined {
  if (buf.length < 10) return undefined;
  const flg = buf[3]!;
  let at = 10;
  const header: GzipHeader = { flg, mtime: buf.readUInt32LE(4), xfl: buf[8]!, os: buf[9]!, length: 0 };
  if (flg & FEXTRA) {
    if (buf.length < at + 2) return undefined;
    const xlen = buf.readUInt16LE(at);
    if (buf.length < at + 2 + xlen) return undefined;
    header.fextra = buf.subarray(at + 2, at + 2 + xlen).toString('hex');
    at += 2 + xlen;
  }
  for (const [bit, key] of [
    [FNAME, 'fname'],
    [FCOMMENT, 'fcomment'],
  ] as const) {
    if (!(flg & bit)) continue;
    const end = buf.indexOf(0, at);
    if (end < 0) return undefined;
    header[key] = buf.subarray(at, end).toString('latin1');
    at = end + 1;
  }
  if (flg & FHCRC) at += 2;
  if (buf.length < at) return undefined;
  header.length = at;
  return header;
}

export function flagNames(flg: number): string {
  const names = [
    [1, 'FTEXT'],
    [FHCRC, 'FHCRC'],
    [FEXTRA, 'FEXTRA'],
    [FNAME, 'FNAME'],
    [FCOMMENT, 'FCOMMENT'],
  ] as const;
  const set = names.filter(([bit]) => flg & bit).map(([, n]) => n);
  return `${flg}${set.length ? ` (${set.join(' ')})` : ''}`;
}

export const OS_NAMES: Record<number, string> = { 0: 'FAT', 3: 'Unix', 7: 'Macintosh', 10: 'TOPS-20', 11: 'NTFS', 19: 'macOS', 255: 'unknown' };

/** What the inflater saw, filled as it runs: sizes, and prefixes kept for naming the encoder. */
export interface InflateCapture {
  compressed: number;
  inflated: number;
  /** the first deflate bytes after the header (up to the fingerprint size) */
  deflatePrefix: Buffer[];
  deflatePrefixBytes: number;
  inflatedPrefix: Buffer[];
  inflatedPrefixBytes: number;
}

/** A shared allowance for one comparison, so nested archives cannot multiply a bomb past the absolute cap. */
export class InflateBudget {
  used = 0;
  constructor(readonly limit: number) {}
}

export interface InflateOptions {
  limits: DiffLimits;
  headerLength: number;
  capture?: InflateCapture;
  budget?: InflateBudget;
}

export function newCapture(): InflateCapture {
  return { compressed: 0, inflated: 0, deflatePrefix: [], deflatePrefixBytes: 0, inflatedPrefix: [], inflatedPrefixBytes: 0 };
}

/**
 * Inflates a gzip stream (all members) from `compressed`, refusing once the output passes the absolute cap, the
 * ratio to the input read so far, or the comparison's budget. node:zlib's inflate is defined by the format, so the
 * same everywhere, and runs on libuv's pool: both sides inflate in parallel.
 */
export async function* inflate(compressed: AsyncIterable<Buffer>, opts: InflateOptions): AsyncGenerator<Buffer> {
  const { limits, capture = newCapture(), budget } = opts;
  const keep = limits.fingerprintBytes;
  async function* counted(): AsyncGenerator<Buffer> {
    for await (const chunk of compressed) {
      const start = capture.compressed;
      capture.compressed += chunk.length;
      if (capture.deflatePrefixBytes < keep && capture.compressed > opts.headerLength) {
        const from = Math.max(0, opts.headerLength - start);
        const part = chunk.subarray(from, from + keep - capture.deflatePrefixBytes);
        capture.deflatePrefix.push(Buffer.from(part));
        capture.deflatePrefixBytes += part.length;
      }
      yield chunk;
    }
  }
  const gunzip = zlib.createGunzip({ chunkSize: 256 * 1024 });
  pipeline(Readable.from(counted()), gunzip, () => {});
  try {
    for await (const out of gunzip as AsyncIterable<Buffer>) {
      capture.inflated += out.length;
      if (capture.inflatedPrefixBytes < keep) {
        const part = out.subarray(0, keep - capture.inflatedPrefixBytes);
        capture.inflatedPrefix.push(Buffer.from(part));
        capture.inflatedPrefixBytes += part.length;
      }
      if (capture.inflated > limits.maxInflatedBytes) {
        throw new RefusedError('inflate-limit', `stopped inflating at ${formatBytes(capture.inflated)}: over the ${formatBytes(limits.maxInflatedBytes)} limit for one gzip stream`);
      }
      if (capture.inflated > limits.inflateRatioFloor && capture.inflated > limits.maxInflateRatio * capture.compressed) {
        throw new RefusedError(
          'inflate-limit',
          `stopped inflating at ${formatBytes(capture.inflated)} from ${formatBytes(capture.compressed)}: a ratio over ${limits.maxInflateRatio}:1 looks like a decompression bomb`,
        );
      }
      if (budget) {
        budget.used += out.length;
        if (budget.used > budget.limit) throw new RefusedError('inflate-limit', `stopped inflating: the comparison inflated ${formatBytes(budget.used)}, over its ${formatBytes(budget.limit)} budget`);
      }
      yield out;
    }
  } catch (err) {
    throw zlibError(err);
  } finally {
    gunzip.destroy();
  }
}

function zlibError(err: unknown): unknown {
  const e = err as { code?: string; message?: string };
  if (e.code === 'Z_BUF_ERROR' || /unexpected end of file/i.test(e.message ?? '')) return new TruncatedError('gzip data ends early (unexpected end of file)', 0);
  if (typeof e.code === 'string' && e.code.startsWith('Z_')) return new RefusedError('corrupt', `gzip data is corrupt: ${e.message ?? e.code}`);
  return err;
}
