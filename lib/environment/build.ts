import { chmod, mkdir, mkdtemp, readFile, realpath, rename, rm, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { tarStream, writeSmallFile } from '../archive/pack.js';
import { KreproError } from '../errors.js';
import { isoSeconds, layerFromTar, prepareImageArchive, type ImageLayer } from '../image/archive.js';
import type { Engine } from '../engine/engine.js';
import { digestHex } from '../image/oci.js';
import { removeTree } from '../process/remove-tree.js';
import { type EnvironmentLock, lockDigest } from './lock.js';
import { mmdebstrapVersion, runMmdebstrap } from './mmdebstrap.js';
import { fetchPackages, makeLocalRepository } from './packages.js';

/** Label on the environment image naming the lock it was made from. */
export const LABEL_ENVIRONMENT_LOCK = 'io.krepro.environment.lock';

/** How the root file system of the locked environment is made. */
export interface RootfsOptions {
  /** temporary files (the local repository, mmdebstrap's work, an uncached root filesystem) go below it */
  workDir: string;
  /** host cache: `rootfs/<lock digest>.tar` (+ .sha256) and `packages/<sha256>.deb`; absent: nothing is kept */
  cacheDir?: string;
  /** ignore a cached root filesystem and make it again (the result replaces the cached one) */
  noCache?: boolean;
  /** mirror name → URL overriding the lock's, e.g. a snapshot.debian.org URL for an old lock */
  mirrors?: Record<string, string>;
  /** Each line of mmdebstrap's output. */
  onLog?: (line: string) => void;
  /** Aborts the build; nothing half-made is cached. */
  signal?: AbortSignal;
}

export interface Rootfs {
  /** the root filesystem tar (in the cache, or in a temporary directory the caller removes with `dispose`) */
  file: string;
  layer: ImageLayer;
  /** true when it was taken from the cache, not made now */
  cached: boolean;
  /** seconds spent downloading packages and running mmdebstrap (0 when cached) */
  seconds: { packages: number; mmdebstrap: number };
  /** mmdebstrap's version, when it differs from the lock's: the bytes may then differ from another machine's */
  mmdebstrapMismatch?: string;
  dispose: () => Promise<void>;
}

const elapsed = (since: number): number => Math.round((Date.now() - since) / 100) / 10;

/**
 * Makes the environment's root filesystem from the lock, outside any engine: every locked .deb downloaded and
 * checked against the lock's SHA-256, served to mmdebstrap from a local repository (so apt installs exactly the
 * locked versions, nothing from the network), with the lock's hooks and SOURCE_DATE_EPOCH. A cached tar is reused
 * only when its SHA-256 still matches the one recorded when it was made.
 */
export async function makeEnvironmentRootfs(lock: EnvironmentLock, opts: RootfsOptions): Promise<Rootfs> {
  const log = opts.onLog ?? (() => {});
  const hex = digestHex(lockDigest(lock));
  const cacheFile = opts.cacheDir ? path.join(opts.cacheDir, 'rootfs', `${hex}.tar`) : undefined;
  const noop = async (): Promise<void> => {};
  if (cacheFile && !opts.noCache) {
    const recorded = (await readFile(`${cacheFile}.sha256`, 'utf8').catch(() => '')).trim();
    const layer = recorded ? await layerFromTar(cacheFile, opts.signal).catch(() => undefined) : undefined;
    if (layer && layer.digest === recorded) {
      log(`root filesystem from the cache: ${cacheFile} (${layer.digest})`);
      return { file: cacheFile, layer, cached: true, seconds: { packages: 0, mmdebstrap: 0 }, dispose: noop };
    }
    if (recorded) log(`cached root filesystem ${cacheFile} does not match its recorded digest; making it again`);
  }

  const installed = await mmdebstrapVersion();
  if (installed !== lock.tools.mmdebstrap) log(`note: the lock was made with mmdebstrap ${lock.tools.mmdebstrap}, this is ${installed}; the root filesystem may differ from one made with ${lock.tools.mmdebstrap}`);
  await mkdir(opts.workDir, { recursive: true });
  const work = await realpath(await mkdtemp(path.join(opts.workDir, 'krepro-env-')));
  // apt fetches (here: copies from the local repository) as the unprivileged _apt user when it can reach the files,
  // else as root, and the owner of its partial/ directories in the root filesystem follows: measured, two owners
  // differed between a 0700 and a 0755 work directory. So every build must let _apt in.
  await chmod(work, 0o755);
  await assertReachableByOthers(work);
  try {
    const repo = path.join(work, 'repo');
    let started = Date.now();
    await fetchPackages(lock, repo, {
      ...(opts.mirrors ? { mirrors: opts.mirrors } : {}),
      ...(opts.cacheDir ? { packageCache: path.join(opts.cacheDir, 'packages') } : {}),
      onLog: log,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    await makeLocalRepository(lock, repo, { onLog: log, ...(opts.signal ? { signal: opts.signal } : {}) });
    const packages = elapsed(started);
    started = Date.now();
    const tar = path.join(work, 'rootfs.tar');
    await runMmdebstrap({
      suite: lock.suite,
      variant: lock.variant,
      architecture: lock.architecture,
      include: lock.packages.map((p) => `${p.name}=${p.version}`),
      customizeHooks: lock.customize,
      target: tar,
      // copy://: mmdebstrap copies the files into the chroot's apt cache, and cleans them out afterwards
      sources: [`deb [trusted=yes] copy://${repo} ./`],
      sourceDateEpoch: lock.sourceDateEpoch,
      tempDir: work,
      onLog: log,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    const mmdebstrap = elapsed(started);
    const layer = await layerFromTar(tar, opts.signal);
    log(`root filesystem ${layer.digest} (${(layer.size / 1e6).toFixed(0)} MB) in ${(packages + mmdebstrap).toFixed(1)} s`);
    const seconds = { packages, mmdebstrap };
    const mismatch = installed !== lock.tools.mmdebstrap ? { mmdebstrapMismatch: installed } : {};
    if (cacheFile) {
      await mkdir(path.dirname(cacheFile), { recursive: true });
      await rename(tar, cacheFile);
      await writeSmallFile(`${cacheFile}.sha256`, `${layer.digest}\n`);
      await removeTree(work, log);
      return { file: cacheFile, layer: { ...layer, file: cacheFile }, cached: false, seconds, ...mismatch, dispose: noop };
    }
    await rm(repo, { recursive: true, force: true });
    return { file: tar, layer, cached: false, seconds, ...mismatch, dispose: () => removeTree(work, log) };
  } catch (err) {
    await removeTree(work, log);
    throw err;
  }
}

/** Every directory from / down to `dir` lets other users (apt's _apt) pass; otherwise an error naming the one that does not. */
async function assertReachableByOthers(dir: string): Promise<void> {
  for (let d = dir; ; d = path.dirname(d)) {
    if (((await stat(d)).mode & 0o001) === 0) {
      throw new KreproError('E_ENVIRONMENT', `work directory ${dir} is inside ${d}, which other users cannot enter (mode ${((await stat(d)).mode & 0o777).toString(8)}); apt's _apt user must reach the packages, or the root filesystem differs: use --work-dir /var/tmp`, { path: d });
    }
    if (d === path.dirname(d)) return;
  }
}

/** `krepro-environment:<first 16 hex of the lock digest>`: the name always points at the same content. */
export function environmentImageName(lock: EnvironmentLock): string {
  return `krepro-environment:${digestHex(lockDigest(lock)).slice(0, 16)}`;
}

/** The image config: the lock's Env, WorkingDir and Cmd, the lock's digest as a label, SOURCE_DATE_EPOCH as every time. */
export function environmentImageConfig(lock: EnvironmentLock): Record<string, unknown> {
  const created = isoSeconds(lock.sourceDateEpoch);
  return {
    architecture: lock.architecture,
    os: 'linux',
    config: { Env: lock.image.env, WorkingDir: lock.image.workingDir, Cmd: lock.image.cmd, Labels: { [LABEL_ENVIRONMENT_LOCK]: lockDigest(lock) } },
    created,
    history: [{ created, created_by: `mmdebstrap --variant=${lock.variant} ${lock.suite} # krepro env build, lock ${lockDigest(lock)}` }],
  };
}

/** How makeEnvironmentImage makes the locked environment's image. */
export interface EnvironmentImageOptions extends RootfsOptions {
  /** image name to load as; default environmentImageName(lock) */
  image?: string;
}

/** The locked environment's image on an engine. */
export interface EnvironmentImage {
  /** `sha256:<hex>`: the same on every engine for the same lock */
  id: string;
  /** Its name on the engine. */
  image: string;
  /** lockDigest of the lock it was made from. */
  lockDigest: string;
  /** sha256 of the root filesystem tar, the image's only layer */
  rootfsDigest: string;
  /** the root filesystem came from the host cache (or the image was already present) */
  cached: boolean;
  /** already on the engine under `image` for this lock: nothing was made or loaded */
  present: boolean;
  /** Seconds spent fetching packages, in mmdebstrap, loading the image, and in all. */
  seconds: { packages: number; mmdebstrap: number; load: number; total: number };
  /** Set when this mmdebstrap is another version than the lock records: the root file system may differ. */
  mmdebstrapMismatch?: string;
}

/** The environment image an engine already has for this lock (by name and lock label), or undefined. */
export async function findEnvironmentImage(engine: Engine, lock: EnvironmentLock, image = environmentImageName(lock), opts: { signal?: AbortSignal } = {}): Promise<{ id: string; image: string; rootfsDigest: string } | undefined> {
  const found = await engine.images.inspect(image, opts);
  if (found === undefined) return undefined;
  if (found.labels[LABEL_ENVIRONMENT_LOCK] !== lockDigest(lock)) {
    throw new KreproError('E_ENVIRONMENT', `${image} on ${engine.endpoint} was not made from this lock (its ${LABEL_ENVIRONMENT_LOCK} label is ${found.labels[LABEL_ENVIRONMENT_LOCK] ?? 'missing'}, the lock is ${lockDigest(lock)}); remove it or name another image`);
  }
  return { id: found.id, image, rootfsDigest: found.layers[0] ?? '' };
}

/**
 * Makes the locked build environment on an engine: the root filesystem (makeEnvironmentRootfs), one image around it
 * assembled outside the daemon (lib/image), streamed into the engine's image load. The image ID is the digest of
 * a config that follows from the lock and the root filesystem's bytes, so any engine given the same lock reports
 * the same ID, with nothing copied between engines and no network used inside them. When the engine already has
 * the image for this lock, nothing is made (unless noCache).
 */
export async function makeEnvironmentImage(engine: Engine, lock: EnvironmentLock, opts: EnvironmentImageOptions): Promise<EnvironmentImage> {
  const began = Date.now();
  const image = opts.image ?? environmentImageName(lock);
  const digest = lockDigest(lock);
  const call = opts.signal ? { signal: opts.signal } : {};
  const present = await findEnvironmentImage(engine, lock, image, call);
  if (present && !opts.noCache) {
    opts.onLog?.(`${image} is already on ${engine.endpoint} as ${present.id}`);
    return { ...present, lockDigest: digest, cached: true, present: true, seconds: { packages: 0, mmdebstrap: 0, load: 0, total: elapsed(began) } };
  }
  const rootfs = await makeEnvironmentRootfs(lock, opts);
  const work = await mkdtemp(path.join(opts.workDir, 'krepro-env-image-'));
  try {
    const config = environmentImageConfig(lock);
    const archive = await prepareImageArchive(work, { layers: [rootfs.layer], config, repoTag: image, platform: { architecture: lock.architecture, os: 'linux' }, created: lock.sourceDateEpoch });
    const started = Date.now();
    opts.onLog?.(`loading ${image} (${archive.imageId}) into ${engine.endpoint}`);
    await engine.images.load(tarStream(archive.entries, { mtime: lock.sourceDateEpoch }), call);
    // The engine derives the ID from the config bytes: another ID means the archive is not what was computed.
    const loaded = await engine.images.inspect(image, call);
    if (loaded?.id !== archive.imageId) throw new KreproError('E_ENGINE', `${image} loaded into ${engine.endpoint} with ID ${loaded?.id ?? '(none)'}, expected ${archive.imageId}`, { endpoint: engine.endpoint });
    return {
      id: archive.imageId,
      image,
      lockDigest: digest,
      rootfsDigest: rootfs.layer.digest,
      cached: rootfs.cached,
      present: false,
      seconds: { ...rootfs.seconds, load: elapsed(started), total: elapsed(began) },
      ...(rootfs.mmdebstrapMismatch ? { mmdebstrapMismatch: rootfs.mmdebstrapMismatch } : {}),
    };
  } finally {
    await rm(work, { recursive: true, force: true });
    await rootfs.dispose();
  }
}
