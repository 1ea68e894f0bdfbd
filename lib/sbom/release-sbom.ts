import { createHash } from 'node:crypto';
import * as posix from 'node:path/posix';
import { byteOrder } from '../byte-order.js';
import type { Digests } from '../integrity/hash-stream.js';
import type { FoundArchive, FoundBinary } from './scan.js';
import { scanFile } from './scan.js';
import type { GoModule } from './go-buildinfo.js';
import { SOURCE_PACKAGE_ID, type SourceSbom, goModuleIds } from './source-sbom.js';
import {
  DOCUMENT_ID,
  finishDocument,
  goPurl,
  goSumChecksum,
  purlRef,
  sortRelationships,
  type SpdxDocument,
  SpdxIds,
  type SpdxPackage,
  spdxPackage,
  type SpdxRelationship,
} from './spdx.js';

/** The release document's file name. */
export const RELEASE_SBOM = 'kubernetes-release.spdx.json';
export const RELEASE_DOCUMENT_NAME = 'kubernetes-release';
const SOURCE_REF = 'DocumentRef-source';

/** One published artifact and the files it holds (for a tarball: its members, with the files they were packed from). */
export interface SbomArtifact {
  /** Its name in the release. */
  name: string;
  /** the artifact's file: another artifact's member with this file is that artifact, nested */
  path: string;
  /** Its sha256 and sha512. */
  digests: Digests;
  /** a tarball's members; absent for an archive read as it is (an image index archive: its layers' binaries) */
  members?: { path: string; file: string; size: number; ino: number; mtimeMs: number }[];
}

export interface ReleaseSbomOptions {
  artifacts: readonly SbomArtifact[];
  sourceDateEpoch: number;
  /** the source document and its bytes: binaries and artifacts are GENERATED_FROM its source package */
  source?: { sbom: SourceSbom; bytes: string };
  signal?: AbortSignal;
}

/** Files smaller than this cannot be an executable or an archive worth reading. */
const MIN_SIZE = 64;

/** One Go module as a binary records it: the replacement's sum is the one that names the code built. */
function moduleKey(m: GoModule): string {
  return `${m.path}@${m.version}`;
}

/** Reads each member file once, however many tarballs pack it (by path, inode, size and mtime). */
class MemberScanner {
  private readonly seen = new Map<string, ReturnType<typeof scanFile>>();
  constructor(private readonly signal?: AbortSignal) {}

  scan(m: NonNullable<SbomArtifact['members']>[number]): ReturnType<typeof scanFile> {
    if (m.size < MIN_SIZE) return Promise.resolve(undefined);
    const key = `${m.ino}:${m.size}:${m.mtimeMs}:${m.file}`;
    let found = this.seen.get(key);
    if (!found) this.seen.set(key, (found = scanFile(m.file, m.path, this.signal)));
    return found;
  }
}

function binaryComment(b: FoundBinary): string {
  const parts = [`${b.format === 'elf' ? 'ELF' : b.format === 'macho' ? 'Mach-O' : 'PE'} executable`];
  if (b.go) {
    parts.push(`built by Go ${b.go.goVersion}`);
    if (b.go.path) parts.push(`main package ${b.go.path}`);
    if (b.go.main) parts.push(`main module ${b.go.main.path} ${b.go.main.version}`);
    if (b.go.settings.length) parts.push(`build ${b.go.settings.map((s) => `${s.key}=${s.value}`).join(' ')}`);
  } else parts.push(b.goProblem ?? 'no Go build info');
  return parts.join('; ');
}

/** The source document's own package, as it is there, for this document's GENERATED_FROM. */
function sourcePackageCopy(source: SourceSbom): SpdxPackage {
  return source.document.packages.find((p) => p.SPDXID === SOURCE_PACKAGE_ID)!;
}

/**
 * The SPDX document of a release: every artifact (SHA-256 and SHA-512), the image archives and binaries inside
 * them (CONTAINS, each distinct binary once, named by where it is first found in name order), each binary's Go
 * toolchain and module dependencies from its build info (DEPENDS_ON), everything GENERATED_FROM the source
 * document's package (repeated in this one) when there is one. Packages and relationships come out in a fixed order.
 */
