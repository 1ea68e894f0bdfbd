import { randomBytes } from 'node:crypto';
import { createWriteStream, type Stats } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { type Entry } from '../archive/entry.js';
import { MAX_MTIME } from '../archive/header.js';
import { tarStream, writeAtomically, type WrittenFile } from '../archive/pack.js';
import { mapDiskFull } from '../disk-full.js';
import { KreproError } from '../errors.js';
import { HashStream } from '../integrity/hash-stream.js';
import { type ImageBaseArchive, readImageBase } from './base.js';
import { type ImageLayer, isoSeconds, prepareImageArchive } from './archive.js';
import { parseRepoTag } from './reference.js';
import { quote } from '../quote.js';

/** `scratch` (nothing under the binary: for static binaries) or a docker-archive tarball of one image. */
export type ImageBase = 'scratch' | { tarball: string };

/** What writeImage puts into the image, and where it writes it. */
export interface WriteImageOptions {
  /** The executable to put into the image; only its bytes count (mode, owner and mtime are normalized). */
  binaryPath: string;
  /** Its name in the image, e.g. `kube-apiserver`. */
  binaryName: string;
  /** Where the binary lives in the image and what runs; default `/usr/local/bin/<binaryName>` */
  entrypointPath?: string;
  /** What the binary goes on: nothing (`scratch`) or a base image archive. */
  base: ImageBase;
  /** The image config's os, e.g. `linux`. */
  os: string;
  /** The image config's architecture, e.g. `amd64`. */
  arch: string;
  /** SOURCE_DATE_EPOCH: the config's `created`, history times and every tar member's mtime */
  created: number;
  /** `registry.k8s.io/kube-apiserver-amd64:v1.31.0` */
  repoTag: string;
  /** The image tarball to write (replaced atomically) */
  dest: string;
  /** Directory for the temporary layer files (default: beside `dest`); must not be packed meanwhile */
  tempDir?: string;
  /** Aborts the write; `dest` is then left as it was. */
  signal?: AbortSignal;
}

/** The docker-archive writeImage wrote: file, size, digests and the image's identities. */
export interface WrittenImage extends WrittenFile {
  /** `sha256:<hex>` of the config: what `docker load` and `docker images --no-trunc` report */
  imageId: string;
  /** `sha256:<hex>` of the tarball's bytes */
  digest: string;
  /** `sha256:<hex>` of the OCI manifest, as a registry would name the image */
  manifestDigest: string;
  /** The name and tag the archive gives the image. */
  repoTag: string;
  /** rootfs.diff_ids: the base's layers, then the binary's */
  diffIds: string[];
}

/** Fields of a base's run config kept in the new image: the OCI set plus Docker's; docker-build leftovers (Hostname, Image, ...) are dropped. */
const RUN_CONFIG_KEYS = ['User', 'ExposedPorts', 'Env', 'Entrypoint', 'Cmd', 'Volumes', 'WorkingDir', 'Labels', 'StopSignal', 'ArgsEscaped', 'Healthcheck', 'OnBuild', 'Shell'];
/** Platform fields of a base's config kept beside architecture and os. */
const PLATFORM_KEYS = ['variant', 'os.version', 'os.features'];

const PLATFORM_PART_RE = /^[a-z0-9_]+$/;


/**
 * Writes a `docker load`-able image tarball without a Docker daemon: the base's layers plus one layer holding the
 * binary at `entrypointPath`, which becomes the entrypoint. The tarball has `docker save`'s docker-archive layout
 * (manifest.json, repositories) and, as Docker ≥ 25 writes it alongside, an OCI layout (oci-layout, index.json)
 * over the same `blobs/sha256/` files. Every byte follows from the inputs: the same binary bytes, base, platform,
 * tag and SOURCE_DATE_EPOCH give the same tarball and image ID.
 */
export async function writeImage(opts: WriteImageOptions): Promise<WrittenImage> {
  const entrypoint = checkOptions(opts);
  parseRepoTag(opts.repoTag); // a bad reference fails before anything is read or written
  const binary = await stat(opts.binaryPath).catch(() => undefined);
  if (!binary?.isFile()) throw new KreproError('E_STAGE', `binary ${opts.binaryPath} does not exist or is not a file`, { path: opts.binaryPath });
  const dest = path.resolve(opts.dest);
  const kept = `${dest} was left as it was and the temporary files were removed`;
  return mapDiskFull(
    (inner) => ({ target: dest, ...(inner?.context.target === dest ? { written: inner.context.written } : {}), needed: { bytes: binary.size, what: 'the binary alone is' }, kept }),
    () => writeImageFiles(opts, { dest, entrypoint, binary }),
  );
}

