import * as path from 'node:path';
import type { Writable } from 'node:stream';
import { mkdir } from 'node:fs/promises';
import { writeSmallFile } from '../archive/pack.js';
import { outputDirOf, pathBeneath } from '../checkout/beneath.js';
import type { GzipFormat } from '../archive/gzip.js';
import { writeSignedStatement } from '../attest/file.js';
import type { SigningKey } from '../attest/keys.js';
import type { Statement } from '../attest/statement.js';
import { lockDigest } from '../environment/lock.js';
import { KreproError } from '../errors.js';
import { type Artifact, outputArtifacts } from '../integrity/artifact.js';
import { PROVENANCE_FILE, type Recipe, recipeStatement } from '../provenance/recipe.js';
import { recipeSource } from '../provenance/source.js';
import { imageBaseFrom } from '../image/server-images.js';
import type { PackageResult } from '../layout/package-release.js';
import type { Project } from '../project/project.js';
import type { BuildSession } from '../session/build-session.js';
import { releaseFromBinaries } from './from-binaries.js';

export interface ReleaseOptions {
  checkoutRoot: string;
  project: Project;
  sourceDateEpoch: number;
  /** KUBE_GIT_VERSION, written into the stage */
  version: string;
  /** run `make test` after the build (KUBE_RELEASE_RUN_TESTS; `--quick` skips it); Kubernetes-shaped projects only */
  runTests: boolean;
  level?: number;
  /** gzip format (default the current one); a rebuild passes the recorded one */
  encoder?: GzipFormat;
  imageRegistry?: string;
  /**
   * Write the recipe (krepro-provenance.json) into the release directory, and with a key its signed DSSE envelope
   * (krepro.intoto.jsonl) and sigstore bundle (krepro.sigstore.json): needs the locked build environment, which a
   * rebuild can make again.
   */
  provenance?: { signingKey?: SigningKey };
  io: { stdout: Writable; stderr: Writable };
  onStep?: (step: ReleaseStep) => void;
  signal?: AbortSignal;
}

export type ReleaseStep = 'sync' | 'build' | 'test' | 'copy-output' | 'stage' | 'images' | 'package';

export interface ReleaseResult {
  /** the release tarballs, when the project is Kubernetes-shaped */
  packaged?: PackageResult;
  /** the output paths brought back */
  outputs: string[];
  /** every artifact: the release tarballs by file name, the output files by checkout-relative path */
  artifacts: Artifact[];
  /** the release directory (`_output/release-tars`): tarballs and provenance */
  dir: string;
  /** the files of the provenance written into `dir` */
  provenance?: { statement: string; envelope?: string; bundle?: string };
}

/**
 * build/release.sh as named steps: sync, the build command (`make cross`), `make test`, copy the outputs back and,
 * for a Kubernetes-shaped project, stage, write server images and pack the release tarballs.
 */
export async function runRelease(session: BuildSession, opts: ReleaseOptions): Promise<ReleaseResult> {
  const { project } = opts;
  const step = (s: ReleaseStep): void => {
    opts.signal?.throwIfAborted();
    opts.onStep?.(s);
  };
  const run = async (cmd: string[]): Promise<void> => {
    const code = await session.run(cmd, opts.io);
    if (code !== 0) throw new KreproError('E_BUILD_FAILED', `${cmd.join(' ')} failed in the build container with exit code ${code}`, { exitCode: code });
  };
  // Before any work: the release directory and the stage may not lead out of the checkout.
  const outputDir = await outputDirOf(opts.checkoutRoot);
  const dir = await pathBeneath(outputDir, 'release-tars');
  await pathBeneath(outputDir, 'release-stage');
  step('sync');
  await session.sync();
  step('build');
  await run(project.command);
  if (opts.runTests && project.release) {
    step('test');
    await run(['make', 'test']);
  }
  if (opts.provenance && !session.lock) {
    throw new KreproError('E_USAGE', 'a release with provenance needs the locked build environment (a Dockerfile image cannot be made again from a recipe): leave out --build-image-dir, or the provenance');
  }
  step('copy-output');
  await session.copyOutput(project.outputs);
  const images = project.images;
  const packaged = !project.release ? undefined : await releaseFromBinaries({
    outputDir,
    sourceRoot: opts.checkoutRoot,
    version: opts.version,
    sourceDateEpoch: opts.sourceDateEpoch,
    ...(opts.level !== undefined ? { level: opts.level } : {}),
    ...(opts.encoder !== undefined ? { encoder: opts.encoder } : {}),
    images: images !== false,
    ...(images && images.binaries ? { imageBinaries: images.binaries } : {}),
    ...(images && images.registry ? { imageRegistry: images.registry } : opts.imageRegistry ? { imageRegistry: opts.imageRegistry } : {}),
    ...(images && images.base ? { imageBase: imageBaseFrom(images.base, opts.checkoutRoot) } : {}),
    onStep: step,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  const artifacts = [...(packaged?.artifacts ?? []), ...(await outputArtifacts(opts.checkoutRoot, project.outputs, opts.signal))];
  const result: ReleaseResult = { ...(packaged ? { packaged } : {}), outputs: project.outputs, artifacts, dir };
  if (!opts.provenance) return result;
  const recipe: Recipe = {
    source: await recipeSource(opts.checkoutRoot),
    project: { command: project.command, outputs: project.outputs, release: project.release, images: project.images, normalize: project.normalize },
    environment: { lock: session.lock!, lockDigest: lockDigest(session.lock!), imageId: session.imageId },
    env: session.env,
    container: { kind: 'release', ...session.container },
    sourceDateEpoch: opts.sourceDateEpoch,
    version: opts.version,
    ...(packaged ? { package: { level: packaged.manifest.encoder.level, encoder: packaged.manifest.encoder } } : {}),
  };
  return { ...result, provenance: await writeProvenance(dir, recipeStatement(recipe, artifacts, 'release'), opts.provenance.signingKey) };
}

/** The recipe statement into `dir`, and with a key its signed envelope and sigstore bundle; each file written whole or not at all. */
export async function writeProvenance(dir: string, statement: Statement, key?: SigningKey): Promise<{ statement: string; envelope?: string; bundle?: string }> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, PROVENANCE_FILE);
  await writeSmallFile(file, `${JSON.stringify(statement, null, 2)}\n`);
  if (!key) return { statement: file };
  return { statement: file, ...(await writeSignedStatement(dir, statement, key)) };
}
