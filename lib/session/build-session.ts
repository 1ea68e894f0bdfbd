import type { Writable } from 'node:stream';
import { checkoutStateNames } from '../checkout/identity.js';
import { lockCheckout, type CheckoutLock } from '../checkout/lock.js';
import { CONTAINER_SOURCE_DIR, type RunNames, runNames, type StateNames } from '../checkout/names.js';
import { ensureDataVolume, removeCheckoutState, removeLeftovers, type RemovedState } from '../checkout/state.js';
import type { ContainerSpec, Engine } from '../engine/engine.js';
import { type InteractiveIO, runContainer, runInteractive } from '../engine/run.js';
import { proxyEnv, type ProxySettings } from '../environment/build-image.js';
import { type BuildImageSource, prepareBuildImage, sourceVersion } from '../environment/image-source.js';
import type { EnvironmentLock } from '../environment/lock.js';
import { KreproError } from '../errors.js';
import { copyOutput } from '../sync/copy-output.js';
import { syncSources, type SyncResult } from '../sync/source-sync.js';

export interface BuildSessionOptions {
  engine: Engine;
  checkoutRoot: string;
  /** this machine's hostname: part of the state names, so two machines sharing an engine never collide */
  hostname: string;
  /** the build image: the locked environment, or a project's Dockerfile */
  image: BuildImageSource;
  /** uid:gid the build runs as; never root */
  user: { uid: number; gid: number };
  /** environment for every build container (SOURCE_DATE_EPOCH, KUBE_*, GO* …), proxies excluded */
  env?: Record<string, string>;
  proxies?: ProxySettings;
  /** the command, recorded in the lock file so a second run can say who holds it */
  command: string;
  onLog?: (line: string) => void;
  signal?: AbortSignal;
}

export interface BuildSession {
  names: StateNames;
  /** this run's id, labels and object names */
  runNames: RunNames;
  /** what a version change removed before this session started */
  removed: RemovedState;
  /** what killed earlier runs of this checkout had left on the engine, removed before this session started */
  leftovers: RemovedState;
  /** the build image was made (from the lock) or rebuilt (from the Dockerfile) by this session */
  imageRebuilt: boolean;
  /** the build image's ID, as the engine reports it, and its lock when it is the locked environment */
  imageId: string;
  lock?: EnvironmentLock;
  /** how every build container of the session runs: what a recipe records */
  container: { user: { uid: number; gid: number }; hostname: string; workingDir: string };
  /** the environment of every build container (proxies excluded) */
  env: Record<string, string>;
  sync(): Promise<SyncResult>;
  run(cmd: string[], io: { stdout: Writable; stderr: Writable }): Promise<number>;
  shell(cmd: string[], io: Omit<InteractiveIO, 'signal'>): Promise<number>;
  /** Brings output back: the given paths (each must exist unless skipMissing), or by default `_output/dockerized/bin` if it exists. */
  copyOutput(paths?: string[], opts?: { skipMissing?: boolean }): Promise<{ copied: number; unchanged: number; bytes: number }>;
  close(): Promise<void>;
}

/** The hostname of every build container of `run`, `shell` and `release`. */
export const BUILD_HOSTNAME = 'krepro-build';

/**
 * Prepares this checkout's build state on the engine, as build/common.sh does: takes the checkout lock, removes
 * what killed runs left and state of older versions, makes the build image (only when its context changed) and the
 * data volume. Every container of the session is new and named for this run.
 */
export async function openBuildSession(opts: BuildSessionOptions): Promise<BuildSession> {
  if (opts.user.uid === 0) throw new KreproError('E_USAGE', 'build containers never run as root: pass a non-root uid');
  const { engine } = opts;
  const { identity, names } = await checkoutStateNames(opts.checkoutRoot, opts.hostname, await sourceVersion(opts.image));
  const lock: CheckoutLock = await lockCheckout(identity.root, opts.command);
  const log = opts.onLog ?? (() => {});
  const signal = opts.signal ? { signal: opts.signal } : {};
  try {
    const leftovers = await removeLeftovers(engine, names.checkoutHash, signal);
    const removed = await removeCheckoutState(engine, names.checkoutHash, { keepVersion: names.version, ...signal });
    const prepared = await prepareBuildImage(engine, opts.image, names, { checkoutRoot: identity.root, onLog: log, ...signal });
    await ensureDataVolume(engine, names, signal);
    const run = runNames(names.checkoutHash, names.labels);
    const env = [...Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v}`), ...proxyEnv(opts.proxies ?? {})];
    let containers = 0;
    // Builds may fetch modules or packages (as upstream's do): they get the default network, unlike verify's. The
    // hostname is fixed (the engine's default is the container's random ID), so a recipe can name it.
    const container = { user: opts.user, hostname: BUILD_HOSTNAME, workingDir: CONTAINER_SOURCE_DIR };
    const spec = (cmd: string[]): ContainerSpec => ({
      image: names.image,
      cmd,
      name: run.name(`build-${++containers}`),
      env,
      user: `${opts.user.uid}:${opts.user.gid}`,
      hostname: container.hostname,
      workingDir: container.workingDir,
      labels: run.labels,
      network: 'bridge',
      mounts: [{ type: 'volume', source: names.dataVolume, target: CONTAINER_SOURCE_DIR }],
    });
    const volumeAccess = { volume: names.dataVolume, image: names.image, containerDir: CONTAINER_SOURCE_DIR, checkoutRoot: identity.root, labels: run.labels, ...signal };
    let helpers = 0;
    return {
      names,
      runNames: run,
      removed,
      leftovers,
      imageRebuilt: prepared.made,
      imageId: prepared.id,
      ...(prepared.lock ? { lock: prepared.lock } : {}),
      container,
      env: { ...(opts.env ?? {}) },
      sync: () => syncSources(engine, { ...volumeAccess, owner: opts.user, containerName: run.name(`sync-${++helpers}`) }),
      run: (cmd, io) => runContainer(engine, spec(cmd), { ...io, ...signal }),
      shell: (cmd, io) => runInteractive(engine, spec(cmd), { ...io, ...signal }),
      copyOutput: (paths, o) => copyOutput(engine, { ...volumeAccess, userOutputLink: true, ...(paths ? { paths, skipMissing: o?.skipMissing ?? false } : { skipMissing: true }), containerName: run.name(`copy-${++helpers}`) }),
      close: () => lock.release(),
    };
  } catch (err) {
    await lock.release();
    throw err;
  }
}
