import { outputDirOf, pathBeneath } from '../checkout/beneath.js';
import { buildImageVersion } from '../checkout/identity.js';
import { baseImageTag, type StateNames } from '../checkout/names.js';
import type { Call, Engine } from '../engine/engine.js';
import { type EnvironmentImageOptions, environmentImageName, makeEnvironmentImage } from './build.js';
import { ensureBuildImage, type ProxySettings } from './build-image.js';
import { type EnvironmentLock, lockDigest } from './lock.js';

/**
 * Where a build's image comes from: the locked build environment (the default: the same image ID on every engine,
 * made from the lock outside any daemon), or a Dockerfile a project brings (built by the engine, per checkout).
 */
export type BuildImageSource =
  | { kind: 'locked'; lock: EnvironmentLock; options: Omit<EnvironmentImageOptions, 'signal'> }
  | { kind: 'dockerfile'; dockerfileDir: string; baseImage: string; proxies?: ProxySettings };

/** What the state names need before anything reaches the engine: the version part, and the image when fixed. */
export async function sourceVersion(source: BuildImageSource): Promise<{ version: string; image?: string }> {
  if (source.kind === 'locked') return { version: `env-${lockDigest(source.lock).slice('sha256:'.length, 'sha256:'.length + 12)}`, image: environmentImageName(source.lock) };
  return { version: `${await buildImageVersion(source.dockerfileDir)}-${baseImageTag(source.baseImage)}` };
}

export interface PreparedImage {
  image: string;
  id: string;
  /** rebuilt (Dockerfile) or made from scratch (lock) by this call */
  made: boolean;
  /** the lock the image was made from, when it is the locked environment */
  lock?: EnvironmentLock;
}

/** Makes sure the engine has the build image (`names.image`): made from the lock, or built from the Dockerfile. */
export async function prepareBuildImage(engine: Engine, source: BuildImageSource, names: StateNames, opts: Call & { checkoutRoot: string; onLog?: (line: string) => void }): Promise<PreparedImage> {
  const call = opts.signal ? { signal: opts.signal } : {};
  if (source.kind === 'locked') {
    const env = await makeEnvironmentImage(engine, source.lock, { ...source.options, image: names.image, ...(opts.onLog ? { onLog: opts.onLog } : {}), ...call });
    return { image: env.image, id: env.id, made: !env.present, lock: source.lock };
  }
  const built = await ensureBuildImage(engine, {
    names,
    dockerfileDir: source.dockerfileDir,
    contextDir: await pathBeneath(await outputDirOf(opts.checkoutRoot), `images/${names.image.replace(/:/g, '_')}`),
    baseImage: source.baseImage,
    ...(source.proxies ? { proxies: source.proxies } : {}),
    ...(opts.onLog ? { onLog: opts.onLog } : {}),
    ...call,
  });
  return { image: names.image, id: built.imageId, made: built.rebuilt };
}
