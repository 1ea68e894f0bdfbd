import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import * as path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { checkoutStateNames } from '../../checkout/identity.js';
import { LABEL_CHECKOUT, namesOf } from '../../checkout/names.js';
import { type ConnectOptions, openEngine } from '../../engine/connect.js';
import type { Engine } from '../../engine/engine.js';
import type { Listed, SwarmNode } from '../../engine/swarm.js';
import { makeEnvironmentImage } from '../../environment/build.js';
import { type EnvironmentLock, lockDigest } from '../../environment/lock.js';
import { type EnvironmentSource, sourceVersion } from '../../environment/source.js';
import { KreproError } from '../../errors.js';
import { digestHex } from '../../image/oci.js';
import { outputArtifacts } from '../../integrity/artifact.js';
import type { Backend, BuildOptions, BuildRequest, BuildResult, CopiedEnvironment, HostFacts, PreparedEnvironment, PrepareOptions, RemovedState } from '../backend.js';
import { prepareEnvironment } from '../docker/environment.js';
import { ProbeReader } from '../wrapper.js';
import { readTaskLogs } from './logs.js';
import { pushToRegistry, type RunRegistry, startRegistry } from './registry.js';
import { type SourceConfigs, sourcesAsConfigs } from './sources.js';
import { SOURCES_DIR, taskSetup } from './task.js';
import { waitForTasks } from './tasks.js';

/** Every object one swarm backend makes carries its own id: close() and a later run's leftover removal find them. */
export const LABEL_SWARM_RUN = 'io.krepro.swarm-run';
/** krepro's registry image lock, in build-image/ beside the build environment's. */
export const REGISTRY_LOCK_FILE = 'registry.lock.json';
/** How often a finished build's logs are read (a second apart) until they hold its end. */
const LOG_TRIES = 10;
/** How long removed services may take to leave the nodes before networks and configs can go. */
const SETTLE_MS = 60_000;

/** What a swarm backend needs beyond the manager's engine: krepro's registry image and where to make it. */
export interface SwarmBackendOptions {
  /** the lock of krepro's registry image (build-image/registry.lock.json): Debian's docker-registry and mkpasswd */
  registryLock: EnvironmentLock;
  /** where the registry image's root filesystem is made (as `krepro env build --work-dir`) */
  workDir: string;
  /** verified root file systems and packages by lock digest, shared with the build environment's */
  cacheDir?: string;
  /** progress lines of making the registry image and starting the registry */
  onLog?: (line: string) => void;
}

/**
 * Builds on a Docker Swarm, through its manager's API alone: each build is a one-off service (one task, never restarted) the swarm
 * places on any node, on an internal overlay network of the run's own (no route out: services cannot use the
 * network `none` on API 1.41), its sources from swarm configs, its outputs and log back through the service's logs
 * (lib/backend/swarm/task.ts, logs.ts). The environment is made on the manager as on any engine (the same ID from the
 * same lock) and reaches the other nodes through a registry the run starts on the manager (registry.ts): every node
 * runs it by digest, so the very same layers. Nothing of a run is left on the swarm after close(): services, their
 * tasks and containers, networks, configs and secrets are removed; the environment image stays on the nodes that
 * pulled it, as it stays on a local engine.
 */
export class SwarmBackend implements Backend {
  /** `swarm <manager's endpoint>`, for messages and reports. */
  readonly name: string;
  private readonly id = randomBytes(6).toString('hex');
  private factsOnce: Promise<HostFacts> | undefined;
  private registryOnce: Promise<RunRegistry> | undefined;
  private networkOnce: Promise<string> | undefined;
  private readonly sources = new Map<string, Promise<SourceConfigs>>();
  /** environment ID → the manager's local name, for exportEnvironment */
  private readonly local = new Map<string, string>();
  private checkoutHash = 'swarm';
  private nodesCache: { at: number; nodes: Promise<SwarmNode[]> } | undefined;
  /** the node of each group's first build */
  private readonly groups = new Map<string, Promise<string | undefined>>();

  constructor(
    /** the manager's engine, through which the whole swarm is driven */
    readonly engine: Engine,
    private readonly manager: { nodeId: string; address: string },
    private readonly opts: SwarmBackendOptions,
  ) {
    this.name = `swarm ${engine.endpoint}`;
  }

  private labels(extra: Record<string, string> = {}): Record<string, string> {
    return { [LABEL_CHECKOUT]: this.checkoutHash, ...extra, [LABEL_SWARM_RUN]: this.id };
  }

  private objectName(kind: string): string {
    return `krepro-${kind}-${this.checkoutHash}-${this.id}`;
  }

