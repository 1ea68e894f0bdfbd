import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { ATTESTATION_FILE, verifyAttestationFile } from '../attest/file.js';
import type { VerifyingKey } from '../attest/keys.js';
import { inTotoStatement, SLSA_PROVENANCE_TYPE, type Statement, type Subject, subjectsOf } from '../attest/statement.js';
import { encoderIdentity, type EncoderIdentity, GZIP_FORMATS } from '../archive/gzip.js';
import { MAX_MTIME } from '../archive/header.js';
import type { BuildContainer, PreparedEnvironment } from '../backend/backend.js';
import type { BuildConditions } from '../backend/conditions.js';
import { checkLock, type EnvironmentLock, lockDigest } from '../environment/lock.js';
import { KreproError } from '../errors.js';
import type { Digests } from '../integrity/hash-stream.js';
import { packagingFor, type ReleaseInputs } from '../project/inputs.js';
import { type ImageSettings, parseProject, type Project } from '../project/project.js';
import type { ImageBaseFile } from '../release/from-binaries.js';
import { parseSourceDateEpoch } from '../source/source-date-epoch.js';
import { KREPRO_VERSION } from '../version.js';
import { parseJson, quote } from '../quote.js';

/** The build type of krepro's provenance: a recipe `krepro rebuild` follows. */
export const RECIPE_BUILD_TYPE = 'https://krepro.dev/buildtypes/release/v1';
/** The unsigned statement, written beside the release in every case; signed copies go into krepro.intoto.jsonl. */
export const PROVENANCE_FILE = 'krepro-provenance.json';

/**
 * How the build container ran: a release build (`krepro release`: the persistent checkout volume, the user, a
 * fixed hostname) or verify's control build (fixed conditions, applied by verify's wrapper).
 */
export type RecipeContainer =
  | { kind: 'release'; user: { uid: number; gid: number }; hostname: string; workingDir: string }
  | { kind: 'verify-control'; conditions: BuildConditions };

/** Everything a rebuild needs, as SLSA's externalParameters: nothing is taken from the rebuilder's machine. */
export interface Recipe {
  /** The source: repository URI, commit, and git tree hash. */
  source: { uri: string; commit: string; tree: string };
  /** The project file as it was followed. */
  project: { command: string[]; outputs: string[]; release: boolean; images: ImageSettings | false; normalize: boolean };
  /** the locked build environment, whole (a rebuild needs nothing else to make the same image), and its image ID */
  environment: { lock: EnvironmentLock; lockDigest: string; imageId: string };
  /** the build variables (buildVariables: project env, host KUBE_*, GO*, SOURCE_DATE_EPOCH, KUBE_GIT_VERSION); JSON key `env` */
  env: Record<string, string>;
  /** How the build container ran. */
  container: RecipeContainer;
  /** SOURCE_DATE_EPOCH, in seconds since 1970. */
  sourceDateEpoch: number;
  /** KUBE_GIT_VERSION. */
  version: string;
  /**
   * how the release tarballs were packed, when the project is Kubernetes-shaped (the registry comes from the
   * project's images or KUBE_DOCKER_REGISTRY in `env`); `bases`: the server images' docker-archive bases by digest
   */
  package?: { level: number; encoder: EncoderIdentity; bases?: ImageBaseFile[] };
}

/** How a recipe's container is a build's: the plain release container, or verify's controlled conditions. */
export function recipeContainer(container: BuildContainer): RecipeContainer {
  return container.kind === 'plain' ? { kind: 'release', user: container.user, hostname: container.hostname, workingDir: container.workingDir } : { kind: 'verify-control', conditions: container.conditions };
}

export function buildContainer(container: RecipeContainer): BuildContainer {
  return container.kind === 'release' ? { kind: 'plain', user: container.user, hostname: container.hostname, workingDir: container.workingDir } : { kind: 'controlled', conditions: container.conditions };
}

