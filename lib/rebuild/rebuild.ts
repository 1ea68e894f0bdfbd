import { existsSync } from 'node:fs';
import { mkdtemp, realpath, rm } from 'node:fs/promises';
import * as path from 'node:path';
import type { VerifyingKey } from '../attest/keys.js';
import type { Subject } from '../attest/statement.js';
import type { Backend, PreparedEnvironment } from '../backend/backend.js';
import { byteOrder } from '../byte-order.js';
import { checkRelease, type CheckResult } from '../check/check.js';
import { nameInside, openInside } from '../check/inside.js';
import { checkoutIdentity } from '../checkout/identity.js';
import { checkoutHash, LABEL_CHECKOUT, newRun } from '../checkout/names.js';
import { diff } from '../diff/compare.js';
import { allFindings } from '../diff/difference.js';
import type { EnvironmentImageOptions } from '../environment/build.js';
import { KreproError } from '../errors.js';
import type { Artifact } from '../integrity/artifact.js';
import { digestsOf, hashFile } from '../integrity/hash-stream.js';
import { imageBaseFrom } from '../image/server-images.js';
import { runPipeline, type Step, type StepEvent, type StepRecord } from '../pipeline/pipeline.js';
import type { ReleaseInputs } from '../project/inputs.js';
import { buildContainer, type ProvenanceSource, readProvenance, type Recipe, recipeInputs } from '../provenance/recipe.js';
import { releaseArtifacts } from '../release/artifacts.js';
import { releaseFromBinaries } from '../release/from-binaries.js';
import { runGit } from '../source/git.js';

/** What rebuildRelease follows, and where it builds. */
export interface RebuildOptions {
  /** the published release directory: its provenance, and the published files to explain differences with */
  releaseDir: string;
  /** a checkout of the project, at the commit the provenance records */
  checkoutRoot: string;
  /** Where the build runs. */
  backend: Backend;
  /** check the signed provenance (krepro.intoto.jsonl) with this key; without one the unsigned statement is read */
  key?: VerifyingKey;
  /** where and how the locked environment is made (work and cache directories, mirrors for an old lock) */
  environment: Omit<EnvironmentImageOptions, 'signal' | 'image' | 'onLog'>;
  /** this machine's hostname (state names) */
  hostname: string;
  /**
   * where the server images' docker-archive bases are, when the recorded ones are outside the checkout: a path with
   * {os}, {arch}, {binary} as the project file's images.base; each file must have the recorded digest
   */
  imageBase?: string;
  /** where the clean copy and the rebuilt files go; a temporary directory, removed afterwards, when absent */
  workDir?: string;
  /** Each line of the build's output. */
  onLog?: (line: string) => void;
  /** Each step's start, end, skip or failure. */
  onStep?: (event: StepEvent) => void;
  /** Aborts the rebuild; what it made on the backend is removed. */
  signal?: AbortSignal;
}

/** One artifact the provenance names, rebuilt and compared. */
export interface RebuiltArtifact {
  /** Its name in the release. */
  name: string;
  /** sha256 the provenance records */
  recorded: string;
  /** sha256 of the file in the release directory, when it has one (as krepro check read it) */
  published?: string;
  /** sha256 of the rebuilt file; null when the rebuild did not make it. */
  rebuilt: string | null;
  /** The rebuilt file against the recorded digest. */
  verdict: 'identical' | 'different' | 'missing';
  /** what krepro diff finds against the published file, when the release directory has it */
  explanation?: { causes: { cause: string; title: string; fix: string; count: number }[]; findings: { path: string; field: string; left: string | null; right: string | null }[] };
}

/** What rebuildRelease found. */
export interface RebuildResult {
  /** reproduced: every artifact rebuilt identical, and the release directory matches its own lists */
  status: 'reproduced' | 'differs';
  /** Where the recipe was read from. */
  source: ProvenanceSource;
  /**
   * krepro check of the release directory (its sums, manifest and, with a key, the signed subjects), before the
   * build; absent when there is nothing to check (the step's skip says why)
   */
  published?: CheckResult;
  /** The recipe followed. */
  recipe: Recipe;
  /** ID of the environment image it built in (`sha256:…`). */
  imageId: string;
  /** Every artifact the provenance names. */
  artifacts: RebuiltArtifact[];
  /** where the rebuilt files are (kept when workDir was given) */
  dir: string;
  /** What each step did. */
  steps: StepRecord[];
}

