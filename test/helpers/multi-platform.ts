import { appendFileSync, cpSync } from 'node:fs';
import * as path from 'node:path';
import { loadSigningKey, packageRelease, type PackageResult } from '../../lib/index.js';
import { type ServerImage, writeServerImages } from '../../lib/image/server-images.js';
import { materializeStage, type StageConditions } from './stage.js';

export const SDE = 1700000000;
export const IMAGE_REGISTRY = 'krepro-test.invalid';
export const IMAGE_BINARIES = ['kube-apiserver', 'kube-scheduler'];

/**
 * The fixture stage with a second server platform, linux/arm64, whose binaries differ from amd64's as cross-compiled
 * ones do; server images of IMAGE_BINARIES for both, packed into `<dir>/out` (an image index per binary beside the
 * tarballs). `change` appends to arm64's kube-apiserver (a build that is not reproducible on one platform).
 */
export async function multiPlatformRelease(
  dir: string,
  opts: { conditions?: StageConditions; change?: string; version?: string; signingKey?: string } = {},
): Promise<{ stage: string; images: ServerImage[]; result: PackageResult }> {
  const stage = materializeStage(path.join(dir, 'stage'), opts.conditions ?? {});
  const arm = path.join(stage, 'server/linux-arm64');
  cpSync(path.join(stage, 'server/linux-amd64'), arm, { recursive: true, verbatimSymlinks: true });
  for (const b of IMAGE_BINARIES) appendFileSync(path.join(arm, 'kubernetes/server/bin', b), `arm64${b === 'kube-apiserver' ? (opts.change ?? '') : ''}`);
  const images = await writeServerImages({ stage, binaries: IMAGE_BINARIES, version: opts.version ?? 'v1.31.0', registry: IMAGE_REGISTRY, sourceDateEpoch: SDE });
  const result = await packageRelease({ stage, out: path.join(dir, 'out'), sourceDateEpoch: SDE, ...(opts.signingKey ? { signingKey: await loadSigningKey(opts.signingKey) } : {}) });
  return { stage, images, result };
}
