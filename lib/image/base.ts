import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import * as path from 'node:path';
import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { KreproError } from '../errors.js';
import { HashStream } from '../integrity/hash-stream.js';
import { type ArchiveError, DockerArchive, drain, scanTar } from './docker-archive.js';
import { ACCEPTED_MEDIA_TYPES, blobPath, type Descriptor } from './oci.js';

/** An image base (what a server image is written on) read from a docker-archive: its parsed config and its layers, uncompressed, in temporary files. */
export interface ImageBaseArchive {
  /** The image's config as JSON. */
  config: Record<string, unknown>;
  /** In rootfs order; a layer listed twice points at one file. */
  layers: { diffId: string; file: string; size: number }[];
}

/**
 * Reads the single image of a docker-archive tarball (`docker save`, Docker 20.10 and ≥ 25 layouts alike) in two
 * sequential passes (see DockerArchive): the first keeps the small JSON members, the second streams each layer
 * through gunzip (if compressed) and sha256 into `workDir`, checking it against the config's diff_ids.
 */
export async function readImageBase(tarball: string, want: { os: string; arch: string }, workDir: string, signal?: AbortSignal): Promise<ImageBaseArchive> {
  const fail: ArchiveError = (what, cause) => baseError(tarball, what, cause);
  const archive = await DockerArchive.read(tarball, fail, signal);
  const item = archive.singleImage('a base');
  const configBytes = archive.bytes(item.config, 'the image config');
  const config = archive.parse(configBytes, item.config) as Record<string, unknown>;
  checkPlatform(tarball, config, want);
  const diffIds = (config['rootfs'] as { diff_ids?: unknown } | undefined)?.diff_ids;
  if (!Array.isArray(diffIds) || !diffIds.every((d) => typeof d === 'string' && /^sha256:[0-9a-f]{64}$/.test(d))) {
    throw fail(`has a config (${item.config}) without rootfs.diff_ids as sha256 digests`);
  }
  if (diffIds.length !== item.layers.length) {
    throw fail(`lists ${item.layers.length} layers in manifest.json but ${diffIds.length} diff_ids in its config`);
  }
  if (archive.has('index.json')) checkMediaTypes(archive, `sha256:${createHash('sha256').update(configBytes).digest('hex')}`);

  const layerMembers = item.layers.map((l) => archive.resolve(l, 'a layer'));
  const needed = new Set(layerMembers);
  const unpacked = new Map<string, { diffId: string; file: string; size: number }>();
  await scanTar(tarball, fail, signal, async (name, header, entry) => {
    if (header.type !== 'file' || !needed.has(name) || unpacked.has(name)) return drain(entry);
    unpacked.set(name, await unpackLayer(entry, tarball, name, path.join(workDir, `base-layer-${unpacked.size}.tar`)));
  });
  const layers = layerMembers.map((name, i) => {
    const layer = unpacked.get(name);
    if (!layer) throw fail(`has no layer ${name}`);
    if (layer.diffId !== diffIds[i]) throw fail(`has layer ${name} whose uncompressed content is ${layer.diffId}, but its config lists ${String(diffIds[i])}`);
    return layer;
  });
  return { config, layers };
}

function baseError(tarball: string, what: string, cause?: unknown): KreproError {
  return new KreproError('E_BASE_IMAGE', `image base ${tarball} ${what}`, { path: tarball, ...(cause === undefined ? {} : { cause }) });
}

function checkPlatform(tarball: string, config: Record<string, unknown>, want: { os: string; arch: string }): void {
  const { os, architecture, variant } = config as { os?: unknown; architecture?: unknown; variant?: unknown };
  if (os !== want.os || architecture !== want.arch) {
    const has = `${String(os)}/${String(architecture)}${typeof variant === 'string' ? `/${variant}` : ''}`;
    throw baseError(tarball, `is for ${has}, not ${want.os}/${want.arch}: use an image base of the architecture being built`);
  }
}

