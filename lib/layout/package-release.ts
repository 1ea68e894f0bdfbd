import { mkdir, rm, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { mapDiskFull } from '../disk-full.js';
import { KreproError } from '../errors.js';
import { type ArchivePolicy, type Entry } from '../archive/entry.js';
import { byteOrder } from '../byte-order.js';
import { CURRENT_GZIP_FORMAT, type EncoderIdentity, type GzipFormat, createGzipEncoder, encoderIdentity, validateFormat, validateLevel } from '../archive/gzip.js';
import { planDirectory, planFiles } from '../archive/plan.js';
import { writeSmallFile, writeTarball } from '../archive/pack.js';
import { ALGORITHMS, sumsFile, sumsFileName } from '../integrity/checksums.js';
import { integrityOf } from '../integrity/hash-stream.js';
import type { Artifact } from '../integrity/artifact.js';
import { sourceFiles } from '../source/src-files.js';
import { KREPRO_VERSION } from '../version.js';
import { MANIFESTS_TARBALL, planReleaseTarballs, SRC_TARBALL, type TarballJob, type TarballKind } from './release-layout.js';
import { swapInto } from './swap-dir.js';
import { ATTESTATION_FILE, BUNDLE_FILE, writeSignedStatement } from '../attest/file.js';
import { IMAGE_INDEX_SUFFIX, stagedImageSets, writeImageIndex } from '../image/image-index.js';
import type { SigningKey } from '../attest/keys.js';
import { inTotoStatement, SLSA_PROVENANCE_TYPE, type Statement, subjectsOf } from '../attest/statement.js';
import { sbomArtifact, writeSboms } from '../sbom/write.js';
import { type Trace, traced } from '../trace.js';

/** What packageRelease packs, where, and how. */
export interface PackageReleaseOptions {
  /** The release stage, e.g. `_output/release-stage`: `client/<os>-<arch>/kubernetes`, `server/…`, `full/kubernetes`… */
  stage: string;
  /** Where the release goes, e.g. `_output/release-tars`; replaced as a whole once every file is written. */
  out: string;
  /** Every member's mtime and the SBOMs' creation time, in seconds since 1970 (SOURCE_DATE_EPOCH). */
  sourceDateEpoch: number;
  /** Git checkout whose tree becomes kubernetes-src.tar.gz. Default: no source tarball. */
  sourceRoot?: string;
  /** Gzip compression level, 1 (fastest) to 9 (smallest). Default 6, as Kubernetes' release scripts use. */
  level?: number;
  /**
   * Pinned gzip format (krepro-manifest.json's encoder.version). Default CURRENT_GZIP_FORMAT. 1 reproduces releases
   * made before format 2, whose manifests have no encoder.version.
   */
  encoder?: GzipFormat;
  /** Keep a member's own mtime when it is older than sourceDateEpoch (GNU tar --clamp-mtime). Default false: every member gets sourceDateEpoch. */
  clampMtime?: boolean;
  /** Pack symbolic links that point outside the stage instead of refusing them. Default false. */
  allowExternalSymlinks?: boolean;
  /** Aborts the packing; `out` is then left as it was. */
  signal?: AbortSignal;
  /** Called as the packing plans, starts each tarball, writes bytes and finishes each file. */
  onProgress?: (event: PackageProgress) => void;
  /** Each step (planning, each tarball, the checksums, the manifest, signing, the swap into `out`) with its time. */
  trace?: Trace;
  /** Sign an in-toto Statement of the artifacts with this key, written beside them as krepro.intoto.jsonl and as a sigstore bundle, krepro.sigstore.json. Default: not signed. */
  signingKey?: SigningKey;
}

/**
 * Progress of packageRelease: the plan (tarballs and input bytes), each tarball as it starts, uncompressed bytes as
 * they are read, each file when written, and the SBOMs while the binaries in the tarballs are read.
 */
export type PackageProgress =
  | { type: 'plan'; tarballs: number; bytes: number }
  | { type: 'tarball'; name: string; bytes: number }
  | { type: 'bytes'; bytes: number }
  | { type: 'done'; name: string; size: number }
  /** the SBOMs are being made: the binaries and image archives in the tarballs are read */
  | { type: 'sbom'; name: string };

/**
 * What a release artifact is: a tarball of the stage's tree of that name (`final` is kubernetes.tar.gz, `src`
 * kubernetes-src.tar.gz), an image index (`<binary>.oci.tar`), or an SBOM.
 */
export type ReleaseArtifactKind = TarballKind | 'src' | 'image-index' | 'sbom';

/** One file a release publishes with its digests. */
export interface ReleaseArtifact extends Artifact {
  /** What the file is. */
  kind: ReleaseArtifactKind;
  /** The staged `<os>-<arch>` (`linux-amd64`) of a per-platform tarball; absent otherwise. */
  platform?: string;
}

/** The manifest's file name in a release directory. */
export const MANIFEST_NAME = 'krepro-manifest.json';
/** The manifest's `schema`. */
export const MANIFEST_SCHEMA = 'https://krepro.dev/schemas/release-manifest/v1';

/** krepro-manifest.json: what a release holds and how it was packed, all that its bytes depend on besides the stage. */
export interface ReleaseManifest {
  /** Always MANIFEST_SCHEMA. */
  schema: typeof MANIFEST_SCHEMA;
  /** The krepro version that packed it. */
  kreproVersion: string;
  /** Every member's mtime, in seconds since 1970. */
  sourceDateEpoch: number;
  /** The pinned gzip format and level. */
  encoder: EncoderIdentity;
  /** Every artifact in byte order of its name, with its size in bytes and its SRI integrity (sha256 and sha512). */
  files: { name: string; size: number; integrity: string }[];
}

/** What packageRelease wrote. */
export interface PackageResult {
  /** The release directory, as an absolute path. */
  out: string;
  /** The tarballs, in the order written, and the image indexes (`<binary>.oci.tar`) after them. */
  tarballs: ReleaseArtifact[];
  /** The SPDX documents: kubernetes-source.spdx.json (with a source) and kubernetes-release.spdx.json. */
  sboms: ReleaseArtifact[];
  /** What the release publishes with digests, in sums, manifest and statement: the tarballs, then the SBOMs. */
  artifacts: ReleaseArtifact[];
  /** What krepro-manifest.json holds. */
  manifest: ReleaseManifest;
  /** Every file written into `out`, tarballs and checksum files. */
  files: string[];
}

interface PlannedTarball {
  name: string;
  kind: ReleaseArtifact['kind'];
  platform?: string;
  entries: Entry[];
}

/** Inner tarballs nested into outer ones when the stage does not hold them already (build/lib/release.sh). */
const NESTED: { into: ReleaseArtifact['kind'][]; inner: string; member: string }[] = [
  { into: ['server', 'node'], inner: SRC_TARBALL, member: `kubernetes/${SRC_TARBALL}` },
  { into: ['final'], inner: MANIFESTS_TARBALL, member: `kubernetes/server/${MANIFESTS_TARBALL}` },
];

/** Adds `file` as `member` (and any missing parent directories), keeping byte order. */
async function withMember(entries: Entry[], member: string, file: string): Promise<Entry[]> {
  if (entries.some((e) => e.path === member)) return entries; // staged already: the stage wins
  const st = await stat(file);
  const added: Entry[] = [{ type: 'file', path: member, mode: 0o644, mtime: Math.floor(st.mtimeMs / 1000), size: st.size, source: { path: file, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino } }];
  for (let dir = path.posix.dirname(member); dir !== '.' && !entries.some((e) => e.path === dir); dir = path.posix.dirname(dir)) {
    added.push({ type: 'directory', path: dir, mtime: added[0]!.mtime });
  }
  return [...entries, ...added].sort((a, b) => byteOrder(a.path, b.path));
}

/** Plans every tarball before anything is written, so a bad stage fails without touching `out`. */
async function planAll(opts: PackageReleaseOptions): Promise<PlannedTarball[]> {
  const planOpts = { prefix: 'kubernetes', allowExternalSymlinks: opts.allowExternalSymlinks ?? false };
  const planned: PlannedTarball[] = [];
  if (opts.sourceRoot !== undefined) {
    planned.push({ name: SRC_TARBALL, kind: 'src', entries: await planFiles(opts.sourceRoot, await sourceFiles(opts.sourceRoot), planOpts) });
  }
  for (const job of await stagedTarballs(opts.stage, opts.sourceRoot !== undefined)) {
    const entries = await planDirectory(path.join(job.stagedDir, 'kubernetes'), planOpts);
    planned.push({ name: job.name, kind: job.kind, ...(job.platform ? { platform: job.platform } : {}), entries });
  }
  return planned;
}

/**
 * The tarballs a stage gives, or why there is nothing to package: the stage does not exist or is not a directory,
 * or it holds no release tree and no source tree was given. Cheap (directory listings only), so a caller can ask
 * before the work that needs SOURCE_DATE_EPOCH or a key.
 */
export async function stagedTarballs(stage: string, withSource: boolean): Promise<TarballJob[]> {
  const st = await stat(stage).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw new KreproError('E_STAGE', `nothing to package: cannot read the stage ${stage} (${err.code ?? err.message})`, { path: stage, cause: err });
  });
  if (st === undefined) throw new KreproError('E_STAGE', `nothing to package: the stage ${stage} does not exist (krepro stage makes it from the built binaries)`, { path: stage });
  if (!st.isDirectory()) throw new KreproError('E_STAGE', `nothing to package: the stage ${stage} is not a directory`, { path: stage });
  const jobs = await planReleaseTarballs(stage);
  if (jobs.length === 0 && !withSource) {
    throw new KreproError('E_STAGE', `nothing to package: ${stage} has no client/, server/, node/, test/, full/ or manifests/ tree and no source tree was given`, { path: stage });
  }
  return jobs;
}

