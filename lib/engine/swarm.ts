import type { Readable } from 'node:stream';
import type { Call, LabelFilter } from './engine.js';

/**
 * The swarm a manager engine runs, as krepro uses it: services (replicated jobs for builds, a registry and its
 * forwarders), their tasks and logs, overlay networks, configs and secrets. Everything is created by krepro with
 * labels naming its run and found again by those labels; removals run under their own cleanup deadline, and
 * "already gone" is success (false).
 */
export interface Swarm {
  /** This engine's node when it is a manager of an active swarm; undefined otherwise. */
  managerNode(opts?: Call): Promise<{ nodeId: string } | undefined>;
  nodes(opts?: Call): Promise<SwarmNode[]>;
  createService(spec: ServiceSpec, opts?: Call & { registryAuth?: RegistryAuth }): Promise<string>;
  removeService(id: string): Promise<boolean>;
  services(labels: LabelFilter, opts?: Call): Promise<Listed[]>;
  /** The published ports of a service's endpoint (host-mode ports are per task: see SwarmTask.ports). */
  tasks(serviceId: string, opts?: Call): Promise<SwarmTask[]>;
  /** stdout and stderr of every task of the service, as the engine's multiplexed stream (8-byte frame headers). */
  serviceLogs(serviceId: string, opts?: Call): Promise<Readable>;
  createNetwork(name: string, labels: Record<string, string>, opts?: Call & { internal?: boolean }): Promise<string>;
  removeNetwork(id: string): Promise<boolean>;
  networks(labels: LabelFilter, opts?: Call): Promise<Listed[]>;
  /** A config: a file of < 1024000 bytes that tasks can mount. */
  createConfig(name: string, data: Buffer, labels: Record<string, string>, opts?: Call): Promise<string>;
  removeConfig(id: string): Promise<boolean>;
  configs(labels: LabelFilter, opts?: Call): Promise<Listed[]>;
  /** A secret: a file of < 512000 bytes, mounted in memory under /run/secrets. */
  createSecret(name: string, data: Buffer, labels: Record<string, string>, opts?: Call): Promise<string>;
  removeSecret(id: string): Promise<boolean>;
  secrets(labels: LabelFilter, opts?: Call): Promise<Listed[]>;
}

/** An object krepro made, as a list answers it. */
export interface Listed {
  id: string;
  name: string;
  labels: Record<string, string>;
}

export interface SwarmNode {
  id: string;
  hostname: string;
  /** the address the node is reached at in the swarm */
  address: string;
  role: 'manager' | 'worker';
  /** `ready`, `down`, … */
  state: string;
  /** `active`, `pause`, `drain` */
  availability: string;
  cpus: number;
  memoryBytes: number;
  os: string;
  arch: string;
  engineVersion: string;
}

export interface RegistryAuth {
  username: string;
  password: string;
  serveraddress: string;
}

export interface ServiceSpec {
  name: string;
  labels: Record<string, string>;
  image: string;
  command: string[];
  env?: string[];
  /** `uid:gid` */
  user?: string;
  workingDir?: string;
  hostname?: string;
  /** namespaced sysctls (`kernel.domainname` is how a task gets a domain name) */
  sysctls?: Record<string, string>;
  tmpfs?: { target: string; mode?: number }[];
  configs?: { id: string; name: string; target: string }[];
  secrets?: { id: string; name: string; target: string }[];
  /** overlay networks by ID or name */
  networks?: string[];
  constraints?: string[];
  /** `job`: one task to completion, never restarted; `global`: one task on every node; `replicated`: one task, restarted */
  mode: 'job' | 'global' | 'replicated';
  /** ports published on the node that runs the task (host mode: no routing mesh) */
  hostPorts?: { target: number; published: number }[];
  /** resolve the service's name to its tasks' addresses (no virtual IP, which needs IPVS) */
  dnsrr?: boolean;
}

export interface SwarmTask {
  id: string;
  nodeId: string;
  /** `new`, `pending`, `assigned`, …, `running`, `complete`, `failed`, `rejected`, `shutdown`, `orphaned` */
  state: string;
  desiredState: string;
  /** the engine's word on why a task failed or was rejected */
  error?: string;
  message: string;
  exitCode?: number;
  /** host-mode ports the task published on its node */
  ports: { target: number; published: number }[];
}

/** Task states after which a task never runs again. */
export const FINAL_TASK_STATES: ReadonlySet<string> = new Set(['complete', 'failed', 'rejected', 'shutdown', 'orphaned', 'remove']);
