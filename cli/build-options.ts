import { hostname } from 'node:os';
import * as path from 'node:path';
import { type EnvironmentSource, type ProxySettings, readLock } from '../lib/api/environment.js';
import { gitVersion } from '../lib/api/package.js';
import { loadProject, type Project } from '../lib/api/release.js';
import { type GzipFormat, KreproError } from '../lib/index.js';
import { type DockerBackend, openDockerBackend, openPool, openSwarmBackend, type PoolBackend, REGISTRY_LOCK_FILE, type SwarmBackend } from '../lib/api/backend.js';
import type { Session } from '../lib/api/backend.js';
import { redact } from '../lib/environment/build-image.js';
import { releaseInputs, type ReleaseInputs } from '../lib/api/release.js';
import { checkOutputPath, parseCommand } from '../lib/project/project.js';
import { quote } from '../lib/quote.js';
import { ENVIRONMENT_OPTIONS, environmentOptions, type EnvironmentOptionValues, lockedSource } from './env.js';
import { inSection, type OptionSpecs } from './command.js';
import { type CommandIO, packageRoot, proxiesFrom, sourceDateEpochFor } from './io.js';
import { encoderOption, GZIP_LEVELS, integerOption } from './number-option.js';
import type { Ui } from './ui.js';

/** The help section the engine and build environment options are listed under. */
export const BUILD_SECTION = 'Build environment and engine options:';

/** Options every containerized command shares. */
export const BUILD_OPTIONS = {
  ...inSection(ENVIRONMENT_OPTIONS, BUILD_SECTION),
  'build-image-dir': {
    type: 'string',
    value: 'D',
    complete: 'dir',
    section: BUILD_SECTION,
    help: "build in an image from the project's own Dockerfile + VERSION in D instead (built by the engine per checkout; bumping VERSION removes the checkout's older state)",
  },
  'base-image': { type: 'string', value: 'IMG', complete: 'none', section: BUILD_SECTION, help: "with --build-image-dir: the local image the Dockerfile starts FROM (default: krepro-base:trixie; make it with 'krepro base-image', no registry needed)" },
  host: {
    type: 'string',
    value: 'URL',
    complete: 'none',
    section: BUILD_SECTION,
    help: 'Docker engine (default: DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH as the docker CLI reads them; a remote engine needs no port forwarding: all transfers use the API)',
  },
} as const satisfies OptionSpecs;

/** What every containerized command says after its options. */
export const BUILD_NOTES = `Environment: the project file's "env", then KUBE_* (e.g. KUBE_BUILD_PLATFORMS), GOFLAGS, GOGCFLAGS, GOLDFLAGS,
GOPROXY and GOTOOLCHAIN from the host, then SOURCE_DATE_EPOCH (default: HEAD's commit time) and KUBE_GIT_VERSION
(default: from git) — the same for run, release and verify.
KUBERNETES_HTTP_PROXY, KUBERNETES_HTTPS_PROXY and KUBERNETES_NO_PROXY reach the image build and every
container as http_proxy/https_proxy/no_proxy (both cases); their values are never printed.
KUBE_RSYNC_PORT is accepted and ignored: no rsync daemon or port is needed any more.`;

/** The invoking user, or a fixed non-root build user when invoked as root (files in the volume belong to it). */
export function buildUser(): { uid: number; gid: number } {
  const uid = process.getuid?.() ?? 1000;
  return uid === 0 ? { uid: 1000, gid: 1000 } : { uid, gid: process.getgid?.() ?? 1000 };
}

/** The help section the project-file options are listed under. */
export const PROJECT_SECTION = `Project options (each overrides a field of krepro.json at the checkout root; without that file Kubernetes'
defaults apply: make cross, _output/dockerized/bin, release tarballs with server images):`;

