import type { Writable } from 'node:stream';
import { KreproError } from '../../errors.js';
import type { TerminalIO } from '../session.js';
import type { ContainerSpec, Engine } from '../../engine/engine.js';

export interface RunIO {
  stdout: Writable;
  stderr: Writable;
  signal?: AbortSignal;
}

/** How long a ping after a failed command may take to tell "the command failed" from "the engine went away". */
const LIVENESS_TIMEOUT_MS = 3_000;

/**
 * Runs a command to completion with its output streamed live to `io`, and returns its exit code. The container is
 * created fresh, and removed afterwards; on abort it is killed and removed before the abort is rethrown.
 */
export async function runContainer(engine: Engine, spec: ContainerSpec, io: RunIO): Promise<number> {
  io.signal?.throwIfAborted();
  const container = await engine.containers.create({ ...spec, tty: false, openStdin: false }, io);
  const onAbort = (): void => void container.kill().catch(() => {});
  io.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const { ended } = await container.attachOutput(io.stdout, io.stderr, io);
    await container.start(io);
    const result = await container.wait(io);
    await ended;
    io.signal?.throwIfAborted();
    if (result.error) throw new KreproError('E_ENGINE', `waiting for container ${container.name} on ${engine.endpoint} failed: ${result.error}`, { endpoint: engine.endpoint });
    if (result.exitCode !== 0) await assertEngineAlive(engine, `the command in container ${container.name}`);
    return result.exitCode;
  } finally {
    io.signal?.removeEventListener('abort', onAbort);
    await container.remove().catch(() => {}); // the engine went away: its labels let the next run or `clean` find it
  }
}

/**
 * A stopping dockerd removes its socket at once but kills its containers (exit 137) while it still serves the
 * connections it has, so a killed build looks like a build that failed. A short ping, which the engine makes over a
 * new connection, tells them apart.
 */
async function assertEngineAlive(engine: Engine, during: string): Promise<void> {
  try {
    await engine.ping({ signal: AbortSignal.timeout(LIVENESS_TIMEOUT_MS) });
  } catch (cause) {
    throw new KreproError(
      'E_ENGINE_GONE',
      `the engine at ${engine.endpoint} went away during ${during}. When it is back, run again: krepro removes this run's leftover containers then; data volumes are kept`,
      { cause, endpoint: engine.endpoint },
    );
  }
}

export type InteractiveIO = TerminalIO & { signal?: AbortSignal };

/**
 * Runs an interactive command with a TTY: attach (hijacked) before start so no output is lost, raw stdin so keys
 * such as Ctrl-C reach the container, and the terminal size kept in sync.
 */
export async function runInteractive(engine: Engine, spec: ContainerSpec, io: InteractiveIO): Promise<number> {
  io.signal?.throwIfAborted();
  const container = await engine.containers.create({ ...spec, tty: true, openStdin: true }, io);
  const wasRaw = io.stdin.isTTY === true;
  const resize = (): void => {
    if (io.stdout.columns && io.stdout.rows) void container.resize(io.stdout.rows, io.stdout.columns);
  };
  try {
    const socket = await container.attach(io);
    // With a TTY the engine sends one raw stream: no demultiplexing.
    socket.pipe(io.stdout as NodeJS.WritableStream, { end: false });
    io.stdin.pipe(socket);
    if (wasRaw) io.stdin.setRawMode?.(true);
    await container.start(io);
    resize();
    io.stdout.on('resize', resize);
    const result = await container.wait(io);
    if (result.exitCode !== 0) await assertEngineAlive(engine, `the shell in container ${container.name}`);
    return result.exitCode;
  } finally {
    io.stdout.off?.('resize', resize);
    if (wasRaw) io.stdin.setRawMode?.(false);
    io.stdin.unpipe();
    await container.remove().catch(() => {});
  }
}