interface RebuildContext {
  opts: RebuildOptions;
  recipe?: Recipe;
  inputs?: ReleaseInputs;
  subjects: Subject[];
  source?: ProvenanceSource;
  published?: CheckResult;
  commit: string;
  workDir: string;
  sourceDir: string;
  worktree: boolean;
  environment?: PreparedEnvironment;
  buildDir: string;
  rebuilt: Artifact[];
  artifacts: RebuiltArtifact[];
}

const log = (c: RebuildContext, line: string): void => c.opts.onLog?.(line);
const signalOf = (o: { signal?: AbortSignal }): { signal?: AbortSignal } => (o.signal ? { signal: o.signal } : {});

/** krepro rebuild, in order: everything that can be checked is checked before the build. */
export const REBUILD_STEPS: readonly Step<RebuildContext>[] = [
  // the recipe, and its signature with a key
  {
    name: 'provenance',
    run: async (c) => {
      const { recipe, subjects, source } = await readProvenance(c.opts.releaseDir, c.opts.key);
      Object.assign(c, { recipe, subjects, source, inputs: recipeInputs(recipe) });
      log(c, `provenance ${source.file}: ${source.kind === 'signed' ? `signature valid (key ${source.keyid})` : 'unsigned, not checked (pass a key to check the signed one)'}`);
    },
  },
  // krepro check of the release directory: before the long build, a published file that is not what its own lists
  // say is worth knowing now
  {
    name: 'published',
    // Such a project's release directory holds its provenance alone (unsigned: no list to check)
    skip: (c) => (c.inputs!.project.release || c.opts.key ? undefined : 'the project is not Kubernetes-shaped: its release directory has no sums or manifest (with --key, the signed subjects are checked)'),
    run: async (c) => {
      const published = await checkRelease({ dir: c.opts.releaseDir, ...(c.opts.key ? { key: c.opts.key } : {}), ...signalOf(c.opts) });
      const failing = published.files.filter((f) => f.verdict !== 'match').length + published.envelopes.length;
      log(c, `published directory: ${failing === 0 ? `${published.files.length} files match its lists` : `${failing} of its files or envelopes do not match its lists (rebuilding anyway, to explain them)`}`);
      c.published = published;
    },
  },
  // the checkout is at the recorded commit and tree; mirrors and image bases are what the recipe names
  {
    name: 'check',
    run: async (c) => {
      const recipe = c.recipe!;
      const head = (await runGit(c.opts.checkoutRoot, ['rev-parse', '--verify', 'HEAD^{commit}'], `find the commit of ${c.opts.checkoutRoot}`)).trim();
      if (head !== recipe.source.commit) {
        throw new KreproError('E_REBUILD', `${c.opts.checkoutRoot} is at ${head}, but the release was built from ${recipe.source.commit} (${recipe.source.uri}): git checkout ${recipe.source.commit} (fetching it first if needed), then rebuild`, { path: c.opts.checkoutRoot });
      }
      const tree = (await runGit(c.opts.checkoutRoot, ['rev-parse', `${head}^{tree}`], 'read the tree of the commit')).trim();
      if (tree !== recipe.source.tree) throw new KreproError('E_REBUILD', `commit ${head} has tree ${tree} here, but the provenance records tree ${recipe.source.tree}`, { path: c.opts.checkoutRoot });
      c.commit = head;
      for (const name of Object.keys(c.opts.environment.mirrors ?? {})) {
        if (!(name in recipe.environment.lock.mirrors)) throw new KreproError('E_USAGE', `--mirror ${name}=…: the recorded lock has no mirror named ${name} (it has ${Object.keys(recipe.environment.lock.mirrors).join(', ')})`);
      }
      await checkImageBases(c);
    },
  },
  // the environment from the recorded lock: it must get the recorded image ID
  {
    name: 'environment',
    run: async (c) => {
      const recipe = c.recipe!;
      c.environment = await c.opts.backend.prepare(
        { kind: 'locked', lock: recipe.environment.lock, options: c.opts.environment },
        { checkoutRoot: c.opts.checkoutRoot, hostname: c.opts.hostname, ...(c.opts.onLog ? { onLog: c.opts.onLog } : {}), ...signalOf(c.opts) },
      );
      if (c.environment.id !== recipe.environment.imageId) {
        throw new KreproError('E_REBUILD', `the recorded lock made the build environment ${c.environment.id} on ${c.opts.backend.name}, but the release was built in ${recipe.environment.imageId}: the environment cannot be made again here (another mmdebstrap version? see krepro env build)`);
      }
    },
  },
  // a clean copy of the commit
  {
    name: 'sources',
    run: async (c) => {
      await runGit(c.opts.checkoutRoot, ['worktree', 'add', '--detach', '--force', c.sourceDir, c.commit], 'make a clean copy of the commit');
      c.worktree = true;
    },
  },
  // the recorded command, variables and container
  {
    name: 'build',
    run: async (c) => {
      const { recipe, inputs } = c as Required<Pick<RebuildContext, 'recipe' | 'inputs'>>;
      const hash = checkoutHash(await checkoutIdentity(c.sourceDir, c.opts.hostname));
      const container = buildContainer(recipe.container);
      const result = await c.opts.backend.build(
        {
          id: 'rebuild',
          environment: c.environment!,
          sources: { dir: c.sourceDir, commit: c.commit },
          command: inputs.project.command,
          variables: inputs.variables,
          container,
          // as the recorded build ran: a release build may fetch, verify's control build may not
          network: container.kind === 'plain' ? 'default' : 'none',
          outputs: inputs.project.outputs,
          dir: c.buildDir,
          run: newRun(hash, { [LABEL_CHECKOUT]: hash }),
        },
        signalOf(c.opts),
      );
      if (result.exitCode !== 0) throw new KreproError('E_BUILD_FAILED', `the rebuild failed with exit code ${result.exitCode}; its log is ${result.log}`, { exitCode: result.exitCode, path: result.log });
      c.rebuilt = result.outputs;
    },
  },
  // stage, images and tarballs with the recorded packaging
  {
    name: 'package',
    skip: (c) => (c.inputs!.project.release ? undefined : 'the project is not Kubernetes-shaped ("release": false)'),
    run: async (c) => {
      const inputs = c.inputs!;
      const packed = await releaseFromBinaries({
        outputDir: path.join(c.buildDir, '_output'),
        sourceRoot: c.sourceDir,
        version: inputs.version,
        sourceDateEpoch: inputs.sourceDateEpoch,
        packaging: inputs.packaging,
        ...(c.opts.imageBase ? { imageBase: c.opts.imageBase } : {}),
        ...(c.opts.onStep ? { onStep: c.opts.onStep } : {}),
        ...signalOf(c.opts),
      });
      c.rebuilt = releaseArtifacts(packed.packaged, c.rebuilt);
    },
  },
  // every subject against its recorded digest and the published file
  {
    name: 'compare',
    run: async (c) => {
      const byName = new Map(c.rebuilt.map((a) => [a.name, a]));
      for (const subject of [...c.subjects].sort((a, b) => byteOrder(a.name, b.name))) c.artifacts.push(await compare(subject, byName.get(subject.name), c.published, c.opts));
    },
  },
];