/** Flags that override the project file (krepro.json) for this invocation: one for every field. */
export const PROJECT_OPTIONS = {
  command: { type: 'string', value: 'CMD', complete: 'none', section: PROJECT_SECTION, help: '"command": the build command, run with sh -c (default: make cross)' },
  output: {
    type: 'string',
    value: 'PATH',
    multiple: true,
    complete: 'file',
    section: PROJECT_SECTION,
    help: '"outputs": checkout-relative directory or file whose files are the artifacts; repeatable (default: _output/dockerized/bin). Without krepro.json, --output makes the project a plain one: no Kubernetes release tarballs unless --release',
  },
  env: { type: 'string', value: 'NAME=VALUE', multiple: true, complete: 'none', section: PROJECT_SECTION, help: '"env": an extra environment variable for every build; repeatable, over the file\'s' },
  release: { type: 'boolean', section: PROJECT_SECTION, help: '"release": stage and pack the Kubernetes release tarballs from _output/dockerized/bin (and compare them in verify)' },
  'no-release': { type: 'boolean', section: PROJECT_SECTION, help: '"release": false: only the outputs are the artifacts' },
  'no-images': { type: 'boolean', section: PROJECT_SECTION, help: '"images": false: no server images in the server tarballs' },
  'image-binaries': {
    type: 'string',
    value: 'a,b',
    complete: 'none',
    section: PROJECT_SECTION,
    help: '"images.binaries": server binaries that get an image (default kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy)',
  },
  'image-registry': { type: 'string', value: 'R', complete: 'none', section: PROJECT_SECTION, help: '"images.registry": images are tagged R/<bin>-<arch>:<tag> (default $KUBE_DOCKER_REGISTRY, else registry.k8s.io)' },
  'image-base': { type: 'string', value: 'B', complete: 'file', section: PROJECT_SECTION, help: '"images.base": scratch, or a docker-archive tarball (checkout-relative) to build on' },
  normalize: { type: 'boolean', section: PROJECT_SECTION, help: '"normalize": opt in to GOFLAGS=-trimpath and CGO_ENABLED=0 for every build (the verify report then names the causes they may hide)' },
  'no-normalize': { type: 'boolean', section: PROJECT_SECTION, help: '"normalize": false' },
} as const satisfies OptionSpecs;

type ProjectValues = {
  command?: string | undefined;
  output?: string[] | undefined;
  env?: string[] | undefined;
  release?: boolean | undefined;
  'no-release'?: boolean | undefined;
  'no-images'?: boolean | undefined;
  'image-binaries'?: string | undefined;
  'image-registry'?: string | undefined;
  'image-base'?: string | undefined;
  normalize?: boolean | undefined;
  'no-normalize'?: boolean | undefined;
};

function both(values: ProjectValues, a: keyof ProjectValues, b: keyof ProjectValues): void {
  if (values[a] && values[b]) throw new KreproError('E_USAGE', `--${a} and --${b} contradict each other: give one`);
}

/**
 * The project as krepro.json describes it, with this invocation's flags applied: the working tree's file, or with
 * `committed` the one a commit holds (verify builds the commit, not the working tree).
 */
