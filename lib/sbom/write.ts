import * as path from 'node:path';
import { writeSmallFile } from '../archive/pack.js';
import type { Entry } from '../archive/entry.js';
import type { Artifact } from '../integrity/artifact.js';
import { RELEASE_SBOM, releaseSbom, type SbomArtifact } from './release-sbom.js';
import { SOURCE_SBOM, sourceSbom } from './source-sbom.js';
import { serializeDocument } from './spdx.js';

/** What writeSboms describes, and where it writes. */
export interface WriteSbomsOptions {
  /** the directory the documents are written into (beside the artifacts) */
  dir: string;
  /** The artifacts the release document describes (see sbomArtifact). */
  artifacts: readonly SbomArtifact[];
  /** The documents' creation time, in seconds since 1970. */
  sourceDateEpoch: number;
  /** the git checkout the source document describes (its commit); without it, only the release document */
  sourceRoot?: string;
  /** Aborts the writing. */
  signal?: AbortSignal;
}

/**
 * Writes the SPDX 2.3 JSON documents of a release into `dir`: kubernetes-source.spdx.json (with a source) and
 * kubernetes-release.spdx.json, each hashed like every other artifact. The same inputs give the same bytes.
 */
export async function writeSboms(opts: WriteSbomsOptions): Promise<Artifact[]> {
  const written: Artifact[] = [];
  const write = async (name: string, content: string): Promise<void> => {
    const file = await writeSmallFile(path.join(opts.dir, name), content);
    written.push({ name, path: file.path, size: file.size, digests: file.digests });
  };
  let source: { sbom: Awaited<ReturnType<typeof sourceSbom>>; bytes: string } | undefined;
  if (opts.sourceRoot !== undefined) {
    const sbom = await sourceSbom({ sourceRoot: opts.sourceRoot, sourceDateEpoch: opts.sourceDateEpoch });
    source = { sbom, bytes: serializeDocument(sbom.document) };
    await write(SOURCE_SBOM, source.bytes);
  }
  opts.signal?.throwIfAborted();
  const release = await releaseSbom({ artifacts: opts.artifacts, sourceDateEpoch: opts.sourceDateEpoch, ...(source ? { source } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
  await write(RELEASE_SBOM, serializeDocument(release));
  return written;
}

/**
 * A published artifact as the release document needs it: a tarball with the files its members were packed from, or
 * without `entries` an archive read as it is (an image index archive).
 */
export function sbomArtifact(artifact: Artifact, entries?: readonly Entry[]): SbomArtifact {
  const base = { name: artifact.name, path: artifact.path, digests: artifact.digests };
  if (!entries) return base;
  return { ...base, members: entries.flatMap((e) => (e.type === 'file' ? [{ path: e.path, file: e.source.path, size: e.size, ino: e.source.ino, mtimeMs: e.source.mtimeMs }] : [])) };
}
