import { PassThrough, type Readable, type Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type Docker from 'dockerode';

export interface ContainerSpec {
  image: string;
  cmd: string[];
  name?: string;
  env?: string[];
  user?: string;
  workingDir?: string;
  hostname?: string;
  domainname?: string;
  /** CPUs the container may use, e.g. "0" (HostConfig.CpusetCpus) */
  cpuset?: string;
  labels?: Record<string, string>;
  /** Named volumes mounted as `volume:path` */
  volumes?: Record<string, string>;
  binds?: string[];
  /** Engine network mode; default 'bridge' (builds may need the package mirror or a proxy) */
  network?: string;
}

export interface RunIO {
  stdout: Writable;
  stderr: Writable;
  signal?: AbortSignal;
}

/** How long cleanup may take after an abort, when the caller's own signal has already fired. */
const CLEANUP_TIMEOUT_MS = 15_000;

export function createBody(spec: ContainerSpec, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    Image: spec.image,
    Cmd: spec.cmd,
    Env: spec.env ?? [],
    ...(spec.user === undefined ? {} : { User: spec.user }),
    ...(spec.workingDir === undefined ? {} : { WorkingDir: spec.workingDir }),
    ...(spec.hostname === undefined ? {} : { Hostname: spec.hostname }),
    ...(spec.domainname === undefined ? {} : { Domainname: spec.domainname }),
    Labels: spec.labels ?? {},
    ...extra,
    HostConfig: {
      // No AutoRemove: it races with wait() (dockerode#582); callers remove the container themselves.
      Binds: [...(spec.binds ?? []), ...Object.entries(spec.volumes ?? {}).map(([v, p]) => `${v}:${p}`)],
      NetworkMode: spec.network ?? 'bridge',
      SecurityOpt: ['no-new-privileges'],
      ...(spec.cpuset === undefined ? {} : { CpusetCpus: spec.cpuset }),
    },
  };
}

/**
 * Creates a container without sending any option in the URL: docker-modem copies create options into the query
 * string unless they are split, which would put Env values (proxy credentials) into request logs.
 */
export async function createContainer(docker: Docker, spec: ContainerSpec, extra: Record<string, unknown> = {}): Promise<Docker.Container> {
  const query = spec.name === undefined ? {} : { name: spec.name };
  return docker.createContainer({ _query: query, _body: createBody(spec, extra) } as unknown as Docker.ContainerCreateOptions);
}

/** Removes a container, ignoring "already gone"; bounded in time because it also runs after an abort. */
export async function removeContainer(container: Docker.Container): Promise<void> {
  const timeout = AbortSignal.timeout(CLEANUP_TIMEOUT_MS);
  await container.remove({ force: true, v: false, abortSignal: timeout } as Docker.ContainerRemoveOptions).catch(() => {});
}

/**
 * Runs a command to completion with its output streamed live to `io`, and returns its exit code. The container is
 * removed afterwards, and on abort it is killed and removed before the abort is rethrown.
 */
export async function runContainer(docker: Docker, spec: ContainerSpec, io: RunIO): Promise<number> {
  io.signal?.throwIfAborted();
  const container = await createContainer(docker, spec, { Tty: false, AttachStdin: false, AttachStdout: true, AttachStderr: true });
  const onAbort = () => void container.kill().catch(() => {});
  io.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const attached = (await container.attach({ stream: true, stdout: true, stderr: true })) as unknown as Readable;
    // demuxStream neither ends its outputs nor honours backpressure; these pass-throughs absorb both problems.
    const out = new PassThrough();
    const err = new PassThrough();
    out.pipe(io.stdout, { end: false });
    err.pipe(io.stderr, { end: false });
    docker.modem.demuxStream(attached, out, err);
    const ended = finished(attached)
      .catch(() => {})
      .finally(() => {
        out.end();
        err.end();
      });
    await container.start();
    const result = (await container.wait()) as { StatusCode: number; Error?: { Message?: string } | null };
    await ended;
    await Promise.all([finished(out), finished(err)]);
    io.signal?.throwIfAborted();
    if (result.Error?.Message) throw new Error(`waiting for the container failed: ${result.Error.Message}`);
    return result.StatusCode;
  } finally {
    io.signal?.removeEventListener('abort', onAbort);
    await removeContainer(container);
  }
}

export interface InteractiveIO {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => void };
  stdout: NodeJS.WritableStream & { columns?: number; rows?: number; on(event: 'resize', l: () => void): unknown; off?(event: 'resize', l: () => void): unknown };
  signal?: AbortSignal;
}

/**
 * Runs an interactive command with a TTY: attach (hijacked) before start so no output is lost, raw stdin so keys
 * such as Ctrl-C reach the container, and the terminal size kept in sync.
 */
export async function runInteractive(docker: Docker, spec: ContainerSpec, io: InteractiveIO): Promise<number> {
  io.signal?.throwIfAborted();
  const container = await createContainer(docker, spec, {
    Tty: true,
    OpenStdin: true,
    StdinOnce: true,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
  });
  const wasRaw = io.stdin.isTTY === true;
  const resize = () => {
    if (io.stdout.columns && io.stdout.rows) void container.resize({ h: io.stdout.rows, w: io.stdout.columns }).catch(() => {});
  };
  try {
    const socket = (await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as unknown as NodeJS.ReadWriteStream;
    // With a TTY the engine sends one raw stream: no demultiplexing.
    socket.pipe(io.stdout as NodeJS.WritableStream, { end: false });
    io.stdin.pipe(socket);
    if (wasRaw) io.stdin.setRawMode?.(true);
    await container.start();
    resize();
    io.stdout.on('resize', resize);
    const result = (await container.wait()) as { StatusCode: number };
    return result.StatusCode;
  } finally {
    io.stdout.off?.('resize', resize);
    if (wasRaw) io.stdin.setRawMode?.(false);
    io.stdin.unpipe();
    await removeContainer(container);
  }
}
