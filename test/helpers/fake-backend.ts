import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Backend, BuildRequest, BuildResult, CopiedEnvironment, HostFacts, PreparedEnvironment, RemovedState } from '../../lib/backend/backend.js';
import type { BuildConditions } from '../../lib/backend/conditions.js';
import type { Session, SessionOptions, Sessions } from '../../lib/backend/session.js';
import { lockDigest } from '../../lib/environment/lock.js';
import type { EnvironmentSource } from '../../lib/environment/source.js';
import { outputArtifacts } from '../../lib/integrity/artifact.js';

/** What a fake build sees: its conditions (control's for a session build), its variables and its sources. */
export interface FakeBuildInput {
  conditions: BuildConditions | undefined;
  variables: Readonly<Record<string, string>>;
  command: readonly string[];
  sources: string;
  /** how many builds this backend ran before this one (for nondeterministic models) */
  count: number;
}

/** A project as the fake builds it: checkout-relative output files and their contents, or a failing exit code. */
export type FakeModel = (input: FakeBuildInput) => { files: Record<string, string | Buffer>; exitCode?: number; log?: string };

const EMPTY: RemovedState = { containers: [], images: [], volumes: [] };

/** What each variation's effect probe would see, read off the conditions instead of a container. */
function probesOf(c: BuildConditions): Record<string, string> {
  return {
    'build-path': c.buildPath,
    tz: c.tz,
    locale: c.locale,
    umask: c.umask,
    user: String(c.uid),
    group: String(c.gid),
    hostname: c.hostname,
    domain: c.domainname,
    home: c.home,
    env: c.extraEnv?.[1] ?? 'unset',
    path: c.path,
    cpus: c.cpuset ?? 'all',
    'file-order': c.fileOrder,
    clock: c.clockOffset === '' ? '1700000000' : '1732227200',
    kernel: c.kernel,
    aslr: c.aslr ? '5555 | 7777' : '5555 | 5555',
  };
}

/**
 * A build backend without an engine, for tests of what sits above the seam (release's steps, verify's search,
 * rebuild's comparison): a build is a function of its conditions and variables (the model), its outputs are
 * written where a real backend would put them, and every request is recorded. Runs in milliseconds.
 */
export class FakeBackend implements Backend, Sessions {
  readonly requests: BuildRequest[] = [];
  readonly prepared: (EnvironmentSource | CopiedEnvironment)[] = [];
  /** conditions this backend cannot apply (as a Docker engine without a seccomp profile cannot apply aslr off) */
  unapplied: { condition: keyof BuildConditions; reason: string }[] = [];
  /** how long each build takes, so builds started together overlap */
  delayMs = 0;
  /** builds running now, and the most that ever ran at once */
  running = 0;
  maxRunning = 0;

  constructor(
    private readonly model: FakeModel,
    readonly name = 'fake',
    private readonly cpus = 4,
    private readonly machine = 'fake-host',
  ) {
    setMaxListeners(0, this.down.signal);
  }

  /** a fake engine that died (every call fails at once) or stopped answering (every call waits until aborted) */
  state: 'up' | 'dead' | 'silent' = 'up';
  /** the image ID prepare gives, where a test needs two engines to disagree */
  environmentId: string | undefined;
  private readonly down = new AbortController();

  /** Kills the engine: its running builds fail now, as a killed dockerd's connections do. */
  kill(): void {
    this.state = 'dead';
    this.down.abort(new Error(`connect ECONNREFUSED ${this.name}`));
  }

  /** Freezes the engine (as SIGSTOP does): nothing it runs finishes, nothing it is asked gets an answer. */
  freeze(): void {
    this.state = 'silent';
  }

