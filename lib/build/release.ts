import * as path from 'node:path';
import type { Writable } from 'node:stream';
import { KreproError } from '../errors.js';
import { type PackageResult, packageRelease } from '../layout/package-release.js';
import { buildStage } from '../layout/stage.js';
import type { BuildSession } from './session.js';

export interface ReleaseOptions {
  checkoutRoot: string;
  sourceDateEpoch: number;
  /** KUBE_GIT_VERSION, written into the stage */
  version: string;
  /** run `make test` after `make cross` (KUBE_RELEASE_RUN_TESTS; `--quick` skips it) */
  runTests: boolean;
  level?: number;
  io: { stdout: Writable; stderr: Writable };
  onStep?: (step: ReleaseStep) => void;
  signal?: AbortSignal;
}

export type ReleaseStep = 'sync' | 'cross' | 'test' | 'copy-output' | 'stage' | 'package';

/** build/release.sh as named steps: sync, make cross, make test, copy output, stage, package. */
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
  await buildStage({ binDir: path.join(output, 'dockerized', 'bin'), sourceRoot: opts.checkoutRoot, stage: path.join(output, 'release-stage'), version: opts.version, ...(opts.signal ? { signal: opts.signal } : {}) });
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