function stagedBytes(entries: Entry[]): number {
  return entries.reduce((sum, e) => sum + (e.type === 'file' ? e.size : 0), 0);
}

/**
 * Writes the release tarballs, SHA256SUMS/SHA512SUMS, per-file .sha256/.sha512, the manifest (and, with a signing
 * key, the signed statement) into a fresh directory beside `out`, then swaps it into place: an interrupted or
 * failed run leaves `out` as it was, and a full disk is E_NO_SPACE naming what was written and needed.
 */
export async function packageRelease(opts: PackageReleaseOptions): Promise<PackageResult> {
  const level = validateLevel(opts.level ?? 6);
  const format = validateFormat(opts.encoder ?? CURRENT_GZIP_FORMAT);
  const policy = { mtime: opts.sourceDateEpoch, clamp: opts.clampMtime ?? false };
  const planned = await traced(opts.trace, 'plan the tarballs', () => planAll(opts));
  const progress = opts.onProgress ?? (() => {});
  const inputBytes = planned.reduce((s, p) => s + stagedBytes(p.entries), 0);
  progress({ type: 'plan', tarballs: planned.length, bytes: inputBytes });

  const out = path.resolve(opts.out);
  const work = `${out}.partial-${randomBytes(6).toString('hex')}`;
  const previous = await stat(out).catch(() => undefined);
  let written = 0; // bytes of the files finished in `work`
  return mapDiskFull(
    (inner) => ({
      target: out,
      ...(inner?.context.target.startsWith(`${work}${path.sep}`) ? { at: path.relative(work, inner.context.target) } : {}),
      written: written + (inner?.context.written ?? 0),
      needed: { bytes: inputBytes, what: "the release's uncompressed input is" },
      kept: previous ? `the previous ${out} was kept as it was, and nothing half-written was left` : 'nothing half-written was left',
      fix: 'free space there, or write the release to another disk (--out)',
    }),
    () => writeRelease(opts, planned, { out, work, level, format, policy, progress, onWritten: (n) => (written += n) }),
  );
}

