import * as path from 'node:path';
import type { Writable } from 'node:stream';
import type Docker from 'dockerode';
import { KreproError } from '../errors.js';
import { ensureBuildImage, proxyEnv, type ProxySettings } from '../engine/build-image.js';
import { type ContainerSpec, type InteractiveIO, runContainer, runInteractive } from '../engine/container.js';
import { CONTAINER_SOURCE_DIR, type StateNames } from '../engine/names.js';
import { ensureDataVolume, removeCheckoutState, type RemovedState } from '../engine/state.js';
import { copyOutput } from '../sync/copy-output.js';
import { syncSources, type SyncResult } from '../sync/source-sync.js';
import { checkoutStateNames } from './checkout.js';
import { lockCheckout, type CheckoutLock } from './lock.js';

export interface BuildSessionOptions {
  docker: Docker;
  checkoutRoot: string;
  /** this machine's hostname: part of the state names, so two machines sharing an engine never collide */
  hostname: string;
  /** directory holding the build image's Dockerfile and VERSION (krepro's build-image/ by default) */
  dockerfileDir: string;
  /** local image the build image starts FROM, e.g. `krepro-base:trixie` (see makeBaseImage) */
  baseImage: string;
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
  /** what a version change removed before this session started */
  removed: RemovedState;
  imageRebuilt: boolean;
  sync(): Promise<SyncResult>;
  run(cmd: string[], io: { stdout: Writable; stderr: Writable }): Promise<number>;
  shell(cmd: string[], io: Omit<InteractiveIO, 'signal'>): Promise<number>;
  /** Brings output back: the given paths (each must exist), or by default `_output/dockerized/bin` if it exists. */
  copyOutput(paths?: string[]): Promise<{ copied: number; unchanged: number; bytes: number }>;
  close(): Promise<void>;
}

/**
 * Prepares this checkout's build state on the engine, as build/common.sh does: takes the checkout lock, removes
 * state of older versions, makes the build image (only when its context changed) and the data volume.
 */
export async function openBuildSession(opts: BuildSessionOptions): Promise<BuildSession> {
  if (opts.user.uid === 0) throw new KreproError('E_USAGE', 'build containers never run as root: pass a non-root uid');
  const { identity, names } = await checkoutStateNames(opts.checkoutRoot, opts.hostname, opts.dockerfileDir, opts.baseImage);
  const lock: CheckoutLock = await lockCheckout(identity.root, opts.command);
  const log = opts.onLog ?? (() => {});
  try {
    const removed = await removeCheckoutState(opts.docker, names.checkoutHash, { keepVersion: names.version, ...(opts.signal ? { signal: opts.signal } : {}) });
    const { rebuilt } = await ensureBuildImage(opts.docker, {
      names,
      dockerfileDir: opts.dockerfileDir,
      contextDir: path.join(identity.root, '_output', 'images', names.image.replace(/:/g, '_')),
      baseImage: opts.baseImage,
      ...(opts.proxies ? { proxies: opts.proxies } : {}),
      onLog: log,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    await ensureDataVolume(opts.docker, names);
    const signal = opts.signal ? { signal: opts.signal } : {};
    const env = [...Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v}`), ...proxyEnv(opts.proxies ?? {})];
    const spec = (cmd: string[]): ContainerSpec => ({
      image: names.image,
      cmd,
      name: names.buildContainer,
      env,
      user: `${opts.user.uid}:${opts.user.gid}`,
      workingDir: CONTAINER_SOURCE_DIR,
      labels: names.labels,
      volumes: { [names.dataVolume]: CONTAINER_SOURCE_DIR },
    });
    const volumeAccess = { volume: names.dataVolume, image: names.image, containerDir: CONTAINER_SOURCE_DIR, checkoutRoot: identity.root, labels: names.labels, ...signal };
    return {
      names,
      removed,
      imageRebuilt: rebuilt,
      sync: () => syncSources(opts.docker, { ...volumeAccess, owner: opts.user, containerName: names.syncContainer }),
      run: async (cmd, io) => {
        await removeLeftover(opts.docker, names.buildContainer);
        return runContainer(opts.docker, spec(cmd), { ...io, ...signal });
      },
      shell: async (cmd, io) => {
        await removeLeftover(opts.docker, names.buildContainer);
        return runInteractive(opts.docker, spec(cmd), { ...io, ...signal });
      },
      copyOutput: (paths) => copyOutput(opts.docker, { ...volumeAccess, ...(paths ? { paths } : { skipMissing: true }), containerName: names.syncContainer }),
      close: () => lock.release(),
    };
  } catch (err) {
    await lock.release();
    throw err;
  }
}

/** A build container left by a killed run would block the name; upstream destroys it the same way. */
async function removeLeftover(docker: Docker, name: string): Promise<void> {
  await docker
    .getContainer(name)
    .remove({ force: true })
    .catch((err: { statusCode?: number }) => {
      if (err.statusCode !== 404) throw err;
    });
}