  /** The swarm as a whole: its ready nodes' CPUs and memory added up, the manager's kernel and engine (asked once). */
  facts(opts: { signal?: AbortSignal } = {}): Promise<HostFacts> {
    this.factsOnce ??= (async () => {
      const [info, version, nodes] = await Promise.all([this.engine.info(opts), this.engine.version(opts), this.engine.swarm.nodes(opts)]);
      const ready = nodes.filter((n) => n.state === 'ready' && n.availability === 'active');
      // The swarm as a whole: its ready nodes' CPUs and memory (what a plan's builds at once share); each build's
      // result names its own node.
      return {
        backend: this.name,
        machine: `${ready.length} nodes of the swarm managed by ${info.name}`,
        kernel: info.kernel,
        cpus: ready.reduce((n, x) => n + x.cpus, 0),
        memoryBytes: ready.reduce((n, x) => n + x.memoryBytes, 0),
        os: version.os,
        arch: version.arch,
        engineVersion: version.version,
      };
    })();
    this.factsOnce.catch(() => (this.factsOnce = undefined));
    return this.factsOnce;
  }

  /** Makes the environment on the manager (as on one engine: the same ID from the lock) and pushes it to the run's registry, which every node pulls it from by digest. */
  async prepare(source: EnvironmentSource | CopiedEnvironment, opts: PrepareOptions): Promise<PreparedEnvironment> {
    if (source.kind !== 'copy') this.checkoutHash = (await checkoutStateNames(opts.checkoutRoot, opts.hostname, await sourceVersion(source))).names.checkoutHash;
    const environment = await prepareEnvironment(this.engine, source, opts);
    const registry = await this.registry(opts);
    opts.onLog?.(`pushing ${environment.ref} (${environment.id}) to the run's registry ${registry.address}...`);
    const ref = await pushToRegistry(this.engine, registry, { ref: environment.ref, repository: 'krepro-environment', tag: digestHex(environment.id).slice(0, 16), ...(opts.signal ? { signal: opts.signal } : {}) });
    this.local.set(environment.id, environment.ref);
    return { ...environment, ref };
  }