export interface RecipeParts {
  source: Recipe['source'];
  inputs: ReleaseInputs;
  /** the locked environment the build ran in */
  environment: PreparedEnvironment & { lock: EnvironmentLock };
  container: BuildContainer;
  /** the packing, when the release tarballs were made */
  packed?: { bases: ImageBaseFile[] };
}

/** The one way a recipe is made, by release and by verify alike. */
export function makeRecipe(parts: RecipeParts): Recipe {
  const { inputs, packed } = parts;
  const { project, packaging } = inputs;
  return {
    source: parts.source,
    project: { command: project.command, outputs: project.outputs, release: project.release, images: project.images, normalize: project.normalize },
    environment: { lock: parts.environment.lock, lockDigest: lockDigest(parts.environment.lock), imageId: parts.environment.id },
    env: { ...inputs.variables },
    container: recipeContainer(parts.container),
    sourceDateEpoch: inputs.sourceDateEpoch,
    version: inputs.version,
    ...(packed
      ? { package: { level: packaging.level, encoder: encoderIdentity({ level: packaging.level, format: packaging.encoder }), ...(packed.bases.length > 0 ? { bases: packed.bases } : {}) } }
      : {}),
  };
}

/** What a recipe says to build, as the inputs release made it from: rebuild follows these. */
export function recipeInputs(recipe: Recipe): ReleaseInputs {
  const project: Project = { ...recipe.project, env: {} };
  const pkg = recipe.package;
  return {
    project,
    sourceDateEpoch: recipe.sourceDateEpoch,
    version: recipe.version,
    variables: recipe.env,
    packaging: packagingFor(project, recipe.env, pkg ? { level: pkg.level, encoder: pkg.encoder.version } : {}),
  };
}

/** The SLSA provenance v1 predicate of a recipe statement. */
export interface RecipePredicate {
  /** What was built, from what: the recipe as externalParameters, the source and image as dependencies. */
  buildDefinition: {
    buildType: typeof RECIPE_BUILD_TYPE;
    externalParameters: Recipe;
    internalParameters: Record<string, never>;
    resolvedDependencies: { uri?: string; name?: string; digest: Record<string, string> }[];
  };
  /** Which builder (krepro release or verify, and its version) and which run. */
  runDetails: { builder: { id: string; version: Record<string, string> }; metadata: { invocationId: string } };
}

/**
 * The in-toto Statement v1 with a SLSA provenance v1 predicate for one build: every artifact (release tarballs by
 * file name, output files by checkout-relative path) as a subject, and the recipe. No times but SOURCE_DATE_EPOCH,
 * no host names: the same build gives the same statement.
 */
export function recipeStatement(recipe: Recipe, artifacts: readonly { name: string; digests: Digests }[], builder: 'release' | 'verify'): Statement<RecipePredicate> {
  const dependencies: RecipePredicate['buildDefinition']['resolvedDependencies'] = [
    { uri: recipe.source.uri, digest: { gitCommit: recipe.source.commit, gitTree: recipe.source.tree } },
    { name: 'environment-lock', digest: { sha256: recipe.environment.lockDigest.replace(/^sha256:/, '') } },
    { name: 'build-environment', digest: { sha256: recipe.environment.imageId.replace(/^sha256:/, '') } },
  ];
  return inTotoStatement<RecipePredicate>(subjectsOf(artifacts), SLSA_PROVENANCE_TYPE, {
    buildDefinition: {
      buildType: RECIPE_BUILD_TYPE,
      externalParameters: recipe,
      internalParameters: {},
      resolvedDependencies: dependencies,
    },
    runDetails: {
      builder: { id: `https://krepro.dev/builder/krepro-${builder}`, version: { krepro: KREPRO_VERSION } },
      metadata: { invocationId: `${recipe.source.commit}:${recipe.sourceDateEpoch}` },
    },
  });
}

