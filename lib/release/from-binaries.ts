import * as path from 'node:path';
import { byteOrder } from '../byte-order.js';
import { pathBeneath } from '../checkout/beneath.js';
import { hashFile } from '../integrity/hash-stream.js';
import { DEFAULT_IMAGE_BINARIES, imageBaseFrom, type ServerImage, writeServerImages } from '../image/server-images.js';
import { type PackageResult, packageRelease } from '../layout/package-release.js';
import { buildStage, type StageResult } from '../layout/stage.js';
import { runPipeline, type Step, type StepEvent } from '../pipeline/pipeline.js';
import type { Packaging } from '../project/inputs.js';

/** What releaseFromBinaries stages and packs: the built binaries of a checkout. */
export interface ReleaseFromBinariesOptions {
  /** the `_output` directory holding `dockerized/bin`; the stage and the tarballs are written beside it */
  outputDir: string;
  /** the checkout: README, LICENSES, cluster/… for the stage, and the git tree for kubernetes-src.tar.gz */
  sourceRoot: string;
  /** KUBE_GIT_VERSION, written into the stage and the image tags. */
  version: string;
  /** Every member's mtime, in seconds since 1970. */
  sourceDateEpoch: number;
  /** How the tarballs are packed (see packagingFor). */
  packaging: Packaging;
  /** where the image base template resolves instead of the recorded one (a rebuild given --image-base) */
  imageBase?: string;
  /** Each step's start, end, skip or failure (stage, images, package). */
  onStep?: (event: StepEvent) => void;
  /** Aborts the packing; the previous release directory is kept. */
  signal?: AbortSignal;
}

/** A base tarball server images were made on, by digest: a recipe records it, a rebuild checks it. */
export interface ImageBaseFile {
  /** The image's OS, e.g. `linux`. */
  os: string;
  /** The image's architecture, e.g. `amd64`. */
  arch: string;
  /** The binary the image runs, e.g. `kube-proxy`. */
  binary: string;
  /** as the template resolved: relative to the sources when inside them, else absolute */
  path: string;
  /** sha256 of the base archive, lowercase hex. */
  sha256: string;
}

/** What releaseFromBinaries packed. */
export interface Packed {
  /** The release directory packageRelease wrote. */
  packaged: PackageResult;
  /** the docker-archive bases of the server images (none for scratch images) */
  bases: ImageBaseFile[];
}

/** The packing steps' context: what they read, and what each leaves for the next. */
export interface PackContext {
  opts: ReleaseFromBinariesOptions;
  stage: string;
  staged?: StageResult;
  images: ServerImage[];
  bases: ImageBaseFile[];
  packaged?: PackageResult;
}

/** Images exist for Linux server platforms only, as upstream builds them. */
function serverPlatforms(c: PackContext): StageResult['platforms'] {
  return (c.staged?.platforms ?? []).filter((p) => p.os === 'linux' && p.server.length > 0);
}

/** Asked-for binaries must exist; by default, the default image binaries the build made (on every platform). */
function imageBinaries(c: PackContext): readonly string[] {
  const images = c.opts.packaging.images;
  if (images === false) return [];
  return images.binaries ?? DEFAULT_IMAGE_BINARIES.filter((b) => serverPlatforms(c).every((p) => p.server.includes(b)));
}

/** The packing half of build/release.sh, as steps: stage from `_output/dockerized/bin`, server images, the tarballs. */
export const PACK_STEPS: readonly Step<PackContext>[] = [
  {
    name: 'stage',
    run: async (c) => {
      // The build's outputs were copied in beside them: the stage and the tarballs must not lead anywhere else.
      c.stage = await pathBeneath(c.opts.outputDir, 'release-stage');
      c.staged = await buildStage({ binDir: path.join(c.opts.outputDir, 'dockerized', 'bin'), sourceRoot: c.opts.sourceRoot, stage: c.stage, version: c.opts.version, ...signalOf(c.opts) });
    },
  },
  {
    name: 'images',
    skip: (c) => {
      if (c.opts.packaging.images === false) return 'the project has no server images ("images": false or --no-images)';
      if (serverPlatforms(c).length === 0) return 'no Linux server platform was staged';
      if (imageBinaries(c).length === 0) return 'none of the default image binaries was built on every server platform';
      return undefined;
    },
    run: async (c) => {
      const images = c.opts.packaging.images as Exclude<Packaging['images'], false>;
      const template = c.opts.imageBase ?? images.base;
      c.images = await writeServerImages({
        stage: c.stage,
        platforms: serverPlatforms(c).map((p) => p.platform),
        version: c.opts.version,
        sourceDateEpoch: c.opts.sourceDateEpoch,
        binaries: imageBinaries(c),
        ...(images.registry ? { registry: images.registry } : {}),
        base: imageBaseFrom(template, c.opts.sourceRoot),
        ...signalOf(c.opts),
      });
      c.bases = await baseFiles(template, c.opts.sourceRoot, c.images, c.opts.signal);
    },
  },
  {
    name: 'package',
    run: async (c) => {
      c.packaged = await packageRelease({
        stage: c.stage,
        out: await pathBeneath(c.opts.outputDir, 'release-tars'),
        sourceDateEpoch: c.opts.sourceDateEpoch,
        sourceRoot: c.opts.sourceRoot,
        level: c.opts.packaging.level,
        encoder: c.opts.packaging.encoder,
        ...signalOf(c.opts),
      });
    },
  },
];

export function packContext(opts: ReleaseFromBinariesOptions): PackContext {
  return { opts, stage: path.join(opts.outputDir, 'release-stage'), images: [], bases: [] };
}

/**
 * Stage, server images and tarballs from a build's binaries, as release, verify and rebuild all pack: the same
 * steps with the same packaging, so all three make the same bytes.
 */
export async function releaseFromBinaries(opts: ReleaseFromBinariesOptions): Promise<Packed> {
  const context = packContext(opts);
  await runPipeline(PACK_STEPS, context, { ...signalOf(opts), ...(opts.onStep ? { onStep: opts.onStep } : {}) });
  return { packaged: context.packaged!, bases: context.bases };
}

/** Each docker-archive base the images were made on, hashed; relative paths where the template was. */
async function baseFiles(template: string, sourceRoot: string, images: readonly ServerImage[], signal?: AbortSignal): Promise<ImageBaseFile[]> {
  if (template === 'scratch') return [];
  const resolve = imageBaseFrom(template, sourceRoot);
  const out: ImageBaseFile[] = [];
  const digests = new Map<string, string>();
  for (const image of images) {
    const base = typeof resolve === 'function' ? resolve(image) : resolve;
    if (base === 'scratch') continue;
    let sha256 = digests.get(base.tarball);
    if (sha256 === undefined) {
      sha256 = (await hashFile(base.tarball, signal)).digests.sha256;
      digests.set(base.tarball, sha256);
    }
    const rel = path.relative(sourceRoot, base.tarball);
    const inside = !path.isAbsolute(template) && !rel.startsWith('..');
    out.push({ os: image.os, arch: image.arch, binary: image.binary, path: inside ? rel.split(path.sep).join('/') : base.tarball, sha256 });
  }
  return out.sort((a, b) => byteOrder(`${a.os}/${a.arch}/${a.binary}`, `${b.os}/${b.arch}/${b.binary}`));
}

function signalOf(o: { signal?: AbortSignal }): { signal?: AbortSignal } {
  return o.signal ? { signal: o.signal } : {};
}
