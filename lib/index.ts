/**
 * krepro: reproducible Kubernetes-style releases. The root holds what most release tooling needs: pack a release,
 * check it, diff two artifacts, sign and verify statements, and krepro's errors. Each concept has its own subpath
 * with the rest: `krepro/package`, `krepro/archive`, `krepro/check`, `krepro/diff`, `krepro/attest`, `krepro/sbom`,
 * `krepro/image`, `krepro/verify`, `krepro/release`, `krepro/environment`, `krepro/backend` and `krepro/engine`.
 * Nothing else is public.
 *
 * @packageDocumentation
 */
export { KreproError, isKreproError, type ErrorCode } from './errors.js';
export { DiskFullError, isDiskFull, type DiskFullContext } from './disk-full.js';
export { KREPRO_VERSION } from './version.js';
export type { Trace, TraceEvent } from './trace.js';

export {
  packageRelease,
  resolveSourceDateEpoch,
  MANIFEST_SCHEMA,
  type PackageProgress,
  type PackageReleaseOptions,
  type PackageResult,
  type ReleaseArtifact,
  type ReleaseArtifactKind,
  type ReleaseManifest,
  type SourceDateEpoch,
  type TarballKind,
  type SourceDateEpochOrigin,
} from './api/package.js';
export { hashFile, integrityOf, type Artifact, type Digests, type EncoderIdentity, type FileDigests, type GzipFormat } from './api/archive.js';
export { checkRelease, type CheckOptions, type CheckProgress, type CheckResult, type CheckedExpectation, type CheckedFile, type CheckedList, type Expectation } from './api/check.js';
export { diff, CAUSES, DIFF_REPORT_SCHEMA, type ByteRange, type CauseId, type DiffLimits, type DiffOptions, type DiffReport, type Difference, type Finding, type Location, type Refusal, type Side, type Span } from './api/diff.js';
export {
  ATTESTATION_FILE,
  STATEMENT_TYPE,
  loadSigningKey,
  loadVerifyingKey,
  signStatement,
  inTotoStatement,
  verifyAttestationFile,
  type AttestationFileVerification,
  type AttestationLine,
  type DsseEnvelope,
  type DsseSignature,
  type EnvelopeCheck,
  type EnvelopeFailure,
  type EnvelopeVerification,
  type KeyAlgorithm,
  type KeyIdentity,
  type SigningKey,
  type Statement,
  type Subject,
  type VerifyingKey,
} from './api/attest.js';
