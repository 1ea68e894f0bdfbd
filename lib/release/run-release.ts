import * as path from 'node:path';
import type { Writable } from 'node:stream';
import { mkdir } from 'node:fs/promises';
import { writeSmallFile } from '../archive/pack.js';
import { outputDirOf, pathBeneath } from '../checkout/beneath.js';
import { writeSignedStatement } from '../attest/file.js';
import type { SigningKey } from '../attest/keys.js';
import type { Statement } from '../attest/statement.js';
import type { Session } from '../backend/session.js';
import { KreproError } from '../errors.js';
import { type Artifact, outputArtifacts } from '../integrity/artifact.js';
import type { PackageResult } from '../layout/package-release.js';
import { runPipeline, type Step, type StepEvent, type StepRecord } from '../pipeline/pipeline.js';
import type { ReleaseInputs } from '../project/inputs.js';
import { makeRecipe, PROVENANCE_FILE, recipeStatement } from '../provenance/recipe.js';
import { recipeSource } from '../provenance/source.js';
import { releaseArtifacts } from './artifacts.js';
import { PACK_STEPS, type PackContext, packContext } from './from-binaries.js';

/** What runRelease builds and packs, and where its output goes. */
export interface ReleaseOptions {
  /** The checkout (git work tree) of the project. */
  checkoutRoot: string;
  /** what to build and how to pack it (releaseInputs): also what the recipe records */
  inputs: ReleaseInputs;
  /** run `make test` after the build (KUBE_RELEASE_RUN_TESTS; `--quick` skips it); Kubernetes-shaped projects only */
  runTests: boolean;
  /**
   * Write the recipe (krepro-provenance.json) into the release directory, and with a key its signed DSSE envelope
   * (krepro.intoto.jsonl) and sigstore bundle (krepro.sigstore.json): needs the locked build environment, which a
   * rebuild can make again.
   */
  provenance?: { signingKey?: SigningKey };
  /** Where the build's output goes. */
  io: { stdout: Writable; stderr: Writable };
  /** Each step's start, end, skip or failure. */
  onStep?: (event: StepEvent) => void;
  /** Aborts the release; the previous release directory is kept. */
  signal?: AbortSignal;
}

/** What runRelease made. */
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
  /** what each step did, in order */
  steps: StepRecord[];
}

interface ReleaseContext {
  session: Session;
  opts: ReleaseOptions;
  dir: string;
  pack: PackContext;
  artifacts: Artifact[];
  provenance?: { statement: string; envelope?: string; bundle?: string };
}

const NOT_KUBERNETES = 'the project is not Kubernetes-shaped ("release": false)';

/** A packing step inside the release: skipped as a whole for a project that makes no release tarballs. */
function packing(s: Step<PackContext>): Step<ReleaseContext> {
  return {
    name: s.name,
    skip: (c) => (c.opts.inputs.project.release ? s.skip?.(c.pack) : NOT_KUBERNETES),
    run: (c) => s.run(c.pack),
  };
}

async function inContainer(c: ReleaseContext, command: readonly string[]): Promise<void> {
  const code = await c.session.run(command, c.opts.io);
  if (code !== 0) throw new KreproError('E_BUILD_FAILED', `${command.join(' ')} failed in the build container with exit code ${code}`, { exitCode: code });
}

/** build/release.sh, in order. */
export const RELEASE_STEPS: readonly Step<ReleaseContext>[] = [
  // the sources into the session's volume: only what changed
  { name: 'sync', run: async (c) => void (await c.session.sync()) },
  // the project's build command (`make cross`)
  { name: 'build', run: (c) => inContainer(c, c.opts.inputs.project.command) },
  // `make test`, as KUBE_RELEASE_RUN_TESTS asks
  {
    name: 'test',
    skip: (c) => (!c.opts.runTests ? 'tests not asked for (--quick or KUBE_RELEASE_RUN_TESTS=n)' : !c.opts.inputs.project.release ? NOT_KUBERNETES : undefined),
    run: (c) => inContainer(c, ['make', 'test']),
  },
  // the project's outputs back into the checkout
  { name: 'copy-output', run: async (c) => void (await c.session.copyOutput(c.opts.inputs.project.outputs)) },
  // stage, server images, tarballs
  ...PACK_STEPS.map(packing),
  // every artifact named and hashed
  {
    name: 'artifacts',
    run: async (c) => {
      c.artifacts = releaseArtifacts(c.pack.packaged, await outputArtifacts(c.opts.checkoutRoot, c.opts.inputs.project.outputs, c.opts.signal));
    },
  },
  // the recipe, and its signed envelope
  {
    name: 'provenance',
    skip: (c) => (c.opts.provenance ? undefined : 'no provenance asked for'),
    run: async (c) => {
      const { session } = c;
      const recipe = makeRecipe({
        source: await recipeSource(c.opts.checkoutRoot),
        inputs: c.opts.inputs,
        environment: { ...session.environment, lock: session.environment.lock! },
        container: { kind: 'plain', ...session.container },
        ...(c.pack.packaged ? { packed: { bases: c.pack.bases } } : {}),
      });
      c.provenance = await writeProvenance(c.dir, recipeStatement(recipe, c.artifacts, 'release'), c.opts.provenance?.signingKey);
    },
  },
];

/**
 * build/release.sh as named steps over a session: sync, the build command (`make cross`), `make test`, copy the
 * outputs back and, for a Kubernetes-shaped project, stage, write server images and pack the release tarballs; then
 * the recipe.
 */
export async function runRelease(session: Session, opts: ReleaseOptions): Promise<ReleaseResult> {
  if (opts.provenance && !session.environment.lock) {
    throw new KreproError('E_USAGE', 'a release with provenance needs the locked build environment (a Dockerfile image cannot be made again from a recipe): leave out --build-image-dir, or the provenance');
  }
  const { inputs } = opts;
  // Before any work: the release directory and the stage may not lead out of the checkout.
  const outputDir = await outputDirOf(opts.checkoutRoot);
  const dir = await pathBeneath(outputDir, 'release-tars');
  await pathBeneath(outputDir, 'release-stage');
  const context: ReleaseContext = {
    session,
    opts,
    dir,
    pack: packContext({ outputDir, sourceRoot: opts.checkoutRoot, version: inputs.version, sourceDateEpoch: inputs.sourceDateEpoch, packaging: inputs.packaging, ...(opts.signal ? { signal: opts.signal } : {}) }),
    artifacts: [],
  };
  const steps = await runPipeline(RELEASE_STEPS, context, { ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.onStep ? { onStep: opts.onStep } : {}) });
  const { packaged } = context.pack;
  return { ...(packaged ? { packaged } : {}), outputs: inputs.project.outputs, artifacts: context.artifacts, dir: context.dir, ...(context.provenance ? { provenance: context.provenance } : {}), steps };
}

/** The recipe statement into `dir`, and with a key its signed envelope and sigstore bundle; each file written whole or not at all. */
export async function writeProvenance(dir: string, statement: Statement, key?: SigningKey): Promise<{ statement: string; envelope?: string; bundle?: string }> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, PROVENANCE_FILE);
  await writeSmallFile(file, `${JSON.stringify(statement, null, 2)}\n`);
  if (!key) return { statement: file };
  return { statement: file, ...(await writeSignedStatement(dir, statement, key)) };
}
