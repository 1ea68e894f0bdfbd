/**
 * Kubernetes-style release packaging: a stage from built binaries, and the `kubernetes*.tar.gz` tarballs with their
 * checksums, SBOMs, manifest and signed statement.
 *
 * @packageDocumentation
 */
export {
  packageRelease,
  stagedTarballs,
  MANIFEST_NAME,
  MANIFEST_SCHEMA,
  type PackageReleaseOptions,
  type PackageProgress,
  type PackageResult,
  type ReleaseArtifact,
  type ReleaseArtifactKind,
  type ReleaseManifest,
} from '../layout/package-release.js';
export { SRC_TARBALL, MANIFESTS_TARBALL, type TarballJob, type TarballKind } from '../layout/release-layout.js';
export { buildStage, DEFAULT_STAGE_TARGETS, type BuildStageOptions, type StageResult, type StagedPlatform, type StageTargets } from '../layout/stage.js';
export { resolveSourceDateEpoch, parseSourceDateEpoch, type SourceDateEpoch, type SourceDateEpochOrigin } from '../source/source-date-epoch.js';
export { gitVersion } from '../source/version.js';
export { CURRENT_GZIP_FORMAT, GZIP_FORMATS, type EncoderIdentity, type GzipFormat } from '../archive/gzip.js';
export { hashFile, integrityOf, type Digests, type FileDigests } from '../integrity/hash-stream.js';
export type { Artifact } from '../integrity/artifact.js';
export type { Trace, TraceEvent } from '../trace.js';
export type { KeyAlgorithm, KeyIdentity, SigningKey } from '../attest/keys.js';