  private registry(opts: { signal?: AbortSignal; onLog?: (line: string) => void }): Promise<RunRegistry> {
    this.registryOnce ??= (async () => {
      const log = opts.onLog ?? this.opts.onLog;
      const image = await makeEnvironmentImage(this.engine, this.opts.registryLock, {
        image: `krepro-registry:${digestHex(lockDigest(this.opts.registryLock)).slice(0, 16)}`,
        workDir: this.opts.workDir,
        ...(this.opts.cacheDir ? { cacheDir: this.opts.cacheDir } : {}),
        ...(log ? { onLog: log } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      return startRegistry(this.engine, { image: image.image, managerNodeId: this.manager.nodeId, address: this.manager.address, name: (kind) => this.objectName(kind), labels: this.labels(), ...(opts.signal ? { signal: opts.signal } : {}), ...(log ? { onLog: log } : {}) });
    })();
    this.registryOnce.catch(() => (this.registryOnce = undefined));
    return this.registryOnce;
  }

  /** The run's network for hermetic builds: internal (no gateway), so a task on it reaches nothing outside it. */
  private network(signal?: AbortSignal): Promise<string> {
    this.networkOnce ??= this.engine.swarm.createNetwork(this.objectName('builds'), this.labels(), { internal: true, ...(signal ? { signal } : {}) });
    this.networkOnce.catch(() => (this.networkOnce = undefined));
    return this.networkOnce;
  }

  /** A commit's sources as configs, made once per run and shared by every build of that commit. */
  private sourcesOf(request: BuildRequest, signal?: AbortSignal): Promise<SourceConfigs> {
    const key = `${request.sources.commit} ${request.sources.dir}`;
    let made = this.sources.get(key);
    if (made === undefined) {
      const n = this.sources.size;
      made = sourcesAsConfigs(this.engine.swarm, request.sources.dir, { name: (i) => `${this.objectName(`sources-${n}`)}-${i}`, labels: this.labels(), ...(signal ? { signal } : {}) });
      this.sources.set(key, made);
      made.catch(() => this.sources.delete(key));
    }
    return made;
  }

  private async node(id: string): Promise<SwarmNode | undefined> {
    if (this.nodesCache === undefined || Date.now() - this.nodesCache.at > 30_000) this.nodesCache = { at: Date.now(), nodes: this.engine.swarm.nodes() };
    let found = (await this.nodesCache.nodes).find((n) => n.id === id);
    if (found === undefined) {
      this.nodesCache = { at: Date.now(), nodes: this.engine.swarm.nodes() };
      found = (await this.nodesCache.nodes).find((n) => n.id === id);
    }
    return found;
  }

  /**
   * Runs one build as a one-off service on whichever node the swarm picks; its result names the node (`host.machine`).
   * Builds of one group (verify's control and noise builds) run on the node its first build was placed on.
   */
  async build(request: BuildRequest, opts: BuildOptions = {}): Promise<BuildResult> {
    if (opts.group === undefined) return this.run(request, opts, {});
    const first = this.groups.get(opts.group);
    if (first !== undefined) {
      const node = await first;
      return this.run(request, opts, node ? { node } : {});
    }
    let placed: (node: string | undefined) => void = () => {};
    this.groups.set(opts.group, new Promise((resolve) => (placed = resolve)));
    try {
      return await this.run(request, opts, { placed });
    } finally {
      placed(undefined);
    }
  }

  /** One build; `node`: the node it must run on; `placed`: told the node once the swarm has placed it. */
  private async run(request: BuildRequest, opts: BuildOptions, place: { node?: string; placed?: (node: string | undefined) => void }): Promise<BuildResult> {
    const started = Date.now();
    const { signal } = opts;
    const call = signal ? { signal } : {};
    const registry = await this.registry(opts);
    await mkdir(request.dir, { recursive: true });
    const log = path.join(request.dir, 'build.log');
    const nonce = randomBytes(16).toString('hex');
    const setup = taskSetup(request, nonce);
    opts.onProgress?.('sources');
    const sources = await this.sourcesOf(request, signal);
    const network = request.network === 'none' ? await this.network(signal) : undefined;
    const labels = { ...request.run.labels, ...this.labels() };
    opts.onProgress?.('command');
    const commandStarted = Date.now();
    const serviceId = await this.engine.swarm.createService(
      {
        name: namesOf(request.run).name(`build-${request.id}`),
        labels,
        image: request.environment.ref,
        ...setup.spec,
        configs: sources.pieces.map((p, i) => ({ ...p, target: `${SOURCES_DIR}/${String(i).padStart(6, '0')}` })),
        networks: network ? [network] : [],
        ...(place.node ? { constraints: [`node.id==${place.node}`] } : {}),
        mode: 'job',
      },
      { ...call, registryAuth: registry.auth },
    );
    try {
      if (place.placed) {
        const [placed] = await waitForTasks(this.engine.swarm, serviceId, { until: 'placed', ...call });
        place.placed(placed?.nodeId || undefined);
      }
      const [task] = await waitForTasks(this.engine.swarm, serviceId, { until: 'final', ...call });
      const commandMs = Date.now() - commandStarted;
      const node = task ? await this.node(task.nodeId) : undefined;
      // The node is the machine: the report names it per build, and notes a build on another node than the control
      // build's (plan.hosts). Node IDs tell apart nodes that share a host name.
      const machine = node ? `${node.hostname} (node ${node.id.slice(0, 12)})` : `node ${task?.nodeId.slice(0, 12) ?? '?'}`;
      if (task === undefined || task.exitCode === undefined || (task.state !== 'complete' && task.state !== 'failed')) {
        const why = task?.error ?? task?.message ?? 'no task';
        const hint = /HTTPS client|x509|certificate/.test(why) ? `; every node must accept ${registry.address} as a registry (an insecure-registries entry in its daemon.json, or TLS in front of it)` : '';
        throw new KreproError('E_ENGINE', `build ${request.id} could not run on the swarm (on ${machine}): ${why}${hint}`, { endpoint: this.engine.endpoint });
      }
      opts.onProgress?.('outputs');
      // The exit mark is among the task's last lines: should the node not have handed them over yet when the task
      // shows complete, the logs are read again, a second apart, before that is an error.
      let report: Awaited<ReturnType<typeof readTaskLogs>> & { probes?: ProbeReader['probes'] };
      for (let attempt = 1; ; attempt++) {
        const out = createWriteStream(log);
        const probes = setup.probes ? new ProbeReader(out) : undefined;
        report = await readTaskLogs(await this.engine.swarm.serviceLogs(serviceId, call), { nonce, outputs: request.outputs, dir: request.dir, log: out, ...(probes ? { probes } : {}), ...call });
        if (probes) await endStream(probes);
        await endStream(out);
        if (probes) report.probes = probes.probes;
        if (report.exitCode !== undefined || report.failure !== undefined) break;
        if (attempt >= LOG_TRIES) throw new KreproError('E_ENGINE', `the logs of build ${request.id} (on ${machine}) never showed its end: the swarm kept the build's output back`, { endpoint: this.engine.endpoint });
        await new Promise((r) => setTimeout(r, 1000));
      }
      if (report.failure) throw new KreproError('E_ENGINE', `build ${request.id} could not run on the swarm (on ${machine}): ${report.failure}`, { endpoint: this.engine.endpoint });
      if (task.exitCode !== undefined && task.exitCode !== report.exitCode) throw new KreproError('E_ENGINE', `build ${request.id} (on ${machine}) exited ${task.exitCode}, but its log says ${report.exitCode}`);
      const exitCode = report.exitCode!;
      const host: HostFacts = {
        backend: this.name,
        machine,
        kernel: report.kernel ?? '',
        cpus: node?.cpus ?? 0,
        memoryBytes: node?.memoryBytes ?? 0,
        os: node?.os ?? '',
        arch: node?.arch ?? '',
        engineVersion: node?.engineVersion ?? '',
      };
      const result = { id: request.id, exitCode, commandMs, probes: report.probes ?? {}, unapplied: setup.unapplied, dir: request.dir, log, host };
      if (exitCode !== 0) return { ...result, outputs: [], durationMs: Date.now() - started };
      const outputs = await outputArtifacts(request.dir, request.outputs, signal);
      return { ...result, outputs, durationMs: Date.now() - started };
    } finally {
      await this.engine.swarm.removeService(serviceId).catch(() => {});
    }
  }

  /** Removes what killed runs of the checkout left on the swarm (services, networks, configs, secrets). */
  removeLeftovers(checkoutHash: string, opts: { signal?: AbortSignal } = {}): Promise<RemovedState> {
    return this.remove({ [LABEL_CHECKOUT]: checkoutHash }, (run) => run !== this.id, opts);
  }

  /** Removes everything of the checkout on the swarm, this run's too (krepro clean). */
  removeCheckout(checkoutHash: string, opts: { signal?: AbortSignal } = {}): Promise<RemovedState> {
    return this.remove({ [LABEL_CHECKOUT]: checkoutHash }, () => true, opts);
  }

  /** Removes everything this backend made on the swarm; the backend can be used again afterwards. */
  async close(): Promise<void> {
    this.registryOnce = undefined;
    this.networkOnce = undefined;
    this.sources.clear();
    await this.remove({ [LABEL_SWARM_RUN]: this.id }, () => true, {});
  }

  /**
   * Services first (their tasks, with their containers, leave the nodes), then — once no task of theirs is left —
   * networks, configs and secrets, which the swarm refuses to remove while a task uses them.
   */
  private async remove(labels: Record<string, string>, ofRun: (run: string | undefined) => boolean, opts: { signal?: AbortSignal }): Promise<RemovedState> {
    const swarm = this.engine.swarm;
    const services = await swarm.services(labels, opts);
    const removed: string[] = [];
    const mine = <T extends Listed>(list: T[]): T[] => list.filter((o) => ofRun(o.labels[LABEL_SWARM_RUN]));
    for (const s of mine(services)) if (await swarm.removeService(s.id)) removed.push(s.name);
    const deadline = Date.now() + SETTLE_MS;
    const retry = async (what: () => Promise<boolean>): Promise<boolean> => {
      for (;;) {
        try {
          return await what();
        } catch (err) {
          if (Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    };
    for (const n of mine(await swarm.networks(labels, opts))) if (await retry(() => swarm.removeNetwork(n.id))) removed.push(n.name);
    for (const c of mine(await swarm.configs(labels, opts))) if (await retry(() => swarm.removeConfig(c.id))) removed.push(c.name);
    for (const s of mine(await swarm.secrets(labels, opts))) if (await retry(() => swarm.removeSecret(s.id))) removed.push(s.name);
    return { containers: removed, images: [], volumes: [] };
  }

  /** The environment image as a `docker save` stream from the manager. */
  exportEnvironment(environment: PreparedEnvironment, opts: { signal?: AbortSignal } = {}): Promise<Readable> {
    return this.engine.images.save(this.local.get(environment.id) ?? environment.ref, opts);
  }
}

function endStream(stream: Writable): Promise<void> {
  return new Promise<void>((resolve) => stream.end(resolve));
}

/** Connects to the swarm whose manager the options name (DOCKER_HOST and friends, or --engine). */
export async function openSwarmBackend(opts: ConnectOptions & SwarmBackendOptions & { signal?: AbortSignal }): Promise<SwarmBackend> {
  const { registryLock, workDir, cacheDir, onLog, signal, ...connect } = opts;
  const engine = await openEngine(connect);
  const call = signal ? { signal } : {};
  const manager = await engine.swarm.managerNode(call);
  if (manager === undefined) throw new KreproError('E_USAGE', `${engine.endpoint} is not the manager of an active swarm: --backend swarm needs a manager's engine (docker swarm init, or DOCKER_HOST of a manager)`);
  const self = (await engine.swarm.nodes(call)).find((n) => n.id === manager.nodeId);
  if (!self?.address) throw new KreproError('E_ENGINE', `the swarm's manager at ${engine.endpoint} reports no address`);
  return new SwarmBackend(engine, { nodeId: manager.nodeId, address: self.address }, { registryLock, workDir, ...(cacheDir ? { cacheDir } : {}), ...(onLog ? { onLog } : {}) });
}
