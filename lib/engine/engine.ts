import type { Duplex, Readable } from 'node:stream';

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
  version(opts?: Call): Promise<EngineVersion>;
  info(opts?: Call): Promise<EngineInfo>;
  readonly images: Images;
  readonly volumes: Volumes;
  readonly containers: Containers;
}

export interface Call {
  signal?: AbortSignal;
}

export interface EngineInfo {
  /** the name of the machine the engine runs on (docker info's Name) */
  name: string;
  cpus: number;
  memoryBytes: number;
  kernel: string;
  os: string;
}

export interface EngineVersion {
  version: string;
  apiVersion: string;
  os: string;
  arch: string;
}

/** Objects are found by labels only: every object krepro makes carries labels naming its checkout and run. */
export type LabelFilter = Readonly<Record<string, string>>;

export interface ImageInfo {
  /** `sha256:…` */
  id: string;
  repoTags: string[];
  labels: Record<string, string>;
  architecture?: string;
  os?: string;
  /** diff IDs of the layers, bottom first (from inspect; empty in lists) */
  layers: string[];
  /** the config's environment, `NAME=value` (from inspect; empty in lists) */
  env: string[];
}

export interface BuildImageRequest extends Call {
  tag: string;
  buildargs?: Record<string, string>;
  labels?: Record<string, string>;
  /** Each line of the builder's output, as it arrives. */
  onLog?: (line: string) => void;
}

export interface BuildImageResult {
  /** Errors the builder reported inside its (HTTP 200) output; empty on success. */
  errors: string[];
  /** The last lines of output, for error messages. */
  tail: string[];
}

export interface Images {
  /** undefined when the engine has no such image. */
  inspect(ref: string, opts?: Call): Promise<ImageInfo | undefined>;
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
}

export interface VolumeInfo {
  name: string;
  labels: Record<string, string>;
}

/**
 * A volume in memory instead of on disk: readdir lists its entries in creation order (ext4 and overlay list them by
 * name hash), which is what lets a build see its files in an order krepro chooses. Its files live only while a
 * container has it mounted, so callers keep one running from the first write to the last read.
 */
export interface MemoryVolume {
  /** owner and mode of the root directory */
  uid: number;
  gid: number;
  mode?: number;
  /** size limit; the engine's default (half the memory) when absent */
  sizeBytes?: number;
}

export interface Volumes {
  /** Creates a new volume; an existing one of that name is E_CONFLICT, never reused. */
  create(name: string, labels: Record<string, string>, opts?: Call & { memory?: MemoryVolume }): Promise<void>;
  inspect(name: string, opts?: Call): Promise<VolumeInfo | undefined>;
  list(labels: LabelFilter, opts?: Call): Promise<VolumeInfo[]>;
  /** false when there was no such volume. Runs under its own cleanup deadline. */
  remove(name: string): Promise<boolean>;
}

export type Mount =
  | { type: 'volume'; source: string; target: string; /** start a new volume empty, not with the image's files */ noCopy?: boolean }
  | { type: 'bind'; source: string; target: string; readOnly?: boolean }
  | { type: 'tmpfs'; target: string; sizeBytes?: number; mode?: number };

export interface ContainerSpec {
  image: string;
  cmd: string[];
  /** Must be new on the engine: an existing container of that name is E_CONFLICT. Random when absent. */
  name?: string;
  env?: string[];
  user?: string;
  workingDir?: string;
  hostname?: string;
  domainname?: string;
  /** CPUs the container may use, e.g. "0" */
  cpuset?: string;
  labels?: Record<string, string>;
  mounts?: Mount[];
  /** Engine network mode; 'none' unless the caller needs the network */
  network?: 'none' | 'bridge' | 'host';
  /** Seccomp profile as JSON text, or 'unconfined'; the engine's default when absent. */
  seccomp?: string;
  tty?: boolean;
  /** Keep stdin open for an attached writer (interactive shells). */
  openStdin?: boolean;
}

export interface ContainerInfo {
  id: string;
  name: string;
  labels: Record<string, string>;
  state: string;
}

export interface Containers {
  create(spec: ContainerSpec, opts?: Call): Promise<Container>;
  list(labels: LabelFilter, opts?: Call): Promise<ContainerInfo[]>;
  /** Force-removes; false when there was no such container. Runs under its own cleanup deadline. */
  remove(idOrName: string): Promise<boolean>;
}

export interface ArchiveStat {
  name: string;
  size: number;
  mode: number;
  linkTarget: string;
}

export interface Container {
  readonly id: string;
  readonly name: string;
  readonly endpoint: string;
  /**
   * Attaches before start so no output is lost. Without a TTY the stream is demultiplexed into stdout and stderr;
   * with one it is a single raw duplex (stdin is writable when the spec opened it).
   */
  attach(opts?: Call): Promise<Duplex>;
  /** Attached, demultiplexed output: resolves when both streams have ended. */
  attachOutput(stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream, opts?: Call): Promise<{ ended: Promise<void> }>;
  start(opts?: Call): Promise<void>;
  wait(opts?: Call): Promise<{ exitCode: number; error?: string }>;
  kill(opts?: Call): Promise<void>;
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
