import { mkdtemp, rm } from 'node:fs/promises';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import type { VerifyingKey } from '../attest/keys.js';
import type { Subject } from '../attest/statement.js';
import { byteOrder } from '../byte-order.js';
import { checkRelease, type CheckResult } from '../check/check.js';
import { checkoutIdentity } from '../checkout/identity.js';
import { checkoutHash, runNames } from '../checkout/names.js';
import { removeCheckoutState } from '../checkout/state.js';
import { diff } from '../diff/compare.js';
import { allFindings } from '../diff/difference.js';
import type { Engine } from '../engine/engine.js';
import type { EnvironmentImageOptions } from '../environment/build.js';
import { makeEnvironmentImage } from '../environment/build.js';
import { KreproError } from '../errors.js';
import type { Artifact } from '../integrity/artifact.js';
import { hexDigest } from '../integrity/hash-stream.js';
import type { Project } from '../project/project.js';
import { type ProvenanceSource, readProvenance, type Recipe } from '../provenance/recipe.js';
import { runRelease } from '../release/run-release.js';
import { openBuildSession } from '../session/build-session.js';
import { runGit } from '../source/git.js';
import { runVerifyBuild } from '../verify/build-run.js';

export interface RebuildOptions {
  /** the published release directory: its provenance, and the published files to explain differences with */
  releaseDir: string;
  /** a checkout of the project, at the commit the provenance records */
  checkoutRoot: string;
  engine: Engine;
  /** check the signed provenance (krepro.intoto.jsonl) with this key; without one the unsigned statement is read */
  key?: VerifyingKey;
  /** where and how the locked environment is made (work and cache directories, mirrors for an old lock) */
  environment: Omit<EnvironmentImageOptions, 'signal' | 'image' | 'onLog'>;
  /** this machine's hostname (state names) */
  hostname: string;
  /** the seccomp profile verify's control conditions need (setarch -R), for provenance verify wrote */
  seccomp?: string;
  /** where the clean copy and the rebuilt files go; a temporary directory, removed afterwards, when absent */
  workDir?: string;
  onLog?: (line: string) => void;
  signal?: AbortSignal;
}

export interface RebuiltArtifact {
  name: string;
  /** sha256 the provenance records */
  recorded: string;
  /** sha256 of the file in the release directory, when it has one (as krepro check read it) */
  published?: string;
  rebuilt: string | null;
  verdict: 'identical' | 'different' | 'missing';
  /** what krepro diff finds against the published file, when the release directory has it */
  explanation?: { causes: { cause: string; title: string; fix: string; count: number }[]; findings: { path: string; field: string; left: string | null; right: string | null }[] };
}

export interface RebuildResult {
  /** reproduced: every artifact rebuilt identical, and the release directory matches its own lists */
  status: 'reproduced' | 'differs';
  source: ProvenanceSource;
  /** krepro check of the release directory (its sums, manifest and, with a key, the signed subjects), before the build */
  published: CheckResult;
  recipe: Recipe;
  imageId: string;
  artifacts: RebuiltArtifact[];
  /** where the rebuilt files are (kept when workDir was given) */
  dir: string;
}

/**
 * Follows the recipe a release recorded: checks it (and its signature, with a key), checks the checkout is at the
 * recorded commit, makes the build environment from the recorded lock (it must get the recorded image ID), builds a
 * clean copy of the commit with the recorded command, environment and container, packs as recorded, and compares
 * every artifact with the published digests, explaining each difference with krepro diff against the published
 * file where the release directory has it. A recipe that cannot be followed is an error (E_REBUILD and friends).
 */
export async function rebuildRelease(opts: RebuildOptions): Promise<RebuildResult> {
  const log = opts.onLog ?? (() => {});
  const signal = opts.signal ? { signal: opts.signal } : {};
  const { recipe, subjects, source } = await readProvenance(opts.releaseDir, opts.key);
  log(`provenance ${source.file}: ${source.kind === 'signed' ? `signature valid (key ${source.keyid})` : 'unsigned, not checked (pass a key to check the signed one)'}`);
  // Before the long build: a published file that is not what its own lists say is worth knowing now.
  const published = await checkRelease({ dir: opts.releaseDir, ...(opts.key ? { key: opts.key } : {}), ...signal });
  const failing = published.files.filter((f) => f.verdict !== 'match').length + published.envelopes.length;
  log(`published directory: ${failing === 0 ? `${published.files.length} files match its lists` : `${failing} of its files or envelopes do not match its lists (rebuilding anyway, to explain them)`}`);
  const head = (await runGit(opts.checkoutRoot, ['rev-parse', '--verify', 'HEAD^{commit}'], `find the commit of ${opts.checkoutRoot}`)).trim();
  if (head !== recipe.source.commit) {
    throw new KreproError('E_REBUILD', `${opts.checkoutRoot} is at ${head}, but the release was built from ${recipe.source.commit} (${recipe.source.uri}): git checkout ${recipe.source.commit} (fetching it first if needed), then rebuild`, { path: opts.checkoutRoot });
  }
  const tree = (await runGit(opts.checkoutRoot, ['rev-parse', `${head}^{tree}`], 'read the tree of the commit')).trim();
  if (tree !== recipe.source.tree) throw new KreproError('E_REBUILD', `commit ${head} has tree ${tree} here, but the provenance records tree ${recipe.source.tree}`, { path: opts.checkoutRoot });

  for (const name of Object.keys(opts.environment.mirrors ?? {})) {
    if (!(name in recipe.environment.lock.mirrors)) throw new KreproError('E_USAGE', `--mirror ${name}=…: the recorded lock has no mirror named ${name} (it has ${Object.keys(recipe.environment.lock.mirrors).join(', ')})`);
  }
  const env = await makeEnvironmentImage(opts.engine, recipe.environment.lock, { ...opts.environment, onLog: log, ...signal });
  if (env.id !== recipe.environment.imageId) {
    throw new KreproError('E_REBUILD', `the recorded lock made the build environment ${env.id} on ${opts.engine.endpoint}, but the release was built in ${recipe.environment.imageId}: the environment cannot be made again here (another mmdebstrap version? see krepro env build)`);
  }
  const workDir = opts.workDir ?? (await mkdtemp(path.join(opts.environment.workDir, 'krepro-rebuild-')));
  const sourceDir = path.join(workDir, 'source');
  await runGit(opts.checkoutRoot, ['worktree', 'add', '--detach', '--force', sourceDir, head], 'make a clean copy of the commit');
  try {
    const rebuilt = await build(opts, recipe, env.image, sourceDir, workDir, log);
    const byName = new Map(rebuilt.map((a) => [a.name, a]));
    const artifacts: RebuiltArtifact[] = [];
    for (const subject of [...subjects].sort((a, b) => byteOrder(a.name, b.name))) {
      artifacts.push(await compare(subject, byName.get(subject.name), published, opts));
    }
    const status = published.ok && artifacts.every((a) => a.verdict === 'identical') ? 'reproduced' : 'differs';
    return { status, source, published, recipe, imageId: env.id, artifacts, dir: workDir };
  } finally {
    await runGit(opts.checkoutRoot, ['worktree', 'remove', '--force', sourceDir], 'remove the clean copy').catch(() => {});
    if (opts.workDir === undefined) await rm(workDir, { recursive: true, force: true }).catch(() => {});
  }
}

