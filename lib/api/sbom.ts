/**
 * SPDX 2.3 SBOMs of a source tree and of a release, with the Go modules read from the binaries' build info: what
 * packageRelease writes beside the tarballs, for tooling that packs its own artifacts.
 *
 * @packageDocumentation
 */
export { writeSboms, sbomArtifact, type WriteSbomsOptions } from '../sbom/write.js';
export { SOURCE_SBOM } from '../sbom/source-sbom.js';
export { RELEASE_SBOM, type SbomArtifact } from '../sbom/release-sbom.js';
export type { RelationshipType, SpdxChecksum, SpdxDocument, SpdxExternalRef, SpdxPackage, SpdxRelationship } from '../sbom/spdx.js';
export type { Artifact } from '../integrity/artifact.js';
export type { Digests } from '../integrity/hash-stream.js';
export type { Entry, FileSource } from '../archive/entry.js';
