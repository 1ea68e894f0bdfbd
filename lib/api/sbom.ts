/**
 * SPDX 2.3 SBOMs of a source tree and of a release, with the Go modules read from the binaries' build info.
 *
 * @packageDocumentation
 */
export { writeSboms, sbomArtifact, type WriteSbomsOptions } from '../sbom/write.js';
export { sourceSbom, SOURCE_SBOM, type SourceSbom } from '../sbom/source-sbom.js';
export { releaseSbom, RELEASE_SBOM, type ReleaseSbomOptions, type SbomArtifact } from '../sbom/release-sbom.js';
export { scanFile, type Found, type FoundArchive, type FoundBinary } from '../sbom/scan.js';
export type { ExecutableFormat, ExecutableScan, GoBuildInfo, GoModule } from '../sbom/go-buildinfo.js';
export type { RelationshipType, SpdxChecksum, SpdxDocument, SpdxExternalRef, SpdxPackage, SpdxRelationship } from '../sbom/spdx.js';
export type { SourceModule } from '../sbom/go-modules.js';
export type { Artifact } from '../integrity/artifact.js';
export type { Digests } from '../integrity/hash-stream.js';
export type { Entry, FileSource } from '../archive/entry.js';
