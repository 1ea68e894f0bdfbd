import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import * as path from 'node:path';
import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import * as tar from 'tar-stream';
import { KreproError } from '../errors.js';
import { HashStream, hexDigest } from '../integrity/hash-stream.js';
import { ACCEPTED_MEDIA_TYPES, blobPath, type Descriptor } from './oci.js';
import { parseJson } from '../quote.js';

/** A base image read from a docker-archive: its parsed config and its layers, uncompressed, in temporary files. */
export interface BaseImage {
  config: Record<string, unknown>;
  /** In rootfs order; a layer listed twice points at one file. */
  layers: { diffId: string; file: string; size: number }[];
}

interface Member {
  type: string;
  linkname?: string;
}

/** manifest.json, index.json, configs and OCI manifests are small; anything larger is not read into memory. */
const MAX_JSON_BYTES = 4 << 20;
const MAX_LINK_HOPS = 32;

/**
 * Reads the single image of a docker-archive tarball (`docker save`, Docker 20.10 and ≥ 25 layouts alike) in two
 * sequential passes, as the archive is not seekable and manifest.json may come after the layers: the first keeps
 * the small JSON members, the second streams each layer through gunzip (if compressed) and sha256 into `workDir`,
 * checking it against the config's diff_ids.
 */
export async function readBaseImage(tarball: string, want: { os: string; arch: string }, workDir: string, signal?: AbortSignal): Promise<BaseImage> {
  const st = await stat(tarball).catch(() => undefined);
  if (!st?.isFile()) throw baseError(tarball, 'does not exist or is not a file (expected a docker-archive tarball, as `docker save` writes)');
  const members = new Map<string, Member>();
  const json = new Map<string, Buffer>();
  await scanTar(tarball, signal, async (name, header, entry) => {
    members.set(name, { type: header.type ?? 'file', ...(header.linkname ? { linkname: header.linkname } : {}) });
    if (header.type === 'file' && (header.size ?? 0) <= MAX_JSON_BYTES) {
      const doc = await jsonOrNothing(entry);
      if (doc) json.set(name, doc);
    } else {
      await drain(entry);
    }
  });
  const archive = new Archive(tarball, members, json);

  const manifest = archive.json('manifest.json', 'the docker-archive manifest');
  if (!Array.isArray(manifest) || manifest.length !== 1) {
    throw baseError(tarball, `holds ${Array.isArray(manifest) ? manifest.length : 'no list of'} images in manifest.json; a base must hold exactly one`);
  }
  const item = manifest[0] as { Config?: unknown; Layers?: unknown };
  if (typeof item.Config !== 'string' || !Array.isArray(item.Layers) || !item.Layers.every((l) => typeof l === 'string')) {
    throw baseError(tarball, 'has a manifest.json entry without a Config path and a list of Layers');
  }
  const configBytes = archive.bytes(item.Config, 'the image config');
  const config = archive.json(item.Config, 'the image config') as Record<string, unknown>;
  checkPlatform(tarball, config, want);
  const diffIds = (config['rootfs'] as { diff_ids?: unknown } | undefined)?.diff_ids;
  if (!Array.isArray(diffIds) || !diffIds.every((d) => typeof d === 'string' && /^sha256:[0-9a-f]{64}$/.test(d))) {
    throw baseError(tarball, `has a config (${item.Config}) without rootfs.diff_ids as sha256 digests`);
  }
  if (diffIds.length !== item.Layers.length) {
    throw baseError(tarball, `lists ${item.Layers.length} layers in manifest.json but ${diffIds.length} diff_ids in its config`);
  }
  if (members.has('index.json')) checkMediaTypes(archive, `sha256:${createHash('sha256').update(configBytes).digest('hex')}`);

  const layerMembers = (item.Layers as string[]).map((l) => archive.resolve(l, 'a layer'));
  const needed = new Set(layerMembers);
  const unpacked = new Map<string, { diffId: string; file: string; size: number }>();
  await scanTar(tarball, signal, async (name, header, entry) => {
    if (header.type !== 'file' || !needed.has(name) || unpacked.has(name)) return drain(entry);
    unpacked.set(name, await unpackLayer(entry, tarball, name, path.join(workDir, `base-layer-${unpacked.size}.tar`)));
  });
  const layers = layerMembers.map((name, i) => {
    const layer = unpacked.get(name);
    if (!layer) throw baseError(tarball, `has no layer ${name}`);
    if (layer.diffId !== diffIds[i]) throw baseError(tarball, `has layer ${name} whose uncompressed content is ${layer.diffId}, but its config lists ${String(diffIds[i])}`);
    return layer;
  });
  return { config, layers };
}

