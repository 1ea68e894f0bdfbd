import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { createInterface } from 'node:readline';
import { type Duplex, PassThrough, type Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { finished } from 'node:stream/promises';
import type Docker from 'dockerode';
import { KreproError } from '../errors.js';
import {
  type ArchiveStat,
  type BuildImageRequest,
  type BuildImageResult,
  type Call,
  CLEANUP_TIMEOUT_MS,
  type Container,
  type ContainerInfo,
  type Containers,
  type ContainerSpec,
  type Engine,
  type EngineInfo,
  type EngineVersion,
  type ImageInfo,
  type Images,
  type LabelFilter,
  type MemoryVolume,
  type Mount,
  type Volumes,
  type VolumeInfo,
} from './engine.js';
import { engineFault, statusOf } from './engine-errors.js';
import { DockerSwarm } from './docker-swarm.js';
import type { RegistryAuth, Swarm } from './swarm.js';

const LOG_TAIL = 20;
/** Image removal deletes layers, which can take longer than removing a container. */
const IMAGE_REMOVE_TIMEOUT_MS = 60_000;
/** Set on every volume this client creates, so a create that silently returned an existing volume is caught. */
const LABEL_VOLUME_NONCE = 'io.krepro.volume-nonce';

/** dockerode accepts `abortSignal` on every call; @types/dockerode does not declare it everywhere. */
const abort = (signal?: AbortSignal): { abortSignal?: AbortSignal } => (signal ? { abortSignal: signal } : {});
const labelFilters = (labels: LabelFilter): { label: string[] } => ({ label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) });

/** The Engine over the Docker Engine API. */
export class DockerEngine implements Engine {
  readonly images: Images;
  readonly volumes: Volumes;
  readonly containers: Containers;
  readonly swarm: Swarm;

  constructor(
    private readonly docker: Docker,
    readonly endpoint: string,
    /** the same engine, reached over a new connection per request: what a liveness ping needs */
    private readonly pinger: Docker = docker,
  ) {
    this.images = new DockerImages(docker, this.guard);
    this.volumes = new DockerVolumes(docker, this.guard);
    this.containers = new DockerContainers(docker, this.guard, endpoint);
    this.swarm = new DockerSwarm(docker, this.guard);
  }

  /** Runs one engine call and maps its failure (never an abort) to a KreproError naming this engine. */
  private readonly guard: Guard = async (operation, signal, fn) => {
    try {
      return await fn();
    } catch (err) {
      throw engineFault(this.endpoint, operation, err, signal);
    }
  };

  async ping(opts: Call = {}): Promise<void> {
    await this.guard('ping', opts.signal, () => (this.pinger.ping as (o: object) => Promise<unknown>)(abort(opts.signal)));
  }

  async info(opts: Call = {}): Promise<EngineInfo> {
    const i = (await this.guard('info', opts.signal, () => (this.docker.info as (o: object) => Promise<unknown>)(abort(opts.signal)))) as { Name: string; NCPU: number; MemTotal: number; KernelVersion: string; OperatingSystem: string };
    return { name: String(i.Name ?? ''), cpus: i.NCPU, memoryBytes: i.MemTotal, kernel: i.KernelVersion, os: i.OperatingSystem };
  }

  async version(opts: Call = {}): Promise<EngineVersion> {
    const v = await this.guard('version', opts.signal, () => (this.docker.version as (o: object) => Promise<Docker.DockerVersion>)(abort(opts.signal)));
    return { version: v.Version, apiVersion: v.ApiVersion, os: v.Os, arch: v.Arch };
  }
}

type Guard = <T>(operation: string, signal: AbortSignal | undefined, fn: () => Promise<T>) => Promise<T>;

/** A call that runs during cleanup: its own deadline, and "already gone" (404) is success (false). */
async function removing(guard: Guard, operation: string, timeoutMs: number, fn: (signal: AbortSignal) => Promise<unknown>): Promise<boolean> {
  const signal = AbortSignal.timeout(timeoutMs);
  return guard(operation, undefined, async () => {
    try {
      await fn(signal);
      return true;
    } catch (err) {
      if (statusOf(err) === 404) return false;
      throw err;
    }
  });
}

class DockerImages implements Images {
  constructor(
    private readonly docker: Docker,
    private readonly guard: Guard,
  ) {}

