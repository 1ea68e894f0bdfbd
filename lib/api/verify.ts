/**
 * Verifying that a release builds reproducibly: builds run under varied conditions, every finding of krepro diff
 * attributed to its cause with a fix; the matrix plan's builds run as CI jobs (planDocument, runPlannedBuilds,
 * writeBuildBundle) and collected (readBuildBundles, buildBundleBackend); explainDifferences for builds run by other
 * means; and the verify report formats.
 *
 * @packageDocumentation
 */
export {
  verifyRelease,
  runPlannedBuilds,
  VERIFY_SCHEMA,
  type BuildFailure,
  type FailureCause,
  type PlannedBuildsResult,
  type PlanRecord,
  type VariationCheck,
  type VerifyOptions,
  type VerifyProgress,
  type VerifyResult,
} from '../verify/verify.js';
export { EXPERIMENT_VALUES, VARIATIONS, variationNamed, type Variation } from '../verify/conditions.js';
export { PLAN_KINDS, type BuildRole, type PlanKind, type PlannedBuild } from '../verify/plan.js';
export {
  planDocument,
  writeBuildBundle,
  readBuildBundles,
  buildBundleBackend,
  PLAN_SCHEMA,
  BUILD_BUNDLE_SCHEMA,
  BUILD_BUNDLE_FILE,
  type CollectedBuilds,
  type PlanDocument,
  type PlanDocumentOptions,
} from '../verify/build-bundle.js';
export { explainDifferences, type AttributedFinding, type BuiltArtifacts, type Explained, type ExplainOptions, type SingleBuild } from '../verify/explain.js';
export type { Consequence, LocatedFinding } from '../verify/findings.js';
export type { CauseGroup } from '../verify/causes.js';
export type { Guess, Verdict, AttributionResult } from '../verify/attribution.js';
export type { Span } from '../diff/types.js';
export { CAUSES, type CauseId } from '../diff/findings.js';
export type { EnvironmentSetting } from '../verify/settings.js';
export { verifyReport, type VerifyReport } from '../verify/report.js';
export { verifyText } from '../report/verify-text.js';
export { verifyHtml } from '../report/verify-html.js';
export { verifyMarkdown } from '../report/verify-markdown.js';
export { verifyJunit } from '../report/verify-junit.js';
export type { Backend, BuildPhase, HostFacts, BuildOptions, BuildRequest, BuildResult, CopiedEnvironment, PrepareOptions, PreparedEnvironment, RemovedState, BuildContainer } from '../backend/backend.js';
export type { PoolEngine } from '../backend/pool/pool.js';
export type { BuildConditions, Probes, Unapplied } from '../backend/conditions.js';
export type { BuildRun, VerifyArtifact } from '../verify/build-run.js';
export type { EnvironmentSource } from '../environment/source.js';
export type { ReleaseInputs, Packaging } from '../project/inputs.js';
export type { Project, ImageSettings } from '../project/project.js';
export type { SigningKey, KeyAlgorithm, KeyIdentity } from '../attest/keys.js';
export type { StepEvent, StepRecord } from '../pipeline/pipeline.js';
export type { GzipFormat } from '../archive/gzip.js';
export type { ProxySettings } from '../environment/build-image.js';
export type { EnvironmentImageOptions, RootfsOptions } from '../environment/build.js';
export type { EnvironmentLock, LockedPackage, LockedSource } from '../environment/lock.js';
export type { ImageBaseFile } from '../release/from-binaries.js';
export type { RunScope } from '../checkout/names.js';
export { ENVIRONMENT_LOCK_SCHEMA } from '../environment/lock.js';
export type { EnvironmentImageSetting } from '../environment/settings.js';
export type { EnvironmentSpec, PackageSource } from '../environment/spec.js';
export type { Artifact } from '../integrity/artifact.js';
export type { Digests } from '../integrity/hash-stream.js';
