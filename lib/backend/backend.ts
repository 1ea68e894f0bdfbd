import type { Readable } from 'node:stream';
import type { RunScope } from '../checkout/names.js';
import type { EnvironmentLock } from '../environment/lock.js';
import type { EnvironmentSource } from '../environment/source.js';
import type { Artifact } from '../integrity/artifact.js';
import type { BuildConditions, Probes, Unapplied } from './conditions.js';
import type { PoolEngine } from './pool/pool.js';

/**
 * A build backend runs one build: given the environment image (by ID), the sources (a commit's tree), the command,
 * its variables, how the container runs and which paths are its outputs, it returns the exit code, the log and the
 * outputs as artifacts. Everything above this seam — release, verify, rebuild — speaks only of builds; everything
 * below it (volumes, keeper containers, syncing sources in, copying outputs out) is the backend's own.
 *
 * One `build` call is independent of every other: a backend may run many at once, on other machines, as swarm
 * services or as CI-matrix jobs, as long as each result carries what it needs (outputs on this machine, the log,
 * the probes, the facts of where it ran). Decorators (a limiter, a pool, a recorder) implement this same interface.
 */
export interface Backend {
  /** Where builds run, for messages and reports: e.g. `docker unix:///var/run/docker.sock`. */
  readonly name: string;
  /** Facts about where builds run (kernel, CPUs, engine version): recorded beside each build, never in a recipe. */
  facts(opts?: { signal?: AbortSignal }): Promise<HostFacts>;
  /** Makes the environment available here. The same lock gives the same ID on every backend. */
  prepare(source: EnvironmentSource | CopiedEnvironment, opts: PrepareOptions): Promise<PreparedEnvironment>;
  /** Runs one build to completion. A failing command is a result (exitCode ≠ 0, no outputs), not an exception. */
  build(request: BuildRequest, opts?: BuildOptions): Promise<BuildResult>;
  /**
   * Removes what killed runs of this checkout left here (kept state, such as a session's data volume, stays).
   * Only while holding the claim on the checkout, when no other live run of it can be using them.
   */
  removeLeftovers(checkoutHash: string, opts?: { signal?: AbortSignal }): Promise<RemovedState>;
  /** Removes everything this backend keeps for a checkout (krepro clean); names what went. */
  removeCheckout(checkoutHash: string, opts?: { signal?: AbortSignal }): Promise<RemovedState>;
  /** The environment image as a `docker save` stream, so another backend can run the very same image. */
  exportEnvironment?(environment: PreparedEnvironment, opts?: { signal?: AbortSignal }): Promise<Readable>;
  /** Resolves when the backend answers now (uncached), else rejects: how a pool tells a dead engine from a failed build. */
  ping?(opts?: { signal?: AbortSignal }): Promise<void>;
  /** The engines builds ran on, for a backend of several (a pool): limits, builds, the ones lost and why. */
  engines?(): PoolEngine[];
  /** Removes what the backend holds for its builds beyond each build (a swarm's registry, networks, configs). */
  close?(): Promise<void>;
}

/** An environment that cannot be made again (a Dockerfile image): the same image, by ID, copied from another backend. */
export interface CopiedEnvironment {
  /** Always 'copy'. */
  kind: 'copy';
  /** The backend that has the image. */
  from: Backend;
  /** The image there. */
  environment: PreparedEnvironment;
}

/** Where a build ran: recorded beside it in reports, never in a recipe. */
export interface HostFacts {
  /** the backend's name */
  backend: string;
  /** The machine builds run on (the engine host's name): what tells two hosts apart. */
  machine: string;
  /** Kernel release, e.g. `6.1.0-27-amd64`. */
  kernel: string;
  /** CPUs the engine can use. */
  cpus: number;
  /** Memory the engine can use, in bytes. */
  memoryBytes: number;
  /** Operating system, e.g. `linux`. */
  os: string;
  /** Architecture, e.g. `amd64`. */
  arch: string;
  /** the engine's own version, e.g. Docker `20.10.24` */
  engineVersion: string;
}

