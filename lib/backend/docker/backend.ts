import type { Readable } from 'node:stream';
import { type ConnectOptions, openEngine } from '../../engine/connect.js';
import type { Engine } from '../../engine/engine.js';
import type { EnvironmentSource } from '../../environment/source.js';
import type { Backend, BuildOptions, BuildRequest, BuildResult, CopiedEnvironment, HostFacts, PreparedEnvironment, PrepareOptions, RemovedState } from '../backend.js';
import type { Session, SessionOptions, Sessions } from '../session.js';
import { dockerBuild } from './build.js';
import { prepareEnvironment } from './environment.js';
import { openDockerSession } from './session.js';
import { removeCheckoutState, removeLeftovers } from './state.js';

/** How the Docker backend runs builds. */
export interface DockerBackendOptions {
  /**
   * The engine's default seccomp profile with personality(ADDR_NO_RANDOMIZE) allowed (seccompWithPersonality): without
   * it a build cannot run with address-space randomization off, and says so in its result.
   */
  seccomp?: string;
}

/**
 * The build backend on one Docker engine, and the sessions it keeps: the only code above lib/engine that uses
 * `Engine` (lib/environment, which makes images, aside).
 */
export class DockerBackend implements Backend, Sessions {
  /** `docker <endpoint>`, for messages and reports. */
  readonly name: string;
  private factsOnce: Promise<HostFacts> | undefined;

  constructor(
    /** The engine builds run on. */
    readonly engine: Engine,
    private readonly opts: DockerBackendOptions = {},
  ) {
    this.name = `docker ${engine.endpoint}`;
  }

  /** The engine host's kernel, CPUs, memory and engine version (asked once). */
  facts(opts: { signal?: AbortSignal } = {}): Promise<HostFacts> {
    this.factsOnce ??= (async () => {
      const [info, version] = await Promise.all([this.engine.info(opts), this.engine.version(opts)]);
      return { backend: this.name, machine: info.name, kernel: info.kernel, cpus: info.cpus, memoryBytes: info.memoryBytes, os: version.os, arch: version.arch, engineVersion: version.version };
    })();
    this.factsOnce.catch(() => (this.factsOnce = undefined));
    return this.factsOnce;
  }

  /** Resolves when the engine answers now, over a new connection (a pool's liveness check). */
  ping(opts: { signal?: AbortSignal } = {}): Promise<void> {
    return this.engine.ping(opts);
  }

  /**
   * Finds or makes the environment image on this engine (the locked one from its lock, a Dockerfile image, or a
   * copy).
   */
  prepare(source: EnvironmentSource | CopiedEnvironment, opts: PrepareOptions): Promise<PreparedEnvironment> {
    return prepareEnvironment(this.engine, source, opts);
  }

  /** Runs one build in fresh containers and volumes, removed afterwards. */
  build(request: BuildRequest, opts: BuildOptions = {}): Promise<BuildResult> {
    return dockerBuild({ engine: this.engine, ...(this.opts.seccomp ? { seccomp: this.opts.seccomp } : {}), facts: () => this.facts(opts) }, request, opts);
  }

  /** Removes what killed runs of the checkout left on this engine. */
  removeLeftovers(checkoutHash: string, opts: { signal?: AbortSignal } = {}): Promise<RemovedState> {
    return removeLeftovers(this.engine, checkoutHash, opts);
  }

  /** Removes the checkout's whole state on this engine (krepro clean). */
  removeCheckout(checkoutHash: string, opts: { signal?: AbortSignal } = {}): Promise<RemovedState> {
    return removeCheckoutState(this.engine, checkoutHash, opts);
  }

  /** The environment image as a `docker save` stream. */
  exportEnvironment(environment: PreparedEnvironment, opts: { signal?: AbortSignal } = {}): Promise<Readable> {
    return this.engine.images.save(environment.ref, opts);
  }

  /** Opens a session on a checkout, with its sources on a data volume of this engine. */
  openSession(opts: SessionOptions): Promise<Session> {
    return openDockerSession(this.engine, opts);
  }
}

/** Connects to the engine the options name (DOCKER_HOST and friends, as the docker CLI reads them) and checks it answers. */
export async function openDockerBackend(opts: ConnectOptions & { timeoutMs?: number; signal?: AbortSignal } & DockerBackendOptions): Promise<DockerBackend> {
  const { seccomp, ...connect } = opts;
  return new DockerBackend(await openEngine(connect), seccomp === undefined ? {} : { seccomp });
}
