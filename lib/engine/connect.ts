import * as http from 'node:http';
import * as https from 'node:https';
import { createRequire } from 'node:module';
import type Docker from 'dockerode';
import { KreproError } from '../errors.js';
import type { Trace } from '../trace.js';
import { DockerEngine } from './docker.js';
import { resolveEngine } from './endpoint.js';
import type { Engine } from './engine.js';
import { tracedEngine } from './traced.js';

/** The environment variables krepro reads to find the engine (same names and meaning as the docker CLI). */
export type EngineEnv = Readonly<Record<string, string | undefined>>;

/** Which engine to connect to, as the docker CLI finds it, and what to report. */
export interface ConnectOptions {
  /** Overrides DOCKER_HOST, like `docker -H`. */
  host?: string;
  /** Where DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH… come from; the CLI passes process.env. Missing means "none set". */
  env?: EngineEnv;
  /** Every engine call, with its time, as it settles (see tracedEngine). */
  trace?: Trace;
}

/** An Engine for explicit DOCKER_* values (unix://, tcp:// with TLS, ssh://). Does not contact the engine. */
export function connectEngine(opts: ConnectOptions = {}): Engine {
  const resolved = resolveEngine(opts);
  // dockerode (with ssh2 and its protocol stack, about half a second) is loaded on the first connection, not on
  // import: packing, diffing and checking never talk to an engine.
  const Dockerode = createRequire(import.meta.url)('dockerode') as typeof Docker;
  let docker: Docker;
  let pinger: Docker;
  try {
    docker = new Dockerode(resolved.options);
    // Pings on a connection of their own: a stopping dockerd closes its listener at once but keeps serving the
    // connections it has (measured, engine 20.10), so a ping over a pooled keep-alive connection says "alive".
    const fresh = resolved.options.protocol === 'https' ? new https.Agent({ keepAlive: false }) : new http.Agent({ keepAlive: false });
    pinger = new Dockerode({ ...resolved.options, agent: fresh } as Docker.DockerOptions);
  } catch (cause) {
    // docker-modem also parses process.env in its constructor, so a bad process-level DOCKER_* can still throw here.
    throw new KreproError('E_USAGE', `cannot set up a Docker client for ${resolved.endpoint}: ${(cause as Error).message} (check the DOCKER_* environment variables)`, { cause });
  }
  const engine = new DockerEngine(docker, resolved.endpoint, pinger);
  return opts.trace ? tracedEngine(engine, opts.trace) : engine;
}

/** Resolves, connects and pings in one step: what a command needs before doing engine work. */
export async function openEngine(opts: ConnectOptions & { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<Engine> {
  const engine = connectEngine(opts);
  await pingEngine(engine, opts);
  return engine;
}

/**
 * Checks the engine answers `/_ping`. Throws E_ENGINE_UNREACHABLE naming the endpoint and what to check.
 * A timeout keeps a black-holed tcp address from hanging the caller.
 */
export async function pingEngine(engine: Engine, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
  const timeout = AbortSignal.timeout(opts.timeoutMs ?? 10_000);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  try {
    await engine.ping({ signal });
  } catch (err) {
    if (opts.signal?.aborted) throw err;
    const cause = err instanceof KreproError && err.cause !== undefined ? err.cause : err;
    const socketPath = socketPathOf(engine.endpoint);
    throw new KreproError('E_ENGINE_UNREACHABLE', `cannot reach the Docker engine at ${engine.endpoint}: ${describeFailure(cause, socketPath, timeout.aborted)}`, {
      ...(socketPath === undefined ? {} : { path: socketPath }),
      endpoint: engine.endpoint,
      cause,
    });
  }
}

function describeFailure(cause: unknown, socketPath: string | undefined, timedOut: boolean): string {
  const err = cause as NodeJS.ErrnoException & { statusCode?: number };
  const hint = 'Is dockerd running (e.g. `dockerd >/tmp/dockerd.log 2>&1 &`)? Is DOCKER_HOST right (unset means unix:///var/run/docker.sock)?';
  if (timedOut) return `no answer in time. ${hint}`;
  switch (err?.code) {
    case 'ENOENT':
      return `no socket at ${socketPath ?? 'that path'} (ENOENT). ${hint}`;
    case 'ECONNREFUSED':
      return `connection refused (ECONNREFUSED): the socket or port exists but nothing is listening. ${hint}`;
    case 'EACCES':
    case 'EPERM':
      return `permission denied (${err.code}): run as root or as a member of the docker group.`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host name does not resolve (${err.code}). Check DOCKER_HOST.`;
    default: {
      const status = err?.statusCode === undefined ? '' : ` (HTTP ${err.statusCode})`;
      return `${err?.message ?? String(cause)}${status}. ${hint}`;
    }
  }
}

function socketPathOf(endpoint: string): string | undefined {
  if (endpoint.startsWith('unix://')) return endpoint.slice('unix://'.length);
  if (endpoint.startsWith('npipe://')) return endpoint.slice('npipe://'.length);
  return undefined;
}