/**
 * Follows the recipe a release recorded: checks it (and its signature, with a key), checks the checkout is at the
 * recorded commit, makes the environment from the recorded lock (it must get the recorded image ID), builds a clean
 * copy of the commit with the recorded command, variables and container, packs as recorded, and compares every
 * artifact with the published digests, explaining each difference with krepro diff against the published file
 * where the release directory has it. A recipe that cannot be followed is an error (E_REBUILD and friends).
 */
export async function rebuildRelease(opts: RebuildOptions): Promise<RebuildResult> {
  const workDir = opts.workDir ?? (await mkdtemp(path.join(opts.environment.workDir, 'krepro-rebuild-')));
  const c: RebuildContext = { opts, subjects: [], commit: '', workDir, sourceDir: path.join(workDir, 'source'), worktree: false, buildDir: path.join(workDir, 'build'), rebuilt: [], artifacts: [] };
  try {
    const steps = await runPipeline(REBUILD_STEPS, c, { ...signalOf(opts), ...(opts.onStep ? { onStep: opts.onStep } : {}) });
    const status = (c.published?.ok ?? true) && c.artifacts.every((a) => a.verdict === 'identical') ? 'reproduced' : 'differs';
    return { status, source: c.source!, ...(c.published ? { published: c.published } : {}), recipe: c.recipe!, imageId: c.environment!.id, artifacts: c.artifacts, dir: workDir, steps };
  } finally {
    if (c.worktree) await runGit(opts.checkoutRoot, ['worktree', 'remove', '--force', c.sourceDir], 'remove the clean copy').catch(() => {});
    if (opts.workDir === undefined) await rm(workDir, { recursive: true, force: true }).catch(() => {});
  }
}

