import { rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { EnvironmentSource } from '../../environment/source.js';
import { KreproError } from '../../errors.js';
import type { Backend, BuildOptions, BuildRequest, BuildResult, CopiedEnvironment, HostFacts, PreparedEnvironment, PrepareOptions, RemovedState } from '../backend.js';

/** How a pool schedules and watches its engines. */
export interface PoolOptions {
  /** builds at once on the whole pool (verify's --jobs); default: the engines' CPUs together */
  jobs?: number;
  /** how often an engine with builds running is asked whether it still answers (default 5 s) */
  heartbeatMs?: number;
  /** how long it may take to answer before it counts as gone (default 20 s) */
  answerMs?: number;
  /** Progress lines: an engine taken out, a build started again elsewhere. */
  onLog?: (line: string) => void;
}

/** One engine of a pool as a report shows it: where it is, what it may run, what it ran, whether it was lost. */
export interface PoolEngine {
  /** The engine's backend name, e.g. `docker unix:///var/run/docker.sock`. */
  name: string;
  /** Its facts, as asked when the pool was opened. */
  host: HostFacts;
  /** builds at once on it: its share of the jobs by CPUs, capped by its memory */
  limit: number;
  /** the environment's image ID it made (all agree, or prepare failed) */
  environment?: string;
  /** the builds that finished on it */
  builds: string[];
  /** why it was taken out of the pool (it died or stopped answering); its unfinished builds ran on the others */
  lost?: string;
  /** builds it had running when it was lost, run again on another engine */
  requeued: string[];
}

/** Memory counted for one build on an engine (decision 16: at least 256 MiB beside its sources). */
const BUILD_MEMORY = 256 * 1024 * 1024;

interface Member extends PoolEngine {
  backend: Backend;
  running: number;
  /** aborts the builds running on it when it is lost */
  abort: AbortController;
  heartbeat?: NodeJS.Timeout;
  prepared?: PreparedEnvironment;
}

interface Waiter {
  group: string | undefined;
  resolve: (m: Member) => void;
  reject: (err: unknown) => void;
}

/**
 * Several engines behind one backend (decision 19). A build goes to the least loaded engine that has a free slot
 * (each engine's share of `jobs` by its CPUs, capped by its memory); builds of one `group` (verify's control and
 * noise builds) all go to one engine. `prepare` makes the environment on every engine and checks they got the same
 * image ID. An engine whose build fails without an answer from it, or that stops answering while it has builds
 * running, is taken out: its running builds start again on the others. With no engine left, every build fails
 * naming them all.
 */
export class PoolBackend implements Backend {
  /** `pool (` and each engine's name `)`. */
  readonly name: string;
  private readonly members: Member[];
  private readonly waiting: Waiter[] = [];
  private readonly groups = new Map<string, Member>();
  /** builds at once on the whole pool */
  readonly jobs: number;

  constructor(
    members: readonly { backend: Backend; host: HostFacts }[],
    private readonly opts: PoolOptions = {},
  ) {
    if (members.length === 0) throw new KreproError('E_USAGE', 'a pool needs at least one engine');
    const names = members.map((m) => m.backend.name);
    const twice = names.find((n, i) => names.indexOf(n) !== i);
    if (twice) throw new KreproError('E_USAGE', `${twice} is in the pool twice: give each engine once`);
    this.name = `pool (${names.join(', ')})`;
    this.members = members.map((m) => ({ name: m.backend.name, host: m.host, backend: m.backend, limit: 1, builds: [], requeued: [], running: 0, abort: new AbortController() }));
    this.jobs = opts.jobs ?? members.reduce((n, m) => n + m.host.cpus, 0);
    if (!Number.isInteger(this.jobs) || this.jobs < 1) throw new KreproError('E_USAGE', `a pool's jobs must be a whole number ≥ 1, got ${this.jobs}`);
    this.share();
  }

  /** Each engine as it stands: limits, builds, the lost ones and why. */
  engines(): PoolEngine[] {
    return this.members.map(({ name, host, limit, environment, builds, lost, requeued }) => ({ name, host, limit, ...(environment ? { environment } : {}), builds: [...builds], ...(lost ? { lost } : {}), requeued: [...requeued] }));
  }

  /** The pool's hosts together: CPUs and memory summed (what verify's memory cap divides), the rest listed. */
  async facts(): Promise<HostFacts> {
    const live = this.live();
    const list = (k: 'machine' | 'kernel' | 'os' | 'arch' | 'engineVersion'): string => [...new Set(live.map((m) => m.host[k]))].join(', ');
    return { backend: this.name, machine: list('machine'), kernel: list('kernel'), cpus: sum(live, (m) => m.host.cpus), memoryBytes: sum(live, (m) => m.host.memoryBytes), os: list('os'), arch: list('arch'), engineVersion: list('engineVersion') };
  }

  /** Resolves when any live engine answers now. */
  async ping(opts: { signal?: AbortSignal } = {}): Promise<void> {
    await Promise.any(this.live().map((m) => answer(m.backend, opts.signal)));
  }

  /**
   * The environment on every engine: the first makes it (and fills the host's verified root file system cache), the
   * others then at once. The same lock must give the same image ID everywhere, and so must a Dockerfile: engines
   * that disagree are an error naming both.
   */
  async prepare(source: EnvironmentSource | CopiedEnvironment, opts: PrepareOptions): Promise<PreparedEnvironment> {
    const [first, ...rest] = this.live();
    if (!first) throw this.gone();
    await this.prepareOn(first, source, opts);
    await Promise.all(rest.map((m) => this.prepareOn(m, source, opts)));
    const made = this.live().filter((m) => m.prepared);
    const reference = made[0];
    if (!reference) throw this.gone();
    const other = made.find((m) => m.prepared!.id !== reference.prepared!.id);
    if (other) {
      throw new KreproError('E_ENVIRONMENT', `the environment differs between engines: ${reference.name} made ${reference.prepared!.id}, ${other.name} made ${other.prepared!.id}; ${source.kind === 'locked' ? 'the lock is not reproducible on these engines' : 'the Dockerfile image is not reproducible: use the locked environment'}`);
    }
    return { ...reference.prepared!, made: made.some((m) => m.prepared!.made) };
  }

  private async prepareOn(m: Member, source: EnvironmentSource | CopiedEnvironment, opts: PrepareOptions): Promise<void> {
    try {
      m.prepared = await m.backend.prepare(source, { ...opts, ...(opts.onLog ? { onLog: (line: string) => opts.onLog!(`${m.name}: ${line}`) } : {}) });
      m.environment = m.prepared.id;
    } catch (err) {
      if (opts.signal?.aborted || !(await this.lostIfSilent(m, err))) throw err;
    }
  }

  /** Runs the build on a free engine (its group's engine), again on another when that engine is lost meanwhile. */
  async build(request: BuildRequest, opts: BuildOptions = {}): Promise<BuildResult> {
    for (;;) {
      const m = await this.take(opts.group, opts.signal);
      const signal = opts.signal ? AbortSignal.any([opts.signal, m.abort.signal]) : m.abort.signal;
      let result: BuildResult | undefined;
      let failure: unknown;
      try {
        result = await m.backend.build({ ...request, environment: m.prepared ?? request.environment }, { ...opts, signal });
      } catch (err) {
        failure = err;
      } finally {
        this.give(m);
      }
      if (opts.signal?.aborted) throw failure ?? opts.signal.reason;
      // A failing build on an engine that no longer answers is the engine's failure, not the build's.
      if (result && result.exitCode === 0) {
        m.builds.push(request.id);
        return result;
      }
      if (!(await this.lostIfSilent(m, failure ?? `build ${request.id} ended with exit code ${result!.exitCode}`))) {
        if (result) {
          m.builds.push(request.id);
          return result;
        }
        throw failure;
      }
      m.requeued.push(request.id);
      this.opts.onLog?.(`${m.name} is gone (${m.lost}): build ${request.id} starts again on another engine`);
      await rm(request.dir, { recursive: true, force: true });
    }
  }

  /** Removes what killed runs of the checkout left on every live engine. */
  async removeLeftovers(checkoutHash: string, opts: { signal?: AbortSignal } = {}): Promise<RemovedState> {
    return merged(await Promise.all(this.live().map((m) => m.backend.removeLeftovers(checkoutHash, opts))));
  }

  /** Removes the checkout's state from every live engine. */
  async removeCheckout(checkoutHash: string, opts: { signal?: AbortSignal } = {}): Promise<RemovedState> {
    return merged(await Promise.all(this.live().map((m) => m.backend.removeCheckout(checkoutHash, opts))));
  }

  /** The environment image from an engine that has it, as a `docker save` stream. */
  exportEnvironment(environment: PreparedEnvironment, opts: { signal?: AbortSignal } = {}): Promise<Readable> {
    const m = this.live().find((x) => x.backend.exportEnvironment && x.prepared?.id === environment.id) ?? this.live().find((x) => x.backend.exportEnvironment);
    if (!m) throw new KreproError('E_USAGE', `no engine of ${this.name} can hand out its environment image ${environment.ref}`);
    return m.backend.exportEnvironment!(m.prepared ?? environment, opts);
  }

  private live(): Member[] {
    return this.members.filter((m) => !m.lost);
  }

  /** Each live engine's share of the jobs by CPUs (at least one), capped by half its memory over one build's. */
  private share(): void {
    const live = this.live();
    const cpus = sum(live, (m) => Math.max(1, m.host.cpus));
    for (const m of live) {
      const byCpus = Math.ceil((this.jobs * Math.max(1, m.host.cpus)) / cpus);
      const byMemory = Math.floor(m.host.memoryBytes / 2 / BUILD_MEMORY);
      m.limit = Math.max(1, Math.min(byCpus, byMemory));
    }
  }

  private take(group: string | undefined, signal?: AbortSignal): Promise<Member> {
    signal?.throwIfAborted();
    return new Promise<Member>((resolve, reject) => {
      const stop = (): void => {
        const i = this.waiting.indexOf(waiter);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(signal!.reason);
      };
      const waiter: Waiter = {
        group,
        resolve: (m) => {
          signal?.removeEventListener('abort', stop);
          resolve(m);
        },
        reject: (err) => {
          signal?.removeEventListener('abort', stop);
          reject(err);
        },
      };
      signal?.addEventListener('abort', stop, { once: true });
      this.waiting.push(waiter);
      this.dispatch();
    });
  }

  private give(m: Member): void {
    m.running--;
    if (m.running === 0 && m.heartbeat) {
      clearInterval(m.heartbeat);
      delete m.heartbeat;
    }
    this.dispatch();
  }

  /** Hands free slots to waiting builds in the order they asked; a group's builds wait for their engine. */
  private dispatch(): void {
    if (this.live().length === 0) {
      for (const w of this.waiting.splice(0)) w.reject(this.gone());
      return;
    }
    for (let i = 0; i < this.waiting.length; ) {
      const w = this.waiting[i]!;
      const m = w.group === undefined ? this.leastLoaded() : this.groupEngine(w.group);
      if (!m || m.running >= m.limit) {
        i++;
        continue;
      }
      this.waiting.splice(i, 1);
      m.running++;
      m.heartbeat ??= this.watch(m);
      w.resolve(m);
    }
  }

  private leastLoaded(): Member | undefined {
    let best: Member | undefined;
    for (const m of this.live()) if (m.running < m.limit && (!best || m.running / m.limit < best.running / best.limit)) best = m;
    return best;
  }

  /** The engine a group's builds run on: the first live engine of the pool, from the group's first build on. */
  private groupEngine(group: string): Member | undefined {
    let m = this.groups.get(group);
    if (!m || m.lost) {
      m = this.live()[0];
      if (m) this.groups.set(group, m);
    }
    return m;
  }

  /** While it has builds running, the engine must answer now and then; one that does not is lost. */
  private watch(m: Member): NodeJS.Timeout {
    const ms = this.opts.answerMs ?? 20_000;
    const timer = setInterval(() => {
      const asked = Date.now();
      void answer(m.backend, AbortSignal.timeout(ms)).catch((err: unknown) => {
        const silent = Date.now() - asked >= ms;
        this.lose(m, silent ? `it did not answer within ${ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`}` : `it stopped answering: ${message(err)}`);
      });
    }, this.opts.heartbeatMs ?? 5_000);
    timer.unref();
    return timer;
  }

  /** After a failure on `m`: true (and `m` lost) when the engine does not answer any more. */
  private async lostIfSilent(m: Member, failure: unknown): Promise<boolean> {
    if (m.lost) return true;
    try {
      await answer(m.backend, AbortSignal.timeout(this.opts.answerMs ?? 20_000));
      return false;
    } catch (err) {
      this.lose(m, `${message(failure)}; then it did not answer: ${message(err)}`);
      return true;
    }
  }

  private lose(m: Member, why: string): void {
    if (m.lost) return;
    m.lost = why;
    if (m.heartbeat) clearInterval(m.heartbeat);
    m.abort.abort(new KreproError('E_ENGINE_GONE', `${m.name} is gone: ${why}`, { endpoint: m.name }));
    this.opts.onLog?.(`engine ${m.name} taken out of the pool: ${why}`);
    this.share();
    this.dispatch();
  }

  /** Closes every engine that holds something beyond its builds (a swarm); the first failure is thrown, naming its engine. */
  async close(): Promise<void> {
    const closed = await Promise.allSettled(this.members.map((m) => m.backend.close?.()));
    const failed = closed.findIndex((c) => c.status === 'rejected');
    if (failed >= 0) throw new KreproError('E_ENGINE', `${this.members[failed]!.name}: ${((closed[failed] as PromiseRejectedResult).reason as Error).message}`);
  }

  private gone(): KreproError {
    return new KreproError('E_ENGINE_GONE', `every engine of the pool is gone: ${this.members.map((m) => `${m.name} (${m.lost ?? 'unknown'})`).join('; ')}`);
  }
}

/** Whether a backend answers: its ping, else its facts. */
async function answer(backend: Backend, signal?: AbortSignal): Promise<void> {
  const call = signal ? { signal } : {};
  if (backend.ping) await backend.ping(call);
  else await backend.facts(call);
}

/** A pool of backends, their facts asked once (each must answer now). */
export async function openPool(backends: readonly Backend[], opts: PoolOptions & { signal?: AbortSignal } = {}): Promise<PoolBackend> {
  const call = opts.signal ? { signal: opts.signal } : {};
  const hosts = await Promise.all(backends.map((b) => b.facts(call)));
  return new PoolBackend(backends.map((backend, i) => ({ backend, host: hosts[i]! })), opts);
}

function sum<T>(xs: readonly T[], f: (x: T) => number): number {
  return xs.reduce((n, x) => n + f(x), 0);
}

function merged(states: readonly RemovedState[]): RemovedState {
  return { containers: states.flatMap((s) => s.containers), images: states.flatMap((s) => s.images), volumes: states.flatMap((s) => s.volumes) };
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