  private async reachable(signal?: AbortSignal): Promise<void> {
    if (this.state === 'dead') throw new Error(`connect ECONNREFUSED ${this.name}`);
    if (this.state === 'silent') await new Promise((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason), { once: true }));
  }

  async ping(opts: { signal?: AbortSignal } = {}): Promise<void> {
    await this.reachable(opts.signal);
  }

  async facts(): Promise<HostFacts> {
    return { backend: this.name, machine: this.machine, kernel: '6.1.0-fake', cpus: this.cpus, memoryBytes: 8 * 2 ** 30, os: 'linux', arch: 'amd64', engineVersion: 'fake' };
  }

  async prepare(source: EnvironmentSource | CopiedEnvironment): Promise<PreparedEnvironment> {
    this.prepared.push(source);
    if (source.kind === 'copy') return source.environment;
    if (source.kind === 'locked') return { id: this.environmentId ?? `sha256:${lockDigest(source.lock).slice(7)}`, ref: 'fake-environment', lock: source.lock, variables: ['PATH=/usr/bin:/bin', 'GOTOOLCHAIN=local'], made: false };
    return { id: `sha256:${createHash('sha256').update(source.dockerfileDir).digest('hex')}`, ref: 'fake-dockerfile', variables: [], made: true };
  }

  async build(request: BuildRequest, opts: { signal?: AbortSignal } = {}): Promise<BuildResult> {
    const count = this.requests.push(request) - 1;
    this.maxRunning = Math.max(this.maxRunning, ++this.running);
    try {
      await this.reachable(opts.signal);
      const stop = opts.signal ? AbortSignal.any([opts.signal, this.down.signal]) : this.down.signal;
      // A frozen engine's build never ends: only an abort (its caller's, or the engine dying) gets it out.
      await new Promise<void>((resolve, reject) => {
        const timer = this.state === 'silent' ? undefined : setTimeout(resolve, this.delayMs);
        stop.addEventListener('abort', () => (clearTimeout(timer), reject(stop.reason)), { once: true });
        if (stop.aborted) reject(stop.reason);
      });
      if (this.state !== 'up') await this.reachable(stop);
      return await this.result(request, count);
    } finally {
      this.running--;
    }
  }

  private async result(request: BuildRequest, count: number): Promise<BuildResult> {
    const conditions = request.container.kind === 'controlled' ? request.container.conditions : undefined;
    mkdirSync(request.dir, { recursive: true });
    const out = this.model({ conditions, variables: request.variables, command: request.command, sources: request.sources.dir, count });
    const log = path.join(request.dir, 'build.log');
    writeFileSync(log, out.log ?? 'fake build\n');
    const exitCode = out.exitCode ?? 0;
    if (exitCode === 0) writeFiles(request.dir, out.files);
    const unapplied = conditions ? this.unapplied.filter((u) => (u.condition === 'aslr' ? !conditions.aslr : true)) : [];
    const applied = conditions && unapplied.some((u) => u.condition === 'aslr') ? { ...conditions, aslr: true } : conditions;
    return {
      id: request.id,
      exitCode,
      durationMs: 1,
      commandMs: 1,
      probes: applied ? probesOf(applied) : {},
      unapplied,
      outputs: exitCode === 0 ? await outputArtifacts(request.dir, request.outputs) : [],
      dir: request.dir,
      log,
      host: await this.facts(),
    };
  }

  async removeLeftovers(): Promise<RemovedState> {
    return EMPTY;
  }

  async removeCheckout(): Promise<RemovedState> {
    return EMPTY;
  }

  /** A session whose "volume" is a directory: run builds the model into it, copyOutput copies back. */
  async openSession(opts: SessionOptions): Promise<Session> {
    const environment = await this.prepare(opts.environment);
    const volume = path.join(opts.checkoutRoot, '_output', '.fake-volume');
    let count = 0;
    const variables = { ...(opts.variables ?? {}) };
    return {
      environment,
      container: { user: opts.user, hostname: 'krepro-build', workingDir: '/go/src/k8s.io/kubernetes' },
      variables,
      removed: { leftovers: EMPTY, stale: EMPTY },
      sync: async () => ({ scanned: 0, sent: 0, sentBytes: 0, deleted: 0, unchanged: 0, rewritten: [], strays: [], tarBytes: 0 }),
      run: async (command, io) => {
        const out = this.model({ conditions: undefined, variables, command, sources: opts.checkoutRoot, count: count++ });
        io.stdout.write(out.log ?? '');
        if ((out.exitCode ?? 0) === 0) writeFiles(volume, out.files);
        return out.exitCode ?? 0;
      },
      shell: async () => 0,
      copyOutput: async (paths = ['_output/dockerized/bin']) => {
        let copied = 0;
        for (const p of paths) {
          if (!existsSync(path.join(volume, p))) continue;
          rmSync(path.join(opts.checkoutRoot, p), { recursive: true, force: true });
          cpSync(path.join(volume, p), path.join(opts.checkoutRoot, p), { recursive: true });
          copied++;
        }
        return { copied, unchanged: 0, bytes: 0 };
      },
      close: async () => {},
    };
  }
}

function writeFiles(root: string, files: Record<string, string | Buffer>): void {
  for (const [rel, content] of Object.entries(files)) {
    const file = path.join(root, rel);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, content);
  }
}