  inspect(ref: string, opts: Call = {}): Promise<ImageInfo | undefined> {
    return this.guard(`inspecting image ${ref}`, opts.signal, async () => {
      try {
        const i = await this.docker.getImage(ref).inspect(abort(opts.signal) as {});
        return { id: i.Id, repoTags: i.RepoTags ?? [], labels: i.Config?.Labels ?? {}, architecture: i.Architecture, os: i.Os, layers: i.RootFS?.Layers ?? [], env: i.Config?.Env ?? [] };
      } catch (err) {
        if (statusOf(err) === 404) return undefined;
        throw err;
      }
    });
  }

  list(labels: LabelFilter, opts: Call = {}): Promise<ImageInfo[]> {
    return this.guard('listing images', opts.signal, async () =>
      (await this.docker.listImages({ filters: labelFilters(labels), ...abort(opts.signal) } as Docker.ListImagesOptions)).map((i) => ({
        id: i.Id,
        repoTags: i.RepoTags ?? [],
        labels: i.Labels ?? {},
        layers: [],
        env: [],
      })),
    );
  }

  remove(ref: string, opts: { force?: boolean } = {}): Promise<boolean> {
    return removing(this.guard, `removing image ${ref}`, IMAGE_REMOVE_TIMEOUT_MS, (signal) => this.docker.getImage(ref).remove({ force: opts.force ?? false, ...abort(signal) } as {}));
  }

  async build(context: Buffer | Readable, req: BuildImageRequest): Promise<BuildImageResult> {
    return this.guard(`building image ${req.tag}`, req.signal, async () => {
      const output = (await this.docker.buildImage(context as unknown as NodeJS.ReadableStream, {
        t: req.tag,
        buildargs: req.buildargs ?? {},
        labels: req.labels ?? {},
        // The classic builder: BuildKit needs a session and reports progress as protobuf.
        version: '1',
        // Bases are local (made by krepro); never ask a registry.
        pull: false,
        rm: true,
        forcerm: true,
        ...abort(req.signal),
      } as Docker.ImageBuildOptions)) as unknown as Readable;
      return readBuildOutput(output, req.onLog ?? (() => {}));
    });
  }

  async importRootfs(rootfs: Readable, req: Call & { repo: string; tag: string; changes: string[]; message: string }): Promise<string> {
    const ref = `${req.repo}:${req.tag}`;
    return this.guard(`importing image ${ref}`, req.signal, async () => {
      // importImage, not createImage: dockerode's createImage sends its options as a JSON body, so
      // createImage({fromSrc: '-'}) fails with "Error processing tar file … unexpected EOF" (measured, engine 20.10).
      const progress = (await this.docker.importImage(rootfs as unknown as NodeJS.ReadableStream, {
        repo: req.repo,
        tag: req.tag,
        changes: req.changes,
        message: req.message,
        ...abort(req.signal),
      } as {})) as unknown as Readable;
      // Like builds, import failures arrive as a 200 response carrying {"error": …} lines.
      const events = await readJsonLines(progress);
      const errors = events.flatMap((e) => (typeof e['error'] === 'string' ? [e['error']] : []));
      if (errors.length > 0) throw new KreproError('E_ENGINE', `importing ${ref}: ${errors.join('; ')}`);
      const id = events.map((e) => e['status']).find((s): s is string => typeof s === 'string' && /^sha256:[0-9a-f]{64}$/.test(s));
      const tagged = await this.inspect(ref, req);
      if (tagged === undefined) throw new KreproError('E_ENGINE', `the engine reported success importing ${ref}, but it does not exist`);
      if (id !== undefined && id !== tagged.id) throw new KreproError('E_ENGINE', `the engine reported ${id} for ${ref}, but ${ref} is ${tagged.id}`);
      return tagged.id;
    });
  }

  async load(archive: Readable, opts: Call = {}): Promise<void> {
    await this.guard('loading an image archive', opts.signal, async () => {
      const response = (await this.docker.loadImage(archive as unknown as NodeJS.ReadableStream, { quiet: true, ...abort(opts.signal) } as {})) as unknown as Readable;
      // Loads report failure inside a 200 response.
      const events = await readJsonLines(response);
      const errors = events.flatMap((e) => (typeof e['error'] === 'string' ? [e['error']] : []));
      if (errors.length > 0) throw new KreproError('E_ENGINE', `loading an image archive: ${errors.join('; ')}`);
    });
  }