/**
 * Where the archive carries an OCI index (`docker save` on Docker ≥ 25, buildx), the media types of the image's
 * manifest, config and layers are checked: a zstd or non-distributable layer would otherwise fail later, unnamed.
 */
function checkMediaTypes(archive: DockerArchive, configDigest: string): void {
  const visit = (desc: Descriptor, where: string, depth: number): void => {
    const blob = blobPath(desc.digest);
    if (ACCEPTED_MEDIA_TYPES.index.has(desc.mediaType) && depth === 0) {
      if (!archive.has(blob)) return; // not saved with the image: nothing to check
      const nested = archive.json(blob, 'an image index') as { manifests?: Descriptor[] };
      for (const m of nested.manifests ?? []) visit(m, blob, depth + 1);
    } else if (ACCEPTED_MEDIA_TYPES.manifest.has(desc.mediaType)) {
      if (!archive.has(blob)) return;
      const manifest = archive.json(blob, 'an image manifest') as { config?: Descriptor; layers?: Descriptor[] };
      if (manifest.config?.digest !== configDigest) return; // another image or an attestation
      if (!ACCEPTED_MEDIA_TYPES.config.has(manifest.config.mediaType)) throw unsupported(archive.tarball, manifest.config.mediaType, `the config of ${blob}`);
      (manifest.layers ?? []).forEach((layer, i) => {
        if (!ACCEPTED_MEDIA_TYPES.layer.has(layer.mediaType)) throw unsupported(archive.tarball, layer.mediaType, `layer ${i + 1} (${layer.digest}) of ${blob}`);
      });
    } else {
      throw unsupported(archive.tarball, desc.mediaType, `${desc.digest} in ${where}`);
    }
  };
  const index = archive.json('index.json', 'the OCI index') as { manifests?: Descriptor[] };
  for (const m of index.manifests ?? []) visit(m, 'index.json', 0);
}

function unsupported(tarball: string, mediaType: string | undefined, where: string): KreproError {
  return baseError(tarball, `uses the unsupported media type ${JSON.stringify(mediaType ?? '(none)')} for ${where}; krepro reads OCI or Docker v2 images with uncompressed or gzip layers`);
}

/** Magic numbers of the compressions Docker detects; only gzip can be undone here with the same result everywhere. */
const REFUSED_COMPRESSION: [string, Buffer][] = [
  ['zstd', Buffer.from([0x28, 0xb5, 0x2f, 0xfd])],
  ['bzip2', Buffer.from('BZh', 'latin1')],
  ['xz', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])],
];
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);

async function unpackLayer(entry: AsyncIterable<Buffer>, tarball: string, name: string, dest: string): Promise<{ diffId: string; file: string; size: number }> {
  const iterator = entry[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let seen = 0;
  while (seen < 6) {
    const next = await iterator.next();
    if (next.done) break;
    head.push(next.value);
    seen += next.value.length;
  }
  const start = Buffer.concat(head);
  for (const [kind, magic] of REFUSED_COMPRESSION) {
    if (start.subarray(0, magic.length).equals(magic)) throw baseError(tarball, `has layer ${name} compressed with ${kind}; krepro reads uncompressed and gzip layers only`);
  }
  async function* bytes(): AsyncGenerator<Buffer> {
    yield start;
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
  }
  const hash = new HashStream();
  const stages: (Transform | HashStream)[] = start.subarray(0, 2).equals(GZIP_MAGIC) ? [createGunzip(), hash] : [hash];
  try {
    await pipeline([Readable.from(bytes()), ...stages, createWriteStream(dest, { mode: 0o600 })]);
  } catch (err) {
    throw baseError(tarball, `has layer ${name} that cannot be read: ${(err as Error).message}`, err);
  }
  const { size, digests } = hash.result();
  return { diffId: `sha256:${digests.sha256}`, file: dest, size };
}
