import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { CLEANUP_TIMEOUT_MS, type Call, type LabelFilter } from './engine.js';
import { statusOf } from './engine-errors.js';
import type { Listed, RegistryAuth, ServiceSpec, Swarm, SwarmNode, SwarmTask } from './swarm.js';

type Guard = <T>(operation: string, signal: AbortSignal | undefined, fn: () => Promise<T>) => Promise<T>;

const abort = (signal?: AbortSignal): { abortSignal?: AbortSignal } => (signal ? { abortSignal: signal } : {});
/** docker-modem JSON-encodes an object `filters` into the query. */
const filters = (labels: LabelFilter): { label: string[] } => ({ label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) });

/**
 * Base64url JSON, as the X-Registry-Auth header carries credentials, with its padding: the engine decodes it with
 * Go's padded URL encoding, and without the `=` a node's pull silently goes without credentials (measured: the
 * task is rejected with "No such image" whenever the JSON's length is not a multiple of 3).
 */
export function registryAuthHeader(auth: RegistryAuth): string {
  return Buffer.from(JSON.stringify(auth)).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

/** The swarm API of a Docker engine (a manager), over dockerode's modem: API 1.41 shapes. */
export class DockerSwarm implements Swarm {
  constructor(
    private readonly docker: Docker,
    private readonly guard: Guard,
  ) {}

  private dial<T>(operation: string, signal: AbortSignal | undefined, req: { path: string; method: 'GET' | 'POST' | 'DELETE'; body?: unknown; options?: Record<string, unknown>; headers?: Record<string, string>; isStream?: boolean }): Promise<T> {
    return this.guard(operation, signal, () =>
      new Promise<T>((resolve, reject) => {
        this.docker.modem.dial(
          {
            path: req.path,
            method: req.method,
            options: req.body ?? req.options ?? {},
            headers: req.headers ?? {},
            isStream: req.isStream ?? false,
            statusCodes: { 200: true, 201: true, 204: true, 304: true, 400: 'bad parameter', 404: 'no such object', 409: 'conflict', 500: 'server error', 503: 'node is not part of a swarm' },
            ...abort(signal),
          } as never,
          (err: unknown, data: unknown) => (err ? reject(err) : resolve(data as T)),
        );
      }),
    );
  }

  private async removing(operation: string, path: string): Promise<boolean> {
    const signal = AbortSignal.timeout(CLEANUP_TIMEOUT_MS);
    try {
      await this.dial(operation, signal, { path, method: 'DELETE' });
      return true;
    } catch (err) {
      if (statusOf((err as { cause?: unknown }).cause ?? err) === 404) return false;
      throw err;
    }
  }

  async managerNode(opts: Call = {}): Promise<{ nodeId: string } | undefined> {
    const info = await this.dial<{ Swarm?: { NodeID?: string; LocalNodeState?: string; ControlAvailable?: boolean } }>('reading swarm state', opts.signal, { path: '/info?', method: 'GET' });
    const s = info.Swarm;
    return s?.LocalNodeState === 'active' && s.ControlAvailable && s.NodeID ? { nodeId: s.NodeID } : undefined;
  }

  async nodes(opts: Call = {}): Promise<SwarmNode[]> {
    type Raw = { ID: string; Spec: { Role: string; Availability: string }; Status: { State: string; Addr?: string }; ManagerStatus?: { Addr?: string }; Description: { Hostname: string; Platform: { OS: string; Architecture: string }; Resources: { NanoCPUs: number; MemoryBytes: number }; Engine: { EngineVersion: string } } };
    const nodes = await this.dial<Raw[]>('listing swarm nodes', opts.signal, { path: '/nodes?', method: 'GET' });
    return nodes.map((n) => ({
      id: n.ID,
      hostname: n.Description.Hostname,
      // A manager may report 0.0.0.0 as its node address; its manager address (ip:port) names the interface.
      address: n.Status.Addr && n.Status.Addr !== '0.0.0.0' ? n.Status.Addr : (n.ManagerStatus?.Addr ?? '').replace(/:\d+$/, ''),
      role: n.Spec.Role === 'manager' ? 'manager' : 'worker',
      state: n.Status.State,
      availability: n.Spec.Availability,
      cpus: Math.round(n.Description.Resources.NanoCPUs / 1e9),
      memoryBytes: n.Description.Resources.MemoryBytes,
      os: n.Description.Platform.OS,
      arch: n.Description.Platform.Architecture,
      engineVersion: n.Description.Engine.EngineVersion,
    }));
  }

  async createService(spec: ServiceSpec, opts: Call & { registryAuth?: RegistryAuth } = {}): Promise<string> {
    const created = await this.dial<{ ID: string }>(`creating service ${spec.name}`, opts.signal, {
      path: '/services/create',
      method: 'POST',
      body: serviceBody(spec),
      headers: opts.registryAuth ? { 'X-Registry-Auth': registryAuthHeader(opts.registryAuth) } : {},
    });
    return created.ID;
  }

  removeService(id: string): Promise<boolean> {
    return this.removing(`removing service ${id}`, `/services/${id}`);
  }

  async services(labels: LabelFilter, opts: Call = {}): Promise<Listed[]> {
    const list = await this.dial<{ ID: string; Spec: { Name: string; Labels?: Record<string, string> | null } }[]>('listing services', opts.signal, { path: '/services?', method: 'GET', options: { filters: filters(labels) } });
    return list.map((s) => ({ id: s.ID, name: s.Spec.Name, labels: s.Spec.Labels ?? {} }));
  }

  async tasks(serviceId: string, opts: Call = {}): Promise<SwarmTask[]> {
    type Raw = { ID: string; NodeID?: string; DesiredState: string; Status: { State: string; Message?: string; Err?: string; ContainerStatus?: { ContainerID?: string; ExitCode?: number }; PortStatus?: { Ports?: { TargetPort: number; PublishedPort: number }[] } } };
    const list = await this.dial<Raw[]>(`listing the tasks of service ${serviceId}`, opts.signal, { path: '/tasks?', method: 'GET', options: { filters: { service: [serviceId] } } });
    return list.map((t) => ({
      id: t.ID,
      nodeId: t.NodeID ?? '',
      state: t.Status.State,
      desiredState: t.DesiredState,
      ...(t.Status.Err ? { error: t.Status.Err } : {}),
      message: t.Status.Message ?? '',
      // A rejected task (its image could not be pulled, say) answers a ContainerStatus with ExitCode 0 and no container.
      ...(t.Status.ContainerStatus?.ContainerID && t.Status.ContainerStatus.ExitCode !== undefined ? { exitCode: t.Status.ContainerStatus.ExitCode } : {}),
      ports: (t.Status.PortStatus?.Ports ?? []).map((p) => ({ target: p.TargetPort, published: p.PublishedPort })),
    }));
  }

  serviceLogs(serviceId: string, opts: Call = {}): Promise<Readable> {
    return this.dial<Readable>(`reading the logs of service ${serviceId}`, opts.signal, { path: `/services/${serviceId}/logs?`, method: 'GET', options: { stdout: true, stderr: true, follow: false }, isStream: true });
  }

  async createNetwork(name: string, labels: Record<string, string>, opts: Call & { internal?: boolean } = {}): Promise<string> {
    const body = { Name: name, Driver: 'overlay', CheckDuplicate: true, Internal: opts.internal ?? false, Attachable: false, Labels: labels };
    return (await this.dial<{ Id: string }>(`creating network ${name}`, opts.signal, { path: '/networks/create', method: 'POST', body })).Id;
  }

  removeNetwork(id: string): Promise<boolean> {
    return this.removing(`removing network ${id}`, `/networks/${id}`);
  }

  async networks(labels: LabelFilter, opts: Call = {}): Promise<Listed[]> {
    const list = await this.dial<{ Id: string; Name: string; Labels?: Record<string, string> | null }[]>('listing networks', opts.signal, { path: '/networks?', method: 'GET', options: { filters: filters(labels) } });
    return list.map((n) => ({ id: n.Id, name: n.Name, labels: n.Labels ?? {} }));
  }

  createConfig(name: string, data: Buffer, labels: Record<string, string>, opts: Call = {}): Promise<string> {
    return this.createFile('config', name, data, labels, opts);
  }

  removeConfig(id: string): Promise<boolean> {
    return this.removing(`removing config ${id}`, `/configs/${id}`);
  }

  configs(labels: LabelFilter, opts: Call = {}): Promise<Listed[]> {
    return this.listFiles('config', labels, opts);
  }

  createSecret(name: string, data: Buffer, labels: Record<string, string>, opts: Call = {}): Promise<string> {
    return this.createFile('secret', name, data, labels, opts);
  }

  removeSecret(id: string): Promise<boolean> {
    return this.removing(`removing secret ${id}`, `/secrets/${id}`);
  }

  secrets(labels: LabelFilter, opts: Call = {}): Promise<Listed[]> {
    return this.listFiles('secret', labels, opts);
  }

  /** Configs and secrets: the same API under two names. */
  private async createFile(kind: 'config' | 'secret', name: string, data: Buffer, labels: Record<string, string>, opts: Call): Promise<string> {
    return (await this.dial<{ ID: string }>(`creating ${kind} ${name}`, opts.signal, { path: `/${kind}s/create`, method: 'POST', body: { Name: name, Labels: labels, Data: data.toString('base64') } })).ID;
  }

  private async listFiles(kind: 'config' | 'secret', labels: LabelFilter, opts: Call): Promise<Listed[]> {
    const list = await this.dial<{ ID: string; Spec: { Name: string; Labels?: Record<string, string> | null } }[]>(`listing ${kind}s`, opts.signal, { path: `/${kind}s?`, method: 'GET', options: { filters: filters(labels) } });
    return list.map((c) => ({ id: c.ID, name: c.Spec.Name, labels: c.Spec.Labels ?? {} }));
  }
}

/** A ServiceSpec as the engine's JSON (API 1.41). */
function serviceBody(spec: ServiceSpec): Record<string, unknown> {
  const file = (f: { id: string; name: string; target: string }) => ({ File: { Name: f.target, UID: '0', GID: '0', Mode: 0o444 } });
  // A job is one replica that is never restarted, not a ReplicatedJob: on 20.10 the tasks of a removed
  // replicated-job service stay in the swarm and their containers on the nodes (moby#42789, moby#44312).
  const mode = spec.mode === 'global' ? { Global: {} } : { Replicated: { Replicas: 1 } };
  return {
    Name: spec.name,
    Labels: spec.labels,
    TaskTemplate: {
      ContainerSpec: {
        Image: spec.image,
        Labels: spec.labels,
        Command: spec.command,
        Env: spec.env ?? [],
        ...(spec.user ? { User: spec.user } : {}),
        ...(spec.workingDir ? { Dir: spec.workingDir } : {}),
        ...(spec.hostname ? { Hostname: spec.hostname } : {}),
        ...(spec.sysctls ? { Sysctls: spec.sysctls } : {}),
        Mounts: (spec.tmpfs ?? []).map((t) => ({ Type: 'tmpfs', Target: t.target, TmpfsOptions: { Mode: t.mode ?? 0o755 } })),
        Configs: (spec.configs ?? []).map((c) => ({ ConfigID: c.id, ConfigName: c.name, ...file(c) })),
        Secrets: (spec.secrets ?? []).map((s) => ({ SecretID: s.id, SecretName: s.name, ...file(s) })),
      },
      Networks: (spec.networks ?? []).map((n) => ({ Target: n })),
      // A job's task runs once; a failed one is a result, not something to retry.
      RestartPolicy: { Condition: spec.mode === 'job' ? 'none' : 'any', Delay: 1_000_000_000 },
      Placement: { Constraints: spec.constraints ?? [] },
      // `docker service logs` reads json-file logs: whatever the node's default driver is.
      LogDriver: { Name: 'json-file', Options: {} },
    },
    Mode: mode,
    EndpointSpec: {
      Mode: spec.dnsrr ? 'dnsrr' : 'vip',
      Ports: (spec.hostPorts ?? []).map((p) => ({ Protocol: 'tcp', TargetPort: p.target, PublishedPort: p.published, PublishMode: 'host' })),
    },
  };
}
