import { createHash } from 'node:crypto';
import { stat, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { type Entry } from '../archive/entry.js';
import { byteOrder } from '../byte-order.js';
import { hashFile } from '../integrity/hash-stream.js';
import { ANNOTATION, blobPath, canonicalJson, type Descriptor, digestHex, MEDIA_TYPE, OCI_LAYOUT } from './oci.js';
import { parseRepoTag } from './reference.js';

/** An uncompressed layer tar on disk: its sha256 is both the blob digest and the diffID. */
export interface ImageLayer {
  digest: string;
  file: string;
  size: number;
}

export interface ImageArchiveInput {
  /** In rootfs order, base first */
  layers: ImageLayer[];
  /** The image config without `rootfs`, which is derived from `layers` so the two cannot disagree */
  config: Record<string, unknown>;
  /** `name:tag`; the archive's manifest.json, repositories and OCI annotations name it */
  repoTag: string;
  /** `architecture`, `os` and optional `variant`… for the OCI index entry */
  platform: Record<string, unknown>;
  /** SOURCE_DATE_EPOCH: every outer tar member's mtime */
  created: number;
}

export interface ImageArchive {
  /** The outer tar's members in byte order; stream them with tarStream(entries, { mtime: created }) */
  entries: Entry[];
  /** `sha256:<hex>` of the config: what `docker load` and `docker images --no-trunc` report */
  imageId: string;
  /** `sha256:<hex>` of the OCI manifest, as a registry would name the image */
  manifestDigest: string;
  repoTag: string;
  diffIds: string[];
}

/** RFC 3339 in UTC without fractions, as Go prints a whole-second time.Time: `2023-11-14T22:13:20Z`. */
export function isoSeconds(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}

/** Hashes an existing uncompressed layer tar (e.g. a root filesystem made by mmdebstrap) without reading it into memory. */
export async function layerFromTar(file: string, signal?: AbortSignal): Promise<ImageLayer> {
  const { size, digests } = await hashFile(file, signal);
  return { digest: `sha256:${digests.sha256}`, file, size };
}

/**
 * Writes the small documents of a `docker load`-able image archive into `work` and returns the outer tar's
 * members: `docker save`'s docker-archive layout (manifest.json, repositories) and, as Docker ≥ 25 writes it
 * alongside, an OCI layout (oci-layout, index.json) over the same `blobs/sha256/` files. Every byte follows from
 * the inputs; JSON is canonical (keys sorted by UTF-8 bytes, no whitespace).
 */
export async function prepareImageArchive(work: string, input: ImageArchiveInput): Promise<ImageArchive> {
  const ref = parseRepoTag(input.repoTag);
  const { layers } = input;
  const diffIds = layers.map((l) => l.digest);
  const blob = async (name: string, json: unknown): Promise<ImageLayer> => {
    const bytes = Buffer.from(canonicalJson(json));
    const file = path.join(work, name);
    await writeFile(file, bytes);
    return { digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, file, size: bytes.length };
  };
  const config = await blob('config.json', { ...input.config, rootfs: { type: 'layers', diff_ids: diffIds } });
  const manifest = await blob('manifest.oci.json', {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE.manifest,
    config: { mediaType: MEDIA_TYPE.config, digest: config.digest, size: config.size },
    layers: layers.map((l) => ({ mediaType: MEDIA_TYPE.layer, digest: l.digest, size: l.size })),
  });
  const indexEntry: Descriptor = {
    mediaType: MEDIA_TYPE.manifest,
    digest: manifest.digest,
    size: manifest.size,
    platform: input.platform as Descriptor['platform'] & object,
    annotations: { [ANNOTATION.imageName]: `${ref.name}:${ref.tag}`, [ANNOTATION.refName]: ref.tag },
  };
  const index = await blob('index.json', { schemaVersion: 2, mediaType: MEDIA_TYPE.index, manifests: [indexEntry] });
  const ociLayout = await blob('oci-layout', OCI_LAYOUT);
  // docker save ends these two with a newline (Go's json.Encoder); kept, so they read like its output.
  const dockerManifest = path.join(work, 'manifest.json');
  await writeFile(dockerManifest, `${canonicalJson([{ Config: blobPath(config.digest), Layers: layers.map((l) => blobPath(l.digest)), RepoTags: [`${ref.familiarName}:${ref.tag}`] }])}\n`);
  const repositories = path.join(work, 'repositories');
  await writeFile(repositories, `${canonicalJson({ [ref.familiarName]: { [ref.tag]: digestHex(layers[layers.length - 1]!.digest) } })}\n`);

  const members = new Map<string, string>([
    ['index.json', index.file],
    ['manifest.json', dockerManifest],
    ['oci-layout', ociLayout.file],
    ['repositories', repositories],
  ]);
  for (const b of [config, manifest, ...layers]) members.set(blobPath(b.digest), b.file); // a repeated layer is one blob
  return {
    entries: await outerEntries(members, input.created),
    imageId: config.digest,
    manifestDigest: manifest.digest,
    repoTag: `${ref.familiarName}:${ref.tag}`,
    diffIds,
  };
}

/** An image layout tar's members: `blobs/` and `blobs/sha256/` directories, then every file, in byte order. */
export async function outerEntries(members: Map<string, string>, mtime: number): Promise<Entry[]> {
  const entries: Entry[] = [
    { type: 'directory', path: 'blobs', mtime },
    { type: 'directory', path: 'blobs/sha256', mtime },
  ];
  for (const [member, file] of members) {
    const st = await stat(file);
    entries.push({ type: 'file', path: member, mode: 0o644, mtime, size: st.size, source: { path: file, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino } });
  }
  return entries.sort((a, b) => byteOrder(a.path, b.path));
}
