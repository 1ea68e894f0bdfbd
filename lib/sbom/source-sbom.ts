import * as posix from 'node:path/posix';
import { runGit } from '../source/git.js';
import { type GoMod, parseGoMod, parseGoSum, parseModulesTxt, type SourceModule, sourceModules } from './go-modules.js';
import {
  DOCUMENT_ID,
  finishDocument,
  goPurl,
  goSumChecksum,
  licenseExpression,
  purlRef,
  sortRelationships,
  SpdxIds,
  spdxPackage,
  type SpdxDocument,
  type SpdxRelationship,
} from './spdx.js';

/** The source document's file name. */
export const SOURCE_SBOM = 'kubernetes-source.spdx.json';
export const SOURCE_DOCUMENT_NAME = 'kubernetes-source';
export const SOURCE_PACKAGE_ID = 'SPDXRef-Package-source';

export interface SourceSbom {
  document: SpdxDocument;
  commit: string;
  tree: string;
  /** the modules the source declares, each with the licence its licence file declares (or NOASSERTION) */
  modules: (SourceModule & { license: string })[];
}

const OTHERWISE = 'leave the source out (--no-source)';

/** Licence files a module's root may hold; only an `SPDX-License-Identifier:` line in one of them counts. */
const LICENSE_PATHSPECS = [':(glob,icase)**/licen[cs]e*', ':(glob,icase)**/copying*'];

/**
 * The git objects of `paths` (relative to `root`) in `commit`, as ls-tree lists them: regular files only, so a
 * committed symlink is never followed out of the tree.
 */
async function blobs(root: string, commit: string, paths: string[]): Promise<Map<string, string>> {
  const out = await runGit(root, ['ls-tree', '-z', commit, '--', ...paths], `list ${paths.join(', ')} in ${commit}`, OTHERWISE);
  const found = new Map<string, string>();
  for (const line of out.split('\0')) {
    const m = /^(100644|100755) blob ([0-9a-f]+)\t(.*)$/s.exec(line);
    if (m) found.set(m[3]!, m[2]!);
  }
  return found;
}

/**
 * Declared licences by directory: the first `SPDX-License-Identifier:` of a licence file directly in it, read from
 * the commit by one `git grep` (no file of the work tree is opened).
 */
async function declaredLicenses(root: string, commit: string): Promise<Map<string, string>> {
  const out = await runGit(root, ['grep', '-I', '-z', '-n', '--no-color', '-e', 'SPDX-License-Identifier:', commit, '--', ...LICENSE_PATHSPECS], `find licence declarations in ${commit}`, OTHERWISE);
  const byDir = new Map<string, { file: string; line: number; value: string }>();
  for (const record of out.split('\n')) {
    const [name, line, text] = record.split('\0');
    if (!name || !line || text === undefined) continue;
    const file = name.slice(commit.length + 1);
    const value = /SPDX-License-Identifier:\s*(.*?)\s*(?:\*\/|-->)?\s*$/.exec(text)?.[1];
    if (!value) continue;
    const dir = posix.dirname(file);
    const prev = byDir.get(dir);
    // The first declaration of the first file in byte order, whatever order git prints in.
    if (!prev || file < prev.file || (file === prev.file && Number(line) < prev.line)) byDir.set(dir, { file, line: Number(line), value });
  }
  return new Map([...byDir].map(([dir, d]) => [dir, d.value]));
}

/**
 * Go module package IDs by module path alone, so a new version of a module keeps its ID and a diff of two documents
 * pairs them; only a path present at several versions gets the version in its IDs.
 */
export function goModuleIds(ids: SpdxIds, modules: readonly { path: string; version: string }[]): (m: { path: string; version: string }) => string {
  const versions = new Map<string, Set<string>>();
  for (const m of modules) versions.set(m.path, (versions.get(m.path) ?? new Set()).add(m.version));
  return (m) => ids.id('go-module', versions.get(m.path)!.size > 1 ? `${m.path}@${m.version}` : m.path);
}

