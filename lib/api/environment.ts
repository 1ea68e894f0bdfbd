/**
 * The locked build environment: its spec (`build-image/environment.json`), the lock of every Debian package, and the
 * image made from the lock with mmdebstrap.
 *
 * @packageDocumentation
 */
export { ENVIRONMENT_SPEC_FILE, ENVIRONMENT_SPEC_SCHEMA, checkEnvironmentSpec, readEnvironmentSpec, effectiveMirrors, type EnvironmentSpec, type PackageSource } from '../environment/spec.js';
export {
  ENVIRONMENT_LOCK_FILE,
  ENVIRONMENT_LOCK_SCHEMA,
  checkLock,
  readLock,
  writeLock,
  lockDigest,
  lockEnvironment,
  type EnvironmentLock,
  type LockedPackage,
  type LockedSource,
  type LockOptions,
  type LockResult,
} from '../environment/lock.js';
export { ENVIRONMENT_SETTINGS, environmentSettings, type EnvironmentImageSetting } from '../environment/settings.js';
export { makeEnvironmentImage, findEnvironmentImage, environmentImageName, type EnvironmentImage, type EnvironmentImageOptions, type RootfsOptions } from '../environment/build.js';
export type { EnvironmentSource } from '../environment/source.js';
export type { ProxySettings } from '../environment/build-image.js';
export type { Engine, Call, Containers, EngineInfo, EngineVersion, Images, Volumes, BuildImageRequest, BuildImageResult, Container, ContainerInfo, ContainerSpec, ImageInfo, LabelFilter, MemoryVolume, VolumeInfo, ArchiveStat, Mount } from '../engine/engine.js';
export type { Listed, RegistryAuth, ServiceSpec, Swarm, SwarmNode, SwarmTask } from '../engine/swarm.js';
