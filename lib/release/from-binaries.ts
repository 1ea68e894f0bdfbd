import * as path from 'node:path';
import type { GzipFormat } from '../archive/gzip.js';
import { pathBeneath } from '../checkout/beneath.js';
import { DEFAULT_IMAGE_BINARIES, type ServerImagesOptions, writeServerImages } from '../image/server-images.js';
import { type PackageResult, packageRelease } from '../layout/package-release.js';
import { buildStage } from '../layout/stage.js';

export interface ReleaseFromBinariesOptions {
  /** the `_output` directory holding `dockerized/bin`; the stage and the tarballs are written beside it */
  outputDir: string;
  /** the checkout: README, LICENSES, cluster/… for the stage, and the git tree for kubernetes-src.tar.gz */
  sourceRoot: string;
  version: string;
  sourceDateEpoch: number;
  level?: number;
  /** gzip format; the current one by default */
  encoder?: GzipFormat;
  /** server images for the staged Linux server platforms; default on */
  images?: boolean;
  imageBinaries?: readonly string[];
  imageRegistry?: string;
  imageBase?: ServerImagesOptions['base'];
  onStep?: (step: 'stage' | 'images' | 'package') => void;
  signal?: AbortSignal;
}

/**
 * The packaging half of build/release.sh, shared by `release` and `verify` so both pack exactly the same way:
 * stage from `_output/dockerized/bin`, write server images into the stage, pack `_output/release-tars`.
 */
export async function releaseFromBinaries(opts: ReleaseFromBinariesOptions): Promise<PackageResult> {
  const signal = opts.signal ? { signal: opts.signal } : {};
  // The build's outputs were copied in beside them: the stage and the tarballs must not lead anywhere else.
  const stage = await pathBeneath(opts.outputDir, 'release-stage');
  const out = await pathBeneath(opts.outputDir, 'release-tars');
  opts.onStep?.('stage');
  const staged = await buildStage({ binDir: path.join(opts.outputDir, 'dockerized', 'bin'), sourceRoot: opts.sourceRoot, stage, version: opts.version, ...signal });
  // Images exist for Linux server platforms only, as upstream builds them.
  const serverPlatforms = staged.platforms.filter((p) => p.os === 'linux' && p.server.length > 0);
  const imagePlatforms = serverPlatforms.map((p) => p.platform);
  // Asked-for binaries must exist; by default, the default image binaries the build made (on every platform).
  const imageBinaries = opts.imageBinaries ?? DEFAULT_IMAGE_BINARIES.filter((b) => serverPlatforms.every((p) => p.server.includes(b)));
  if ((opts.images ?? true) && imagePlatforms.length > 0 && imageBinaries.length > 0) {
    opts.signal?.throwIfAborted();
    opts.onStep?.('images');
    await writeServerImages({
      stage,
      platforms: imagePlatforms,
      version: opts.version,
      sourceDateEpoch: opts.sourceDateEpoch,
      binaries: imageBinaries,
      ...(opts.imageRegistry ? { registry: opts.imageRegistry } : {}),
      ...(opts.imageBase ? { base: opts.imageBase } : {}),
      ...signal,
    });
  }
  opts.signal?.throwIfAborted();
  opts.onStep?.('package');
  return packageRelease({
    stage,
    out,
    sourceDateEpoch: opts.sourceDateEpoch,
    sourceRoot: opts.sourceRoot,
    ...(opts.level !== undefined ? { level: opts.level } : {}),
    ...(opts.encoder !== undefined ? { encoder: opts.encoder } : {}),
    ...signal,
  });
}