/**
 * Each base tarball the recipe records must be there with its digest before anything is built: a relative one in
 * the checkout (at the recorded commit), an absolute one where it was, or where --image-base says.
 */
async function checkImageBases(c: RebuildContext): Promise<void> {
  const bases = c.recipe!.package?.bases ?? [];
  const images = c.inputs!.packaging.images;
  if (bases.length === 0 || images === false) return;
  const resolve = imageBaseFrom(c.opts.imageBase ?? images.base, c.opts.checkoutRoot);
  for (const b of bases) {
    const found = typeof resolve === 'function' ? resolve(b) : resolve;
    const file = found === 'scratch' ? undefined : found.tarball;
    const where = `the ${b.binary} image's base for ${b.os}/${b.arch}`;
    if (file === undefined || !existsSync(file)) {
      throw new KreproError('E_REBUILD', `${where} is not here: the release used ${b.path} (sha256 ${b.sha256}); give its copy with --image-base PATH ({os}, {arch} and {binary} are filled in)`, file ? { path: file } : {});
    }
    const sha256 = (await hashFile(file, c.opts.signal)).digests.sha256;
    if (sha256 !== b.sha256) throw new KreproError('E_REBUILD', `${where}, ${file}, has sha256 ${sha256}, but the release used one with ${b.sha256} (${b.path})`, { path: file });
  }
}

/**
 * One artifact: the rebuilt bytes against the digest the provenance records and, when the release directory has the
 * file, against that file too (a published file that is not what the recipe builds is a difference, even where the
 * provenance was left alone). A difference with a published file is explained by krepro diff.
 */
async function compare(subject: Subject, rebuilt: Artifact | undefined, check: CheckResult | undefined, opts: RebuildOptions): Promise<RebuiltArtifact> {
  const recorded = subject.digest['sha256'] ?? '';
  // The file as check read it, else read as check reads: a regular file inside the directory, never through a link.
  const root = check?.dir ?? (await realpath(opts.releaseDir));
  const published = check?.files.find((f) => f.name === subject.name)?.sha256 ?? (await publishedDigest(root, subject.name, opts.signal));
  const file = path.join(root, subject.name);
  const base = { name: subject.name, recorded, ...(published ? { published } : {}) };
  if (!rebuilt) return { ...base, rebuilt: null, verdict: 'missing' };
  const sha256 = rebuilt.digests.sha256;
  if (sha256 === recorded && (published === undefined || published === sha256)) return { ...base, rebuilt: sha256, verdict: 'identical' };
  if (published === undefined || published === sha256) return { ...base, rebuilt: sha256, verdict: 'different' };
  const report = await diff(file, rebuilt.path, { labels: [`published ${subject.name}`, `rebuilt ${subject.name}`], ...signalOf(opts) });
  return {
    ...base,
    rebuilt: sha256,
    verdict: 'different',
    explanation: {
      causes: report.summary.causes.map((c) => ({ cause: c.cause, title: report.causes[c.cause]?.title ?? c.cause, fix: report.causes[c.cause]?.fix ?? '', count: c.count })),
      findings: allFindings(report.tree)
        .slice(0, 20)
        .map((f) => ({ path: f.path.join(' → '), field: f.field, left: f.left, right: f.right })),
    },
  };
}

/** SHA-256 of the published file `name` when it is a regular file inside `root` (no link followed), else undefined. */
async function publishedDigest(root: string, name: string, signal: AbortSignal | undefined): Promise<string | undefined> {
  const inside = nameInside(name);
  if ('outside' in inside) return undefined;
  const opened = await openInside(root, inside.name);
  if (opened.kind !== 'file') return undefined;
  return (await digestsOf(opened.handle.createReadStream(), ['sha256'], signal ? { signal } : {})).hex['sha256'];
}