async function writeRelease(
  opts: PackageReleaseOptions,
  planned: PlannedTarball[],
  w: { out: string; work: string; level: number; format: GzipFormat; policy: ArchivePolicy; progress: (e: PackageProgress) => void; onWritten: (bytes: number) => void },
): Promise<PackageResult> {
  const { out, work, level, format, policy, progress } = w;
  await mkdir(path.dirname(out), { recursive: true });
  // Before the work directory exists, so a missing or altered encoder module leaves nothing behind.
  const encoder = createGzipEncoder({ level, format });
  try {
    await mkdir(work);
    const tarballs: ReleaseArtifact[] = [];
    const packed: { tarball: ReleaseArtifact; entries: Entry[] }[] = [];
    for (const p of planned) {
      opts.signal?.throwIfAborted();
      progress({ type: 'tarball', name: p.name, bytes: stagedBytes(p.entries) });
      let entries = p.entries;
      for (const n of NESTED) {
        if (n.into.includes(p.kind) && tarballs.some((t) => t.name === n.inner)) entries = await withMember(entries, n.member, path.join(work, n.inner));
      }
      const file = await traced(opts.trace, `write ${p.name}`, () =>
        writeTarball(entries, policy, path.join(work, p.name), {
          gzip: { level, format },
          encoder,
          ...(opts.signal ? { signal: opts.signal } : {}),
          onBytes: (bytes) => progress({ type: 'bytes', bytes }),
        }),
      );
      progress({ type: 'done', name: p.name, size: file.size });
      w.onWritten(file.size);
      const tarball: ReleaseArtifact = { name: p.name, path: path.join(out, p.name), size: file.size, digests: file.digests, kind: p.kind, ...(p.platform ? { platform: p.platform } : {}) };
      tarballs.push(tarball);
      packed.push({ tarball, entries });
    }
    const indexes = await traced(opts.trace, 'write the image indexes', () => writeImageIndexes(opts, w));
    tarballs.push(...indexes);
    progress({ type: 'sbom', name: 'SBOMs' });
    const sboms = (
      await traced(opts.trace, 'write the SBOMs', () =>
        writeSboms({
          dir: work,
          artifacts: [
            ...packed.map((p) => sbomArtifact({ ...p.tarball, path: path.join(work, p.tarball.name) }, p.entries)),
            ...indexes.map((i) => sbomArtifact({ ...i, path: path.join(work, i.name) })),
          ],
          sourceDateEpoch: opts.sourceDateEpoch,
          ...(opts.sourceRoot !== undefined ? { sourceRoot: opts.sourceRoot } : {}),
          ...(opts.signal ? { signal: opts.signal } : {}),
        }),
      )
    ).map((a): ReleaseArtifact => ({ ...a, path: path.join(out, a.name), kind: 'sbom' }));
    for (const s of sboms) {
      w.onWritten(s.size);
      progress({ type: 'done', name: s.name, size: s.size });
    }
    const artifacts = [...tarballs, ...sboms];
    const files = [...artifacts.map((t) => t.name), ...(await traced(opts.trace, 'write the checksums', () => writeChecksums(work, artifacts, w.onWritten)))];
    const manifest = releaseManifest(artifacts, opts.sourceDateEpoch, level, format);
    await traced(opts.trace, `write ${MANIFEST_NAME}`, () => writeSmallFile(path.join(work, MANIFEST_NAME), `${JSON.stringify(manifest, null, 2)}\n`));
    files.push(MANIFEST_NAME);
    const signingKey = opts.signingKey;
    if (signingKey) {
      await traced(opts.trace, `sign ${ATTESTATION_FILE} and ${BUNDLE_FILE}`, () => writeSignedStatement(work, packageStatement(artifacts, manifest), signingKey));
      files.push(ATTESTATION_FILE, BUNDLE_FILE);
    }
    opts.signal?.throwIfAborted();
    await traced(opts.trace, `replace ${out}`, () => swapInto(work, out));
    return { out, tarballs, sboms, artifacts, manifest, files: files.sort(byteOrder) };
  } catch (err) {
    await rm(work, { recursive: true, force: true });
    throw err;
  } finally {
    await encoder.close();
  }
}

