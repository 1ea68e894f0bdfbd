// krepro's public API. Re-exports only: each concept lives in its own folder.
export { KreproError, isKreproError, type ErrorCode } from './errors.js';
export { DiskFullError, isDiskFull, type DiskFullContext } from './disk-full.js';
export { KREPRO_VERSION } from './version.js';
export { traced, type Trace, type TraceEvent } from './trace.js';

export { type ArchivePolicy, type Entry, type FileSource, } from './archive/entry.js';
export { byteOrder, sortByBytes } from './byte-order.js';
export { planDirectory, planFiles, type PlanOptions } from './archive/plan.js';
export { tarHeader } from './archive/header.js';
export {
  BLOCK_SIZE,
  CURRENT_GZIP_FORMAT,
  GZIP_FORMATS,
  MEMBER_SIZE,
  type EncoderIdentity,
  type Format1Implementation,
  type GzipEncoder,
  type GzipEncoderOptions,
  type GzipFormat,
  type GzipSpec,
  type GzipStreamOptions,
  PinnedGzip,
  createGzipEncoder,
  encoderIdentity,
  gzipHeader,
  nativeMatchesPinned,
} from './archive/gzip.js';
export { LIBDEFLATE_VERSION, LIBDEFLATE_WASM_SHA256, libdeflateWasmPath } from './archive/libdeflate.js';
export { tarStream, writeTarball, writeSmallFile, type PackOptions, type WrittenFile } from './archive/pack.js';

export { HashStream, hashFile, integrityOf, type Digests, type FileDigests } from './integrity/hash-stream.js';
export { sumsFile, sumsFileName, type ChecksumAlgorithm } from './integrity/checksums.js';

export { writeSboms, sbomArtifact, type WriteSbomsOptions } from './sbom/write.js';
export { sourceSbom, SOURCE_SBOM, type SourceSbom } from './sbom/source-sbom.js';
export { releaseSbom, RELEASE_SBOM, type ReleaseSbomOptions, type SbomArtifact } from './sbom/release-sbom.js';
export { type ExecutableFormat, type ExecutableScan, type GoBuildInfo, type GoModule } from './sbom/go-buildinfo.js';
export { scanFile, type Found, type FoundArchive, type FoundBinary } from './sbom/scan.js';
export { type SpdxDocument, type SpdxPackage, type SpdxRelationship } from './sbom/spdx.js';
export { planReleaseTarballs, type TarballJob, SRC_TARBALL, MANIFESTS_TARBALL } from './layout/release-layout.js';
export {
  packageRelease,
  stagedTarballs,
  releaseManifest,
  packageStatement,
  PACKAGE_BUILD_TYPE,
  MANIFEST_NAME,
  MANIFEST_SCHEMA,
  type PackageReleaseOptions,
  type PackageProgress,
  type PackageResult,
  type ReleaseArtifact,
  type ReleaseManifest,
} from './layout/package-release.js';

export {
  commitTime,
  parseMtimeOption,
  parseSourceDateEpoch,
  resolveSourceDateEpoch,
  type SourceDateEpoch,
} from './source/source-date-epoch.js';
export { sourceFiles } from './source/src-files.js';
export { gitWorkTreeOf, headCommit } from './source/git.js';
export { buildStage, DEFAULT_STAGE_TARGETS, type BuildStageOptions, type StageResult, type StagedPlatform, type StageTargets } from './layout/stage.js';
export { swapInto } from './layout/swap-dir.js';
export { releaseFromBinaries, PACK_STEPS, type ReleaseFromBinariesOptions, type ImageBaseFile, type Packed, type PackContext } from './release/from-binaries.js';
export { runRelease, writeProvenance, RELEASE_STEPS, type ReleaseOptions, type ReleaseResult } from './release/run-release.js';
export { releaseArtifacts } from './release/artifacts.js';
export { gitVersion, semverFromDescribe } from './source/version.js';

export { runPipeline, step, type Step, type StepEvent, type StepRecord, type PipelineOptions } from './pipeline/pipeline.js';

export type {
  ArchiveStat,
  Call,
  Container,
  ContainerInfo,
  ContainerSpec,
  Engine,
  EngineVersion,
  ImageInfo,
  Mount,
  VolumeInfo,
} from './engine/engine.js';
export { connectEngine, openEngine, pingEngine, resolveEngine, type ConnectOptions, type EngineEnv } from './engine/connect.js';
export { transferImage } from './engine/transfer.js';
export { tracedEngine } from './engine/traced.js';

export type {
  Backend,
  BuildContainer,
  BuildOptions,
  BuildPhase,
  BuildRequest,
  BuildResult,
  CopiedEnvironment,
  HostFacts,
  PreparedEnvironment,
  PrepareOptions,
  RemovedState,
} from './backend/backend.js';
export type { Session, Sessions, SessionOptions, SyncResult, CopyResult, TerminalIO } from './backend/session.js';
export type { BuildConditions, Probes, Unapplied } from './backend/conditions.js';
export { seccompWithPersonality, wrappedCommand } from './backend/wrapper.js';
export { DockerBackend, openDockerBackend, type DockerBackendOptions } from './backend/docker/backend.js';
export { BUILD_HOSTNAME } from './backend/docker/session.js';

