// Where the engine is: DOCKER_* settings resolved to dockerode's options. Apart from connect.ts so that no public
// declaration names a dockerode type.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { KreproError } from '../errors.js';
import { quote } from '../quote.js';
import type { ConnectOptions } from './connect.js';

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

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
