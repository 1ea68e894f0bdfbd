/**
 * Deterministic tar.gz building blocks: plan a tree into sorted entries, write them as tar through the pinned gzip
 * encoder, and hash what is written on its way to disk.
 *
 * @packageDocumentation
 */
export { type ArchivePolicy, type Entry, type FileSource } from '../archive/entry.js';
export { planDirectory, planFiles, type PlanOptions } from '../archive/plan.js';
export { tarStream, writeTarball, type PackOptions, type WrittenFile } from '../archive/pack.js';
export {
  CURRENT_GZIP_FORMAT,
  GZIP_FORMATS,
  PinnedGzip,
  createGzipEncoder,
  encoderIdentity,
  type EncoderIdentity,
  type GzipEncoder,
  type GzipEncoderOptions,
  type GzipFormat,
  type GzipSpec,
  type GzipStreamOptions,
  type Format1Implementation,
} from '../archive/gzip.js';
export { LIBDEFLATE_VERSION, LIBDEFLATE_WASM_SHA256 } from '../archive/libdeflate.js';
export { byteOrder } from '../byte-order.js';
export { HashStream, hashFile, integrityOf, type Digests, type FileDigests } from '../integrity/hash-stream.js';
export { sumsFile, sumsFileName, type ChecksumAlgorithm } from '../integrity/checksums.js';
export type { Artifact } from '../integrity/artifact.js';