export { makeBaseImage, type BaseImageOptions } from './environment/base-image.js';
export { ensureBuildImage, proxyEnv, redact, LABEL_CONTEXT_HASH, type BuildImageOptions, type ProxySettings } from './environment/build-image.js';
export { sourceVersion, type EnvironmentSource } from './environment/source.js';

export { checkoutIdentity, buildImageVersion, checkoutStateNames, type CheckoutIdentity } from './checkout/identity.js';
export { stateNames, runNames, baseImageTag, checkoutHash, CONTAINER_SOURCE_DIR, LABEL_CHECKOUT, LABEL_RUN, LABEL_VERSION, type StateNames, type RunNames, type RunScope, namesOf, newRun } from './checkout/names.js';
export { claimCheckout, type CheckoutClaim } from './checkout/claim.js';
export { cleanCheckout } from './checkout/clean.js';
export { isSafeRelativePath } from './checkout/relative-path.js';
export { checkoutOf, commandLinePath, outputDirOf, pathBeneath, OUTPUT_DIR } from './checkout/beneath.js';
export { jsonSyntaxError, parseJson, printable, quote, shortened, visible, visibleJson } from './quote.js';

export { loadProject, loadCommittedProject, parseProject, parseCommand, checkOutputPath, projectVariables, KUBERNETES_DEFAULTS, NORMALIZATIONS, PROJECT_FILE, PROJECT_SCHEMA, type Project, type ImageSettings } from './project/project.js';
export { buildVariables, type BuildVariablesOptions } from './project/variables.js';
export { releaseInputs, packagingFor, type ReleaseInputs, type ReleaseInputsOptions, type Packaging } from './project/inputs.js';

export { controlConditions, projectBuildPath, EXPERIMENT_VALUES, VARIATIONS, variationNamed, applyVariations, type Variation } from './verify/conditions.js';
export {
  attributeFindings,
  explainFindings,
  sameLocation,
  NoiseMask,
  worstCaseBuilds,
  type AttributionInput,
  type AttributionResult,
  type Guess,
  type Outcome,
  type BuildWith,
  type Verdict,
  type FinishedBuild,
} from './verify/attribution.js';
export { findingsBetween, markConsequences, failureFinding, artifactName, BUILD_FAILS, type LocatedFinding, type Consequence, type BuildFindings } from './verify/findings.js';
export { groupCauses, type CauseGroup } from './verify/causes.js';
export { explainDifferences, type AttributedFinding, type BuiltArtifacts, type ExplainOptions, type Explained, type SingleBuild } from './verify/explain.js';
export { recognizer, type Sides } from './verify/recognize.js';
export { runVerifyBuild, differingArtifacts, type BuildRun, type VerifyArtifact, type ArtifactDifference } from './verify/build-run.js';
export {
  verifyRelease,
  runPlannedBuilds,
  VERIFY_STEPS,
  VERIFY_SCHEMA,
  type VerifyOptions,
  type VerifyResult,
  type VerifyProgress,
  type VariationCheck,
  type BuildFailure,
  type FailureCause,
  type PlanRecord,
  type PlannedBuildsResult,
} from './verify/verify.js';
export { choosePlan, matrixBuilds, matrixJobs, matrixWidth, alsoVaries, hostDifferences, planKindNamed, PLAN_KINDS, type PlanKind, type PlanChoice, type PlannedBuild, type BuildRole } from './verify/plan.js';
export { planDocument, writeBuildBundle, readBuildBundles, buildBundleBackend, PLAN_SCHEMA, BUILD_BUNDLE_SCHEMA, BUILD_BUNDLE_FILE, type PlanDocument, type PlanDocumentOptions, type CollectedBuilds } from './verify/build-bundle.js';
export { LimitedBackend, limitBackend, usesMemory, type Limits } from './backend/limit.js';
export { verifySettings, type EnvironmentSetting } from './verify/settings.js';
export { verifyReport, FINDINGS_SHOWN, type VerifyReport, type ReportFinding } from './verify/report.js';
export { verifyText } from './report/verify-text.js';
export { verifyHtml } from './report/verify-html.js';
export { verifyMarkdown } from './report/verify-markdown.js';
export { verifyJunit } from './report/verify-junit.js';
export { recipeStatement, recipeOf, readProvenance, makeRecipe, recipeInputs, recipeContainer, buildContainer, PROVENANCE_FILE, RECIPE_BUILD_TYPE, type Recipe, type RecipeContainer, type RecipeParts, type RecipePredicate, type ProvenanceSource } from './provenance/recipe.js';
export { recipeSource, repositoryUri } from './provenance/source.js';
export { rebuildRelease, REBUILD_STEPS, type RebuildOptions, type RebuildResult, type RebuiltArtifact } from './rebuild/rebuild.js';
export { outputArtifacts, type Artifact } from './integrity/artifact.js';
export {
  checkRelease,
  CHECK_ENTRY_LIMIT,
  CHECK_LIST_LIMIT,
  type CheckOptions,
  type CheckProgress,
  type CheckResult,
  type CheckedExpectation,
  type CheckedFile,
  type CheckedList,
} from './check/check.js';
export { type Expectation } from './check/lists.js';
export { checkedAgainst, checkHtml, checkMarkdown } from './report/check.js';