/** A recipe statement's parts, checked: a rebuild must be able to follow every field it reads. */
export function recipeOf(statement: unknown, where: string): { recipe: Recipe; subjects: Subject[] } {
  const bad = (what: string): KreproError => new KreproError('E_USAGE', `${where}: ${what}; it is not provenance krepro release or verify wrote`, { path: where });
  const s = (statement ?? {}) as Partial<Statement<Partial<RecipePredicate>>>;
  if (s.predicateType !== SLSA_PROVENANCE_TYPE) throw bad(`predicateType is ${quote(s.predicateType)}`);
  const def = s.predicate?.buildDefinition;
  if (def?.buildType !== RECIPE_BUILD_TYPE) throw bad(`buildType is ${quote(def?.buildType)}, not ${RECIPE_BUILD_TYPE}`);
  const r = def.externalParameters as Partial<Recipe> | undefined;
  if (!r?.source?.commit || !/^[0-9a-f]{40}$/.test(r.source.commit)) throw bad('it records no source commit');
  if (!r.project || !Array.isArray(r.project.command) || !Array.isArray(r.project.outputs)) throw bad('it records no project command or outputs');
  if (!r.environment?.lock || !r.environment.imageId) throw bad('it records no locked build environment (a build in a Dockerfile image cannot be rebuilt from a recipe)');
  const lock = checkLock(r.environment.lock, `${where} (environment.lock)`);
  if (lockDigest(lock) !== r.environment.lockDigest) throw bad(`its lock's digest is ${lockDigest(lock)}, but it records ${r.environment.lockDigest}`);
  if (!r.container || (r.container.kind !== 'release' && r.container.kind !== 'verify-control')) throw bad('it records no build container');
  if (typeof r.sourceDateEpoch !== 'number' || typeof r.version !== 'string' || r.env === undefined) throw bad('it records no SOURCE_DATE_EPOCH, version or environment');
  checkRecipe(r as Recipe, where);
  // Both are recorded twice (as the build saw them, and as values): a rebuild could follow only one, so they must agree.
  if (r.env['SOURCE_DATE_EPOCH'] !== String(r.sourceDateEpoch)) throw bad(`its env has SOURCE_DATE_EPOCH=${JSON.stringify(r.env['SOURCE_DATE_EPOCH'] ?? null)}, but its sourceDateEpoch is ${r.sourceDateEpoch}`);
  if (r.env['KUBE_GIT_VERSION'] !== r.version) throw bad(`its env has KUBE_GIT_VERSION=${JSON.stringify(r.env['KUBE_GIT_VERSION'] ?? null)}, but its version is ${JSON.stringify(r.version)}`);
  if (!Array.isArray(s.subject) || s.subject.length === 0) throw bad('it has no subjects');
  return { recipe: r as Recipe, subjects: s.subject };
}

/**
 * Every field a rebuild follows, checked as krepro checks it when it writes a recipe (the project as the project
 * file's rules say, SOURCE_DATE_EPOCH, level, encoder, version, container), so a recipe that cannot be followed is
 * refused before anything is built, naming the field.
 */
