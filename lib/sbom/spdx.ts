import { createHash } from 'node:crypto';
import { PackageURL } from 'packageurl-js';
import parseSpdxExpression from 'spdx-expression-parse';
import { byteOrder } from '../byte-order.js';
import { canonicalJson } from '../image/oci.js';
import { KREPRO_VERSION } from '../version.js';

/** An SPDX 2.3 checksum (the parts of SPDX 2.3 JSON krepro writes follow spdx-spec v2.3, schemas/spdx-schema.json). */
export interface SpdxChecksum {
  /** The hash algorithm. */
  algorithm: 'SHA1' | 'SHA256' | 'SHA512';
  /** The digest, lowercase hex. */
  checksumValue: string;
}

/** An SPDX 2.3 external reference: krepro writes package URLs (purl). */
export interface SpdxExternalRef {
  /** The reference's category; a purl is PACKAGE-MANAGER. */
  referenceCategory: 'PACKAGE-MANAGER' | 'PERSISTENT-ID' | 'OTHER';
  /** The reference's type, e.g. `purl`. */
  referenceType: string;
  /** The reference itself, e.g. `pkg:golang/golang.org/x/net@v0.33.0`. */
  referenceLocator: string;
}

/** An SPDX 2.3 package: the source, an archive, an image, a binary or a Go module. */
export interface SpdxPackage {
  /** Its id in the document, `SPDXRef-…`. */
  SPDXID: string;
  /** Its name: a file name, or a Go module path. */
  name: string;
  /** Its version, when it has one (a module's, or the release's). */
  versionInfo?: string;
  /** The file it is, for a file in the release. */
  packageFileName?: string;
  /** Where it can be downloaded, or NOASSERTION. */
  downloadLocation: string;
  /** Always false: krepro describes packages, not the files inside them. */
  filesAnalyzed: false;
  /** Its digests, for a file krepro read. */
  checksums?: SpdxChecksum[];
  /** Where the information comes from, e.g. a binary's Go build info. */
  sourceInfo?: string;
  /** The license krepro concluded, an SPDX expression or NOASSERTION. */
  licenseConcluded: string;
  /** The license the package declares, an SPDX expression or NOASSERTION. */
  licenseDeclared: string;
  /** Its copyright text, or NOASSERTION. */
  copyrightText: string;
  /** A note for people. */
  comment?: string;
  /** Its package URL and other references. */
  externalRefs?: SpdxExternalRef[];
  /** What kind of package it is. */
  primaryPackagePurpose: 'SOURCE' | 'ARCHIVE' | 'CONTAINER' | 'APPLICATION' | 'LIBRARY' | 'FILE';
}

/** The relationships krepro writes between SPDX elements. */
export type RelationshipType = 'DESCRIBES' | 'CONTAINS' | 'DEPENDS_ON' | 'GENERATED_FROM';

/** One SPDX 2.3 relationship: element, type, related element. */
export interface SpdxRelationship {
  /** The element the relationship is about. */
  spdxElementId: string;
  /** How the two are related. */
  relationshipType: RelationshipType;
  /** The other element. */
  relatedSpdxElement: string;
}

/** An SPDX 2.3 JSON document as krepro writes it. */
export interface SpdxDocument {
  /** Always SPDX-2.3. */
  spdxVersion: 'SPDX-2.3';
  /** Always CC0-1.0, as SPDX requires. */
  dataLicense: 'CC0-1.0';
  /** Always SPDXRef-DOCUMENT. */
  SPDXID: 'SPDXRef-DOCUMENT';
  /** The document's name. */
  name: string;
  /** A URI unique to this document's content (krepro derives it from the content, so it is reproducible). */
  documentNamespace: string;
  /** When (SOURCE_DATE_EPOCH, ISO 8601) and by what (krepro and its version) it was made. */
  creationInfo: { created: string; creators: string[] };
  /** Other documents it refers to (the source SBOM, from the release SBOM), with their checksums. */
  externalDocumentRefs?: { externalDocumentId: string; spdxDocument: string; checksum: SpdxChecksum }[];
  /** Every package it describes. */
  packages: SpdxPackage[];
  /** How the packages are related. */
  relationships: SpdxRelationship[];
}

export const DOCUMENT_ID = 'SPDXRef-DOCUMENT';
export const NOASSERTION = 'NOASSERTION';
const NAMESPACE_BASE = 'https://krepro.dev/spdx';

/**
 * SPDX element IDs from names: `SPDXRef-` and letters, digits, `.` and `-` only. Every name keeps one ID for the
 * whole document; two names that come out the same get `-2`, `-3` in the order they are first asked for, which the
 * callers keep fixed.
 */
export class SpdxIds {
  private readonly byName = new Map<string, string>();
  private readonly taken = new Set<string>([DOCUMENT_ID]);

  id(kind: string, name: string): string {
    const key = `${kind}\0${name}`;
    const known = this.byName.get(key);
    if (known) return known;
    const id = this.unique(kind, name);
    this.byName.set(key, id);
    return id;
  }