  save(ref: string, opts: Call = {}): Promise<Readable> {
    return this.guard(`saving image ${ref}`, opts.signal, async () => (await this.docker.getImage(ref).get()) as unknown as Readable);
  }

  async tag(ref: string, repo: string, tag: string, opts: Call = {}): Promise<void> {
    await this.guard(`tagging image ${ref} as ${repo}:${tag}`, opts.signal, () => this.docker.getImage(ref).tag({ repo, tag, ...abort(opts.signal) } as Docker.ImageTagOptions));
  }

  async push(repo: string, tag: string, opts: Call & { auth?: RegistryAuth } = {}): Promise<string> {
    return this.guard(`pushing image ${repo}:${tag}`, opts.signal, async () => {
      const progress = (await this.docker.getImage(`${repo}:${tag}`).push({ tag, ...(opts.auth ? { authconfig: opts.auth } : {}), ...abort(opts.signal) } as {})) as unknown as Readable;
      // Like loads, a failed push answers 200 with {"error": …}; the digest comes in the last event's aux.
      const events = await readJsonLines(progress);
      const errors = events.flatMap((e) => (typeof e['error'] === 'string' ? [e['error']] : []));
      if (errors.length > 0) throw new KreproError('E_ENGINE', `pushing ${repo}:${tag}: ${errors.join('; ')}`);
      const digest = events.map((e) => (e['aux'] as { Digest?: unknown } | undefined)?.Digest).find((d): d is string => typeof d === 'string' && /^sha256:[0-9a-f]{64}$/.test(d));
      if (digest === undefined) throw new KreproError('E_ENGINE', `pushing ${repo}:${tag}: the engine reported no digest`);
      return digest;
    });
  }
}

class DockerVolumes implements Volumes {
  constructor(
    private readonly docker: Docker,
    private readonly guard: Guard,
  ) {}

  async create(name: string, labels: Record<string, string>, opts: Call & { memory?: MemoryVolume } = {}): Promise<void> {
    const nonce = randomBytes(8).toString('hex');
    const m = opts.memory;
    // The local driver mounts a tmpfs per use: `o` takes mount(8) options.
    const driverOpts = m
      ? { type: 'tmpfs', device: 'tmpfs', o: [`uid=${m.uid}`, `gid=${m.gid}`, `mode=${(m.mode ?? 0o755).toString(8)}`, ...(m.sizeBytes ? [`size=${m.sizeBytes}`] : [])].join(',') }
      : undefined;
    await this.guard(`creating volume ${name}`, opts.signal, async () => {
      // The engine answers a create of an existing name with that volume: the nonce tells a fresh one from it.
      const volume = await this.docker.createVolume({ Name: name, Labels: { ...labels, [LABEL_VOLUME_NONCE]: nonce }, ...(driverOpts ? { Driver: 'local', DriverOpts: driverOpts } : {}), ...abort(opts.signal) } as {});
      const v = (await volume.inspect(abort(opts.signal) as {})) as { Labels?: Record<string, string> | null };
      if (v.Labels?.[LABEL_VOLUME_NONCE] !== nonce) {
        throw new KreproError('E_CONFLICT', `volume ${name} already exists on the engine; krepro never reuses a volume it did not just create (remove it, or run krepro clean)`);
      }
    });
  }

  inspect(name: string, opts: Call = {}): Promise<VolumeInfo | undefined> {
    return this.guard(`inspecting volume ${name}`, opts.signal, async () => {
      try {
        const v = (await this.docker.getVolume(name).inspect(abort(opts.signal) as {})) as { Name: string; Labels?: Record<string, string> | null };
        return { name: v.Name, labels: v.Labels ?? {} };
      } catch (err) {
        if (statusOf(err) === 404) return undefined;
        throw err;
      }
    });
  }

  list(labels: LabelFilter, opts: Call = {}): Promise<VolumeInfo[]> {
    return this.guard('listing volumes', opts.signal, async () => {
      const { Volumes } = (await this.docker.listVolumes({ filters: labelFilters(labels), ...abort(opts.signal) } as {})) as { Volumes?: { Name: string; Labels?: Record<string, string> | null }[] | null };
      return (Volumes ?? []).map((v) => ({ name: v.Name, labels: v.Labels ?? {} }));
    });
  }

