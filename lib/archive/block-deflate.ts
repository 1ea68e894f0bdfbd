import { createRequire } from 'node:module';
import * as zlib from 'node:zlib';
import { Deflate, Z_FINISH, Z_SYNC_FLUSH } from 'pako';
import { workerPool } from './worker-pool.js';

/**
 * One deflate block of gzip format 1: raw deflate of `block`, primed with `dictionary` (the previous 32 KiB of
 * input, empty for the first block), ended with a sync flush, or with Z_FINISH for the last block.
 */
export interface BlockJob {
  block: Uint8Array;
  dictionary: Uint8Array;
  last: boolean;
}

/** Compresses format 1 blocks; implementations differ in speed only, never in bytes (the probe enforces that). */
export interface BlockCompressor {
  readonly implementation: 'native' | 'pako';
  compress(job: BlockJob): Promise<Uint8Array>;
  close(): Promise<void>;
}

export function pakoDeflateBlock(job: BlockJob, level: number): Uint8Array {
  const deflate = new Deflate({ level, raw: true, ...(job.dictionary.length ? { dictionary: job.dictionary } : {}) });
  const chunks: Uint8Array[] = [];
  // With a sync flush pako only reports output through onData; `result` is set on Z_FINISH alone.
  deflate.onData = (chunk) => chunks.push(chunk);
  deflate.push(job.block, job.last ? Z_FINISH : Z_SYNC_FLUSH);
  if (deflate.err) throw new Error(`pako deflate failed: ${deflate.msg}`);
  return concat(chunks);
}

function nativeOptions(job: BlockJob, level: number): zlib.ZlibOptions {
  return {
    level,
    finishFlush: job.last ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH,
    ...(job.dictionary.length ? { dictionary: job.dictionary } : {}),
  };
}

export function nativeDeflateBlockSync(job: BlockJob, level: number): Uint8Array {
  return zlib.deflateRawSync(job.block, nativeOptions(job, level));
}

/** node:zlib on libuv's thread pool: both cores work while the main thread reads files and writes tar headers. */
export function nativeCompressor(level: number): BlockCompressor {
  return {
    implementation: 'native',
    compress: (job) =>
      new Promise((resolve, reject) =>
        zlib.deflateRaw(job.block, nativeOptions(job, level), (err, out) => (err ? reject(err) : resolve(out))),
      ),
    close: async () => {},
  };
}

/** pakoDeflateBlock inside a worker (see workerPool): `args` is { level, pakoPath }, each message a BlockJob. */
const PAKO_HANDLER = `({ level, pakoPath }) => {
  const { Deflate, Z_FINISH, Z_SYNC_FLUSH } = require(pakoPath);
  return ({ block, dictionary, last }) => {
    const d = new Deflate({ level, raw: true, ...(dictionary.length ? { dictionary } : {}) });
    const chunks = [];
    d.onData = (c) => chunks.push(c);
    d.push(block, last ? Z_FINISH : Z_SYNC_FLUSH);
    if (d.err) throw new Error('pako deflate failed: ' + d.msg);
    let size = 0; for (const c of chunks) size += c.length;
    const out = new Uint8Array(size); let o = 0; for (const c of chunks) { out.set(c, o); o += c.length; }
    return out;
  };
}`;

/** Pure-JS pako in worker threads: the pinned bytes on any runtime, at about half the native speed. */
export function pakoCompressor(level: number, workers: number): BlockCompressor {
  const pool = workerPool<BlockJob>(PAKO_HANDLER, { level, pakoPath: createRequire(import.meta.url).resolve('pako') }, workers);
  return { implementation: 'pako', compress: (job) => pool.run(job), close: () => pool.close() };
}

export function concat(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  let size = 0;
  for (const c of chunks) size += c.length;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}