function baseError(tarball: string, what: string, cause?: unknown): KreproError {
  return new KreproError('E_BASE_IMAGE', `base image ${tarball} ${what}`, { path: tarball, ...(cause === undefined ? {} : { cause }) });
}

function checkPlatform(tarball: string, config: Record<string, unknown>, want: { os: string; arch: string }): void {
  const { os, architecture, variant } = config as { os?: unknown; architecture?: unknown; variant?: unknown };
  if (os !== want.os || architecture !== want.arch) {
    const has = `${String(os)}/${String(architecture)}${typeof variant === 'string' ? `/${variant}` : ''}`;
    throw baseError(tarball, `is for ${has}, not ${want.os}/${want.arch}: use a base image of the architecture being built`);
  }
}

/** Member names as `docker load` resolves them: relative, no `./`, no trailing `/`. */
function memberName(name: string): string {
  const normalized = path.posix.normalize(name.replace(/^(\.\/)+/, '')).replace(/\/+$/, '');
  return normalized === '.' ? '' : normalized;
}

class Archive {
  constructor(
    readonly tarball: string,
    private readonly members: Map<string, Member>,
    private readonly docs: Map<string, Buffer>,
  ) {}

  /** Follows symlinks and hard links (Docker 20.10 links a repeated layer to its first copy) to a regular member. */
  resolve(ref: string, what: string): string {
    let name = memberName(ref);
    for (let hop = 0; hop < MAX_LINK_HOPS; hop++) {
      const m = this.members.get(name);
      if (!m) throw baseError(this.tarball, `has no ${ref} (${what})`);
      if (m.type === 'file') return name;
      if ((m.type !== 'symlink' && m.type !== 'link') || m.linkname === undefined) throw baseError(this.tarball, `has ${ref} (${what}) as a ${m.type}, not a file`);
      const target = m.type === 'symlink' ? path.posix.join(path.posix.dirname(name), m.linkname) : m.linkname;
      if (path.posix.isAbsolute(target) || memberName(target).startsWith('../')) throw baseError(this.tarball, `has ${ref} (${what}) linking outside the archive: ${m.linkname}`);
      name = memberName(target);
    }
    throw baseError(this.tarball, `has a link loop at ${ref} (${what})`);
  }

  has(ref: string): boolean {
    return this.members.has(memberName(ref));
  }

  bytes(ref: string, what: string): Buffer {
    const name = this.resolve(ref, what);
    const doc = this.docs.get(name);
    if (!doc) throw baseError(this.tarball, `has ${ref} (${what}), but it is not a JSON document of at most ${MAX_JSON_BYTES} bytes`);
    return doc;
  }

  json(ref: string, what: string): unknown {
    return parseJson(this.bytes(ref, what).toString('utf8'), (where) => baseError(this.tarball, `has ${ref}, which is not valid JSON: ${where}`));
  }
}

/**
 * Where the archive carries an OCI index (`docker save` on Docker ≥ 25, buildx), the media types of the image's
 * manifest, config and layers are checked: a zstd or non-distributable layer would otherwise fail later, unnamed.
 */
function checkMediaTypes(archive: Archive, configDigest: string): void {
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
  const { size, integrity } = hash.result();
  return { diffId: `sha256:${hexDigest(integrity, 'sha256')}`, file: dest, size };
}

async function jsonOrNothing(entry: AsyncIterable<Buffer>): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let isJson: boolean | undefined;
  for await (const chunk of entry) {
    isJson ??= /^\s*[[{]/.test(chunk.subarray(0, 64).toString('latin1'));
    if (isJson) chunks.push(chunk);
  }
  return isJson ? Buffer.concat(chunks) : undefined;
}

async function drain(entry: AsyncIterable<Buffer>): Promise<void> {
  for await (const _ of entry) {
    // discard
  }
}

/** Streams the members of a tar file to `onEntry`, which must consume each; any failure names the tarball. */
async function scanTar(tarball: string, signal: AbortSignal | undefined, onEntry: (name: string, header: tar.Header, entry: AsyncIterable<Buffer>) => Promise<void>): Promise<void> {
  const source = createReadStream(tarball);
  const extract = tar.extract();
  const feeding = pipeline(source, extract as unknown as NodeJS.WritableStream, signal ? { signal } : {}).then(
    () => undefined,
    (err: unknown) => err,
  );
  try {
    for await (const entry of extract) await onEntry(memberName(entry.header.name), entry.header, entry as unknown as AsyncIterable<Buffer>);
    const err = await feeding;
    if (err !== undefined) throw err;
  } catch (err) {
    signal?.throwIfAborted();
    throw err instanceof KreproError ? err : baseError(tarball, `cannot be read as a tar archive: ${(err as Error).message}`, err);
  } finally {
    source.destroy();
    extract.destroy();
  }
}
