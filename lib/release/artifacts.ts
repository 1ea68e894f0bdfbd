import { byteOrder } from '../byte-order.js';
import type { Artifact } from '../integrity/artifact.js';
import type { PackageResult } from '../layout/package-release.js';

/**
 * Every artifact of a release, named the one way release, verify, rebuild and the recipe's subjects all name them:
 * the published files (tarballs, image indexes, SBOMs) by file name, output files by checkout-relative path (as
 * outputArtifacts names them).
 */
export function releaseArtifacts(packaged: PackageResult | undefined, outputs: readonly Artifact[]): Artifact[] {
  const published: Artifact[] = (packaged?.artifacts ?? []).map((t) => ({ name: t.name, path: t.path, size: t.size, digests: t.digests }));
  return [...published, ...outputs].sort((a, b) => byteOrder(a.name, b.name));
}
