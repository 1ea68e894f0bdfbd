import * as path from 'node:path';
import type { Writable } from 'node:stream';
import { KreproError } from '../errors.js';
import type { ServerImagesOptions } from '../image/server-images.js';
import type { PackageResult } from '../layout/package-release.js';
import { releaseFromBinaries } from './from-binaries.js';
import type { BuildSession } from '../session/build-session.js';

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
  return releaseFromBinaries({
    outputDir: path.join(opts.checkoutRoot, '_output'),
    sourceRoot: opts.checkoutRoot,
    version: opts.version,
    sourceDateEpoch: opts.sourceDateEpoch,
    ...(opts.level !== undefined ? { level: opts.level } : {}),
    ...(opts.images !== undefined ? { images: opts.images } : {}),
    ...(opts.imageBinaries ? { imageBinaries: opts.imageBinaries } : {}),
    ...(opts.imageRegistry ? { imageRegistry: opts.imageRegistry } : {}),
    ...(opts.imageBase ? { imageBase: opts.imageBase } : {}),
    onStep: step,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
}
