import { byteOrder } from '../byte-order.js';
import { ALGORITHMS, hexDigest, type Integrity } from './hash-stream.js';

export interface Digested {
  name: string;
  integrity: Integrity;
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
    .map((f) => `${hexDigest(f.integrity, algorithm)}  ${f.name}\n`)
    .join('');
}

/** Per-file `<name>.sha256` content: bare lowercase hex, no name, no newline (Kubernetes release tooling's form). */
export function digestFile(integrity: Integrity, algorithm: ChecksumAlgorithm): string {
  return hexDigest(integrity, algorithm);
}

export { ALGORITHMS };
