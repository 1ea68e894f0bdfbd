/**
 * Building a release and following its recipe again: `krepro release` and `krepro rebuild`, the project file, the
 * inputs every build of a release shares, and the provenance a release records.
 *
 * @packageDocumentation
 */
export { runRelease, writeProvenance, type ReleaseOptions, type ReleaseResult } from '../release/run-release.js';
export { releaseFromBinaries, type ImageBaseFile, type Packed, type ReleaseFromBinariesOptions } from '../release/from-binaries.js';
export { rebuildRelease, type RebuildOptions, type RebuildResult, type RebuiltArtifact } from '../rebuild/rebuild.js';
export { readProvenance, recipeStatement, PROVENANCE_FILE, RECIPE_BUILD_TYPE, type ProvenanceSource, type Recipe, type RecipeContainer, type RecipePredicate } from '../provenance/recipe.js';
export { loadProject, loadCommittedProject, parseProject, KUBERNETES_DEFAULTS, NORMALIZATIONS, PROJECT_FILE, PROJECT_SCHEMA, type ImageSettings, type Project } from '../project/project.js';
export { buildVariables, type BuildVariablesOptions } from '../project/variables.js';
export { releaseInputs, packagingFor, type Packaging, type ReleaseInputs, type ReleaseInputsOptions } from '../project/inputs.js';
export type { StepEvent, StepRecord } from '../pipeline/pipeline.js';
export { gitVersion, semverFromDescribe } from '../source/version.js';
export type { GzipFormat, EncoderIdentity } from '../archive/gzip.js';
export type { BuildConditions, Probes, Unapplied } from '../backend/conditions.js';
export type { Backend, BuildOptions, BuildRequest, BuildResult, CopiedEnvironment, HostFacts, PrepareOptions, PreparedEnvironment, RemovedState, BuildContainer, BuildPhase } from '../backend/backend.js';
export type { PoolEngine } from '../backend/pool/pool.js';
export type { Session, CopyResult, SyncResult, TerminalIO } from '../backend/session.js';
export type { EnvironmentLock, LockedPackage, LockedSource } from '../environment/lock.js';
export type { EnvironmentImageOptions, RootfsOptions } from '../environment/build.js';
export type { EnvironmentSource } from '../environment/source.js';
export type { Statement, Subject } from '../attest/statement.js';
export type { SigningKey, VerifyingKey, KeyAlgorithm, KeyIdentity } from '../attest/keys.js';
export type { Digests } from '../integrity/hash-stream.js';
export type { Artifact } from '../integrity/artifact.js';
export type { CheckResult, CheckedFile, CheckedList, CheckedExpectation } from '../check/check.js';
export type { PackageResult, ReleaseArtifact, ReleaseArtifactKind, ReleaseManifest } from '../layout/package-release.js';
export type { EnvelopeFailure, EnvelopeCheck } from '../attest/dsse.js';
export { STATEMENT_TYPE } from '../attest/statement.js';
export type { ProxySettings } from '../environment/build-image.js';
export { ENVIRONMENT_LOCK_SCHEMA } from '../environment/lock.js';
export type { EnvironmentImageSetting } from '../environment/settings.js';
export type { EnvironmentSpec, PackageSource } from '../environment/spec.js';
export type { RunScope } from '../checkout/names.js';
export { MANIFEST_SCHEMA } from '../layout/package-release.js';
export type { TarballKind } from '../layout/release-layout.js';
export type { Expectation } from '../check/lists.js';
