import * as path from 'node:path';
import type { Writable } from 'node:stream';
import { KreproError } from '../errors.js';
import { type PackageResult, packageRelease } from '../layout/package-release.js';
import { buildStage } from '../layout/stage.js';
import { type ServerImagesOptions, writeServerImages } from '../image/server-images.js';
import type { BuildSession } from './session.js';

export interface ReleaseOptions {
  checkoutRoot: string;
  sourceDateEpoch: number;
  /** KUBE_GIT_VERSION, written into the stage */
  version: string;
  /** run `make test` after `make cross` (KUBE_RELEASE_RUN_TESTS; `--quick` skips it) */
  runTests: boolean;
  level?: number;
  /** write server images (<binary>.tar + .docker_tag) for the staged linux server platforms; default true */
  images?: boolean;
  imageBinaries?: readonly string[];
  imageRegistry?: string;
  imageBase?: ServerImagesOptions['base'];
  io: { stdout: Writable; stderr: Writable };
  onStep?: (step: ReleaseStep) => void;
  signal?: AbortSignal;
}

export type ReleaseStep = 'sync' | 'cross' | 'test' | 'copy-output' | 'stage' | 'images' | 'package';

/** build/release.sh as named steps: sync, make cross, make test, copy output, stage, server images, package. */
export async function runRelease(session: BuildSession, opts: ReleaseOptions): Promise<PackageResult> {
  const step = (s: ReleaseStep) => {
    opts.signal?.throwIfAborted();
    opts.onStep?.(s);
  };
  const make = async (target: string) => {
    const code = await session.run(['make', target], opts.io);
    if (code !== 0) throw new KreproError('E_BUILD_FAILED', `make ${target} failed in the build container with exit code ${code}`, { exitCode: code });
  };
  step('sync');
  await session.sync();
  step('cross');
  await make('cross');
  if (opts.runTests) {
    step('test');
    await make('test');
  }
  step('copy-output');
  await session.copyOutput();
  const output = path.join(opts.checkoutRoot, '_output');
  step('stage');
  const staged = await buildStage({ binDir: path.join(output, 'dockerized', 'bin'), sourceRoot: opts.checkoutRoot, stage: path.join(output, 'release-stage'), version: opts.version, ...(opts.signal ? { signal: opts.signal } : {}) });
  // Images exist for Linux server platforms only, as upstream builds them.
  const imagePlatforms = staged.platforms.filter((p) => p.os === 'linux' && p.server.length > 0).map((p) => p.platform);
  if ((opts.images ?? true) && imagePlatforms.length > 0) {
    step('images');
    await writeServerImages({
      stage: path.join(output, 'release-stage'),
      platforms: imagePlatforms,
      version: opts.version,
      sourceDateEpoch: opts.sourceDateEpoch,
      ...(opts.imageBinaries ? { binaries: opts.imageBinaries } : {}),
      ...(opts.imageRegistry ? { registry: opts.imageRegistry } : {}),
      ...(opts.imageBase ? { base: opts.imageBase } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  }
  step('package');
  return packageRelease({
    stage: path.join(output, 'release-stage'),
    out: path.join(output, 'release-tars'),
    sourceDateEpoch: opts.sourceDateEpoch,
    sourceRoot: opts.checkoutRoot,
    ...(opts.level !== undefined ? { level: opts.level } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
}
