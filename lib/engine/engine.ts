import type { Duplex, Readable } from 'node:stream';
import type { RegistryAuth, Swarm } from './swarm.js';

/**
 * The container engine as krepro uses it: images, volumes, containers, archive copies and attach. This interface is
 * the seam; `lib/engine/docker.ts` implements it over the Docker Engine API and is the only code that knows dockerode.
 * Every failure leaves it as a `KreproError` naming the endpoint and the operation (see engine-errors.ts), and every
 * call takes its own signal.
 *
 * The shape is meant to survive a second implementation that runs one build as a job on a distributed engine
 * (Docker Swarm replicated-job services, Kubernetes Jobs): callers speak of images by reference, volumes by name,
 * containers by a spec with mounts, and move files only as tar streams — nothing that assumes a local daemon.
 */
export interface Engine {
  /** Human-readable address for messages and reports, e.g. `unix:///var/run/docker.sock`. */
  readonly endpoint: string;
  /** Resolves when the engine accepts new work now (a new connection, not one it is still serving while it stops). */
  ping(opts?: Call): Promise<void>;
  /** The engine's version and platform. */
  version(opts?: Call): Promise<EngineVersion>;
  /** The engine host's CPUs, memory, kernel and OS. */
  info(opts?: Call): Promise<EngineInfo>;
  /** Image calls. */
  readonly images: Images;
  /** Volume calls. */
  readonly volumes: Volumes;
  /** Container calls. */
  readonly containers: Containers;
  /** the swarm this engine manages (lib/backend/swarm) */
  readonly swarm: Swarm;
}

/** What every engine call takes. */
export interface Call {
  /** Aborts the call; the engine error is then E_ENGINE naming the call. */
  signal?: AbortSignal;
}

/** The engine host: what builds run on. */
export interface EngineInfo {
  /** The name of the machine the engine runs on (docker info's Name). */
  name: string;
  /** CPUs the engine can use. */
  cpus: number;
  /** Memory the engine can use, in bytes. */
  memoryBytes: number;
  /** Kernel version, e.g. `6.1.0-27-amd64`. */
  kernel: string;
  /** Operating system, e.g. `Debian GNU/Linux 13 (trixie)`. */
  os: string;
}

/** The engine's version. */
export interface EngineVersion {
  /** The engine version, e.g. `20.10.24`. */
  version: string;
  /** The Docker Engine API version, e.g. `1.41`. */
  apiVersion: string;
  /** The platform's OS, e.g. `linux`. */
  os: string;
  /** The platform's architecture, e.g. `amd64`. */
  arch: string;
}

/** Objects are found by labels only: every object krepro makes carries labels naming its checkout and run. */
export type LabelFilter = Readonly<Record<string, string>>;

/** An image as the engine has it. */
export interface ImageInfo {
  /** `sha256:…` */
  id: string;
  /** Its `name:tag` references. */
  repoTags: string[];
  /** Its labels. */
  labels: Record<string, string>;
  /** Its architecture, e.g. `amd64` (from inspect). */
  architecture?: string;
  /** Its OS, e.g. `linux` (from inspect). */
  os?: string;
  /** diff IDs of the layers, bottom first (from inspect; empty in lists) */
  layers: string[];
  /** the config's environment, `NAME=value` (from inspect; empty in lists) */
  env: string[];
}

/** How Images.build builds. */
export interface BuildImageRequest extends Call {
  /** The `name:tag` the image gets. */
  tag: string;
  /** The Dockerfile's build arguments. */
  buildargs?: Record<string, string>;
  /** Labels the image gets. */
  labels?: Record<string, string>;
  /** Each line of the builder's output, as it arrives. */
  onLog?: (line: string) => void;
}

/** What Images.build reports. */
export interface BuildImageResult {
  /** Errors the builder reported inside its (HTTP 200) output; empty on success. */
  errors: string[];
  /** The last lines of output, for error messages. */
  tail: string[];
}

/** The engine's images. */
export interface Images {
  /** undefined when the engine has no such image. */
  inspect(ref: string, opts?: Call): Promise<ImageInfo | undefined>;
  /** Images carrying every one of `labels`. */
  list(labels: LabelFilter, opts?: Call): Promise<ImageInfo[]>;
  /** Untags/removes; false when there was no such image. Runs under its own cleanup deadline. */
  remove(ref: string, opts?: { force?: boolean }): Promise<boolean>;
  /** Builds with the classic builder from a tar context; never pulls. */
  build(context: Buffer | Readable, req: BuildImageRequest): Promise<BuildImageResult>;
  /** Imports a root file system tar as a one-layer image `repo:tag` and returns its ID. */
  importRootfs(rootfs: Readable, req: Call & { repo: string; tag: string; changes: string[]; message: string }): Promise<string>;
  /** Loads a `docker save`-format archive (docker-archive or OCI layout). */
  load(archive: Readable, opts?: Call): Promise<void>;
  /** Streams `docker save` of one image. */
  save(ref: string, opts?: Call): Promise<Readable>;
  /** Names an image `repo:tag` too. */
  tag(ref: string, repo: string, tag: string, opts?: Call): Promise<void>;
  /** Pushes `repo:tag` to its registry and returns the manifest digest the registry answered. */
  push(repo: string, tag: string, opts?: Call & { auth?: RegistryAuth }): Promise<string>;
}

/** A volume as the engine has it. */
export interface VolumeInfo {
  /** Its name. */
  name: string;
  /** Its labels. */
  labels: Record<string, string>;
}

