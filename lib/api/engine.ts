/**
 * The Docker engine: connecting to it (DOCKER_HOST and friends passed in, never read from the process), the
 * `Engine` interface every engine call goes through, and the debootstrap base image. Builds go through
 * `krepro/backend`, which sits on this.
 *
 * @packageDocumentation
 */
export type {
  ArchiveStat,
  BuildImageRequest,
  BuildImageResult,
  Call,
  Container,
  ContainerInfo,
  Containers,
  ContainerSpec,
  Engine,
  EngineInfo,
  EngineVersion,
  ImageInfo,
  Images,
  LabelFilter,
  MemoryVolume,
  Mount,
  VolumeInfo,
  Volumes,
} from '../engine/engine.js';
export type { Listed, RegistryAuth, ServiceSpec, Swarm, SwarmNode, SwarmTask } from '../engine/swarm.js';
export { connectEngine, openEngine, pingEngine, type ConnectOptions, type EngineEnv } from '../engine/connect.js';
export { tracedEngine } from '../engine/traced.js';
export { makeBaseImage, type BaseImageOptions } from '../environment/base-image.js';
export type { Trace, TraceEvent } from '../trace.js';