  remove(name: string): Promise<boolean> {
    return removing(this.guard, `removing volume ${name}`, CLEANUP_TIMEOUT_MS, (signal) => this.docker.getVolume(name).remove(abort(signal) as {}));
  }
}

class DockerContainers implements Containers {
  constructor(
    private readonly docker: Docker,
    private readonly guard: Guard,
    private readonly endpoint: string,
  ) {}

  async create(spec: ContainerSpec, opts: Call = {}): Promise<Container> {
    const name = spec.name ?? `krepro-${randomBytes(6).toString('hex')}`;
    const created = await this.guard(`creating container ${name}`, opts.signal, async () => {
      try {
        // _query/_body: otherwise docker-modem also copies every option (Env with proxy credentials) into the URL.
        return await this.docker.createContainer({ _query: { name }, _body: createBody(spec), ...abort(opts.signal) } as unknown as Docker.ContainerCreateOptions);
      } catch (err) {
        if (statusOf(err) === 409) {
          throw new KreproError('E_CONFLICT', `container ${name} already exists on the engine at ${this.endpoint}; krepro never reuses a name (a leftover of a killed run? krepro clean removes it)`, { cause: err, endpoint: this.endpoint });
        }
        if (statusOf(err) === 404) {
          throw new KreproError('E_NOT_FOUND', `image ${spec.image} is not on the engine at ${this.endpoint} (krepro never pulls); build or load it first`, { cause: err, endpoint: this.endpoint });
        }
        throw err;
      }
    });
    return new DockerContainer(this.docker, created, name, this.guard, this.endpoint);
  }

  list(labels: LabelFilter, opts: Call = {}): Promise<ContainerInfo[]> {
    return this.guard('listing containers', opts.signal, async () =>
      (await this.docker.listContainers({ all: true, filters: labelFilters(labels), ...abort(opts.signal) } as Docker.ContainerListOptions)).map((c) => ({
        id: c.Id,
        name: c.Names[0]?.replace(/^\//, '') ?? c.Id,
        labels: c.Labels ?? {},
        state: c.State,
      })),
    );
  }

  remove(idOrName: string): Promise<boolean> {
    return removing(this.guard, `removing container ${idOrName}`, CLEANUP_TIMEOUT_MS, (signal) => this.docker.getContainer(idOrName).remove({ force: true, v: false, ...abort(signal) } as {}));
  }
}

function mountBody(m: Mount): Record<string, unknown> {
  switch (m.type) {
    case 'volume':
      return { Type: 'volume', Source: m.source, Target: m.target, ...(m.noCopy ? { VolumeOptions: { NoCopy: true } } : {}) };
    case 'bind':
      return { Type: 'bind', Source: m.source, Target: m.target, ReadOnly: m.readOnly ?? false };
    case 'tmpfs':
      return { Type: 'tmpfs', Target: m.target, TmpfsOptions: { ...(m.sizeBytes ? { SizeBytes: m.sizeBytes } : {}), ...(m.mode ? { Mode: m.mode } : {}) } };
  }
}

function createBody(spec: ContainerSpec): Record<string, unknown> {
  const interactive = spec.openStdin === true;
  const securityOpt = ['no-new-privileges', ...(spec.seccomp === undefined ? [] : [`seccomp=${spec.seccomp}`])];
  return {
    Image: spec.image,
    Cmd: spec.cmd,
    Env: spec.env ?? [],
    ...(spec.user === undefined ? {} : { User: spec.user }),
    ...(spec.workingDir === undefined ? {} : { WorkingDir: spec.workingDir }),
    ...(spec.hostname === undefined ? {} : { Hostname: spec.hostname }),
    ...(spec.domainname === undefined ? {} : { Domainname: spec.domainname }),
    Labels: spec.labels ?? {},
    Tty: spec.tty ?? false,
    OpenStdin: interactive,
    StdinOnce: interactive,
    AttachStdin: interactive,
    AttachStdout: true,
    AttachStderr: true,
    NetworkDisabled: (spec.network ?? 'none') === 'none',
    HostConfig: {
      // No AutoRemove: it races with wait() (dockerode#582); callers remove the container themselves.
      Mounts: (spec.mounts ?? []).map(mountBody),
      NetworkMode: spec.network ?? 'none',
      SecurityOpt: securityOpt,
      ...(spec.cpuset === undefined ? {} : { CpusetCpus: spec.cpuset }),
    },
  };
}

class DockerContainer implements Container {
  readonly id: string;

