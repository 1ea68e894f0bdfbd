import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** Why `go version -m` cannot be the reference here, or undefined when it can (CI installs Debian's golang-go). */
export const GO_MISSING = spawnSync('go', ['version']).status === 0 ? undefined : 'no go on PATH (apt-get install golang-go)';

/** `go version -m FILE`: the Go version and every `dep` as path@version, sorted. */
export function goVersionM(file: string): { go: string; deps: string[] } {
  const text = execFileSync('go', ['version', '-m', file], { encoding: 'utf8' });
  const [first, ...lines] = text.split('\n');
  const deps: string[] = [];
  for (const line of lines) {
    const f = line.trim().split('\t');
    if (f[0] === 'dep') deps.push(`${f[1]}@${f[2]}`);
  }
  return { go: first!.slice(first!.lastIndexOf(' ') + 1), deps: deps.sort() };
}

export interface SpdxDoc {
  documentNamespace: string;
  creationInfo: { created: string };
  externalDocumentRefs?: { externalDocumentId: string; spdxDocument: string; checksum: { algorithm: string; checksumValue: string } }[];
  packages: {
    SPDXID: string;
    name: string;
    versionInfo?: string;
    packageFileName?: string;
    checksums?: { algorithm: string; checksumValue: string }[];
    licenseDeclared: string;
    comment?: string;
    externalRefs?: { referenceLocator: string }[];
    primaryPackagePurpose: string;
  }[];
  relationships: { spdxElementId: string; relationshipType: string; relatedSpdxElement: string }[];
}

export const checksum = (p: SpdxDoc['packages'][number], algorithm: string) => p.checksums?.find((c) => c.algorithm === algorithm)?.checksumValue;
export const related = (doc: SpdxDoc, from: string, type: string) => doc.relationships.filter((r) => r.spdxElementId === from && r.relationshipType === type).map((r) => r.relatedSpdxElement);

/**
 * The release document's view of one binary file, in `go version -m`'s terms: the package with its SHA-256 (exactly
 * one), the toolchain it DEPENDS_ON and its module dependencies as path@version.
 */
export function binaryInSbom(doc: SpdxDoc, file: string): { name: string; go: string[]; deps: string[] } {
  const digest = createHash('sha256').update(readFileSync(file)).digest('hex');
  const found = doc.packages.filter((p) => checksum(p, 'SHA256') === digest);
  if (found.length !== 1) throw new Error(`${file}: ${found.length} packages with its SHA-256 ${digest}`);
  const deps = related(doc, found[0]!.SPDXID, 'DEPENDS_ON').map((id) => doc.packages.find((p) => p.SPDXID === id)!);
  return {
    name: found[0]!.name,
    go: deps.filter((p) => p.name === 'stdlib').map((p) => p.versionInfo!),
    deps: deps.filter((p) => p.name !== 'stdlib').map((p) => `${p.name}@${p.versionInfo}`).sort(),
  };
}