/**
 * An OCI image layout with an image index (`<binary>.oci.tar`) for each server image staged for several platforms,
 * beside the tarballs: the per-platform docker-archives stay in the server tarballs, unchanged.
 */
async function writeImageIndexes(opts: PackageReleaseOptions, w: { out: string; work: string; progress: (e: PackageProgress) => void; onWritten: (bytes: number) => void }): Promise<ReleaseArtifact[]> {
  const written: ReleaseArtifact[] = [];
  for (const set of await stagedImageSets(opts.stage)) {
    opts.signal?.throwIfAborted();
    const name = `${set.binary}${IMAGE_INDEX_SUFFIX}`;
    w.progress({ type: 'tarball', name, bytes: 0 });
    const index = await writeImageIndex({ images: set.images, dest: path.join(w.work, name), created: opts.sourceDateEpoch, ...(opts.signal ? { signal: opts.signal } : {}) });
    w.progress({ type: 'done', name, size: index.size });
    w.onWritten(index.size);
    written.push({ name, path: path.join(w.out, name), size: index.size, digests: index.digests, kind: 'image-index' });
  }
  return written;
}

async function writeChecksums(dir: string, artifacts: ReleaseArtifact[], onWritten: (bytes: number) => void): Promise<string[]> {
  const names: string[] = [];
  const write = async (name: string, content: string): Promise<void> => {
    onWritten((await writeSmallFile(path.join(dir, name), content)).size);
    names.push(name);
  };
  for (const algorithm of ALGORITHMS) {
    await write(sumsFileName(algorithm), sumsFile(artifacts, algorithm));
    // Per-file `<name>.sha256`: bare lowercase hex, no name, no newline (Kubernetes release tooling's form).
    for (const t of artifacts) await write(`${t.name}.${algorithm}`, t.digests[algorithm]);
  }
  return names;
}

