import { checkoutStateNames } from '../../checkout/identity.js';
import { type CheckoutClaim, claimCheckout } from '../../checkout/claim.js';
import { CONTAINER_SOURCE_DIR, runNames } from '../../checkout/names.js';
import type { ContainerSpec, Engine } from '../../engine/engine.js';
import { proxyEnv } from '../../environment/build-image.js';
import { sourceVersion } from '../../environment/source.js';
import { KreproError } from '../../errors.js';
import type { Session, SessionOptions } from '../session.js';
import { prepareEnvironment } from './environment.js';
import { runContainer, runInteractive } from './run.js';
import { ensureDataVolume, removeCheckoutState, removeLeftovers } from './state.js';
import { copyOutput } from './sync/copy-output.js';
import { syncSources } from './sync/source-sync.js';

/** The hostname of every build container of `run`, `shell` and `release`. */
export const BUILD_HOSTNAME = 'krepro-build';

/**
 * Prepares this checkout's build state on the engine, as build/common.sh does: claims the checkout, removes
 * what killed runs left and state of older versions, makes the environment (only when its context changed) and the
 * data volume. Every container of the session is new and named for this run.
 */
export async function openDockerSession(engine: Engine, opts: SessionOptions): Promise<Session> {
  if (opts.user.uid === 0) throw new KreproError('E_USAGE', 'build containers never run as root: pass a non-root uid');
  const { identity, names } = await checkoutStateNames(opts.checkoutRoot, opts.hostname, await sourceVersion(opts.environment));
  const lock: CheckoutClaim = await claimCheckout(identity.root, opts.command);
  const signal = opts.signal ? { signal: opts.signal } : {};
  try {
    const leftovers = await removeLeftovers(engine, names.checkoutHash, signal);
    const stale = await removeCheckoutState(engine, names.checkoutHash, { keepVersion: names.version, ...signal });
    const environment = await prepareEnvironment(engine, opts.environment, { checkoutRoot: identity.root, hostname: opts.hostname, names, ...(opts.onLog ? { onLog: opts.onLog } : {}), ...signal });
    await ensureDataVolume(engine, names, signal);
    const run = runNames(names.checkoutHash, names.labels);
    const variables = { ...(opts.variables ?? {}) };
    const env = [...Object.entries(variables).map(([k, v]) => `${k}=${v}`), ...proxyEnv(opts.proxies ?? {})];
    let containers = 0;
    // Builds may fetch modules or packages (as upstream's do): they get the default network, unlike verify's. The
    // hostname is fixed (the engine's default is the container's random ID), so a recipe can name it.
    const container = { user: opts.user, hostname: BUILD_HOSTNAME, workingDir: CONTAINER_SOURCE_DIR };
    const spec = (cmd: readonly string[]): ContainerSpec => ({
      image: environment.ref,
      cmd: [...cmd],
      name: run.name(`build-${++containers}`),
      env,
      user: `${opts.user.uid}:${opts.user.gid}`,
      hostname: container.hostname,
      workingDir: container.workingDir,
      labels: run.labels,
      network: 'bridge',
      mounts: [{ type: 'volume', source: names.dataVolume, target: CONTAINER_SOURCE_DIR }],
    });
    const volumeAccess = { volume: names.dataVolume, image: environment.ref, containerDir: CONTAINER_SOURCE_DIR, checkoutRoot: identity.root, labels: run.labels, ...signal };
    let helpers = 0;
    return {
      environment,
      container,
      variables,
      removed: { leftovers, stale },
      sync: () => syncSources(engine, { ...volumeAccess, owner: opts.user, containerName: run.name(`sync-${++helpers}`) }),
      run: (cmd, io) => runContainer(engine, spec(cmd), { ...io, ...signal }),
      shell: (cmd, io) => runInteractive(engine, spec(cmd), { ...io, ...signal }),
      copyOutput: (paths, o) => copyOutput(engine, { ...volumeAccess, userOutputLink: true, ...(paths ? { paths: [...paths], skipMissing: o?.skipMissing ?? false } : { skipMissing: true }), containerName: run.name(`copy-${++helpers}`) }),
      close: () => lock.release(),
    };
  } catch (err) {
    await lock.release();
    throw err;
  }
}
