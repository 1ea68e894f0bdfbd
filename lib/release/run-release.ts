import * as path from 'node:path';
import type { Writable } from 'node:stream';
import { KreproError } from '../errors.js';
import { imageBaseFrom } from '../image/server-images.js';
import type { PackageResult } from '../layout/package-release.js';
import type { Project } from '../project/project.js';
import type { BuildSession } from '../session/build-session.js';
import { releaseFromBinaries } from './from-binaries.js';

export interface ReleaseOptions {
  checkoutRoot: string;
  project: Project;
  sourceDateEpoch: number;
  /** KUBE_GIT_VERSION, written into the stage */
  version: string;
  /** run `make test` after the build (KUBE_RELEASE_RUN_TESTS; `--quick` skips it); Kubernetes-shaped projects only */
  runTests: boolean;
  level?: number;
  imageRegistry?: string;
  io: { stdout: Writable; stderr: Writable };
  onStep?: (step: ReleaseStep) => void;
  signal?: AbortSignal;
}

export type ReleaseStep = 'sync' | 'build' | 'test' | 'copy-output' | 'stage' | 'images' | 'package';

export interface ReleaseResult {
  /** the release tarballs, when the project is Kubernetes-shaped */
  packaged?: PackageResult;
  /** the output paths brought back */
  outputs: string[];
}

/**
 * build/release.sh as named steps: sync, the build command (`make cross`), `make test`, copy the outputs back and,
 * for a Kubernetes-shaped project, stage, write server images and pack the release tarballs.
 */
export async function runRelease(session: BuildSession, opts: ReleaseOptions): Promise<ReleaseResult> {
  const { project } = opts;
  const step = (s: ReleaseStep): void => {
    opts.signal?.throwIfAborted();
    opts.onStep?.(s);
  };
  const run = async (cmd: string[]): Promise<void> => {
    const code = await session.run(cmd, opts.io);
    if (code !== 0) throw new KreproError('E_BUILD_FAILED', `${cmd.join(' ')} failed in the build container with exit code ${code}`, { exitCode: code });
  };
  step('sync');
  await session.sync();
  step('build');
  await run(project.command);
  if (opts.runTests && project.release) {
    step('test');
    await run(['make', 'test']);
  }
  step('copy-output');
  await session.copyOutput(project.outputs);
  if (!project.release) return { outputs: project.outputs };
  const images = project.images;
  const packaged = await releaseFromBinaries({
    outputDir: path.join(opts.checkoutRoot, '_output'),
    sourceRoot: opts.checkoutRoot,
    version: opts.version,
    sourceDateEpoch: opts.sourceDateEpoch,
    ...(opts.level !== undefined ? { level: opts.level } : {}),
    images: images !== false,
    ...(images && images.binaries ? { imageBinaries: images.binaries } : {}),
    ...(images && images.registry ? { imageRegistry: images.registry } : opts.imageRegistry ? { imageRegistry: opts.imageRegistry } : {}),
    ...(images && images.base ? { imageBase: imageBaseFrom(images.base, opts.checkoutRoot) } : {}),
    onStep: step,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  return { packaged, outputs: project.outputs };
}
