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
  /** Every node of the swarm, whatever its state. */
  nodes(opts?: Call): Promise<SwarmNode[]>;
  /** Creates a service; `registryAuth` goes to every node that pulls its image. Returns the service's ID. */
  createService(spec: ServiceSpec, opts?: Call & { registryAuth?: RegistryAuth }): Promise<string>;
  /** Removes a service with its tasks; false when it was gone already. */
  removeService(id: string): Promise<boolean>;
  /** The services that carry all of `labels`. */
  services(labels: LabelFilter, opts?: Call): Promise<Listed[]>;
  /** The tasks of a service, with their state, node, exit code and host-mode ports (SwarmTask.ports). */
  tasks(serviceId: string, opts?: Call): Promise<SwarmTask[]>;
  /** stdout and stderr of every task of the service, as the engine's multiplexed stream (8-byte frame headers). */
  serviceLogs(serviceId: string, opts?: Call): Promise<Readable>;
  /** Creates an attachable overlay network; `internal`: no gateway, so its tasks reach nothing outside it. Returns its ID. */
  createNetwork(name: string, labels: Record<string, string>, opts?: Call & { internal?: boolean }): Promise<string>;
  /** Removes a network; false when it was gone already. Refused while a task uses it. */
  removeNetwork(id: string): Promise<boolean>;
  /** The networks that carry all of `labels`. */
  networks(labels: LabelFilter, opts?: Call): Promise<Listed[]>;
  /** A config: a file of < 1024000 bytes that tasks can mount. */
  createConfig(name: string, data: Buffer, labels: Record<string, string>, opts?: Call): Promise<string>;
  /** Removes a config; false when it was gone already. Refused while a task uses it. */
  removeConfig(id: string): Promise<boolean>;
  /** The configs that carry all of `labels`. */
  configs(labels: LabelFilter, opts?: Call): Promise<Listed[]>;
  /** A secret: a file of < 512000 bytes, mounted in memory under /run/secrets. */
  createSecret(name: string, data: Buffer, labels: Record<string, string>, opts?: Call): Promise<string>;
  /** Removes a secret; false when it was gone already. Refused while a task uses it. */
  removeSecret(id: string): Promise<boolean>;
  /** The secrets that carry all of `labels`. */
  secrets(labels: LabelFilter, opts?: Call): Promise<Listed[]>;
}

/** An object krepro made, as a list answers it. */
export interface Listed {
  /** the swarm's ID of the object */
  id: string;
  /** its name */
  name: string;
  /** its labels */
  labels: Record<string, string>;
}

/** A node of the swarm, as the manager describes it. */
export interface SwarmNode {
  /** the node's ID in the swarm */
  id: string;
  /** the host name the node's engine reports (nodes may share one) */
  hostname: string;
  /** the address the node is reached at in the swarm */
  address: string;
  /** whether the node manages the swarm */
  role: 'manager' | 'worker';
  /** `ready`, `down`, … */
  state: string;
  /** `active`, `pause`, `drain` */
  availability: string;
  /** CPUs the node offers to tasks */
  cpus: number;
  /** memory the node offers to tasks, in bytes */
  memoryBytes: number;
  /** the node's operating system, e.g. `linux` */
  os: string;
  /** its architecture, e.g. `x86_64` */
  arch: string;
  /** its engine's version, e.g. `20.10.24` */
  engineVersion: string;
}

/** Credentials for a registry, as `X-Registry-Auth` carries them to the nodes that pull a service's image. */
export interface RegistryAuth {
  /** the user name */
  username: string;
  /** the password */
  password: string;
  /** the registry, `host:port` */
  serveraddress: string;
}

/** A service as krepro creates one: one container spec, its mode, placement and mounts. */
export interface ServiceSpec {
  /** the service's name */
  name: string;
  /** labels of the service and of its tasks' containers */
  labels: Record<string, string>;
  /** the image, best by digest (`registry/name@sha256:…`): every node runs the same */
  image: string;
  /** the command and its arguments */
  command: string[];
  /** variables, `NAME=value` */
  env?: string[];
  /** `uid:gid` */
  user?: string;
  /** the working directory */
  workingDir?: string;
  /** the container's host name */
  hostname?: string;
  /** namespaced sysctls (`kernel.domainname` is how a task gets a domain name) */
  sysctls?: Record<string, string>;
  /** in-memory file systems mounted at `target`, with their mode */
  tmpfs?: { target: string; mode?: number }[];
  /** configs mounted as files at `target` */
  configs?: { id: string; name: string; target: string }[];
  /** secrets mounted as files at `target` (in memory) */
  secrets?: { id: string; name: string; target: string }[];
  /** overlay networks by ID or name */
  networks?: string[];
  /** placement constraints, e.g. `node.id==…` */
  constraints?: string[];
  /** `job`: one task to completion, never restarted; `global`: one task on every node; `replicated`: one task, restarted */
  mode: 'job' | 'global' | 'replicated';
  /** ports published on the node that runs the task (host mode: no routing mesh) */
  hostPorts?: { target: number; published: number }[];
  /** resolve the service's name to its tasks' addresses (no virtual IP, which needs IPVS) */
  dnsrr?: boolean;
}

/** A task of a service: one container on one node. */
export interface SwarmTask {
  /** the task's ID */
  id: string;
  /** the node it was placed on ('' before it is) */
  nodeId: string;
  /** `new`, `pending`, `assigned`, …, `running`, `complete`, `failed`, `rejected`, `shutdown`, `orphaned` */
  state: string;
  /** the state the swarm wants it in: `running`, `shutdown`, … */
  desiredState: string;
  /** the engine's word on why a task failed or was rejected */
  error?: string;
  /** the engine's word on what the task is doing */
  message: string;
  /** the container's exit code, once it exited */
  exitCode?: number;
  /** host-mode ports the task published on its node */
  ports: { target: number; published: number }[];
}

/** Task states after which a task never runs again. */
export const FINAL_TASK_STATES: ReadonlySet<string> = new Set(['complete', 'failed', 'rejected', 'shutdown', 'orphaned', 'remove']);