export async function releaseSbom(opts: ReleaseSbomOptions): Promise<SpdxDocument> {
  const ids = new SpdxIds();
  const artifacts = [...opts.artifacts].sort((a, b) => byteOrder(a.name, b.name));
  const artifactIdByFile = new Map(artifacts.map((a) => [a.path, ids.id('Package', a.name)]));
  const relationships: SpdxRelationship[] = artifacts.map((a) => ({ spdxElementId: DOCUMENT_ID, relationshipType: 'DESCRIBES', relatedSpdxElement: artifactIdByFile.get(a.path)! }));
  const contains = (from: string, to: string) => relationships.push({ spdxElementId: from, relationshipType: 'CONTAINS', relatedSpdxElement: to });

  const scanner = new MemberScanner(opts.signal);
  const nested: SpdxPackage[] = [];
  const binaries = new Map<string, { id: string; binary: FoundBinary }>();
  const binaryId = (b: FoundBinary, where: string): string => {
    let known = binaries.get(b.sha256);
    if (!known) binaries.set(b.sha256, (known = { id: ids.unique('Binary', where), binary: b }));
    return known.id;
  };
  const archives = new Map<string, string>();
  const archiveId = (a: FoundArchive, where: string): string => {
    let id = archives.get(a.sha256);
    if (id) return id;
    archives.set(a.sha256, (id = ids.unique(a.image ? 'Image' : 'Archive', where)));
    nested.push(
      spdxPackage({
        id,
        name: posix.basename(a.path),
        fileName: a.path,
        checksums: [
          { algorithm: 'SHA256', checksumValue: a.sha256 },
          { algorithm: 'SHA512', checksumValue: a.sha512 },
        ],
        ...(a.problem ? { comment: `not read to the end: ${a.problem}` } : {}),
        purpose: a.image ? 'CONTAINER' : 'ARCHIVE',
      }),
    );
    return id;
  };

  // An artifact without members (an image index archive) is read itself: an image, with the binaries of its layers.
  const itself = new Map<string, FoundArchive>();
  for (const artifact of artifacts) {
    const from = artifactIdByFile.get(artifact.path)!;
    if (!artifact.members) {
      const found = await scanFile(artifact.path, artifact.name, opts.signal);
      if (found?.kind !== 'archive') continue;
      itself.set(artifact.path, found.archive);
      for (const b of found.archive.binaries) contains(from, binaryId(b, `${artifact.name}/${b.path}`));
      continue;
    }
    for (const member of [...artifact.members].sort((a, b) => byteOrder(a.path, b.path))) {
      opts.signal?.throwIfAborted();
      const nestedArtifact = artifactIdByFile.get(member.file);
      if (nestedArtifact) {
        contains(from, nestedArtifact);
        continue;
      }
      const found = await scanner.scan(member);
      if (found?.kind === 'binary') contains(from, binaryId(found.binary, `${artifact.name}/${member.path}`));
      else if (found?.kind === 'archive' && (found.archive.image || found.archive.binaries.length > 0)) {
        const id = archiveId(found.archive, `${artifact.name}/${member.path}`);
        contains(from, id);
        for (const b of found.archive.binaries) contains(id, binaryId(b, `${artifact.name}/${member.path}/${b.path}`));
      }
    }
  }

  const packages: SpdxPackage[] = artifacts.map((a) => {
    const read = itself.get(a.path);
    return spdxPackage({
      id: artifactIdByFile.get(a.path)!,
      name: a.name,
      fileName: a.name,
      checksums: [
        { algorithm: 'SHA256', checksumValue: a.digests.sha256 },
        { algorithm: 'SHA512', checksumValue: a.digests.sha512 },
      ],
      ...(read?.problem ? { comment: `not read to the end: ${read.problem}` } : {}),
      purpose: read?.image ? 'CONTAINER' : 'ARCHIVE',
    });
  });

  // Go toolchains and modules across all binaries, one package per module version; licences from the source.
  const goVersions = [...new Set([...binaries.values()].flatMap((b) => (b.binary.go ? [b.binary.go.goVersion] : [])))].sort(byteOrder);
  const stdlibId = (v: string) => ids.id('go-stdlib', goVersions.length > 1 ? v : 'toolchain');
  const modules = new Map<string, GoModule>();
  for (const { binary } of binaries.values()) for (const d of binary.go?.deps ?? []) if (!modules.has(moduleKey(d))) modules.set(moduleKey(d), d);
  const moduleList = [...modules.values()].sort((a, b) => byteOrder(a.path, b.path) || byteOrder(a.version, b.version));
  const idOf = goModuleIds(ids, moduleList);
  const licenses = new Map((opts.source?.sbom.modules ?? []).map((m) => [`${m.path}@${m.version}`, m.license]));

  // The source's package is repeated here (its modules stay in the source document, named below), so GENERATED_FROM
  // points at an element of this document: validators such as the SPDX project's tools-golang resolve no other.
  const generatedFrom = opts.source ? SOURCE_PACKAGE_ID : undefined;
  if (generatedFrom) for (const a of artifacts) relationships.push({ spdxElementId: artifactIdByFile.get(a.path)!, relationshipType: 'GENERATED_FROM', relatedSpdxElement: generatedFrom });
  const binaryPackages: SpdxPackage[] = [];
  for (const { id, binary } of binaries.values()) {
    binaryPackages.push(
      spdxPackage({
        id,
        name: posix.basename(binary.path),
        fileName: binary.path,
        checksums: [{ algorithm: 'SHA256', checksumValue: binary.sha256 }],
        comment: binaryComment(binary),
        purpose: binary.go ? 'APPLICATION' : 'FILE',
      }),
    );
    if (generatedFrom) relationships.push({ spdxElementId: id, relationshipType: 'GENERATED_FROM', relatedSpdxElement: generatedFrom });
    if (!binary.go) continue;
    relationships.push({ spdxElementId: id, relationshipType: 'DEPENDS_ON', relatedSpdxElement: stdlibId(binary.go.goVersion) });
    for (const d of binary.go.deps) relationships.push({ spdxElementId: id, relationshipType: 'DEPENDS_ON', relatedSpdxElement: idOf(d) });
  }
  const goPackages = [
    ...goVersions.map((v) =>
      spdxPackage({ id: stdlibId(v), name: 'stdlib', version: v, comment: 'the Go toolchain and standard library the binaries were built with', externalRefs: purlRef(goPurl('stdlib', v.replace(/^go/, ''))), purpose: 'LIBRARY' }),
    ),
    ...moduleList.map((m) =>
      spdxPackage({
        id: idOf(m),
        name: m.path,
        version: m.version,
        checksums: goSumChecksum(m.replace?.sum ?? m.sum),
        license: licenses.get(moduleKey(m)) ?? 'NOASSERTION',
        ...(m.replace ? { comment: `replaced by ${m.replace.path}${m.replace.version ? ` ${m.replace.version}` : ''}` } : {}),
        externalRefs: purlRef(goPurl(m.path, m.version)),
        purpose: 'LIBRARY',
      }),
    ),
  ];

  const source = opts.source;
  return finishDocument(RELEASE_DOCUMENT_NAME, source ? source.sbom.commit : 'artifacts', opts.sourceDateEpoch, {
    ...(source
      ? {
          externalDocumentRefs: [
            {
              externalDocumentId: SOURCE_REF,
              spdxDocument: source.sbom.document.documentNamespace,
              checksum: { algorithm: 'SHA1', checksumValue: createHash('sha1').update(source.bytes).digest('hex') },
            },
          ],
        }
      : {}),
    packages: [...packages, ...(source ? [sourcePackageCopy(source.sbom)] : []), ...nested, ...binaryPackages, ...goPackages],
    relationships: sortRelationships(relationships),
  });
}