/** A module's directory in the tree: vendor/<path>, or a directory replacement inside the tree; else undefined. */
function moduleDir(m: SourceModule): string | undefined {
  if (!m.dir) return undefined;
  const dir = posix.normalize(m.dir);
  return dir.startsWith('../') || dir === '..' || posix.isAbsolute(dir) ? undefined : dir.replace(/\/$/, '');
}

/**
 * The SPDX document of the source: the commit's tree as one package (commit and tree as gitoids, its declared
 * licence), and the Go modules its go.mod, vendor/modules.txt and go.sum declare, each a package with version,
 * go.sum hash, purl and declared licence that the source DEPENDS_ON. Everything is read from the commit, not the
 * work tree.
 */
export async function sourceSbom(opts: { sourceRoot: string; sourceDateEpoch: number }): Promise<SourceSbom> {
  const root = opts.sourceRoot;
  const [commit, tree] = (await runGit(root, ['rev-parse', 'HEAD^{commit}', 'HEAD:./'], `find the commit of ${root} for its SBOM`, OTHERWISE)).trim().split('\n') as [string, string];
  const files = await blobs(root, commit, ['go.mod', 'go.sum', 'vendor/modules.txt']);
  const read = async (name: string): Promise<string | undefined> => {
    const object = files.get(name);
    return object === undefined ? undefined : runGit(root, ['cat-file', 'blob', object], `read ${name} of ${commit}`, OTHERWISE);
  };
  const goModText = await read('go.mod');
  const goMod: GoMod = goModText === undefined ? { require: [], replace: [] } : parseGoMod(goModText);
  const modulesTxt = await read('vendor/modules.txt');
  const goSum = await read('go.sum');
  const declared = await declaredLicenses(root, commit);
  const modules = sourceModules(goMod, modulesTxt === undefined ? undefined : parseModulesTxt(modulesTxt), goSum === undefined ? new Map() : parseGoSum(goSum)).map((m) => {
    const dir = moduleDir(m);
    return { ...m, license: licenseExpression(dir === undefined ? undefined : declared.get(dir)) };
  });

  const ids = new SpdxIds();
  const source = spdxPackage({
    id: SOURCE_PACKAGE_ID,
    name: goMod.module ?? 'source',
    version: commit,
    sourceInfo: `git commit ${commit}, tree ${tree}`,
    license: licenseExpression(declared.get('.')),
    ...(goMod.module ? { comment: `the Go module ${goMod.module}${goMod.go ? ` (go ${goMod.go})` : ''} at the root of the tree` } : {}),
    externalRefs: [
      { referenceCategory: 'PERSISTENT-ID', referenceType: 'gitoid', referenceLocator: `gitoid:commit:sha1:${commit}` },
      { referenceCategory: 'PERSISTENT-ID', referenceType: 'gitoid', referenceLocator: `gitoid:tree:sha1:${tree}` },
    ],
    purpose: 'SOURCE',
  });
  const relationships: SpdxRelationship[] = [{ spdxElementId: DOCUMENT_ID, relationshipType: 'DESCRIBES', relatedSpdxElement: SOURCE_PACKAGE_ID }];
  const packages = [source];
  const idOf = goModuleIds(ids, modules);
  for (const m of modules) {
    const id = idOf(m);
    const notes = [m.indirect ? 'indirect requirement' : 'direct requirement', m.replace ? `replaced by ${m.replace.path}${m.replace.version ? ` ${m.replace.version}` : ''}` : ''];
    const dir = moduleDir(m);
    packages.push(
      spdxPackage({
        id,
        name: m.path,
        version: m.version,
        ...(dir ? { fileName: dir } : {}),
        checksums: goSumChecksum(m.sum),
        license: m.license,
        comment: notes.filter(Boolean).join('; '),
        externalRefs: purlRef(goPurl(m.path, m.version)),
        purpose: 'LIBRARY',
      }),
    );
    relationships.push({ spdxElementId: SOURCE_PACKAGE_ID, relationshipType: 'DEPENDS_ON', relatedSpdxElement: id });
  }
  const document = finishDocument(SOURCE_DOCUMENT_NAME, commit, opts.sourceDateEpoch, { packages, relationships: sortRelationships(relationships) });
  return { document, commit, tree, modules };
}
