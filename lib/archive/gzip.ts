import { availableParallelism } from 'node:os';
import { Transform, type TransformCallback } from 'node:stream';
import * as zlib from 'node:zlib';
import { KreproError } from '../errors.js';
import {
  type BlockCompressor,
  type BlockJob,
  nativeCompressor,
  nativeDeflateBlockSync,
  pakoCompressor,
  pakoDeflateBlock,
} from './block-deflate.js';
import { LIBDEFLATE_VERSION, LIBDEFLATE_WASM_SHA256, libdeflateCompressor } from './libdeflate.js';
import { quote } from '../quote.js';

/**
 * A pinned gzip format, as the manifest's `encoder.version` names it. Bytes depend on the format, the level and the
 * input only: never on the runtime's zlib build, the number of workers or how the input was chunked.
 * - 2 (current): gzip members of MEMBER_SIZE input bytes each, deflated by libdeflate 1.23 compiled to WebAssembly.
 * - 1 (krepro 0.1; manifests without `encoder.version`): one gzip member of BLOCK_SIZE deflate blocks, each primed
 *   with the previous 32 KiB, as Chromium's zlib writes them (pako 3.0.3 computes the same bytes).
 */
export type GzipFormat = 1 | 2;
/** Every gzip format krepro can write, oldest first. */
export const GZIP_FORMATS: readonly GzipFormat[] = [1, 2];
/** The format new releases are written in (2), and every option's default. */
export const CURRENT_GZIP_FORMAT: GzipFormat = 2;

/** A pinned gzip format at one level: everything the compressed bytes depend on besides the input. */
export interface GzipSpec {
  /** deflate level 1–9 */
  level: number;
  /** default CURRENT_GZIP_FORMAT */
  format?: GzipFormat;
}

/** Format 1: input is cut into blocks of this size, each deflated on its own (primed with the previous 32 KiB), as pigz does. */
export const BLOCK_SIZE = 128 * 1024;
/** Format 2: input bytes per gzip member. Larger members compress a little better and hold more memory per worker. */
export const MEMBER_SIZE = 1024 * 1024;
const WINDOW = 32 * 1024;
/** RFC 1952 OS byte: 3 = Unix, what GNU gzip and pigz write on Linux. Fixed so macOS or Windows hosts match. */
export const GZIP_OS_UNIX = 3;

/** Who computes format 1's bytes: node:zlib where the probe shows it matches (auto), or forced, for tests. */
export type Format1Implementation = 'auto' | 'native' | 'pako';

/** What made the bytes; recorded in manifests. Identical whichever implementation ran, since the bytes are. */
export interface EncoderIdentity {
  /** The pinned gzip format. */
  version: GzipFormat;
  /** The deflate implementation whose bytes the format pins, e.g. `libdeflate 1.23 (WebAssembly, sha256 …)`. */
  deflate: string;
  /** Compression level, 1-9. */
  level: number;
  /** Format 1: input bytes per deflate block (131072). */
  blockSize?: number;
  /** Format 2: input bytes per gzip member (1048576). */
  memberSize?: number;
  /** The framing in words, for a reader of the manifest. */
  format: string;
}

/** What krepro-manifest.json records for `spec`: the same for every runtime, since the bytes are. */
export function encoderIdentity(spec: GzipSpec): EncoderIdentity {
  const level = spec.level;
  if ((spec.format ?? CURRENT_GZIP_FORMAT) === 1) {
    return {
      version: 1,
      deflate: 'chromium-zlib (reference: pako 3.0.3)',
      level,
      blockSize: BLOCK_SIZE,
      format: 'gzip, FLG=0 MTIME=0 OS=3, independent deflate blocks primed with the previous 32 KiB (pigz-style)',
    };
  }
  return {
    version: 2,
    deflate: `libdeflate ${LIBDEFLATE_VERSION} (WebAssembly, sha256 ${LIBDEFLATE_WASM_SHA256})`,
    level,
    memberSize: MEMBER_SIZE,
    format: 'gzip members of memberSize input bytes each (the last shorter), FLG=0 MTIME=0 OS=3, each deflated on its own',
  };
}

export function validateLevel(level: number): number {
  if (!Number.isInteger(level) || level < 1 || level > 9) {
    throw new KreproError('E_USAGE', `gzip level must be an integer from 1 to 9, got ${String(level)}`);
  }
  return level;
}

export function validateFormat(format: unknown): GzipFormat {
  if (!GZIP_FORMATS.includes(format as GzipFormat)) {
    throw new KreproError('E_USAGE', `gzip format must be ${GZIP_FORMATS.join(' or ')} (krepro-manifest.json's encoder.version; 1 where it has none), got ${quote(format)}`);
  }
  return format as GzipFormat;
}

/** XFL as zlib's gzip wrapper sets it: 2 = slowest (level 9), 4 = fastest (level 1), else 0. */
function xfl(level: number): number {
  return level === 9 ? 2 : level === 1 ? 4 : 0;
}

