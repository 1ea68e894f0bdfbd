/**
 * The build seam: a `Backend` runs one build (environment image, sources, command, conditions in; exit code, log
 * and outputs out), a `Session` is the persistent, incremental build of `krepro run`/`shell`/`release`. The Docker
 * backend implements both; release, verify and rebuild speak only to these interfaces.
 *
 * @packageDocumentation
 */
export type {
  Backend,
  BuildContainer,
  BuildOptions,
  BuildPhase,
  BuildRequest,
  BuildResult,
  CopiedEnvironment,
  HostFacts,
  PreparedEnvironment,
  PrepareOptions,
  RemovedState,
} from '../backend/backend.js';
export type { CopyResult, Session, SessionOptions, Sessions, SyncResult, TerminalIO } from '../backend/session.js';
export type { BuildConditions, Probes, Unapplied } from '../backend/conditions.js';
export { DockerBackend, openDockerBackend, type DockerBackendOptions } from '../backend/docker/backend.js';
export { limitBackend, type Limits } from '../backend/limit.js';
export { openPool, PoolBackend, type PoolEngine, type PoolOptions } from '../backend/pool/pool.js';
export { openSwarmBackend, REGISTRY_LOCK_FILE, SwarmBackend, type SwarmBackendOptions } from '../backend/swarm/backend.js';
export { cleanCheckout } from '../checkout/clean.js';
export type { RunScope } from '../checkout/names.js';
export type { EnvironmentSource } from '../environment/source.js';
export type { Artifact } from '../integrity/artifact.js';
export type { Digests } from '../integrity/hash-stream.js';
export type { Engine, Call, Containers, EngineInfo, EngineVersion, Images, Volumes, BuildImageRequest, BuildImageResult, Container, ContainerInfo, ContainerSpec, ImageInfo, LabelFilter, MemoryVolume, VolumeInfo, ArchiveStat, Mount } from '../engine/engine.js';
export type { Listed, RegistryAuth, ServiceSpec, Swarm, SwarmNode, SwarmTask } from '../engine/swarm.js';
export type { ConnectOptions, EngineEnv } from '../engine/connect.js';
export type { EnvironmentLock, LockedPackage, LockedSource } from '../environment/lock.js';
export type { EnvironmentImageOptions, RootfsOptions } from '../environment/build.js';
export type { ProxySettings } from '../environment/build-image.js';
export { ENVIRONMENT_LOCK_SCHEMA } from '../environment/lock.js';
export type { EnvironmentImageSetting } from '../environment/settings.js';
export type { EnvironmentSpec, PackageSource } from '../environment/spec.js';
export type { Trace, TraceEvent } from '../trace.js';
