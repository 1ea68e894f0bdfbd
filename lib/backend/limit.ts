import type { Readable } from 'node:stream';
import type { EnvironmentSource } from '../environment/source.js';
import type { Backend, BuildOptions, BuildRequest, BuildResult, CopiedEnvironment, HostFacts, PreparedEnvironment, PrepareOptions, RemovedState } from './backend.js';
import type { PoolEngine } from './pool/pool.js';

/** How many builds a limited backend runs at once. */
export interface Limits {
  /** Builds at once (at least 1). */
  jobs: number;
  /**
   * Builds with an in-memory source tree at once (memory caps them: each holds its sources and build products in
   * RAM). Default: `jobs`.
   */
  inMemory?: number;
}

/** Whether a build's sources live in memory on the backend: a controlled build whose conditions name a file order. */
export function usesMemory(request: BuildRequest): boolean {
  return request.container.kind === 'controlled' && request.container.conditions.fileOrder !== 'filesystem';
}

/** A counting semaphore; waiting is abandoned when the signal aborts. */
class Slots {
  private used = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly size: number) {}

  async take(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (this.used < this.size) {
      this.used++;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const go = (): void => {
        signal?.removeEventListener('abort', stop);
        this.used++;
        resolve();
      };
      const stop = (): void => {
        this.waiting.splice(this.waiting.indexOf(go), 1);
        reject(signal!.reason);
      };
      this.waiting.push(go);
      signal?.addEventListener('abort', stop, { once: true });
    });
  }

  give(): void {
    this.used--;
    this.waiting.shift()?.();
  }
}

/**
 * A backend that runs at most `jobs` builds at once, and at most `inMemory` of them with their sources in memory
 * (ko's limit.go): the builds a plan starts together queue here, in the order they were asked for.
 */
export class LimitedBackend implements Backend {
  readonly name: string;
  private readonly jobs: Slots;
  private readonly memory: Slots;

  constructor(
    private readonly inner: Backend,
    readonly limits: Limits,
  ) {
    this.name = inner.name;
    this.jobs = new Slots(Math.max(1, limits.jobs));
    this.memory = new Slots(Math.max(1, limits.inMemory ?? limits.jobs));
  }

  facts(opts?: { signal?: AbortSignal }): Promise<HostFacts> {
    return this.inner.facts(opts);
  }

  prepare(source: EnvironmentSource | CopiedEnvironment, opts: PrepareOptions): Promise<PreparedEnvironment> {
    return this.inner.prepare(source, opts);
  }

  async build(request: BuildRequest, opts: BuildOptions = {}): Promise<BuildResult> {
    const memory = usesMemory(request);
    // Memory first: a build waiting for memory must not hold a job slot another (on-disk) build could use.
    if (memory) await this.memory.take(opts.signal);
    try {
      await this.jobs.take(opts.signal);
      try {
        return await this.inner.build(request, opts);
      } finally {
        this.jobs.give();
      }
    } finally {
      if (memory) this.memory.give();
    }
  }

  removeLeftovers(checkoutHash: string, opts?: { signal?: AbortSignal }): Promise<RemovedState> {
    return this.inner.removeLeftovers(checkoutHash, opts);
  }

  removeCheckout(checkoutHash: string, opts?: { signal?: AbortSignal }): Promise<RemovedState> {
    return this.inner.removeCheckout(checkoutHash, opts);
  }

  exportEnvironment?(environment: PreparedEnvironment, opts?: { signal?: AbortSignal }): Promise<Readable>;
  ping?(opts?: { signal?: AbortSignal }): Promise<void>;
  engines?(): PoolEngine[];
  close?(): Promise<void>;
}

/**
 * `inner` behind a queue: at most `limits.jobs` builds at once, at most `limits.inMemory` of them with their sources
 * in memory, in the order they were asked for. Limit each backend once: builds on one backend share its limits.
 */
export function limitBackend(inner: Backend, limits: Limits): Backend {
  const limited = new LimitedBackend(inner, limits);
  if (inner.exportEnvironment) limited.exportEnvironment = (environment, opts) => inner.exportEnvironment!(environment, opts);
  // The optional parts stay optional: a wrapper that always had them would hide what `inner` cannot do.
  if (inner.ping) limited.ping = (opts) => inner.ping!(opts);
  if (inner.engines) limited.engines = () => inner.engines!();
  if (inner.close) limited.close = () => inner.close!();
  return limited;
}