export async function projectFor(checkoutRoot: string, values: ProjectValues, committed?: Project): Promise<Project> {
  const project = committed ?? (await loadProject(checkoutRoot));
  const where = project.file ?? 'krepro.json';
  both(values, 'release', 'no-release');
  both(values, 'normalize', 'no-normalize');
  if (values.command !== undefined) project.command = parseCommand(values.command, (got) => new KreproError('E_USAGE', `--command must be a non-empty command, got ${quote(got)}`));
  if (values.output !== undefined) {
    project.outputs = values.output.map((p) => checkOutputPath(p, '--output'));
    // Kubernetes' defaults stage _output/dockerized/bin: other outputs without a project file are a plain project.
    if (project.file === undefined && !values.release) {
      project.release = false;
      project.images = false;
    }
  }
  for (const entry of values.env ?? []) {
    const eq = entry.indexOf('=');
    const name = eq < 0 ? entry : entry.slice(0, eq);
    if (eq < 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new KreproError('E_USAGE', `--env needs NAME=VALUE with a variable name ([A-Za-z_][A-Za-z0-9_]*), got ${quote(entry)}`);
    project.env = { ...project.env, [name]: entry.slice(eq + 1) };
  }
  if (values.release) project.release = true;
  if (values['no-release']) {
    project.release = false;
    project.images = false;
  }
  if (values.normalize) project.normalize = true;
  if (values['no-normalize']) project.normalize = false;
  if (values['no-images']) {
    const also = (['image-binaries', 'image-registry', 'image-base'] as const).find((f) => values[f] !== undefined);
    if (also) throw new KreproError('E_USAGE', `--no-images and --${also} contradict each other: give one`);
    project.images = false;
  }
  const image = (key: 'binaries' | 'registry' | 'base', flag: string, v: string[] | string) => {
    if (!project.release) throw new KreproError('E_USAGE', `${flag} needs a Kubernetes-shaped release ("release": true in ${where}, or --release)`);
    project.images = { ...(project.images || {}), [key]: v };
  };
  if (values['image-binaries'] !== undefined) {
    const binaries = values['image-binaries'].split(',').map((b) => b.trim()).filter(Boolean);
    if (binaries.length === 0 || !binaries.every((b) => /^[A-Za-z0-9._-]+$/.test(b))) throw new KreproError('E_USAGE', `--image-binaries needs binary names, e.g. --image-binaries kube-apiserver; got ${quote(values['image-binaries'])}`);
    image('binaries', '--image-binaries', binaries);
  }
  for (const [flag, key] of [['image-registry', 'registry'], ['image-base', 'base']] as const) {
    const v = values[flag];
    if (v === undefined) continue;
    if (v === '') throw new KreproError('E_USAGE', `--${flag} needs a value`);
    image(key, `--${flag}`, v);
  }
  return project;
}

/** The help section the packing options are listed under. */
export const PACKAGING_SECTION = 'Packing options (recorded in the recipe; rebuild follows them):';

/** How release and verify pack, so both make the same bytes (package has the same two). */
export const PACKAGING_OPTIONS = {
  level: { type: 'string', value: 'N', complete: ['1', '2', '3', '4', '5', '6', '7', '8', '9'], section: PACKAGING_SECTION, help: 'gzip level 1-9 (default 6)' },
  encoder: { type: 'string', value: 'V', complete: ['2', '1'], section: PACKAGING_SECTION, help: 'pinned gzip format (default 2; 1 reproduces releases made before format 2)' },
} as const satisfies OptionSpecs;

/** What release and verify say about server image tags after their options. */
export const PACKAGING_NOTES = 'Server images are tagged $KUBE_DOCKER_REGISTRY/<bin>-<arch>:<tag> unless the project file names a registry.';

type InputValues = ProjectValues & { level?: string | undefined; encoder?: string | undefined };

/**
 * What every build of this invocation follows (project, SOURCE_DATE_EPOCH, version, variables, packing), made
 * once: run, release and verify build exactly the same thing.
 */
export async function inputsFor(values: InputValues, io: CommandIO, packing = packingOptions(values), committed?: Project): Promise<ReleaseInputs> {
  const checkoutRoot = io.cwd;
  const { level, encoder } = packing;
  const sde = await sourceDateEpochFor(io, { repoDir: checkoutRoot });
  // Verify builds a clean copy of the commit: its version is the commit's, never dirty.
  const version = io.env.KUBE_GIT_VERSION || (await gitVersion(checkoutRoot, committed ? { commitOnly: true } : {}));
  const project = await projectFor(checkoutRoot, values, committed);
  return releaseInputs({ project, host: io.env, sourceDateEpoch: sde.seconds, version, ...(level !== undefined ? { level } : {}), ...(encoder !== undefined ? { encoder } : {}) });
}

/** --level and --encoder, checked: before anything reaches an engine. */
export function packingOptions(values: { level?: string | undefined; encoder?: string | undefined }): { level?: number | undefined; encoder?: GzipFormat | undefined } {
  return { level: integerOption('level', values.level, GZIP_LEVELS), encoder: encoderOption(values.encoder) };
}

/** The Docker backend the options name (--host, else DOCKER_HOST and friends), its engine calls traced with --verbose. */
export function backendFor(host: string | undefined, io: CommandIO, ui: Ui, seccomp?: string): Promise<DockerBackend> {
  return openDockerBackend({ env: io.env, ...(host ? { host } : {}), trace: ui.trace, signal: io.signal, ...(seccomp ? { seccomp } : {}) });
}

/** --pool: verify's and rebuild's engines, together. */
export const POOL_OPTION = {
  pool: {
    type: 'string',
    value: 'URL',
    multiple: true,
    complete: 'none',
    section: BUILD_SECTION,
    help: "a Docker engine of a pool (repeat for each; the project file's \"pool\" when not given): builds spread over them, up to --jobs in all (default: their CPUs together) and each engine's share of it by CPUs, capped by its memory; the first runs the control and noise builds; each makes the environment from the lock (the same image ID, checked); an engine that dies or stops answering is named and its builds run on the others",
  },
} as const satisfies OptionSpecs;

/** A pool of Docker engines, each reached (and its facts asked) now: one that does not answer is an error naming it. */
export async function poolFor(urls: readonly string[], io: CommandIO, ui: Ui, opts: { seccomp?: string | undefined; jobs?: number | undefined; onLog: (line: string) => void }): Promise<PoolBackend> {
  const backends = await Promise.all(urls.map((url) => backendFor(url, io, ui, opts.seccomp)));
  const pool = await openPool(backends, { ...(opts.jobs ? { jobs: opts.jobs } : {}), onLog: opts.onLog, signal: io.signal });
  for (const e of pool.engines()) opts.onLog(`pool: ${e.name} (${e.host.machine}, ${e.host.kernel}, ${e.host.cpus} CPUs, ${Math.round(e.host.memoryBytes / 2 ** 30)} GiB, Docker ${e.host.engineVersion}): up to ${e.limit} builds at once`);
  return pool;
}

/** The swarm whose manager `host` (or DOCKER_HOST) names, its engine calls traced with --verbose; its registry image is made where the environment is. */
export async function swarmBackendFor(host: string | undefined, values: EnvironmentOptionValues, io: CommandIO, ui: Ui, log: (line: string) => void): Promise<SwarmBackend> {
  const { workDir, cacheDir } = environmentOptions(values, io);
  const registryLock = await readLock(path.join(packageRoot(), 'build-image', REGISTRY_LOCK_FILE));
  return openSwarmBackend({ env: io.env, ...(host ? { host } : {}), trace: ui.trace, signal: io.signal, registryLock, workDir, cacheDir, onLog: log });
}

export interface OpenedSession {
  session: Session;
  inputs: ReleaseInputs;
  proxies: ProxySettings;
}

type ImageValues = EnvironmentOptionValues & { 'base-image'?: string | undefined; 'build-image-dir'?: string | undefined };
type SessionValues = ImageValues & { host?: string } & InputValues;

/** The environment the options ask for: the locked one, unless --build-image-dir or --base-image. */
export async function environmentFor(values: ImageValues, io: CommandIO): Promise<EnvironmentSource> {
  if (values['build-image-dir'] === undefined && values['base-image'] === undefined) return lockedSource(values, io);
  return {
    kind: 'dockerfile',
    dockerfileDir: path.resolve(io.cwd, values['build-image-dir'] ?? path.join(packageRoot(), 'build-image')),
    baseImage: values['base-image'] ?? 'krepro-base:trixie',
    proxies: proxiesFrom(io.env),
  };
}

export async function openSession(command: string, values: SessionValues, io: CommandIO, ui: Ui): Promise<OpenedSession> {
  const packing = packingOptions(values);
  const backend = await backendFor(values.host, io, ui);
  const inputs = await inputsFor(values, io, packing);
  const proxies = proxiesFrom(io.env);
  if (io.env.KUBE_RSYNC_PORT) ui.note('note: KUBE_RSYNC_PORT is no longer needed and is ignored: sources and output travel over the engine API');
  const session = await backend.openSession({
    checkoutRoot: io.cwd,
    hostname: hostname(),
    environment: await environmentFor(values, io),
    user: buildUser(),
    variables: inputs.variables,
    proxies,
    command,
    onLog: (line) => io.stderr.write(`${redact(line, proxies)}\n`),
    signal: io.signal,
  });
  const { containers, volumes } = session.removed.leftovers;
  if (containers.length + volumes.length > 0) {
    ui.note(`note: removed what an earlier run of this checkout left when it was cut off: ${containers.length} container(s), ${volumes.length} volume(s) (${[...containers, ...volumes].join(', ')})`);
  }
  return { session, inputs, proxies };
}
