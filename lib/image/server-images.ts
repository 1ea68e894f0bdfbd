import { readdir, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { writeSmallFile } from '../archive/pack.js';
import { byteOrder } from '../byte-order.js';
import { KreproError } from '../errors.js';
import type { Artifact } from '../integrity/artifact.js';
import { dockerTagFromVersion, parseRepoTag } from './reference.js';
import { type ImageBase, writeImage, type WrittenImage } from './write-image.js';
import { quote } from '../quote.js';

/** build/lib/release.sh's image binaries (~2024, without kubectl and the optional conformance image). */
/** `scratch`, or a docker-archive path (relative to `cwd`) whose {os}, {arch} and {binary} are filled in per image. */
export function imageBaseFrom(value: string | undefined, cwd: string): ImageBase | ((image: { os: string; arch: string; binary: string }) => ImageBase) {
  if (value === undefined || value === 'scratch') return 'scratch';
  const template = path.resolve(cwd, value);
  return (image) => ({ tarball: template.replaceAll('{os}', image.os).replaceAll('{arch}', image.arch).replaceAll('{binary}', image.binary) });
}

/**
 * The server binaries Kubernetes ships as images (build/lib/release.sh's list, without kubectl and the conformance
 * image).
 */
export const DEFAULT_IMAGE_BINARIES: readonly string[] = Object.freeze(['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kube-proxy']);
/** Kubernetes' registry, the default of ServerImagesOptions.registry. */
export const DEFAULT_IMAGE_REGISTRY = 'registry.k8s.io';

/** What writeServerImages writes, from which binaries, into which stage. */
export interface ServerImagesOptions {
  /** `_output/release-stage`: images go into server/<os>-<arch>/kubernetes/server/bin/ */
  stage: string;
  /** Built binaries as `<os>/<arch>/<name>` (e.g. _output/dockerized/bin); default: the staged server/bin itself */
  binDir?: string;
  /** `<os>-<arch>` or `<os>/<arch>`; default: every platform staged under server/ */
  platforms?: readonly string[];
  /** Which binaries become images. Default DEFAULT_IMAGE_BINARIES. */
  binaries?: readonly string[];
  /** Image names are `<registry>/<binary>-<arch>:<tag>` (KUBE_DOCKER_REGISTRY); default registry.k8s.io */
  registry?: string;
  /** KUBE_GIT_VERSION; the tag is this with `+` replaced by `_` */
  version: string;
  /** Every image's creation time and every layer member's mtime, in seconds since 1970. */
  sourceDateEpoch: number;
  /** `scratch` by default; a function picks per image (a base holds one architecture; upstream's kube-proxy has its own) */
  base?: ImageBase | ((image: { os: string; arch: string; binary: string }) => ImageBase);
  /** Aborts the writing; images written so far stay. */
  signal?: AbortSignal;
  /** Called after each image is written. */
  onImage?: (image: ServerImage) => void;
}

/** One server image written into the stage. */
export interface ServerImage extends WrittenImage, Artifact {
  /** `<os>-<arch>` */
  platform: string;
  /** The operating system, e.g. `linux`. */
  os: string;
  /** The architecture, e.g. `amd64`. */
  arch: string;
  /** The binary it runs, e.g. `kube-apiserver`. */
  binary: string;
  /** the content of `<binary>.docker_tag` without its newline */
  dockerTag: string;
  /** path of `<binary>.docker_tag` */
  tagFile: string;
}

/**
 * kube::release::create_docker_images_for_server without Docker: for each server platform and image binary, writes
 * `<binary>.tar` (a docker-archive image of `<registry>/<binary>-<arch>:<tag>`) and `<binary>.docker_tag` (the tag
 * and a newline, as `echo` writes it) into the stage's server/bin, where packageRelease packs them into
 * kubernetes-server-<os>-<arch>.tar.gz. Everything is checked before the first image is written.
 */
export async function writeServerImages(opts: ServerImagesOptions): Promise<ServerImage[]> {
  const stage = path.resolve(opts.stage);
  const dockerTag = dockerTagFromVersion(opts.version);
  const registry = opts.registry ?? DEFAULT_IMAGE_REGISTRY;
  const binaries = opts.binaries ?? DEFAULT_IMAGE_BINARIES;
  if (binaries.length === 0) throw new KreproError('E_USAGE', 'no image binaries given');
  const platforms = opts.platforms ? opts.platforms.map(parsePlatform) : await stagedServerPlatforms(stage);

  const jobs: { os: string; arch: string; platform: string; binary: string; binaryPath: string; binDir: string; repoTag: string }[] = [];
  for (const { os, arch, platform } of platforms) {
    const binDir = path.join(stage, 'server', platform, 'kubernetes', 'server', 'bin');
    if (!(await stat(binDir).catch(() => undefined))?.isDirectory()) {
      throw new KreproError('E_STAGE', `no server tarball staged for ${platform}: ${binDir} does not exist (run krepro stage first)`, { path: binDir });
    }
    for (const binary of binaries) {
      const repoTag = `${registry}/${binary}-${arch}:${dockerTag}`;
      parseRepoTag(repoTag); // a bad registry or binary name fails here, before anything is written
      const binaryPath = opts.binDir ? path.resolve(opts.binDir, os, arch, binary) : path.join(binDir, binary);
      if (!(await stat(binaryPath).catch(() => undefined))?.isFile()) {
        throw new KreproError('E_STAGE', `cannot build the ${binary} image for ${platform}: ${binaryPath} does not exist (build it, or leave it out of the image binaries)`, { path: binaryPath });
      }
      jobs.push({ os, arch, platform, binary, binaryPath, binDir, repoTag });
    }
  }

  const images: ServerImage[] = [];
  for (const job of jobs) {
    opts.signal?.throwIfAborted();
    const base = typeof opts.base === 'function' ? opts.base({ os: job.os, arch: job.arch, binary: job.binary }) : (opts.base ?? 'scratch');
    const written = await writeImage({
      binaryPath: job.binaryPath,
      binaryName: job.binary,
      base,
      os: job.os,
      arch: job.arch,
      created: opts.sourceDateEpoch,
      repoTag: job.repoTag,
      dest: path.join(job.binDir, `${job.binary}.tar`),
      // outside server/: a temporary file left by a killed run must not end up in the server tarball
      tempDir: stage,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    const tagFile = path.join(job.binDir, `${job.binary}.docker_tag`);
    await writeSmallFile(tagFile, `${dockerTag}\n`);
    const image: ServerImage = { ...written, name: `${job.binary}.tar`, platform: job.platform, os: job.os, arch: job.arch, binary: job.binary, dockerTag, tagFile };
    opts.onImage?.(image);
    images.push(image);
  }
  return images;
}

function parsePlatform(p: string): { os: string; arch: string; platform: string } {
  const m = /^([a-z0-9_]+)[-/]([a-z0-9_]+)$/.exec(p);
  if (!m) throw new KreproError('E_USAGE', `platform ${quote(p)} is not <os>/<arch> or <os>-<arch> (e.g. linux/amd64)`);
  return { os: m[1]!, arch: m[2]!, platform: `${m[1]}-${m[2]}` };
}

async function stagedServerPlatforms(stage: string): Promise<{ os: string; arch: string; platform: string }[]> {
  const dir = path.join(stage, 'server');
  const names = await readdir(dir).catch(() => [] as string[]);
  const platforms = names.filter((n) => /^[a-z0-9_]+-[a-z0-9_]+$/.test(n)).sort(byteOrder);
  if (platforms.length === 0) throw new KreproError('E_STAGE', `no server platforms staged: ${dir} has no <os>-<arch> directories (run krepro stage first)`, { path: dir });
  return platforms.map(parsePlatform);
}