export const PACKAGE_BUILD_TYPE = 'https://krepro.dev/buildtypes/package/v1';

/**
 * The Statement `package --sign-key` signs: every artifact (tarballs and SBOMs) as a subject (sha256 and sha512), and as SLSA provenance
 * what packing them depended on (SOURCE_DATE_EPOCH, encoder and level). Nothing from the clock or host.
 */
export function packageStatement(artifacts: readonly ReleaseArtifact[], manifest: ReleaseManifest): Statement {
  const subject = subjectsOf([...artifacts].sort((a, b) => byteOrder(a.name, b.name)));
  return inTotoStatement(subject, SLSA_PROVENANCE_TYPE, {
    buildDefinition: {
      buildType: PACKAGE_BUILD_TYPE,
      externalParameters: { sourceDateEpoch: manifest.sourceDateEpoch, encoder: manifest.encoder },
      internalParameters: {},
      resolvedDependencies: [],
    },
    runDetails: { builder: { id: 'https://krepro.dev/builder/krepro-package', version: { krepro: manifest.kreproVersion } }, metadata: {} },
  });
}

export function releaseManifest(artifacts: ReleaseArtifact[], sourceDateEpoch: number, level: number, format: GzipFormat = CURRENT_GZIP_FORMAT): ReleaseManifest {
  return {
    schema: MANIFEST_SCHEMA,
    kreproVersion: KREPRO_VERSION,
    sourceDateEpoch,
    encoder: encoderIdentity({ level, format }),
    files: [...artifacts]
      .sort((a, b) => byteOrder(a.name, b.name))
      .map((t) => ({ name: t.name, size: t.size, integrity: integrityOf(t.digests) })),
  };
}