  /** A new ID every call, even for a name seen before (two binaries at one path in two layers of an index). */
  unique(kind: string, name: string): string {
    const base = `SPDXRef-${kind}-${name.replace(/[^A-Za-z0-9.-]+/g, '-').replace(/^-+|-+$/g, '') || 'x'}`;
    let id = base;
    for (let n = 2; this.taken.has(id); n++) id = `${base}-${n}`;
    this.taken.add(id);
    return id;
  }
}

/** `pkg:golang/<module path>@<version>` (the purl spec's golang type), or undefined when the purl library refuses it. */
export function goPurl(path: string, version: string): string | undefined {
  const slash = path.lastIndexOf('/');
  try {
    return new PackageURL('golang', slash < 0 ? null : path.slice(0, slash), slash < 0 ? path : path.slice(slash + 1), version || null).toString();
  } catch {
    return undefined;
  }
}

export function purlRef(purl: string | undefined): SpdxExternalRef[] {
  return purl ? [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: purl }] : [];
}

/** A licence expression as declared, when it is valid SPDX; NOASSERTION for none or anything else. */
export function licenseExpression(declared: string | undefined): string {
  if (!declared) return NOASSERTION;
  try {
    parseSpdxExpression(declared);
    return declared;
  } catch {
    return NOASSERTION;
  }
}

/** Go's `h1:` module hash (base64 SHA-256 of the module's file list) as the SHA256 checksum syft writes for it. */
export function goSumChecksum(sum: string | undefined): SpdxChecksum[] {
  if (!sum?.startsWith('h1:')) return [];
  const bytes = Buffer.from(sum.slice(3), 'base64');
  return bytes.length === 32 ? [{ algorithm: 'SHA256', checksumValue: bytes.toString('hex') }] : [];
}

export function isoSeconds(epoch: number): string {
  return new Date(epoch * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function sortRelationships(list: SpdxRelationship[]): SpdxRelationship[] {
  const seen = new Set<string>();
  const key = (r: SpdxRelationship) => `${r.spdxElementId}\0${r.relationshipType}\0${r.relatedSpdxElement}`;
  return list
    .filter((r) => !seen.has(key(r)) && seen.add(key(r)))
    .sort((a, b) => (a.relationshipType === 'DESCRIBES' ? 0 : 1) - (b.relationshipType === 'DESCRIBES' ? 0 : 1) || byteOrder(key(a), key(b)));
}

/**
 * The finished document: `documentNamespace` is `https://krepro.dev/spdx/<name>/<anchor>-<sha256 of the rest>`,
 * where the anchor is the commit (or `artifacts` without one) and the digest covers every other field, so the
 * namespace is unique to the content and the same content always gets the same one. The creation time is
 * SOURCE_DATE_EPOCH: no clock, no random UUID.
 */
export function finishDocument(
  name: string,
  anchor: string,
  sourceDateEpoch: number,
  body: Pick<SpdxDocument, 'packages' | 'relationships'> & Partial<Pick<SpdxDocument, 'externalDocumentRefs'>>,
): SpdxDocument {
  const creationInfo = { created: isoSeconds(sourceDateEpoch), creators: [`Tool: krepro-${KREPRO_VERSION}`] };
  const rest = { name, creationInfo, ...body };
  const digest = createHash('sha256').update(canonicalJson(rest)).digest('hex');
  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: DOCUMENT_ID,
    name,
    documentNamespace: `${NAMESPACE_BASE}/${encodeURIComponent(name)}/${anchor}-${digest}`,
    creationInfo,
    ...(body.externalDocumentRefs ? { externalDocumentRefs: body.externalDocumentRefs } : {}),
    packages: body.packages,
    relationships: body.relationships,
  };
}

/** The bytes written: two-space JSON and a final newline, keys in the order the types above declare them. */
export function serializeDocument(doc: SpdxDocument): string {
  return `${JSON.stringify(doc, null, 2)}\n`;
}

export interface PackageFields {
  id: string;
  name: string;
  version?: string;
  fileName?: string;
  checksums?: SpdxChecksum[];
  sourceInfo?: string;
  license?: string;
  comment?: string;
  externalRefs?: SpdxExternalRef[];
  purpose: SpdxPackage['primaryPackagePurpose'];
}

/** One SPDX package, its keys always in the same order (the bytes follow from the values alone). */
export function spdxPackage(f: PackageFields): SpdxPackage {
  return {
    SPDXID: f.id,
    name: f.name,
    ...(f.version ? { versionInfo: f.version } : {}),
    ...(f.fileName ? { packageFileName: f.fileName } : {}),
    downloadLocation: NOASSERTION,
    filesAnalyzed: false,
    ...(f.checksums?.length ? { checksums: f.checksums } : {}),
    ...(f.sourceInfo ? { sourceInfo: f.sourceInfo } : {}),
    licenseConcluded: NOASSERTION,
    licenseDeclared: f.license ?? NOASSERTION,
    copyrightText: NOASSERTION,
    ...(f.comment ? { comment: f.comment } : {}),
    ...(f.externalRefs?.length ? { externalRefs: f.externalRefs } : {}),
    primaryPackagePurpose: f.purpose,
  };
}