export function gzipHeader(level: number): Buffer {
  return Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl(level), GZIP_OS_UNIX]);
}

const probeCache = new Map<number, boolean>();

/** A few blocks of text, binary-like and random-ish bytes: enough to exercise matches across the dictionary. */
function probeInput(): Uint8Array {
  const out = new Uint8Array(BLOCK_SIZE * 2 + 12345);
  let x = 0x9e3779b9;
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const region = (i >> 12) % 4;
    out[i] = region === 0 ? 97 + ((x >>> 0) % 26) : region === 1 ? (i * 31) & 0xff : region === 2 ? (x >>> 24) & 0x0f : x & 0xff;
  }
  return out;
}

function blockJobs(input: Uint8Array): BlockJob[] {
  const jobs: BlockJob[] = [];
  for (let start = 0; ; start += BLOCK_SIZE) {
    const end = Math.min(start + BLOCK_SIZE, input.length);
    jobs.push({ block: input.subarray(start, end), dictionary: input.subarray(Math.max(0, start - WINDOW), start), last: end === input.length });
    if (end === input.length) return jobs;
  }
}

/**
 * True when this runtime's node:zlib produces exactly format 1's (pako 3 / Chromium zlib) bytes at `level`.
 * Official Node builds do; distro builds linked to system zlib do not.
 */
export function nativeMatchesPinned(level: number): boolean {
  const cached = probeCache.get(level);
  if (cached !== undefined) return cached;
  let same = true;
  for (const job of blockJobs(probeInput())) {
    if (!Buffer.from(nativeDeflateBlockSync(job, level)).equals(pakoDeflateBlock(job, level))) {
      same = false;
      break;
    }
  }
  probeCache.set(level, same);
  return same;
}

/** One stream's framing: called in input order; blocks are full except the last (empty only for empty input). */
interface StreamFraming {
  /** an empty full-size block to fill; never one still in use */
  newBlock(): Buffer;
  begin(): Uint8Array | undefined;
  compress(block: Buffer, last: boolean): Promise<Uint8Array>;
  end(): Uint8Array | undefined;
}

/**
 * A gzip format at one level with its workers, shared by every stream written through it (a release writes many
 * tarballs; starting workers once saves their start-up per tarball). Close it when done.
 */
export interface GzipEncoder {
  /** The pinned gzip format it writes. */
  readonly format: GzipFormat;
  /** The compression level, 1 (fastest) to 9 (smallest). */
  readonly level: number;
  /** What compresses: libdeflate compiled to WebAssembly (format 2), Node's zlib or pako (format 1). */
  readonly implementation: 'native' | 'pako' | 'libdeflate-wasm';
  /** Stops the worker threads; streams still writing through it fail. */
  close(): Promise<void>;
}

/** Each encoder's framing of a new stream: kept off the public interface, which a caller only passes along. */
const framings = new WeakMap<GzipEncoder, () => StreamFraming>();

function encoder(e: GzipEncoder, stream: () => StreamFraming): GzipEncoder {
  framings.set(e, stream);
  return e;
}

/** How createGzipEncoder (and a PinnedGzip without a shared encoder) runs. */
export interface GzipEncoderOptions {
  /** Format 1 only: which deflate writes it. Default 'auto': Node's zlib where it gives the pinned bytes, else pako. */
  implementation?: Format1Implementation;
  /** Worker threads. Default: the available cores (os.availableParallelism()). The bytes never depend on it. */
  workers?: number;
}

/**
 * Starts the workers of a pinned gzip format at one level (`spec.format` defaults to CURRENT_GZIP_FORMAT), to share
 * between PinnedGzip streams. Throws E_USAGE for a level outside 1-9 or an unknown format.
 */
export function createGzipEncoder(spec: GzipSpec, opts: GzipEncoderOptions = {}): GzipEncoder {
  const level = validateLevel(spec.level);
  const format = validateFormat(spec.format ?? CURRENT_GZIP_FORMAT);
  const workers = opts.workers ?? availableParallelism();
  if (format === 2) {
    // Blocks move to a worker without a copy and come back to be refilled: a buffer per block would leave garbage
    // that V8 collects only after tens of MiB in every thread.
    const free: Buffer[] = [];
    const recycle = (b: Uint8Array) => {
      if (free.length < 16) free.push(Buffer.from(b.buffer, 0, MEMBER_SIZE));
    };
    const pool = libdeflateCompressor({ level, maxInput: MEMBER_SIZE, header: gzipHeader(level) }, workers, recycle);
    const stream = (): StreamFraming => ({
      newBlock: () => free.pop() ?? Buffer.alloc(MEMBER_SIZE),
      begin: () => undefined,
      compress: (block) => pool.run(block, [block.buffer as ArrayBuffer]),
      end: () => undefined,
    });
    return encoder({ format, level, implementation: 'libdeflate-wasm', close: () => pool.close() }, stream);
  }
  const impl = opts.implementation ?? 'auto';
  const compressor: BlockCompressor = impl === 'native' || (impl === 'auto' && nativeMatchesPinned(level)) ? nativeCompressor(level) : pakoCompressor(level, workers);
  return encoder({ format, level, implementation: compressor.implementation, close: () => compressor.close() }, () => format1Framing(compressor, level));
}

