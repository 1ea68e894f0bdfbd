import { existsSync, readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { homedir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { KreproError } from '../errors.js';
import { quote } from '../quote.js';
import type { Trace } from '../trace.js';
import { DockerEngine } from './docker.js';
import type { Engine } from './engine.js';
import { tracedEngine } from './traced.js';

/** The environment variables krepro reads to find the engine (same names and meaning as the docker CLI). */
export type EngineEnv = Readonly<Record<string, string | undefined>>;

export interface ConnectOptions {
  /** Overrides DOCKER_HOST, like `docker -H`. */
  host?: string;
  /** Where DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH… come from; the CLI passes process.env. Missing means "none set". */
  env?: EngineEnv;
  /** Every engine call, with its time, as it settles (see tracedEngine). */
  trace?: Trace;
}

export interface ResolvedEngine {
  /** Human-readable endpoint for messages, e.g. `unix:///var/run/docker.sock` or `tcp://h:2376 (TLS)`. */
  endpoint: string;
  /** Unix socket path when the endpoint is a socket; error messages name it. */
  socketPath?: string;
  options: Docker.DockerOptions;
}

const DEFAULT_SOCKET = '/var/run/docker.sock';

/**
 * Maps DOCKER_* values to explicit dockerode options.
 *
 * docker-modem's own parser (`defaultOpts` in lib/modem.js) reads only `process.env`, and a library must not, so this
 * mirrors its rules instead: unix:// → socket; tcp → https when DOCKER_TLS_VERIFY === '1' or the port is 2376;
 * DOCKER_CERT_PATH/{ca,cert,key}.pem; DOCKER_CLIENT_TIMEOUT; DOCKER_PATH_PREFIX; ssh:// with the SSH_AUTH_SOCK agent.
 * Unlike docker-modem, ssh:// together with DOCKER_TLS_VERIFY=1 is rejected (docker-modem silently picks https).
 */
export function resolveEngine(opts: ConnectOptions = {}): ResolvedEngine {
  const env = opts.env ?? {};
  const raw = nonEmpty(opts.host) ?? nonEmpty(env['DOCKER_HOST']);
  // Every field is set, even to undefined: docker-modem merges its process.env defaults underneath ours with
  // Object.assign, and an explicit undefined is what keeps a stray process-level DOCKER_HOST from winning.
  const base: Docker.DockerOptions & { pathPrefix?: string | undefined } = {
    socketPath: undefined,
    host: undefined,
    port: undefined,
    protocol: undefined,
    ca: undefined,
    cert: undefined,
    key: undefined,
    timeout: undefined,
    pathPrefix: undefined,
    username: undefined,
  };

  if (raw === undefined) {
    // Same search as docker-modem: Docker Desktop's per-user socket first, then the system one.
    const home = nonEmpty(env['HOME']) ?? homedir();
    const userSocket = join(home, '.docker', 'run', 'docker.sock');
    const socketPath = existsSync(userSocket) ? userSocket : DEFAULT_SOCKET;
    return { endpoint: `unix://${socketPath}`, socketPath, options: { ...base, socketPath } };
  }
  if (raw.startsWith('unix://')) {
    const socketPath = raw.slice('unix://'.length) || DEFAULT_SOCKET;
    return { endpoint: `unix://${socketPath}`, socketPath, options: { ...base, socketPath } };
  }
  if (raw.startsWith('npipe://')) {
    const socketPath = raw.slice('npipe://'.length) || '//./pipe/docker_engine';
    return { endpoint: `npipe://${socketPath}`, socketPath, options: { ...base, socketPath } };
  }

  let url: URL;
  try {
    url = new URL(raw.includes('//') ? raw : `tcp://${raw}`);
  } catch (cause) {
    throw new KreproError('E_USAGE', `DOCKER_HOST ${quote(raw)} is not a valid address (expected unix:///path, tcp://host:port or ssh://user@host)`, { cause });
  }
  if (url.hostname === '') {
    throw new KreproError('E_USAGE', `DOCKER_HOST ${quote(raw)} has no host name`);
  }
  const tlsVerify = env['DOCKER_TLS_VERIFY'] === '1';
  const options: Docker.DockerOptions & { pathPrefix?: string | undefined } = {
    ...base,
    host: url.hostname,
    port: url.port === '' ? undefined : url.port,
    pathPrefix: nonEmpty(env['DOCKER_PATH_PREFIX']) ?? '/',
  };
  const timeout = nonEmpty(env['DOCKER_CLIENT_TIMEOUT']);
  if (timeout !== undefined) {
    const ms = Number.parseInt(timeout, 10);
    if (!Number.isFinite(ms) || ms <= 0) throw new KreproError('E_USAGE', `DOCKER_CLIENT_TIMEOUT must be a positive number of milliseconds, got ${quote(timeout)}`);
    options.timeout = ms;
  }

  let endpoint: string;
  if (url.protocol === 'ssh:') {
    if (tlsVerify) {
      throw new KreproError('E_USAGE', `DOCKER_HOST ${raw} is an ssh:// address but DOCKER_TLS_VERIFY=1 is set; unset one of them`);
    }
    options.protocol = 'ssh';
    options.username = url.username === '' ? undefined : decodeURIComponent(url.username);
    // docker-modem authenticates over ssh only through an agent (no ~/.ssh/config, no key files).
    const agent = nonEmpty(env['SSH_AUTH_SOCK']);
    options.sshOptions = agent === undefined ? {} : { agent };
    endpoint = `ssh://${url.username === '' ? '' : `${url.username}@`}${url.host}`;
  } else {
    const https = tlsVerify || url.port === '2376';
    options.protocol = https ? 'https' : 'http';
    endpoint = `tcp://${url.host}${https ? ' (TLS)' : ''}`;
  }

  // The docker CLI falls back to ~/.docker for TLS files; docker-modem does not, so do it here for https only.
  const home = nonEmpty(env['HOME']) ?? homedir();
  const certPath =
    nonEmpty(env['DOCKER_CERT_PATH']) ??
    (options.protocol === 'https' && existsSync(join(home, '.docker', 'ca.pem')) ? join(home, '.docker') : undefined);
  if (certPath !== undefined) {
    const read = (name: string): Buffer => {
      const file = join(certPath, name);
      try {
        return readFileSync(file);
      } catch (cause) {
        throw new KreproError('E_USAGE', `cannot read ${file} (DOCKER_CERT_PATH=${certPath}): ${(cause as Error).message}`, { path: file, cause });
      }
    };
    options.ca = read('ca.pem');
    options.cert = read('cert.pem');
    options.key = read('key.pem');
  }
  return { endpoint, options };
}

/** An Engine for explicit DOCKER_* values (see resolveEngine). Does not contact the engine. */
export function connectEngine(opts: ConnectOptions = {}): Engine {
  const resolved = resolveEngine(opts);
  let docker: Docker;
  let pinger: Docker;
  try {
    docker = new Docker(resolved.options);
    // Pings on a connection of their own: a stopping dockerd closes its listener at once but keeps serving the
    // connections it has (measured, engine 20.10), so a ping over a pooled keep-alive connection says "alive".
    const fresh = resolved.options.protocol === 'https' ? new https.Agent({ keepAlive: false }) : new http.Agent({ keepAlive: false });
    pinger = new Docker({ ...resolved.options, agent: fresh } as Docker.DockerOptions);
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

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
