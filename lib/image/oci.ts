import { byteOrder } from '../byte-order.js';

/** Media types krepro writes: the OCI names, as `docker save` (Docker ≥ 25) writes them beside manifest.json. */
export const MEDIA_TYPE = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
} as const;

/** Media types an image base may use, by role; anything else is refused with its name. */
export const ACCEPTED_MEDIA_TYPES = {
  index: new Set([MEDIA_TYPE.index, 'application/vnd.docker.distribution.manifest.list.v2+json']),
  manifest: new Set([MEDIA_TYPE.manifest, 'application/vnd.docker.distribution.manifest.v2+json']),
  config: new Set([MEDIA_TYPE.config, 'application/vnd.docker.container.image.v1+json']),
  // Only layers krepro can turn into the uncompressed tar it writes: plain tar and gzip (inflate has one answer).
  layer: new Set([
    MEDIA_TYPE.layer,
    'application/vnd.oci.image.layer.v1.tar+gzip',
    'application/vnd.docker.image.rootfs.diff.tar',
    'application/vnd.docker.image.rootfs.diff.tar.gzip',
  ]),
} as const;

export const OCI_LAYOUT = { imageLayoutVersion: '1.0.0' } as const;

/** containerd's and OCI's annotations on an index entry, as `docker save` sets them. */
export const ANNOTATION = {
  imageName: 'io.containerd.image.name',
  refName: 'org.opencontainers.image.ref.name',
} as const;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string; variant?: string };
  annotations?: Record<string, string>;
}

/**
 * JSON with object keys sorted by their UTF-8 bytes at every level and no whitespace. Written by hand, not with
 * JSON.stringify's key order: JavaScript puts integer-like keys ("8080") first whatever the insertion order.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record)
      .filter((k) => record[k] !== undefined)
      .sort(byteOrder);
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** `sha256:<hex>` → `<hex>`, the blob file name. */
export function digestHex(digest: string): string {
  return digest.slice('sha256:'.length);
}

export function blobPath(digest: string): string {
  return `blobs/sha256/${digestHex(digest)}`;
}
