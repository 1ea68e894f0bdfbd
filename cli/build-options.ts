import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import * as path from 'node:path';
import type { ParseArgsConfig } from 'node:util';
import {
  type BuildSession,
  gitVersion,
  openBuildSession,
  openEngine,
  type ProxySettings,
  redact,
} from '../lib/index.js';
import { type CommandIO, sourceDateEpochFor } from './io.js';

/** Options every containerized command shares. */
export const BUILD_OPTIONS = {
  'base-image': { type: 'string' },
  'build-image-dir': { type: 'string' },
  host: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

export const BUILD_OPTIONS_HELP = `Engine and image options:
  --base-image IMG     local image the build image is made FROM (default: krepro-base:trixie; make it with
                       'krepro base-image', no registry needed)
  --build-image-dir D  Dockerfile + VERSION of the build image (default: krepro's build-image/). Bumping
                       VERSION removes this checkout's older images, containers and volumes.
  --host URL           Docker engine (default: DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH as the docker
                       CLI reads them; a remote engine needs no port forwarding: all transfers use the API)

Environment: KUBE_* (e.g. KUBE_BUILD_PLATFORMS), GOFLAGS, GOGCFLAGS, GOLDFLAGS and GOPROXY are passed into the
build container, with SOURCE_DATE_EPOCH (default: HEAD's commit time) and KUBE_GIT_VERSION (default: from git).
KUBERNETES_HTTP_PROXY, KUBERNETES_HTTPS_PROXY and KUBERNETES_NO_PROXY reach the image build and every
container as http_proxy/https_proxy/no_proxy (both cases); their values are never printed.
KUBE_RSYNC_PORT is accepted and ignored: no rsync daemon or port is needed any more.
`;

const PASSED_PREFIXES = ['KUBE_'];
const PASSED_NAMES = ['GOFLAGS', 'GOGCFLAGS', 'GOLDFLAGS', 'GOPROXY', 'GOTOOLCHAIN'];
/** Host-side switches that mean nothing inside the container. */
const HOST_ONLY = new Set(['KUBE_RUN_COPY_OUTPUT', 'KUBE_RSYNC_PORT', 'KUBE_RELEASE_RUN_TESTS']);

export function proxiesFrom(env: CommandIO['env']): ProxySettings {
  return {
    ...(env.KUBERNETES_HTTP_PROXY ? { http: env.KUBERNETES_HTTP_PROXY } : {}),
    ...(env.KUBERNETES_HTTPS_PROXY ? { https: env.KUBERNETES_HTTPS_PROXY } : {}),
    ...(env.KUBERNETES_NO_PROXY ? { no: env.KUBERNETES_NO_PROXY } : {}),
  };
}

export function packageRoot(): string {
  return path.dirname(createRequire(import.meta.url).resolve('krepro/package.json'));
}

/** The invoking user, or a fixed non-root build user when invoked as root (files in the volume belong to it). */
export function buildUser(): { uid: number; gid: number } {
  const uid = process.getuid?.() ?? 1000;
  return uid === 0 ? { uid: 1000, gid: 1000 } : { uid, gid: process.getgid?.() ?? 1000 };
}

export interface OpenedSession {
  session: BuildSession;
  sourceDateEpoch: number;
  version: string;
  proxies: ProxySettings;
}

export async function openSession(command: string, values: { 'base-image'?: string; 'build-image-dir'?: string; host?: string }, io: CommandIO): Promise<OpenedSession> {
  const engine = await openEngine({ env: io.env, ...(values.host ? { host: values.host } : {}), signal: io.signal });
  const checkoutRoot = io.cwd;
  const sde = await sourceDateEpochFor(io, { repoDir: checkoutRoot });
  const version = io.env.KUBE_GIT_VERSION || (await gitVersion(checkoutRoot));
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(io.env)) {
    if (v !== undefined && !HOST_ONLY.has(k) && (PASSED_NAMES.includes(k) || PASSED_PREFIXES.some((p) => k.startsWith(p)))) env[k] = v;
  }
  env.SOURCE_DATE_EPOCH = String(sde.seconds);
  env.KUBE_GIT_VERSION = version;
  const proxies = proxiesFrom(io.env);
  if (io.env.KUBE_RSYNC_PORT) io.stderr.write('note: KUBE_RSYNC_PORT is no longer needed and is ignored: sources and output travel over the engine API\n');
  const session = await openBuildSession({
    engine,
    checkoutRoot,
    hostname: hostname(),
    dockerfileDir: path.resolve(io.cwd, values['build-image-dir'] ?? path.join(packageRoot(), 'build-image')),
    baseImage: values['base-image'] ?? 'krepro-base:trixie',
    user: buildUser(),
    env,
    proxies,
    command,
    onLog: (line) => io.stderr.write(`${redact(line, proxies)}\n`),
    signal: io.signal,
  });
  const { containers, volumes } = session.leftovers;
  if (containers.length + volumes.length > 0) {
    io.stderr.write(`note: removed what an earlier run of this checkout left when it was cut off: ${containers.length} container(s), ${volumes.length} volume(s) (${[...containers, ...volumes].join(', ')})\n`);
  }
  return { session, sourceDateEpoch: sde.seconds, version, proxies };
}