function checkRecipe(r: Recipe, where: string): void {
  const bad = (field: string, want: string, got: unknown): KreproError => new KreproError('E_REBUILD', `${where}: ${field} must be ${want}, got ${quote(got)}; a recipe krepro wrote never holds that`, { path: where });
  if (!/^[0-9a-f]{40}$/.test(String(r.source.tree)) || typeof r.source.uri !== 'string') throw bad('source', 'a repository URI, a commit and a tree (40 hex digits)', r.source);
  parseProject({ command: r.project.command, outputs: r.project.outputs, env: r.env, release: r.project.release, images: r.project.images, normalize: r.project.normalize }, `${where} (project, env)`);
  try {
    parseSourceDateEpoch(String(r.sourceDateEpoch), 'sourceDateEpoch');
  } catch {
    throw bad('sourceDateEpoch', `a whole number of seconds from 0 to ${MAX_MTIME}`, r.sourceDateEpoch);
  }
  if (r.version.trim() === '' || /[\n\r\0]/.test(r.version)) throw bad('version', 'one non-empty line', r.version);
  if (r.package !== undefined) {
    if (!Number.isInteger(r.package.level) || r.package.level < 1 || r.package.level > 9) throw bad('package.level', 'a gzip level from 1 to 9', r.package.level);
    if (!GZIP_FORMATS.includes(r.package.encoder?.version)) throw bad('package.encoder.version', `a gzip format krepro writes (${GZIP_FORMATS.join(' or ')})`, r.package.encoder?.version);
  }
  const id = (v: unknown, min = 0): boolean => Number.isSafeInteger(v) && (v as number) >= min;
  const c = r.container;
  if (c.kind === 'release') {
    if (!id(c.user?.uid, 1) || !id(c.user?.gid)) throw bad('container.user', 'a non-root uid and a gid', c.user);
    if (typeof c.hostname !== 'string' || typeof c.workingDir !== 'string' || !c.workingDir.startsWith('/')) throw bad('container', 'a hostname and an absolute workingDir', c);
  } else {
    const k = c.conditions as Partial<BuildConditions> | undefined;
    const strings = ['buildPath', 'tz', 'locale', 'umask', 'hostname', 'domainname', 'home', 'path', 'clockOffset'] as const;
    const wrong =
      k === undefined
        ? 'conditions'
        : (strings.find((f) => typeof k[f] !== 'string') ??
          (k.cpuset !== undefined && typeof k.cpuset !== 'string' ? 'cpuset' : undefined) ??
          (['uid', 'gid'] as const).find((f) => !id(k[f], f === 'uid' ? 1 : 0)) ??
          (!['sorted', 'reversed'].includes(k.fileOrder as string) ? 'fileOrder' : !['native', 'linux32-uname26'].includes(k.kernel as string) ? 'kernel' : typeof k.aslr !== 'boolean' ? 'aslr' : undefined));
    if (wrong !== undefined) throw bad(`container.conditions${wrong === 'conditions' ? '' : `.${wrong}`}`, 'what verify records for its control build', k?.[wrong as keyof BuildConditions]);
    if (!k!.buildPath!.startsWith('/')) throw bad('container.conditions.buildPath', 'an absolute path', k!.buildPath);
  }
}

/**
 * Where a recipe was read from: a signed statement (and the key that verified it) or the unsigned provenance file.
 */
export type ProvenanceSource = { kind: 'signed'; file: string; keyid: string } | { kind: 'unsigned'; file: string };

/**
 * Reads a release directory's provenance: with a key, the recipe envelope of krepro.intoto.jsonl, which must verify
 * (signature, payload type, statement) or this fails naming each problem; without one, the unsigned statement
 * (krepro-provenance.json), and the source says it was not checked.
 */
export async function readProvenance(dir: string, key?: VerifyingKey): Promise<{ recipe: Recipe; subjects: Subject[]; source: ProvenanceSource }> {
  if (key) {
    const file = path.join(dir, ATTESTATION_FILE);
    const checked = await verifyAttestationFile(file, key);
    const line = checked.lines.find((l) => (l.statement as Statement<Partial<RecipePredicate>> | undefined)?.predicate?.buildDefinition?.buildType === RECIPE_BUILD_TYPE);
    if (!line) throw new KreproError('E_ATTEST', `${file} holds no release provenance (an envelope whose buildType is ${RECIPE_BUILD_TYPE})`, { path: file });
    if (!line.valid) throw new KreproError('E_ATTEST', `${file} line ${line.line} does not verify with key ${key.keyid}: ${line.failures.map((f) => `${f.check}: ${f.message}`).join('; ')}`, { path: file });
    return { ...recipeOf(line.statement, file), source: { kind: 'signed', file, keyid: key.keyid } };
  }
  const file = path.join(dir, PROVENANCE_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new KreproError('E_USAGE', `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): is ${dir} a release directory krepro release or verify wrote?`, { path: file });
  }
  const statement = parseJson(text, (where) => new KreproError('E_USAGE', `${file} is not JSON: ${where}`, { path: file }));
  return { ...recipeOf(statement, file), source: { kind: 'unsigned', file } };
}