  constructor(
    private readonly docker: Docker,
    private readonly container: Docker.Container,
    readonly name: string,
    private readonly guard: Guard,
    readonly endpoint: string,
  ) {
    this.id = container.id;
  }

  attach(opts: Call = {}): Promise<Duplex> {
    return this.guard(`attaching to container ${this.name}`, opts.signal, async () => {
      const info = await this.container.inspect();
      const stdin = info.Config.OpenStdin === true;
      return (await this.container.attach({ stream: true, stdin, stdout: true, stderr: true, hijack: stdin, ...abort(opts.signal) } as {})) as unknown as Duplex;
    });
  }

  async attachOutput(stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream, opts: Call = {}): Promise<{ ended: Promise<void> }> {
    const attached = await this.attach(opts);
    // demuxStream neither ends its outputs nor honours backpressure; these pass-throughs absorb both problems.
    const out = new PassThrough();
    const err = new PassThrough();
    out.pipe(stdout, { end: false });
    err.pipe(stderr, { end: false });
    this.docker.modem.demuxStream(attached, out, err);
    const ended = finished(attached)
      .catch(() => {})
      .finally(() => {
        out.end();
        err.end();
      })
      .then(() => Promise.all([finished(out), finished(err)]))
      .then(() => undefined);
    return { ended };
  }

  async start(opts: Call = {}): Promise<void> {
    await this.guard(`starting container ${this.name}`, opts.signal, () => this.container.start(abort(opts.signal) as {}));
  }

  async wait(opts: Call = {}): Promise<{ exitCode: number; error?: string }> {
    const r = await this.guard(`waiting for container ${this.name}`, opts.signal, async () => {
      // The answer as a stream, read here: dockerode's wait() never settles when the connection drops after the
      // response headers (docker-modem then waits for an 'end' that never comes), and the process would exit 0.
      const res = await new Promise<Readable>((resolve, reject) =>
        this.docker.modem.dial(
          { path: `/containers/${this.id}/wait?`, method: 'POST', isStream: true, statusCodes: { 200: true, 400: 'bad parameter', 404: 'no such container', 500: 'server error' }, options: {}, ...abort(opts.signal) },
          (err: unknown, stream: unknown) => (err ? reject(err) : resolve(stream as Readable)),
        ),
      );
      return JSON.parse(await text(res)) as { StatusCode?: number; Error?: { Message?: string } | null };
    });
    if (typeof r.StatusCode !== 'number') throw new KreproError('E_ENGINE', `the engine at ${this.endpoint} answered the wait for container ${this.name} without an exit code: ${JSON.stringify(r)}`, { endpoint: this.endpoint });
    return { exitCode: r.StatusCode, ...(r.Error?.Message ? { error: r.Error.Message } : {}) };
  }

  async kill(opts: Call = {}): Promise<void> {
    await this.guard(`stopping container ${this.name}`, opts.signal, async () => {
      try {
        await this.container.kill(abort(opts.signal) as {});
      } catch (err) {
        // Not running (409) or gone (404): nothing to stop.
        if (statusOf(err) !== 409 && statusOf(err) !== 404) throw err;
      }
    });
  }

  async resize(rows: number, columns: number): Promise<void> {
    await this.container.resize({ h: rows, w: columns }).catch(() => {});
  }

  logs(opts: Call = {}): Promise<string> {
    return this.guard(`reading the log of container ${this.name}`, opts.signal, async () => {
      const raw = (await this.container.logs({ stdout: true, stderr: true, follow: false, ...abort(opts.signal) } as {})) as unknown as Buffer | string;
      return demuxLogs(raw);
    });
  }

  async putArchive(path: string, tar: Buffer | Readable, opts: Call = {}): Promise<void> {
    await this.guard(`writing files into ${path} of container ${this.name}`, opts.signal, () => this.container.putArchive(tar as never, { path, ...abort(opts.signal) } as {}));
  }

