import { byteOrder } from '../byte-order.js';
import { ALGORITHMS, type Digests } from './hash-stream.js';

/** The algorithms of krepro's checksum files: `SHA256SUMS` and `SHA512SUMS`. */
export type ChecksumAlgorithm = keyof Digests;

/** `SHA256SUMS` or `SHA512SUMS`: the checksum file's name for `algorithm`. */
export function sumsFileName(algorithm: ChecksumAlgorithm): string {
  return `${algorithm.toUpperCase()}SUMS`;
}

/**
 * `SHA256SUMS`/`SHA512SUMS` text that `sha256sum -c` accepts: "<hex>  <name>" lines (two spaces: text mode, as
 * sha256sum prints) sorted by UTF-8 bytes of the name, so the file itself is reproducible.
 */
export function sumsFile(files: readonly { name: string; digests: Digests }[], algorithm: ChecksumAlgorithm): string {
  return [...files]
    .sort((a, b) => byteOrder(a.name, b.name))
    .map((f) => `${f.digests[algorithm]}  ${f.name}\n`)
    .join('');
}

export { ALGORITHMS };