/**
 * A volume in memory instead of on disk: readdir lists its entries in creation order (ext4 and overlay list them by
 * name hash), which is what lets a build see its files in an order krepro chooses. Its files live only while a
 * container has it mounted, so callers keep one running from the first write to the last read.
 */
export interface MemoryVolume {
  /** Owner (uid) of the root directory. */
  uid: number;
  /** Group of the root directory. */
  gid: number;
  /** Mode bits of the root directory. Default: tmpfs's, 1777. */
  mode?: number;
  /** Size limit in bytes. Default: the engine's, half the memory. */
  sizeBytes?: number;
}

/** The engine's volumes. */
export interface Volumes {
  /** Creates a new volume; an existing one of that name is E_CONFLICT, never reused. */
  create(name: string, labels: Record<string, string>, opts?: Call & { memory?: MemoryVolume }): Promise<void>;
  /** undefined when the engine has no such volume. */
  inspect(name: string, opts?: Call): Promise<VolumeInfo | undefined>;
  /** Volumes carrying every one of `labels`. */
  list(labels: LabelFilter, opts?: Call): Promise<VolumeInfo[]>;
  /** false when there was no such volume. Runs under its own cleanup deadline. */
  remove(name: string): Promise<boolean>;
}

/** What a container mounts: a volume, a host directory, or a tmpfs. */
export type Mount =
  | { type: 'volume'; source: string; target: string; /** start a new volume empty, not with the image's files */ noCopy?: boolean }
  | { type: 'bind'; source: string; target: string; readOnly?: boolean }
  | { type: 'tmpfs'; target: string; sizeBytes?: number; mode?: number };

/** How a container is made. */
export interface ContainerSpec {
  /** The image, by reference or ID. */
  image: string;
  /** The command and its arguments (no shell). */
  cmd: string[];
  /** Must be new on the engine: an existing container of that name is E_CONFLICT. Random when absent. */
  name?: string;
  /** Environment variables, `NAME=value`. */
  env?: string[];
  /** The user, `uid[:gid]`. Default: the image's. */
  user?: string;
  /** The working directory. Default: the image's. */
  workingDir?: string;
  /** The hostname. Default: the engine's (the container ID). */
  hostname?: string;
  /** The domain name. Default: none. */
  domainname?: string;
  /** CPUs the container may use, e.g. "0" */
  cpuset?: string;
  /** Labels the container gets. */
  labels?: Record<string, string>;
  /** What it mounts. Default: nothing. */
  mounts?: Mount[];
  /** Engine network mode; 'none' unless the caller needs the network */
  network?: 'none' | 'bridge' | 'host';
  /** Seccomp profile as JSON text, or 'unconfined'; the engine's default when absent. */
  seccomp?: string;
  /** Allocate a terminal. Default false. */
  tty?: boolean;
  /** Keep stdin open for an attached writer (interactive shells). */
  openStdin?: boolean;
}

/** A container as the engine lists it. */
export interface ContainerInfo {
  /** Its ID. */
  id: string;
  /** Its name. */
  name: string;
  /** Its labels. */
  labels: Record<string, string>;
  /** The engine's state word: `created`, `running`, `exited`… */
  state: string;
}

/** The engine's containers. */
export interface Containers {
  /** Creates a container (not started). */
  create(spec: ContainerSpec, opts?: Call): Promise<Container>;
  /** Containers carrying every one of `labels`, running or not. */
  list(labels: LabelFilter, opts?: Call): Promise<ContainerInfo[]>;
  /** Force-removes; false when there was no such container. Runs under its own cleanup deadline. */
  remove(idOrName: string): Promise<boolean>;
}

/** What Container.getArchive says about the path it archived. */
export interface ArchiveStat {
  /** Its base name. */
  name: string;
  /** Its size in bytes. */
  size: number;
  /** Its mode bits, as Go's os.FileMode. */
  mode: number;
  /** Its target, for a symbolic link; empty otherwise. */
  linkTarget: string;
}

/** One container on the engine. */
export interface Container {
  /** Its ID. */
  readonly id: string;
  /** Its name. */
  readonly name: string;
  /** The engine it is on, for messages. */
  readonly endpoint: string;
  /**
   * Attaches before start so no output is lost. Without a TTY the stream is demultiplexed into stdout and stderr;
   * with one it is a single raw duplex (stdin is writable when the spec opened it).
   */
  attach(opts?: Call): Promise<Duplex>;
  /** Attached, demultiplexed output: resolves when both streams have ended. */
  attachOutput(stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream, opts?: Call): Promise<{ ended: Promise<void> }>;
  /** Starts it. */
  start(opts?: Call): Promise<void>;
  /** Resolves when it has stopped, with its exit code. */
  wait(opts?: Call): Promise<{ exitCode: number; error?: string }>;
  /** Kills it (SIGKILL). */
  kill(opts?: Call): Promise<void>;
  /** Resizes its terminal, in character rows and columns. */
  resize(rows: number, columns: number): Promise<void>;
  /** The container's output so far (no follow), demultiplexed into one text. */
  logs(opts?: Call): Promise<string>;
  /** Extracts a tar stream at `path` (an existing directory) in the container's file system or mounted volumes. */
  putArchive(path: string, tar: Buffer | Readable, opts?: Call): Promise<void>;
  /** A tar of `path`, rooted at its basename; undefined when `path` does not exist. */
  getArchive(path: string, opts?: Call): Promise<{ stream: Readable; stat: ArchiveStat } | undefined>;
  /** Force-removes under the cleanup deadline; already gone is fine. */
  remove(): Promise<void>;
}

/** How long cleanup may take after an abort or a failure, when the caller's own signal may already have fired. */
export const CLEANUP_TIMEOUT_MS = 15_000;