/** How Backend.prepare makes an environment available. */
export interface PrepareOptions {
  /** the checkout the environment is for: a Dockerfile image is per checkout, and its context is written below it */
  checkoutRoot: string;
  /** this machine's hostname (a checkout's state names include it) */
  hostname: string;
  /** Each line of output while the image is made or built. */
  onLog?: (line: string) => void;
  /** Aborts the preparation. */
  signal?: AbortSignal;
}

/** The environment a build runs in, as a backend has it. */
export interface PreparedEnvironment {
  /** the image ID (`sha256:…`): what a request names and a recipe records */
  id: string;
  /** the name the backend knows it by */
  ref: string;
  /** the lock it was made from, when it is the locked environment (a recipe can name it) */
  lock?: EnvironmentLock;
  /** the image's own variables (`NAME=value`), for the report's list of settings */
  variables: string[];
  /** made or rebuilt by this call, not found */
  made: boolean;
}

/**
 * How the build container runs. A release build is a plain container (the build user, a fixed hostname, the
 * sources at the working directory); verify's builds run under controlled conditions, applied by the backend
 * through the wrapper (lib/backend/wrapper.ts), with the effect probes before the command.
 */
export type BuildContainer =
  | { kind: 'plain'; user: { uid: number; gid: number }; hostname: string; workingDir: string }
  | { kind: 'controlled'; conditions: BuildConditions };

/** One build, as plain data: everything a backend needs to run it, anywhere. */
export interface BuildRequest {
  /** unique within its run: part of the names of the build's objects */
  id: string;
  /** The image it runs in, by ID. */
  environment: PreparedEnvironment;
  /** a commit's tree, as a clean copy on this machine (a git worktree) */
  sources: { dir: string; commit: string };
  /** The build command and its arguments (no shell), e.g. `make release`. */
  command: readonly string[];
  /** the build's variables (buildVariables), the same for every build of a project */
  variables: Readonly<Record<string, string>>;
  /** How the container runs: plain, or under controlled conditions. */
  container: BuildContainer;
  /** 'none' for a hermetic build (verify); 'default' lets it fetch, as release builds may */
  network: 'none' | 'default';
  /** checkout-relative paths whose files are the build's outputs */
  outputs: readonly string[];
  /** a new directory on this machine for the outputs (at their checkout-relative paths) and `build.log` */
  dir: string;
  /** the run this build belongs to: names and labels of its objects. Plain data, as the whole request is */
  run: RunScope;
}

/** What a build is doing: syncing sources in, running the command, copying outputs out. */
export type BuildPhase = 'sources' | 'command' | 'outputs';

/** How one Backend.build call runs. */
export interface BuildOptions {
  /** Aborts the build; its containers and volumes are removed. */
  signal?: AbortSignal;
  /** Builds of one group run on one machine where a backend has several (verify's control and noise builds). */
  group?: string;
  /** Called as the build enters each phase. */
  onProgress?: (phase: BuildPhase) => void;
}

/** What one build gave. */
export interface BuildResult {
  /** The request's id. */
  id: string;
  /** The command's exit code; 0 is success. */
  exitCode: number;
  /** the whole build: sources in, the command, outputs out */
  durationMs: number;
  /** the command alone */
  commandMs: number;
  /** what the effect probes saw (controlled builds only) */
  probes: Probes;
  /** conditions this backend could not apply: the build ran without them */
  unapplied: Unapplied[];
  /** the output files, named by checkout-relative path, below `dir` (none when the command failed) */
  outputs: Artifact[];
  /** The request's `dir`, holding the outputs and build.log. */
  dir: string;
  /** path of the build's log (`build.log` in `dir`), probes taken out */
  log: string;
  /** Where it ran. */
  host: HostFacts;
}

/** What removing a checkout's state took away, by name. */
export interface RemovedState {
  /** Names of the containers removed. */
  containers: string[];
  /** Names of the images removed. */
  images: string[];
  /** Names of the volumes removed. */
  volumes: string[];
}