async function writeImageFiles(opts: WriteImageOptions, w: { dest: string; entrypoint: string; binary: Stats }): Promise<WrittenImage> {
  const { dest, entrypoint, binary } = w;
  await mkdir(path.dirname(dest), { recursive: true });
  const tempParent = path.resolve(opts.tempDir ?? path.dirname(dest));
  await mkdir(tempParent, { recursive: true });
  const work = path.join(tempParent, `.${path.basename(dest)}.partial-${randomBytes(6).toString('hex')}`);
  await mkdir(work);
  try {
    const base: ImageBaseArchive | undefined = opts.base === 'scratch' ? undefined : await readImageBase(opts.base.tarball, { os: opts.os, arch: opts.arch }, work, opts.signal);
    opts.signal?.throwIfAborted();
    const layer = await writeBinaryLayer(opts.binaryPath, binary, entrypoint, opts.created, path.join(work, 'layer.tar'), opts.signal);
    const layers: ImageLayer[] = [...(base?.layers ?? []).map((l) => ({ digest: l.diffId, file: l.file, size: l.size })), layer];
    const created = isoSeconds(opts.created);

    const platform = { architecture: opts.arch, os: opts.os, ...pickPlatform(base) };
    const config = imageConfig(base, { ...opts, entrypoint, created });
    const archive = await prepareImageArchive(work, { layers, config, repoTag: opts.repoTag, platform, created: opts.created });
    const hash = new HashStream();
    const written = await writeAtomically(dest, (out) => pipeline(tarStream(archive.entries, { mtime: opts.created }), hash, out, opts.signal ? { signal: opts.signal } : {}), hash);
    return {
      ...written,
      imageId: archive.imageId,
      digest: `sha256:${written.digests.sha256}`,
      manifestDigest: archive.manifestDigest,
      repoTag: archive.repoTag,
      diffIds: archive.diffIds,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function checkOptions(opts: WriteImageOptions): string {
  if (!/^[^/\0]+$/.test(opts.binaryName) || opts.binaryName === '.' || opts.binaryName === '..') {
    throw new KreproError('E_USAGE', `binary name ${quote(opts.binaryName)} is not a file name`);
  }
  const entrypoint = opts.entrypointPath ?? `/usr/local/bin/${opts.binaryName}`;
  if (!path.posix.isAbsolute(entrypoint) || path.posix.normalize(entrypoint) !== entrypoint || entrypoint.endsWith('/') || entrypoint.includes('\0')) {
    throw new KreproError('E_USAGE', `entrypoint path ${quote(entrypoint)} must be an absolute, normalized file path such as /usr/local/bin/${opts.binaryName}`);
  }
  for (const [what, value] of [['os', opts.os], ['architecture', opts.arch]] as const) {
    if (!PLATFORM_PART_RE.test(value)) throw new KreproError('E_USAGE', `image ${what} ${quote(value)} is not a GOOS/GOARCH-style name (e.g. linux, amd64)`);
  }
  if (!Number.isInteger(opts.created) || opts.created < 0 || opts.created > MAX_MTIME) {
    throw new KreproError('E_SOURCE_DATE_EPOCH', `image creation time must be a whole number of seconds from 0 to ${MAX_MTIME}, got ${opts.created}`);
  }
  return entrypoint;
}

/** The layer: the binary (mode 0755, whatever it had on disk) and its parent directories, through krepro's tar writer. */
async function writeBinaryLayer(
  binaryPath: string,
  st: { size: number; mtimeMs: number; ino: number },
  entrypoint: string,
  mtime: number,
  file: string,
  signal: AbortSignal | undefined,
): Promise<ImageLayer> {
  const member = entrypoint.slice(1);
  const entries: Entry[] = [];
  for (let dir = path.posix.dirname(member); dir !== '.'; dir = path.posix.dirname(dir)) entries.unshift({ type: 'directory', path: dir, mtime });
  entries.push({ type: 'file', path: member, mode: 0o755, mtime, size: st.size, source: { path: binaryPath, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino } });
  const hash = new HashStream();
  await pipeline(tarStream(entries, { mtime }), hash, createWriteStream(file, { mode: 0o600 }), signal ? { signal } : {});
  const { size, digests } = hash.result();
  return { digest: `sha256:${digests.sha256}`, file, size };
}

function pickPlatform(base: ImageBaseArchive | undefined): Record<string, unknown> {
  const config = base?.config ?? {};
  return Object.fromEntries(PLATFORM_KEYS.filter((k) => config[k] !== undefined && config[k] !== null).map((k) => [k, config[k]]));
}

/**
 * The image config: the base's run config (Env, User, WorkingDir, ...) with our entrypoint and no Cmd, its history
 * and diff_ids followed by ours. Nothing from the host: no hostname, container ID, docker_version or build time.
 */
function imageConfig(
  base: ImageBaseArchive | undefined,
  o: { os: string; arch: string; binaryName: string; entrypoint: string; created: string },
): Record<string, unknown> {
  const baseRun = (base?.config['config'] ?? {}) as Record<string, unknown>;
  const run: Record<string, unknown> = Object.fromEntries(RUN_CONFIG_KEYS.filter((k) => baseRun[k] !== undefined && baseRun[k] !== null).map((k) => [k, baseRun[k]]));
  run['Entrypoint'] = [o.entrypoint];
  delete run['Cmd']; // a base's Cmd would become arguments of our binary
  const baseHistory = Array.isArray(base?.config['history']) ? (base.config['history'] as unknown[]) : [];
  return {
    architecture: o.arch,
    os: o.os,
    ...pickPlatform(base),
    config: run,
    created: o.created,
    history: [...baseHistory, { created: o.created, created_by: `COPY ${o.binaryName} ${o.entrypoint} # krepro` }],
  };
}
