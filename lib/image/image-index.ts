import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { lstat, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { tarStream, writeAtomically, type WrittenFile } from '../archive/pack.js';
import { byteOrder } from '../byte-order.js';
import { KreproError } from '../errors.js';
import { HashStream } from '../integrity/hash-stream.js';
import { isoSeconds, outerEntries } from './archive.js';
import { type ArchiveError, DockerArchive, drain, scanTar } from './docker-archive.js';
import { ACCEPTED_MEDIA_TYPES, ANNOTATION, blobPath, canonicalJson, MEDIA_TYPE, OCI_LAYOUT } from './oci.js';
import { parseRepoTag } from './reference.js';

/** What an image index archive is called beside the release tarballs: `<binary>.oci.tar`. */
export const IMAGE_INDEX_SUFFIX = '.oci.tar';

/** The pre-defined OCI annotation (image-spec annotations.md) that carries the creation time: SOURCE_DATE_EPOCH. */
export const CREATED_ANNOTATION = 'org.opencontainers.image.created';

/** A platform as an image index names it: the config's architecture, os and, where set, variant and os.* fields. */
export type Platform = { architecture: string; os: string; variant?: string; 'os.version'?: string; 'os.features'?: string[] };

/** One per-platform image of an index. */
export interface IndexedImage {
  /** the docker-archive tarball it came from */
  tarball: string;
  /** The platform its config names. */
  platform: Platform;
  /** `sha256:<hex>` of the manifest, the index entry's digest */
  manifestDigest: string;
  /** `sha256:<hex>` of the config: the image ID `docker load` of `tarball` gives */
  imageId: string;
}

/** The OCI image layout writeImageIndex wrote: file, size, digests, and what the index holds. */
export interface WrittenImageIndex extends WrittenFile {
  /** `sha256:<hex>` of the image index: what a registry names the multi-platform image by once it is pushed */
  indexDigest: string;
  /** `name:tag` of the multi-platform image, as the per-platform names are with the `-<arch>` suffix removed */
  repoTag: string;
  /** Its images, in the order the index lists them. */
  images: IndexedImage[];
}

/** What writeImageIndex indexes, and where it writes. */
export interface ImageIndexOptions {
  /**
   * One docker-archive tarball per platform (each holding one image), in the order the index lists them; with
   * `platform` (`<os>-<arch>` or `<os>/<arch>`), the image's config must say that platform.
   */
  images: readonly (string | { tarball: string; platform: string })[];
  /** The OCI image layout tarball to write (replaced atomically). */
  dest: string;
  /** SOURCE_DATE_EPOCH: the index's `org.opencontainers.image.created` and every tar member's mtime */
  created: number;
  /** Directory for the blobs copied out of the images meanwhile (default: beside `dest`); removed afterwards. */
  tempDir?: string;
  /** Aborts the write; `dest` is then left as it was. */
  signal?: AbortSignal;
}

/** One per-platform image read out of its docker-archive: its descriptor in the index and the blobs it needs. */
interface PlatformImage extends IndexedImage {
  repoTag: string;
  descriptor: { mediaType: string; digest: string; size: number; platform: Platform };
  /** digest → temporary file */
  blobs: Map<string, string>;
}

/**
 * Writes an OCI image layout tarball (oci-layout, index.json, blobs/sha256/…) whose index.json names one image
 * index, which lists each per-platform image's manifest with its platform — what `docker manifest create` and
 * `annotate --arch` make of Kubernetes' `<binary>-<arch>` images, and what skopeo, crane and a registry take as one
 * multi-platform image. Each image keeps its manifest, config and layers byte for byte (an image written by krepro,
 * or saved by Docker ≥ 25, carries an OCI manifest; for an older `docker save` archive, whose layers are
 * uncompressed, the manifest is the one krepro writes). Every byte follows from the images and `created`.
 */
export async function writeImageIndex(opts: ImageIndexOptions): Promise<WrittenImageIndex> {
  if (opts.images.length === 0) throw new KreproError('E_USAGE', 'an image index needs at least one image');
  const dest = path.resolve(opts.dest);
  const work = path.join(path.resolve(opts.tempDir ?? path.dirname(dest)), `.${path.basename(dest)}.partial-${randomBytes(6).toString('hex')}`);
  await mkdir(work, { recursive: true });
  try {
    const images: PlatformImage[] = [];
    for (const [i, input] of opts.images.entries()) {
      opts.signal?.throwIfAborted();
      const { tarball, platform } = typeof input === 'string' ? { tarball: input, platform: undefined } : input;
      const image = await readPlatformImage(path.resolve(tarball), path.join(work, `image-${i}`), opts.signal);
      const [os, arch] = platform?.split(/[-/]/) ?? [];
      if (platform !== undefined && (image.platform.os !== os || image.platform.architecture !== arch)) {
        throw new KreproError('E_STAGE', `image ${image.tarball} is for ${platformText(image.platform)}, but it is staged for ${platform}`, { path: image.tarball });
      }
      images.push(image);
    }
    const repoTag = indexName(images);
    const ref = parseRepoTag(repoTag);
    const blobs = new Map<string, string>();
    for (const image of images) for (const [digest, file] of image.blobs) blobs.set(digest, file);
    const blob = async (name: string, json: unknown): Promise<{ digest: string; size: number }> => {
      const bytes = Buffer.from(canonicalJson(json));
      const file = path.join(work, name);
      await writeFile(file, bytes);
      const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      blobs.set(digest, file);
      return { digest, size: bytes.length };
    };
    const index = await blob('image-index.json', {
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.index,
      manifests: images.map((image) => image.descriptor),
      annotations: { [CREATED_ANNOTATION]: isoSeconds(opts.created) },
    });
    const layoutIndex = path.join(work, 'index.json');
    await writeFile(
      layoutIndex,
      canonicalJson({
        schemaVersion: 2,
        mediaType: MEDIA_TYPE.index,
        manifests: [{ mediaType: MEDIA_TYPE.index, digest: index.digest, size: index.size, annotations: { [ANNOTATION.imageName]: `${ref.name}:${ref.tag}`, [ANNOTATION.refName]: ref.tag } }],
      }),
    );
    const layout = path.join(work, 'oci-layout');
    await writeFile(layout, canonicalJson(OCI_LAYOUT));
    const members = new Map<string, string>([
      ['index.json', layoutIndex],
      ['oci-layout', layout],
    ]);
    for (const [digest, file] of blobs) members.set(blobPath(digest), file);
    const entries = await outerEntries(members, opts.created);
    const hash = new HashStream();
    const written = await writeAtomically(dest, (out) => pipeline(tarStream(entries, { mtime: opts.created }), hash, out, opts.signal ? { signal: opts.signal } : {}), hash);
    return {
      ...written,
      indexDigest: index.digest,
      repoTag: `${ref.familiarName}:${ref.tag}`,
      images: images.map(({ tarball, platform, manifestDigest, imageId }) => ({ tarball, platform, manifestDigest, imageId })),
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function stagedError(tarball: string): ArchiveError {
  return (what, cause) => new KreproError('E_STAGE', `image ${tarball} ${what}`, { path: tarball, ...(cause === undefined ? {} : { cause }) });
}

const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** The platform fields of an image config; architecture and os must be there. */
function platformOf(config: Record<string, unknown>, fail: ArchiveError): Platform {
  const { architecture, os, variant } = config as { architecture?: unknown; os?: unknown; variant?: unknown };
  if (typeof architecture !== 'string' || typeof os !== 'string' || architecture === '' || os === '') throw fail('has a config without architecture and os');
  const osVersion = config['os.version'];
  const osFeatures = config['os.features'];
  return {
    architecture,
    os,
    ...(typeof variant === 'string' && variant !== '' ? { variant } : {}),
    ...(typeof osVersion === 'string' && osVersion !== '' ? { 'os.version': osVersion } : {}),
    ...(Array.isArray(osFeatures) && osFeatures.length > 0 ? { 'os.features': osFeatures.map(String) } : {}),
  };
}

const platformText = (p: Platform): string => `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;

interface ManifestDoc {
  mediaType?: string;
  config?: { digest?: unknown; size?: unknown };
  layers?: { mediaType?: unknown; digest?: unknown; size?: unknown }[];
}

/** The OCI manifest of the image whose config is `imageId`, from index.json (one nested index deep, as Docker ≥ 25 saves). */
function ociManifest(archive: DockerArchive, imageId: string): { mediaType: string; bytes: Buffer; doc: ManifestDoc } | undefined {
  const visit = (descs: unknown, depth: number): { mediaType: string; bytes: Buffer; doc: ManifestDoc } | undefined => {
    for (const d of Array.isArray(descs) ? (descs as { mediaType?: unknown; digest?: unknown }[]) : []) {
      if (typeof d.digest !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(d.digest) || !archive.has(blobPath(d.digest))) continue;
      const mediaType = String(d.mediaType);
      if (ACCEPTED_MEDIA_TYPES.index.has(mediaType) && depth === 0) {
        const found = visit((archive.json(blobPath(d.digest), 'an image index') as { manifests?: unknown }).manifests, 1);
        if (found) return found;
      } else if (ACCEPTED_MEDIA_TYPES.manifest.has(mediaType)) {
        const bytes = archive.bytes(blobPath(d.digest), 'an image manifest');
        if (sha256(bytes) !== d.digest) throw archive.fail(`has ${blobPath(d.digest)}, whose content is not its digest`);
        const doc = archive.parse(bytes, blobPath(d.digest)) as ManifestDoc;
        if (doc.config?.digest === imageId) return { mediaType, bytes, doc };
      }
    }
    return undefined;
  };
  return visit((archive.json('index.json', 'the OCI index') as { manifests?: unknown }).manifests, 0);
}

/**
 * Reads one per-platform image: its config (the image ID), its manifest (the OCI one it carries, or krepro's for an
 * archive without one) and copies every blob the manifest names into `work`, checking each against its digest.
 */
async function readPlatformImage(tarball: string, work: string, signal?: AbortSignal): Promise<PlatformImage> {
  const fail = stagedError(tarball);
  const archive = await DockerArchive.read(tarball, fail, signal);
  const item = archive.singleImage('a per-platform image');
  const repoTag = item.repoTags[0];
  if (repoTag === undefined) throw fail('has no RepoTags in manifest.json: the index is named after its images');
  const configBytes = archive.bytes(item.config, 'the image config');
  const imageId = sha256(configBytes);
  const config = archive.parse(configBytes, item.config) as Record<string, unknown>;
  const platform = platformOf(config, fail);
  const diffIds = (config['rootfs'] as { diff_ids?: unknown } | undefined)?.diff_ids;
  if (!Array.isArray(diffIds) || diffIds.length !== item.layers.length) throw fail(`lists ${item.layers.length} layers in manifest.json but its config has ${Array.isArray(diffIds) ? diffIds.length : 'no'} rootfs.diff_ids`);

  const oci = archive.has('index.json') ? ociManifest(archive, imageId) : undefined;
  // member name → the digest and size it must have (undefined: computed here, for a manifest krepro writes)
  const wanted = new Map<string, { digest: string; size: unknown } | undefined>();
  if (oci) {
    for (const [i, layer] of (oci.doc.layers ?? []).entries()) {
      if (typeof layer.digest !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(layer.digest)) throw fail(`has a manifest whose layer ${i + 1} has no sha256 digest`);
      wanted.set(archive.resolve(blobPath(layer.digest), `layer ${i + 1}`), { digest: layer.digest, size: layer.size });
    }
  } else {
    for (const [i, layer] of item.layers.entries()) wanted.set(archive.resolve(layer, `layer ${i + 1}`), undefined);
  }
  await mkdir(work);
  const copied = new Map<string, { digest: string; size: number; file: string }>();
  await scanTar(tarball, fail, signal, async (name, header, entry) => {
    if (header.type !== 'file' || !wanted.has(name) || copied.has(name)) return drain(entry);
    const file = path.join(work, `blob-${copied.size}`);
    const hash = new HashStream();
    await pipeline(Readable.from(entry), hash, createWriteStream(file, { mode: 0o600 }));
    const { size, digests } = hash.result();
    const digest = `sha256:${digests.sha256}`;
    const expected = wanted.get(name);
    if (expected !== undefined && (expected.digest !== digest || expected.size !== size)) {
      throw fail(`has ${name}, whose content is ${digest} (${size} bytes), not the ${expected.digest} (${String(expected.size)} bytes) its manifest names`);
    }
    copied.set(name, { digest, size, file });
  });
  const blobs = new Map<string, string>();
  for (const { digest, file } of copied.values()) blobs.set(digest, file);
  const configFile = path.join(work, 'config.json');
  await writeFile(configFile, configBytes);
  blobs.set(imageId, configFile);

  let manifest: { mediaType: string; bytes: Buffer };
  if (oci) {
    manifest = oci;
  } else {
    // An older `docker save`: uncompressed layer tars, whose digests are the config's diff_ids.
    const layers = item.layers.map((layer, i) => {
      const c = copied.get(archive.resolve(layer, `layer ${i + 1}`))!;
      if (c.digest !== diffIds[i]) throw fail(`has layer ${layer} whose content is ${c.digest}, not its diff_id ${String(diffIds[i])} (compressed?); without an OCI manifest, krepro joins images with uncompressed layers, as docker save writes them`);
      return { mediaType: MEDIA_TYPE.layer, digest: c.digest, size: c.size };
    });
    const bytes = Buffer.from(canonicalJson({ schemaVersion: 2, mediaType: MEDIA_TYPE.manifest, config: { mediaType: MEDIA_TYPE.config, digest: imageId, size: configBytes.length }, layers }));
    manifest = { mediaType: MEDIA_TYPE.manifest, bytes };
  }
  const manifestDigest = sha256(manifest.bytes);
  const manifestFile = path.join(work, 'manifest.json');
  await writeFile(manifestFile, manifest.bytes);
  blobs.set(manifestDigest, manifestFile);
  return {
    tarball,
    repoTag,
    platform,
    imageId,
    manifestDigest,
    descriptor: { mediaType: manifest.mediaType, digest: manifestDigest, size: manifest.bytes.length, platform },
    blobs,
  };
}

/**
 * The multi-platform image's name: each image's repository with its `-<arch>` suffix removed, as Kubernetes names
 * the manifest list of `registry.k8s.io/kube-apiserver-amd64:v1.31.0` and its siblings `…/kube-apiserver:v1.31.0`.
 * Every image must give the same name and tag, and each platform may appear once.
 */
function indexName(images: PlatformImage[]): string {
  const names = images.map((image) => {
    const ref = parseRepoTag(image.repoTag);
    const suffix = `-${image.platform.architecture}`;
    const name = ref.name.endsWith(suffix) ? ref.name.slice(0, -suffix.length) : ref.name;
    return { image, name: `${name}:${ref.tag}` };
  });
  const first = names[0]!;
  for (const other of names.slice(1)) {
    if (other.name !== first.name) {
      throw new KreproError('E_STAGE', `images ${first.image.tarball} (${first.image.repoTag}) and ${other.image.tarball} (${other.image.repoTag}) do not name one multi-platform image (${first.name} and ${other.name}): one index joins <name>-<arch>:<tag> images of one name and tag`);
    }
  }
  const seen = new Map<string, string>();
  for (const { image } of names) {
    const key = platformText(image.platform);
    const twice = seen.get(key);
    if (twice) throw new KreproError('E_STAGE', `images ${twice} and ${image.tarball} are both for ${key}: an index lists each platform once`, { path: image.tarball });
    seen.set(key, image.tarball);
  }
  return first.name;
}

/** One server image staged for several platforms: what an image index is made of. */
export interface StagedImageSet {
  /** the image's file name without `.tar`: `kube-apiserver` */
  binary: string;
  /** `server/<os>-<arch>/kubernetes/server/bin/<binary>.tar` for each platform staged, in platform byte order */
  images: { platform: string; tarball: string }[];
}

/**
 * The server images staged for more than one platform, found as Kubernetes stages them: `<binary>.tar` beside
 * `<binary>.docker_tag` in `server/<os>-<arch>/kubernetes/server/bin/`. An image staged for one platform only needs
 * no index and is not listed.
 */
export async function stagedImageSets(stage: string): Promise<StagedImageSet[]> {
  const serverDir = path.join(stage, 'server');
  const platforms = (await readdir(serverDir).catch(() => [] as string[])).filter((p) => /^[a-z0-9_]+-[a-z0-9_]+$/.test(p)).sort(byteOrder);
  const sets = new Map<string, StagedImageSet>();
  for (const platform of platforms) {
    const binDir = path.join(serverDir, platform, 'kubernetes', 'server', 'bin');
    const names = new Set(await readdir(binDir).catch(() => [] as string[]));
    for (const name of [...names].sort(byteOrder)) {
      const binary = name.slice(0, -'.tar'.length);
      if (!name.endsWith('.tar') || !names.has(`${binary}.docker_tag`)) continue;
      const tarball = path.join(binDir, name);
      if (!(await lstat(tarball)).isFile()) continue;
      const set = sets.get(binary) ?? { binary, images: [] };
      set.images.push({ platform, tarball });
      sets.set(binary, set);
    }
  }
  return [...sets.values()].filter((s) => s.images.length > 1).sort((a, b) => byteOrder(a.binary, b.binary));
}
