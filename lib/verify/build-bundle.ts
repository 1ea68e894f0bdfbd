import { createHash } from 'node:crypto';
import { copyFile, lstat, mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import * as path from 'node:path';
import type { Backend, HostFacts, PreparedEnvironment, RemovedState } from '../backend/backend.js';
import type { Unapplied } from '../backend/conditions.js';
import { writeSmallFile } from '../archive/pack.js';
import { lockDigest } from '../environment/lock.js';
import { type EnvironmentSource, sourceVersion } from '../environment/source.js';
import { KreproError } from '../errors.js';
import { canonicalJson } from '../image/oci.js';
import { hashFile, integrityOf } from '../integrity/hash-stream.js';
import type { ReleaseInputs } from '../project/inputs.js';
import { parseJson, quote } from '../quote.js';
import type { ImageBaseFile } from '../release/from-binaries.js';
import { KREPRO_VERSION } from '../version.js';
import type { BuildRun } from './build-run.js';
import { type BuildConditions, controlFor, type Variation } from './conditions.js';
import { matrixBuilds, matrixJobs, type PlannedBuild } from './plan.js';

/** The plan document's `schema`. */
export const PLAN_SCHEMA = 'https://krepro.dev/schemas/verify-plan/v1';
/** A build bundle's `schema` (in BUILD_BUNDLE_FILE). */
export const BUILD_BUNDLE_SCHEMA = 'https://krepro.dev/schemas/verify-build-bundle/v1';
/** The file that describes a bundle, at its top. */
export const BUILD_BUNDLE_FILE = 'krepro-build-bundle.json';

/**
 * The matrix plan as `krepro verify --plan-only` prints it: everything a CI job needs to run one of its builds,
 * and a digest of everything that decides the builds' bytes (commit, environment, project, variables, packing,
 * variations, conditions and krepro's version), which every bundle carries and `--collect` checks.
 */
export interface PlanDocument {
  /** Always PLAN_SCHEMA. */
  schema: typeof PLAN_SCHEMA;
  /** Always `matrix`: only its builds run apart. */
  plan: 'matrix';
  /** `sha256:<hex>` of everything that decides the builds' bytes. */
  digest: string;
  /** The commit the builds build (40 hex digits). */
  commit: string;
  /** The environment's name: the lock's digest, or the Dockerfile image's version. */
  environment: string;
  /** The variations' names, in order. */
  variations: string[];
  /** The values of `--build` for a CI matrix: the noise check in the control's job, every other build alone. */
  matrix: string[];
  /** Every build of the plan's first round. */
  builds: PlannedBuild[];
}

/** What the plan of a commit depends on: the same options give the same plan (and digest) on every machine. */
export interface PlanDocumentOptions {
  /** The checkout: the commit's control conditions follow its project (its go.mod, or the repository's name). */
  checkoutRoot: string;
  /** The commit (40 hex digits). */
  commit: string;
  /** The build environment: a lock or a Dockerfile. */
  environment: EnvironmentSource;
  /** The project, variables and packing the builds follow. */
  inputs: ReleaseInputs;
  /** The variations verified. */
  variations: readonly Variation[];
}

/** The matrix plan of a commit with its digest, as `krepro verify --plan-only` prints it. */
export async function planDocument(opts: PlanDocumentOptions): Promise<PlanDocument> {
  const builds = matrixBuilds(await controlFor(opts.checkoutRoot, opts.commit), opts.variations);
  const environment = opts.environment.kind === 'locked' ? lockDigest(opts.environment.lock) : `dockerfile ${(await sourceVersion(opts.environment)).version}`;
  // Where builds run (the pool) is not what they build: the same plan on any engines.
  const { project: { pool: _pool, ...project }, sourceDateEpoch, version, variables, packaging } = opts.inputs;
  const decides = { krepro: KREPRO_VERSION, commit: opts.commit, environment, project, sourceDateEpoch, version, variables, packaging, builds: builds.map(({ id, variations, conditions }) => ({ id, variations, conditions })) };
  const digest = `sha256:${createHash('sha256').update(canonicalJson(decides)).digest('hex')}`;
  return { schema: PLAN_SCHEMA, plan: 'matrix', digest, commit: opts.commit, environment, variations: opts.variations.map((v) => v.name), matrix: matrixJobs(builds), builds };
}

/** One build as a bundle records it: what ran, where, how it ended, and its files below the bundle. */
interface BundledBuild {
  id: string;
  label: string;
  variations: string[];
  conditions: BuildConditions;
  exitCode: number;
  durationMs: number;
  commandMs: number;
  probes: Record<string, string>;
  unapplied: Unapplied[];
  host: HostFacts;
  /** bundle-relative */
  log: string;
  artifacts: { name: string; file: string; size: number; integrity: string }[];
  bases: ImageBaseFile[];
}

interface BundleJson {
  schema: typeof BUILD_BUNDLE_SCHEMA;
  krepro: string;
  plan: string;
  commit: string;
  environment: { id: string; ref: string; name: string; variables: string[] };
  builds: BundledBuild[];
}

/**
 * Writes a self-describing build bundle into `dir` (new or empty): BUILD_BUNDLE_FILE (plan digest, commit,
 * environment, and per build its conditions, exit code, times, probes, host facts and artifacts with their
 * integrity), and per build `<id>/build.log` and `<id>/artifacts/<name>`. The builds' files are moved there.
 * Returns the path of BUILD_BUNDLE_FILE.
 */
export async function writeBuildBundle(dir: string, plan: PlanDocument, environment: PreparedEnvironment, builds: readonly BuildRun[]): Promise<string> {
  await mkdir(dir, { recursive: true });
  const present = await readdir(dir);
  if (present.length > 0) throw new KreproError('E_USAGE', `the bundle directory ${dir} is not empty (${present.slice(0, 3).map((n) => quote(n)).join(', ')}${present.length > 3 ? ', …' : ''}): give a new or empty one`, { path: dir });
  const bundled: BundledBuild[] = [];
  for (const b of builds) {
    const artifacts: BundledBuild['artifacts'] = [];
    for (const a of b.artifacts) {
      const file = `${b.id}/artifacts/${a.name}`;
      await move(a.path, path.join(dir, file));
      artifacts.push({ name: a.name, file, size: a.size, integrity: integrityOf(a.digests) });
    }
    await move(b.log, path.join(dir, b.id, 'build.log'));
    bundled.push({
      id: b.id,
      label: b.label,
      variations: b.variations,
      conditions: b.conditions,
      exitCode: b.exitCode,
      durationMs: b.durationMs,
      commandMs: b.commandMs,
      probes: { ...b.probes },
      unapplied: b.unapplied,
      host: b.host,
      log: `${b.id}/build.log`,
      artifacts,
      bases: b.bases,
    });
  }
  const json: BundleJson = { schema: BUILD_BUNDLE_SCHEMA, krepro: KREPRO_VERSION, plan: plan.digest, commit: plan.commit, environment: { id: environment.id, ref: environment.ref, name: plan.environment, variables: environment.variables }, builds: bundled };
  const file = path.join(dir, BUILD_BUNDLE_FILE);
  await writeSmallFile(file, `${JSON.stringify(json, null, 2)}\n`);
  return file;
}

async function move(from: string, to: string): Promise<void> {
  await mkdir(path.dirname(to), { recursive: true });
  try {
    await rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    await copyFile(from, to);
    await rm(from, { force: true });
  }
}

/** What the bundles hold, checked: every build by its planned ID, and the environment they ran in. */
export interface CollectedBuilds {
  /** Every build of the plan, by its planned id. */
  builds: Map<string, BuildRun>;
  /** The environment the builds ran in. */
  environment: PreparedEnvironment;
  /** The bundle directory of each build, by id. */
  from: Map<string, string>;
}

/** A bundle's description is small: this bounds what is read of an untrusted one. */
const MAX_BUNDLE_JSON = 64 * 1024 * 1024;
/** Bounds for untrusted strings that reach reports. */
const MAX_TEXT = 4096;

/**
 * Reads bundles back as builds, each checked as untrusted input: its description against the plan (same commit,
 * environment, plan digest, each build's conditions as planned, each build once), every file named in it below the
 * bundle and reached through no symbolic link, each artifact hashed again and compared with what the bundle says,
 * and every string that reaches a report free of control characters. Every build of the plan must be there.
 */
export async function readBuildBundles(dirs: readonly string[], plan: PlanDocument): Promise<CollectedBuilds> {
  if (dirs.length === 0) throw new KreproError('E_USAGE', 'no bundle directories to collect');
  const builds = new Map<string, BuildRun>();
  const from = new Map<string, string>();
  let environment: PreparedEnvironment | undefined;
  let environmentFrom = '';
  for (const given of dirs) {
    const dir = path.resolve(given);
    const fail = (what: string): KreproError => new KreproError('E_BUNDLE', `bundle ${dir}: ${what}`, { path: dir });
    if (!(await lstat(dir).catch(() => undefined))?.isDirectory()) throw fail('is not a directory (a symbolic link is not followed)');
    const file = await regularFile(dir, BUILD_BUNDLE_FILE, fail);
    const st = await lstat(file);
    if (st.size > MAX_BUNDLE_JSON) throw fail(`${BUILD_BUNDLE_FILE} is ${st.size} bytes, more than any bundle's description (${MAX_BUNDLE_JSON})`);
    const json = parseJson(await readFile(file, 'utf8'), (where) => fail(`${BUILD_BUNDLE_FILE} is not JSON: ${where}`));
    const b = checkBundle(json, fail);
    if (b.commit !== plan.commit) throw fail(`it holds builds of commit ${b.commit}, not of ${plan.commit} (the commit being verified)`);
    if (b.environment.name !== plan.environment) throw fail(`its builds ran in environment ${quote(b.environment.name)}, not in ${quote(plan.environment)} (this checkout's)`);
    if (b.plan !== plan.digest) throw fail(`it was made for plan ${b.plan}, not this checkout's ${plan.digest}: another project file, variables, packing, variations or krepro version (bundle: krepro ${b.krepro}, here ${KREPRO_VERSION})`);
    if (environment && b.environment.id !== environment.id) throw fail(`its environment image is ${b.environment.id}, but ${environmentFrom}'s is ${environment.id}: bundles must come from one environment (the locked one gives the same ID everywhere)`);
    if (!environment) {
      environment = { id: b.environment.id, ref: b.environment.ref, variables: b.environment.variables, made: false };
      environmentFrom = dir;
    }
    for (const x of b.builds) {
      const planned = plan.builds.find((p) => p.id === x.id);
      if (!planned) throw fail(`build ${quote(x.id)} is not in the plan (its builds: ${plan.builds.map((p) => p.id).join(', ')})`);
      if (builds.has(x.id)) throw fail(`build ${quote(x.id)} is also in ${from.get(x.id)}: each build once`);
      if (canonicalJson(planned.conditions) !== canonicalJson(x.conditions) || canonicalJson(planned.variations) !== canonicalJson(x.variations)) {
        throw fail(`build ${quote(x.id)} ran under other conditions than the plan gives it`);
      }
      const artifacts = [];
      const names = new Set<string>();
      for (const a of x.artifacts) {
        if (names.has(a.name)) throw fail(`build ${quote(x.id)} names artifact ${quote(a.name)} twice`);
        names.add(a.name);
        const at = await regularFile(dir, a.file, fail);
        const found = await hashFile(at);
        if (found.size !== a.size || found.digests.sha512 !== hexOf(a.integrity, 'sha512', fail) || found.digests.sha256 !== hexOf(a.integrity, 'sha256', fail)) {
          throw fail(`${a.file} is not what the bundle says it is (${found.size} bytes, sha256 ${found.digests.sha256}): changed after the build`);
        }
        artifacts.push({ name: a.name, path: at, size: found.size, digests: found.digests });
      }
      const log = await regularFile(dir, x.log, fail);
      builds.set(x.id, {
        id: x.id,
        label: planned.label,
        conditions: planned.conditions,
        variations: planned.variations,
        engine: x.host.backend,
        host: x.host,
        unapplied: x.unapplied,
        exitCode: x.exitCode,
        durationMs: x.durationMs,
        commandMs: x.commandMs,
        probes: x.probes,
        artifacts,
        bases: x.bases,
        dir: path.join(dir, x.id),
        log,
      });
      from.set(x.id, dir);
    }
  }
  const missing = plan.builds.filter((p) => !builds.has(p.id)).map((p) => p.id);
  // A failed control build stops the builds of its job: the verdict (build failed) needs nothing else.
  const controlFailed = (builds.get('control')?.exitCode ?? 0) !== 0;
  if (missing.length > 0 && !controlFailed) throw new KreproError('E_BUNDLE', `no bundle holds build${missing.length > 1 ? 's' : ''} ${missing.join(', ')}: collect the bundles of every build of the plan (${plan.matrix.join(' ')})`);
  return { builds, environment: environment!, from };
}

/** A bundle-relative file: a plain relative path, below the bundle through directories only, a regular file. */
async function regularFile(dir: string, rel: string, fail: (what: string) => KreproError): Promise<string> {
  const parts = rel.split('/');
  if (rel.length === 0 || rel.length > MAX_TEXT || parts.some((p) => p === '' || p === '.' || p === '..') || /[\0-\x1f\x7f]/.test(rel)) throw fail(`${quote(rel)} is not a plain relative path below the bundle`);
  let at = dir;
  for (const [i, part] of parts.entries()) {
    at = path.join(at, part);
    const st = await lstat(at).catch(() => undefined);
    if (!st) throw fail(`${quote(rel)} is missing`);
    if (st.isSymbolicLink()) throw fail(`${quote(parts.slice(0, i + 1).join('/'))} is a symbolic link: a bundle holds files, never links`);
    if (i < parts.length - 1 ? !st.isDirectory() : !st.isFile()) throw fail(`${quote(parts.slice(0, i + 1).join('/'))} is not a ${i < parts.length - 1 ? 'directory' : 'regular file'}`);
  }
  return at;
}

function hexOf(integrity: string, algorithm: 'sha256' | 'sha512', fail: (what: string) => KreproError): string {
  const m = integrity.split(/\s+/).find((x) => x.startsWith(`${algorithm}-`));
  if (!m) throw fail(`an artifact's integrity ${quote(integrity)} has no ${algorithm}`);
  return Buffer.from(m.slice(algorithm.length + 1), 'base64').toString('hex');
}

/** Checks the shape of a bundle's description, naming the first wrong field; strings that reach reports are bounded and printable. */
function checkBundle(v: unknown, fail: (what: string) => KreproError): BundleJson {
  const at = (where: string, what: string): KreproError => fail(`${BUILD_BUNDLE_FILE}: ${where} ${what}`);
  const obj = (x: unknown, where: string): Record<string, unknown> => {
    if (typeof x !== 'object' || x === null || Array.isArray(x)) throw at(where, 'must be an object');
    return x as Record<string, unknown>;
  };
  const str = (x: unknown, where: string): string => {
    if (typeof x !== 'string') throw at(where, 'must be a string');
    if (x.length > MAX_TEXT || /[\0-\x08\x0b-\x1f\x7f]/.test(x)) throw at(where, 'must be printable text of at most 4096 characters');
    return x;
  };
  const num = (x: unknown, where: string, integer = false): number => {
    if (typeof x !== 'number' || !Number.isFinite(x) || x < 0 || (integer && !Number.isInteger(x))) throw at(where, `must be a ${integer ? 'whole ' : ''}number ≥ 0`);
    return x;
  };
  const arr = (x: unknown, where: string): unknown[] => {
    if (!Array.isArray(x)) throw at(where, 'must be an array');
    return x;
  };
  const strings = (x: unknown, where: string): string[] => arr(x, where).map((s, i) => str(s, `${where}[${i}]`));
  const b = obj(v, 'the description');
  if (b.schema !== BUILD_BUNDLE_SCHEMA) throw at('schema', `must be ${BUILD_BUNDLE_SCHEMA}, got ${quote(b.schema)}`);
  const env = obj(b.environment, 'environment');
  const builds = arr(b.builds, 'builds').map((x, i) => {
    const w = `builds[${i}]`;
    const o = obj(x, w);
    const host = obj(o.host, `${w}.host`);
    const probes = obj(o.probes, `${w}.probes`);
    const exitCode = o.exitCode;
    if (typeof exitCode !== 'number' || !Number.isInteger(exitCode)) throw at(`${w}.exitCode`, 'must be a whole number');
    return {
      id: str(o.id, `${w}.id`),
      label: str(o.label, `${w}.label`),
      variations: strings(o.variations, `${w}.variations`),
      conditions: obj(o.conditions, `${w}.conditions`) as unknown as BuildConditions,
      exitCode,
      durationMs: num(o.durationMs, `${w}.durationMs`),
      commandMs: num(o.commandMs, `${w}.commandMs`),
      probes: Object.fromEntries(Object.entries(probes).map(([k, p]) => [str(k, `${w}.probes key`), str(p, `${w}.probes.${k}`)])),
      unapplied: arr(o.unapplied, `${w}.unapplied`).map((u, j) => {
        const x = obj(u, `${w}.unapplied[${j}]`);
        return { condition: str(x.condition, `${w}.unapplied[${j}].condition`) as Unapplied['condition'], reason: str(x.reason, `${w}.unapplied[${j}].reason`) };
      }),
      host: {
        backend: str(host.backend, `${w}.host.backend`),
        machine: str(host.machine, `${w}.host.machine`),
        kernel: str(host.kernel, `${w}.host.kernel`),
        cpus: num(host.cpus, `${w}.host.cpus`, true),
        memoryBytes: num(host.memoryBytes, `${w}.host.memoryBytes`, true),
        os: str(host.os, `${w}.host.os`),
        arch: str(host.arch, `${w}.host.arch`),
        engineVersion: str(host.engineVersion, `${w}.host.engineVersion`),
      },
      log: str(o.log, `${w}.log`),
      artifacts: arr(o.artifacts, `${w}.artifacts`).map((a, j) => {
        const x = obj(a, `${w}.artifacts[${j}]`);
        return { name: str(x.name, `${w}.artifacts[${j}].name`), file: str(x.file, `${w}.artifacts[${j}].file`), size: num(x.size, `${w}.artifacts[${j}].size`, true), integrity: str(x.integrity, `${w}.artifacts[${j}].integrity`) };
      }),
      bases: arr(o.bases, `${w}.bases`).map((a, j) => {
        const x = obj(a, `${w}.bases[${j}]`);
        const f = (k: string): string => str(x[k], `${w}.bases[${j}].${k}`);
        const sha256 = f('sha256');
        if (!/^[0-9a-f]{64}$/.test(sha256)) throw at(`${w}.bases[${j}].sha256`, 'must be 64 hex digits');
        return { os: f('os'), arch: f('arch'), binary: f('binary'), path: f('path'), sha256 };
      }),
    };
  });
  return {
    schema: BUILD_BUNDLE_SCHEMA,
    krepro: str(b.krepro, 'krepro'),
    plan: str(b.plan, 'plan'),
    commit: str(b.commit, 'commit'),
    environment: { id: str(env.id, 'environment.id'), ref: str(env.ref, 'environment.ref'), name: str(env.name, 'environment.name'), variables: strings(env.variables, 'environment.variables') },
    builds,
  };
}

/**
 * The backend of a collect: where the bundles' builds ran, as far as verify asks — their environment, the control
 * build's host — and no build at all (a second round cannot run from bundles; verify says so instead).
 */
export function buildBundleBackend(collected: CollectedBuilds): Backend {
  const none: RemovedState = { containers: [], images: [], volumes: [] };
  const control = collected.builds.get('control');
  return {
    name: 'bundles',
    facts: async () => control?.host ?? { backend: 'bundles', machine: '', kernel: '', cpus: 0, memoryBytes: 0, os: '', arch: '', engineVersion: '' },
    prepare: async () => collected.environment,
    build: async (request) => {
      throw new KreproError('E_USAGE', `build ${quote(request.id)} cannot run: the builds of this verify come from bundles`);
    },
    removeLeftovers: async () => none,
    removeCheckout: async () => none,
  };
}