/** One member: header, 128 KiB blocks each primed with the previous 32 KiB of input, CRC-32 and size of the whole. */
function format1Framing(compressor: BlockCompressor, level: number): StreamFraming {
  let window: Uint8Array = new Uint8Array(0);
  let crc = 0;
  let size = 0;
  return {
    // A new buffer for every block: the dictionary of the next block is a view of this one.
    newBlock: () => Buffer.allocUnsafe(BLOCK_SIZE),
    begin: () => gzipHeader(level),
    compress(block, last) {
      crc = zlib.crc32(block, crc);
      size += block.length;
      const job: BlockJob = { block, dictionary: window, last };
      window = block.subarray(Math.max(0, block.length - WINDOW));
      return compressor.compress(job);
    },
    end() {
      const trailer = Buffer.alloc(8);
      trailer.writeUInt32LE(crc >>> 0, 0);
      trailer.writeUInt32LE(size % 0x1_0000_0000, 4);
      return trailer;
    },
  };
}

/** How a PinnedGzip stream runs. */
export interface GzipStreamOptions extends GzipEncoderOptions {
  /** a shared encoder of the same format and level; the stream then neither starts nor closes workers */
  encoder?: GzipEncoder;
  /** Blocks compressed at once; bounds memory (about 2 blocks per slot). */
  concurrency?: number;
}

/**
 * A Transform from bytes to a pinned gzip format. Full blocks are dispatched as soon as they fill, several at a
 * time, and their output is pushed in input order.
 */
export class PinnedGzip extends Transform {
  /** What compresses this stream (the shared encoder's, when one is given). */
  readonly implementation: GzipEncoder['implementation'];
  private readonly encoder: GzipEncoder;
  private readonly owned: boolean;
  private readonly framing: StreamFraming;
  private readonly concurrency: number;
  private block: Buffer;
  private filled = 0;
  private readonly inFlight: Promise<Uint8Array>[] = [];

  constructor(spec: GzipSpec, opts: GzipStreamOptions = {}) {
    super();
    const level = validateLevel(spec.level);
    const format = validateFormat(spec.format ?? CURRENT_GZIP_FORMAT);
    if (opts.encoder && (opts.encoder.format !== format || opts.encoder.level !== level)) {
      throw new KreproError('E_USAGE', `the shared encoder writes format ${opts.encoder.format} level ${opts.encoder.level}, not format ${format} level ${level}`);
    }
    this.owned = !opts.encoder;
    this.encoder = opts.encoder ?? createGzipEncoder({ level, format }, opts);
    this.implementation = this.encoder.implementation;
    const framing = framings.get(this.encoder);
    if (!framing) throw new KreproError('E_USAGE', 'the shared encoder was not made by createGzipEncoder');
    this.framing = framing();
    this.block = this.framing.newBlock();
    this.concurrency = opts.concurrency ?? 8;
    const head = this.framing.begin();
    if (head) this.push(head);
  }

  /** The Transform hook (not called directly). */
  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.consume(chunk).then(() => callback(), callback);
  }

  private async consume(chunk: Buffer): Promise<void> {
    let offset = 0;
    while (offset < chunk.length) {
      // A full block is sent only once more input arrives, so the last block is always the held one.
      if (this.filled === this.block.length) await this.dispatch(false);
      const n = Math.min(this.block.length - this.filled, chunk.length - offset);
      chunk.copy(this.block, this.filled, offset, offset + n);
      this.filled += n;
      offset += n;
    }
  }

  private async dispatch(last: boolean): Promise<void> {
    const out = this.framing.compress(this.block.subarray(0, this.filled), last);
    // Awaited in order below; a failure while earlier blocks are awaited must not also surface as unhandled.
    out.catch(() => {});
    this.inFlight.push(out);
    this.block = this.framing.newBlock();
    this.filled = 0;
    while (this.inFlight.length >= this.concurrency || (last && this.inFlight.length > 0)) {
      this.push(await this.inFlight.shift()!);
    }
  }

  /** The Transform hook (not called directly). */
  override _flush(callback: TransformCallback): void {
    this.dispatch(true)
      .then(() => {
        const tail = this.framing.end();
        if (tail) this.push(tail);
        return this.owned ? this.encoder.close() : undefined;
      })
      .then(() => callback(), callback);
  }

  /** The stream hook (not called directly): stops the workers it started. */
  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.owned) return callback(err);
    this.encoder.close().then(
      () => callback(err),
      () => callback(err),
    );
  }
}
