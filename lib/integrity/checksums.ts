import { byteOrder } from '../byte-order.js';
import { ALGORITHMS, type Digests } from './hash-stream.js';

export interface Digested {
  name: string;
  digests: Digests;
}

export type ChecksumAlgorithm = (typeof ALGORITHMS)[number];

export function sumsFileName(algorithm: ChecksumAlgorithm): string {
  return `${algorithm.toUpperCase()}SUMS`;
}

/**
 * `SHA256SUMS`/`SHA512SUMS` text that `sha256sum -c` accepts: "<hex>  <name>" lines (two spaces: text mode, as
 * sha256sum prints) sorted by UTF-8 bytes of the name, so the file itself is reproducible.
 */
export function sumsFile(files: Digested[], algorithm: ChecksumAlgorithm): string {
  return [...files]
    .sort((a, b) => byteOrder(a.name, b.name))
    .map((f) => `${f.digests[algorithm]}  ${f.name}\n`)
    .join('');
}

export { ALGORITHMS };