  getArchive(path: string, opts: Call = {}): Promise<{ stream: Readable; stat: ArchiveStat } | undefined> {
    return this.guard(`reading ${path} from container ${this.name}`, opts.signal, async () => {
      let stream: IncomingMessage;
      try {
        stream = (await this.container.getArchive({ path, ...abort(opts.signal) } as {})) as unknown as IncomingMessage;
      } catch (err) {
        if (statusOf(err) === 404) return undefined;
        throw err;
      }
      const header = stream.headers?.['x-docker-container-path-stat'];
      const parsed = typeof header === 'string' ? (JSON.parse(Buffer.from(header, 'base64').toString('utf8')) as ArchiveStat) : { name: '', size: 0, mode: 0, linkTarget: '' };
      return { stream: mappedStream(stream, this.endpoint, `reading ${path} from container ${this.name}`, opts.signal), stat: parsed };
    });
  }

  async remove(): Promise<void> {
    await removing(this.guard, `removing container ${this.name}`, CLEANUP_TIMEOUT_MS, (signal) => this.container.remove({ force: true, v: false, ...abort(signal) } as {}));
  }
}

/**
 * A response body whose failure (the engine going away in the middle of it) is mapped as the call's own would be,
 * so a reader sees "the engine … went away during reading …", never a bare "aborted". Destroying the result
 * releases the socket.
 */
function mappedStream(source: IncomingMessage, endpoint: string, operation: string, signal: AbortSignal | undefined): Readable {
  const out = new PassThrough();
  source.on('error', (err) => out.destroy(engineFault(endpoint, operation, err, signal) as Error));
  // A connection cut after the headers may end the body early without an error: that is the engine going away too.
  source.on('aborted', () => out.destroy(engineFault(endpoint, operation, Object.assign(new Error('aborted'), { code: 'ECONNRESET' }), signal) as Error));
  out.on('close', () => source.destroy());
  source.pipe(out);
  return out;
}

/** `logs` without follow answers a Buffer of multiplexed frames (8-byte headers) when the container has no TTY. */
function demuxLogs(raw: Buffer | string): string {
  if (typeof raw === 'string' || !Buffer.isBuffer(raw)) return String(raw);
  const parts: Buffer[] = [];
  for (let at = 0; at + 8 <= raw.length; ) {
    const size = raw.readUInt32BE(at + 4);
    parts.push(raw.subarray(at + 8, at + 8 + size));
    at += 8 + size;
  }
  return Buffer.concat(parts).toString('utf8');
}

async function readJsonLines(stream: Readable): Promise<Record<string, unknown>[]> {
  const events: Record<string, unknown>[] = [];
  for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) {
    const text = line.trim();
    if (text === '') continue;
    try {
      const value: unknown = JSON.parse(text);
      if (value !== null && typeof value === 'object') events.push(value as Record<string, unknown>);
    } catch {
      // Keep non-JSON output visible instead of crashing the parse (docker-modem's followProgress throws here).
      events.push({ error: `unexpected engine output: ${text}` });
    }
  }
  return events;
}

/**
 * Reads the classic builder's JSON lines. A failed build still answers 200 and reports `{"error", "errorDetail"}`
 * in the stream (docker-modem's followProgress misses that), so errors are collected here. `stream` texts are
 * split into lines, which may span events.
 */
async function readBuildOutput(output: Readable, log: (line: string) => void): Promise<BuildImageResult> {
  const errors: string[] = [];
  const tail: string[] = [];
  const emit = (line: string): void => {
    tail.push(line);
    if (tail.length > LOG_TAIL) tail.shift();
    log(line);
  };
  let text = '';
  const flushText = (final: boolean): void => {
    const lines = text.split(/\r?\n/);
    text = final ? '' : lines.pop()!;
    for (const line of final ? lines.filter((l) => l !== '') : lines) emit(line);
  };
  for (const event of await readJsonLines(output)) {
    if (typeof event['stream'] === 'string') {
      text += event['stream'];
      flushText(false);
    }
    if (typeof event['status'] === 'string') emit(event['status']);
    if (typeof event['error'] === 'string') errors.push(event['error'].trim());
    else if (event['errorDetail'] !== undefined) errors.push(JSON.stringify(event['errorDetail']));
  }
  flushText(true);
  return { errors, tail };
}
