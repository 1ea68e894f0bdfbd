import { buildImageVersion } from '../checkout/identity.js';
import { baseImageTag } from '../checkout/names.js';
import type { EnvironmentImageOptions } from './build.js';
import { environmentImageName } from './build.js';
import type { ProxySettings } from './build-image.js';
import { type EnvironmentLock, lockDigest } from './lock.js';

/**
 * Where the environment a build runs in comes from: the locked environment (the default: the same image ID on every
 * engine, made from the lock outside any daemon), or a Dockerfile a project brings (built by the engine, per
 * checkout; a second engine gets that very image, by ID).
 */
export type EnvironmentSource =
  | { kind: 'locked'; lock: EnvironmentLock; options: Omit<EnvironmentImageOptions, 'signal'> }
  | { kind: 'dockerfile'; dockerfileDir: string; baseImage: string; proxies?: ProxySettings };

/** What a checkout's state names need before anything reaches an engine: the version part, and the image when fixed. */
export async function sourceVersion(source: EnvironmentSource): Promise<{ version: string; image?: string }> {
  if (source.kind === 'locked') return { version: `env-${lockDigest(source.lock).slice('sha256:'.length, 'sha256:'.length + 12)}`, image: environmentImageName(source.lock) };
  return { version: `${await buildImageVersion(source.dockerfileDir)}-${baseImageTag(source.baseImage)}` };
}