/** The build as the recipe's container says: a release session (fresh state, removed after) or verify's control build. */
async function build(opts: RebuildOptions, recipe: Recipe, image: string, sourceDir: string, workDir: string, log: (line: string) => void): Promise<Artifact[]> {
  const signal = opts.signal ? { signal: opts.signal } : {};
  const project: Project = { ...recipe.project, env: {} };
  const container = recipe.container;
  if (container.kind === 'verify-control') {
    const hash = checkoutHash(await checkoutIdentity(sourceDir, opts.hostname));
    const run = runNames(hash, { 'io.krepro.checkout': hash });
    const b = await runVerifyBuild('rebuild', 'rebuild', container.conditions, [], {
      engine: opts.engine,
      image,
      sourceDir,
      project,
      env: recipe.env,
      sourceDateEpoch: recipe.sourceDateEpoch,
      version: recipe.version,
      ...(opts.seccomp ? { seccomp: opts.seccomp } : {}),
      run,
      workDir,
      ...signal,
    });
    if (b.exitCode !== 0) throw new KreproError('E_BUILD_FAILED', `the rebuild failed with exit code ${b.exitCode}; its log is ${b.log}`, { exitCode: b.exitCode, path: b.log });
    return b.artifacts.map((a) => ({ ...a, name: a.name.replace(/^release-tars\//, '') }));
  }
  const session = await openBuildSession({
    engine: opts.engine,
    checkoutRoot: sourceDir,
    hostname: opts.hostname,
    image: { kind: 'locked', lock: recipe.environment.lock, options: opts.environment },
    user: container.user,
    env: recipe.env,
    command: 'rebuild',
    onLog: log,
    ...signal,
  });
  const out = new PassThrough();
  out.on('data', (c: Buffer) => c.toString('utf8').split('\n').filter(Boolean).forEach((l) => log(`  | ${l}`)));
  try {
    const result = await runRelease(session, {
      checkoutRoot: sourceDir,
      project,
      sourceDateEpoch: recipe.sourceDateEpoch,
      version: recipe.version,
      runTests: false,
      ...(recipe.package ? { level: recipe.package.level, encoder: recipe.package.encoder.version } : {}),
      io: { stdout: out, stderr: out },
      onStep: (step) => log(`==> ${step}`),
      ...signal,
    });
    return result.artifacts;
  } finally {
    await session.close();
    // The clean copy's state is this rebuild's alone.
    await removeCheckoutState(opts.engine, session.names.checkoutHash).catch(() => {});
  }
}

/**
 * One artifact: the rebuilt bytes against the digest the provenance records and, when the release directory has the
 * file, against that file too (a published file that is not what the recipe builds is a difference, even where the
 * provenance was left alone). A difference with a published file is explained by krepro diff.
 */
async function compare(subject: Subject, rebuilt: Artifact | undefined, check: CheckResult, opts: RebuildOptions): Promise<RebuiltArtifact> {
  const recorded = subject.digest['sha256'] ?? '';
  // The file as check read it: a regular file inside the directory, never through a link.
  const checked = check.files.find((f) => f.name === subject.name);
  const published = checked?.sha256;
  const file = path.join(check.dir, subject.name);
  const base = { name: subject.name, recorded, ...(published ? { published } : {}) };
  if (!rebuilt) return { ...base, rebuilt: null, verdict: 'missing' };
  const sha256 = hexDigest(rebuilt.integrity, 'sha256');
  if (sha256 === recorded && (published === undefined || published === sha256)) return { ...base, rebuilt: sha256, verdict: 'identical' };
  if (published === undefined || published === sha256) return { ...base, rebuilt: sha256, verdict: 'different' };
  const report = await diff(file, rebuilt.path, { labels: [`published ${subject.name}`, `rebuilt ${subject.name}`], ...(opts.signal ? { signal: opts.signal } : {}) });
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