export { writeImage, type ImageBase, type WriteImageOptions, type WrittenImage } from './image/write-image.js';
export { writeServerImages, imageBaseFrom, DEFAULT_IMAGE_BINARIES, DEFAULT_IMAGE_REGISTRY, type ServerImage, type ServerImagesOptions } from './image/server-images.js';
export { readImageBase, type ImageBaseArchive } from './image/base.js';
export {
  writeImageIndex,
  stagedImageSets,
  IMAGE_INDEX_SUFFIX,
  CREATED_ANNOTATION,
  type ImageIndexOptions,
  type WrittenImageIndex,
  type IndexedImage,
  type Platform,
  type StagedImageSet,
} from './image/image-index.js';
export { parseRepoTag, dockerTagFromVersion, type RepoTag } from './image/reference.js';
export { canonicalJson, MEDIA_TYPE } from './image/oci.js';

export { diff } from './diff/compare.js';
export { CAUSES, type CauseId } from './diff/findings.js';
export { allFindings, visit as visitDifferences } from './diff/difference.js';
export { fingerprint, describeFingerprint, type Fingerprint, type EncoderMatch } from './diff/encoders.js';
export { DEFAULT_LIMITS, DIFF_REPORT_SCHEMA, type DiffLimits, type DiffOptions, type DiffReport, type Difference, type Finding, type Refusal, type ByteRange, type Location } from './diff/types.js';
export { renderText as renderDiffText } from './report/text.js';
export { renderJson as renderDiffJson, parseJsonReport as parseDiffJson } from './report/json.js';
export { renderMarkdown as renderDiffMarkdown } from './report/markdown.js';
export { renderHtml as renderDiffHtml } from './report/html.js';

export { loadSigningKey, loadVerifyingKey, verifyingKeyFromPem, keyIdOf, type KeyAlgorithm, type SigningKey, type VerifyingKey } from './attest/keys.js';
export {
  IN_TOTO_PAYLOAD_TYPE,
  preAuthEncoding,
  signEnvelope,
  verifyEnvelope,
  type DsseEnvelope,
  type DsseSignature,
  type EnvelopeCheck,
  type EnvelopeFailure,
  type EnvelopeVerification,
} from './attest/dsse.js';
export { STATEMENT_TYPE, SLSA_PROVENANCE_TYPE, inTotoStatement, subjectsOf, statementPayload, type Statement, type Subject } from './attest/statement.js';
export {
  ATTESTATION_FILE,
  ATTESTATION_SUFFIX,
  BUNDLE_FILE,
  MAX_ATTESTATION_BYTES,
  MAX_INVALID_LINES,
  signStatement,
  writeAttestations,
  writeSignedStatement,
  verifyAttestationFile,
  verifyAttestations,
  type AttestationFileVerification,
  type AttestationLine,
} from './attest/file.js';
export { SIGSTORE_BUNDLE_MEDIA_TYPE, BUNDLE_SUFFIX, bundleKeyHint, sigstoreBundle, verifySigstoreBundle, type SigstoreBundle } from './attest/bundle.js';

export { ENVIRONMENT_SPEC_FILE, ENVIRONMENT_SPEC_SCHEMA, checkEnvironmentSpec, readEnvironmentSpec, effectiveMirrors, type EnvironmentSpec, type PackageSource } from './environment/spec.js';
export {
  ENVIRONMENT_LOCK_FILE,
  ENVIRONMENT_LOCK_SCHEMA,
  checkLock,
  readLock,
  writeLock,
  lockDigest,
  lockEnvironment,
  type EnvironmentLock,
  type LockedPackage,
  type LockedSource,
  type LockOptions,
  type LockResult,
} from './environment/lock.js';
export { ENVIRONMENT_SETTINGS, ENVIRONMENT_WORKDIR, environmentSettings, type EnvironmentImageSetting } from './environment/settings.js';
export {
  makeEnvironmentImage,
  makeEnvironmentRootfs,
  findEnvironmentImage,
  environmentImageName,
  environmentImageConfig,
  LABEL_ENVIRONMENT_LOCK,
  type EnvironmentImageOptions,
  type EnvironmentImage,
  type Rootfs,
  type RootfsOptions,
} from './environment/build.js';
export { prepareImageArchive, layerFromTar, type ImageArchive, type ImageArchiveInput, type ImageLayer } from './image/archive.js';
