import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { KreproError } from '../errors.js';
import { type WorkerPool, workerPool } from './worker-pool.js';

/** What wasm/build.sh compiles: libdeflate 1.23 (MIT), Debian's libdeflate_1.23.orig.tar.gz. */
export const LIBDEFLATE_VERSION = '1.23';
/**
 * SHA-256 of wasm/libdeflate.wasm as wasm/build.sh builds it. Format 2's bytes are this module's output, so a
 * module with other bytes is refused rather than used.
 */
export const LIBDEFLATE_WASM_SHA256 = 'fc10ad2860e95f44b17d45b7a25cf81471894199976bcaac350db7e1527b9fec';

// The runtime's WebAssembly global; TypeScript only declares it with the DOM library, which krepro does not load.
declare namespace WebAssembly {
  class Module {
    constructor(bytes: Uint8Array);
  }
}

let compiled: WebAssembly.Module | undefined;

export function libdeflateWasmPath(): string {
  return path.join(path.dirname(createRequire(import.meta.url).resolve('krepro/package.json')), 'wasm', 'libdeflate.wasm');
}

/** The pinned module, compiled once per thread after its bytes are checked against LIBDEFLATE_WASM_SHA256. */
export function libdeflateModule(): WebAssembly.Module {
  if (compiled) return compiled;
  const file = libdeflateWasmPath();
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new KreproError('E_ENCODER', `cannot read the gzip format 2 encoder ${file}: ${(err as Error).message}; reinstall krepro`, { path: file, cause: err });
  }
  const sum = createHash('sha256').update(bytes).digest('hex');
  if (sum !== LIBDEFLATE_WASM_SHA256) {
    throw new KreproError('E_ENCODER', `${file} has sha256 ${sum}, not the pinned ${LIBDEFLATE_WASM_SHA256}: it would write other bytes; reinstall krepro or rebuild it with wasm/build.sh`, { path: file });
  }
  compiled = new WebAssembly.Module(bytes);
  return compiled;
}

export interface MemberArgs {
  level: number;
  /** largest input a member holds */
  maxInput: number;
  /** the 10 header bytes every member starts with */
  header: Uint8Array;
}

/**
 * Runs in each worker (see workerPool): one instance of the compiled module and one compressor at `level`; every
 * message is an input chunk, answered with one complete gzip member: `header`, libdeflate's whole deflate stream of
 * the chunk, CRC-32 and size (RFC 1952).
 */
const MEMBER_HANDLER = `({ module, level, maxInput, header }) => {
  const e = new WebAssembly.Instance(module, {}).exports;
  e._initialize();
  const compressor = e.libdeflate_alloc_compressor(level);
  const bound = compressor && e.libdeflate_deflate_compress_bound(compressor, maxInput);
  const input = compressor && e.malloc(maxInput);
  const output = compressor && e.malloc(bound);
  if (!compressor || !input || !output) throw new Error('libdeflate could not allocate a level ' + level + ' compressor');
  return (chunk) => {
    if (chunk.length > maxInput) throw new Error('chunk of ' + chunk.length + ' bytes is over the member size ' + maxInput);
    new Uint8Array(e.memory.buffer, input, chunk.length).set(chunk);
    const n = e.libdeflate_deflate_compress(compressor, input, chunk.length, output, bound);
    if (n === 0) throw new Error('libdeflate output did not fit its own bound');
    const member = new Uint8Array(header.length + n + 8);
    member.set(header);
    member.set(new Uint8Array(e.memory.buffer, output, n), header.length);
    const tail = new DataView(member.buffer, header.length + n);
    tail.setUint32(0, e.libdeflate_crc32(0, input, chunk.length) >>> 0, true);
    tail.setUint32(4, chunk.length, true);
    return member;
  };
}`;

/**
 * The same member function in this thread, for re-encoding a sample (krepro diff names the encoder of a tarball by
 * reproducing its first member): exactly the code the workers run.
 */
export function libdeflateMember(args: MemberArgs): (chunk: Uint8Array) => Uint8Array {
  return (new Function(`return (${MEMBER_HANDLER})`)() as (a: MemberArgs & { module: WebAssembly.Module }) => (chunk: Uint8Array) => Uint8Array)({ ...args, module: libdeflateModule() });
}

/** libdeflate in `workers` threads, each with its own instance of the one compiled module; a message per member. */
export function libdeflateCompressor(args: MemberArgs, workers: number, recycle: (input: Uint8Array) => void): WorkerPool<Uint8Array> {
  return workerPool<Uint8Array>(MEMBER_HANDLER, { ...args, module: libdeflateModule() }, workers, recycle);
}
