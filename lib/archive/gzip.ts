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

/**
 * The pinned gzip format. Bytes depend on these values and the input only: never on the runtime's zlib build, the
 * number of workers or how the input was chunked.
 */
export interface GzipSpec {
  /** deflate level 1–9 */
  level: number;
}

/** Input is cut into blocks of this size, each deflated on its own (primed with the previous 32 KiB), as pigz does. */
export const BLOCK_SIZE = 128 * 1024;
const WINDOW = 32 * 1024;
/** RFC 1952 OS byte: 3 = Unix, what GNU gzip and pigz write on Linux. Fixed so macOS or Windows hosts match. */
export const GZIP_OS_UNIX = 3;

export type EncoderChoice = 'auto' | 'native' | 'pako';

/** What made the bytes; recorded in manifests. Identical whichever implementation ran, since the bytes are. */
export function encoderIdentity(spec: GzipSpec) {
  return {
    deflate: 'chromium-zlib (reference: pako 3.0.3)',
    level: spec.level,
    blockSize: BLOCK_SIZE,
    format: 'gzip, FLG=0 MTIME=0 OS=3, independent deflate blocks primed with the previous 32 KiB (pigz-style)',
  } as const;
}

export function validateLevel(level: number): number {
  if (!Number.isInteger(level) || level < 1 || level > 9) {
    throw new KreproError('E_USAGE', `gzip level must be an integer from 1 to 9, got ${String(level)}`);
  }
  return level;
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
 * True when this runtime's node:zlib produces exactly the pinned (pako 3 / Chromium zlib) bytes at `level`.
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

export interface GzipStreamOptions {
  encoder?: EncoderChoice;
  /** Blocks compressed at once; bounds memory (about 2 × BLOCK_SIZE per slot). */
  concurrency?: number;
}

export function createCompressor(level: number, encoder: EncoderChoice = 'auto', workers = availableParallelism()): BlockCompressor {
  if (encoder === 'native' || (encoder === 'auto' && nativeMatchesPinned(level))) return nativeCompressor(level);
  return pakoCompressor(level, workers);
}

/**
 * A Transform from bytes to the pinned gzip format. Full blocks are dispatched as soon as they fill, several at a
 * time, and their output is pushed in input order.
 */
export class PinnedGzip extends Transform {
  readonly implementation: 'native' | 'pako';
  private readonly compressor: BlockCompressor;
  private readonly level: number;
  private readonly concurrency: number;
  private block: Buffer = Buffer.allocUnsafe(BLOCK_SIZE);
  private filled = 0;
  private window: Uint8Array = new Uint8Array(0);
  private crc = 0;
  private size = 0;
  private readonly inFlight: Promise<Uint8Array>[] = [];

  constructor(spec: GzipSpec, opts: GzipStreamOptions = {}) {
    super();
    this.level = validateLevel(spec.level);
    this.compressor = createCompressor(this.level, opts.encoder);
    this.implementation = this.compressor.implementation;
    this.concurrency = opts.concurrency ?? 8;
    this.push(gzipHeader(this.level));
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.consume(chunk).then(() => callback(), callback);
  }

  private async consume(chunk: Buffer): Promise<void> {
    this.crc = zlib.crc32(chunk, this.crc);
    this.size += chunk.length;
    let offset = 0;
    while (offset < chunk.length) {
      // A full block is sent only once more input arrives, so the last block (Z_FINISH) is always the held one.
      if (this.filled === BLOCK_SIZE) await this.dispatch(false);
      const n = Math.min(BLOCK_SIZE - this.filled, chunk.length - offset);
      chunk.copy(this.block, this.filled, offset, offset + n);
      this.filled += n;
      offset += n;
    }
  }

  private async dispatch(last: boolean): Promise<void> {
    const block = this.block.subarray(0, this.filled);
    const job: BlockJob = { block, dictionary: this.window, last };
    this.window = block.subarray(Math.max(0, block.length - WINDOW));
    this.inFlight.push(this.compressor.compress(job));
    this.block = Buffer.allocUnsafe(BLOCK_SIZE);
    this.filled = 0;
    while (this.inFlight.length >= this.concurrency || (last && this.inFlight.length > 0)) {
      this.push(await this.inFlight.shift()!);
    }
  }

  override _flush(callback: TransformCallback): void {
    this.dispatch(true)
      .then(() => {
        const trailer = Buffer.alloc(8);
        trailer.writeUInt32LE(this.crc >>> 0, 0);
        trailer.writeUInt32LE(this.size % 0x1_0000_0000, 4);
        this.push(trailer);
        return this.compressor.close();
      })
      .then(() => callback(), callback);
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.compressor.close().then(
      () => callback(err),
      () => callback(err),
    );
  }
}
