import { randomBytes, randomInt } from 'node:crypto';
import type { Engine } from '../../engine/engine.js';
import type { RegistryAuth } from '../../engine/swarm.js';
import { KreproError } from '../../errors.js';
import { waitForTasks } from './tasks.js';

/** Where the registry's task reads its password (a swarm secret, in memory). */
const PASSWORD_FILE = '/run/secrets/krepro-registry-password';
const USER = 'krepro';
/** Host-mode ports are picked at random here; a port taken on the manager is tried again with another. */
const PORTS = { low: 20000, high: 30000, tries: 5 };
/** How long the registry may take to answer after its task runs. */
const READY_MS = 30_000;

export interface RunRegistry {
  /** `address:port` every node pulls from (the manager's swarm address) */
  address: string;
  auth: RegistryAuth;
}

/**
 * The run's own registry: Debian's docker-registry in krepro's registry image (made on the manager from its lock),
 * one task pinned to the manager, its port published on the manager's node only (host mode: the routing mesh needs
 * IPVS, which not every kernel has), behind a password made for this run (a swarm secret; the task turns it into
 * the htpasswd file the registry reads with mkpasswd). Nodes pull from the manager's swarm address, so they must
 * accept it as a registry (an `insecure-registries` entry, or TLS in front of it). Removed with the run's other
 * objects by label; its storage is the task's own and goes with it.
 */
export async function startRegistry(engine: Engine, opts: { image: string; managerNodeId: string; address: string; name: (kind: string) => string; labels: Record<string, string>; signal?: AbortSignal; onLog?: (line: string) => void }): Promise<RunRegistry> {
  const call = opts.signal ? { signal: opts.signal } : {};
  const password = randomBytes(24).toString('base64url');
  const secret = opts.name('registry-password');
  const secretId = await engine.swarm.createSecret(secret, Buffer.from(password), opts.labels, call);
  for (let attempt = 1; ; attempt++) {
    const port = randomInt(PORTS.low, PORTS.high);
    const serviceId = await engine.swarm.createService(
      {
        name: opts.name(`registry-${port}`),
        labels: opts.labels,
        image: opts.image,
        command: ['sh', '-c', `printf '%s:%s\\n' ${USER} "$(mkpasswd -m bcrypt -s < ${PASSWORD_FILE})" > /tmp/htpasswd && exec docker-registry serve /etc/docker/registry/config.yml`],
        env: ['REGISTRY_HTTP_ADDR=:5000', 'REGISTRY_AUTH_HTPASSWD_REALM=krepro', 'REGISTRY_AUTH_HTPASSWD_PATH=/tmp/htpasswd', 'REGISTRY_STORAGE_DELETE_ENABLED=false', 'REGISTRY_LOG_LEVEL=warn'],
        secrets: [{ id: secretId, name: secret, target: PASSWORD_FILE }],
        constraints: [`node.id==${opts.managerNodeId}`],
        hostPorts: [{ target: 5000, published: port }],
        mode: 'replicated',
      },
      call,
    );
    const [task] = await waitForTasks(engine.swarm, serviceId, { until: 'running', signal: opts.signal });
    if (task?.state === 'running') {
      const address = `${opts.address}:${port}`;
      opts.onLog?.(`registry of this run: ${address} (service ${serviceId.slice(0, 12)} on the manager)`);
      return { address, auth: { username: USER, password, serveraddress: address } };
    }
    await engine.swarm.removeService(serviceId);
    const why = task?.error ?? task?.message ?? 'no task';
    if (!/port|address already in use/i.test(why) || attempt >= PORTS.tries) {
      throw new KreproError('E_ENGINE', `the run's registry did not start on the swarm's manager (${engine.endpoint}): ${why}`, { endpoint: engine.endpoint });
    }
  }
}

/** Pushes a local image to the run's registry and answers its reference by digest; the push tag is removed again. */
export async function pushToRegistry(engine: Engine, registry: RunRegistry, opts: { ref: string; repository: string; tag: string; signal?: AbortSignal }): Promise<string> {
  const repo = `${registry.address}/${opts.repository}`;
  const call = opts.signal ? { signal: opts.signal } : {};
  await engine.images.tag(opts.ref, repo, opts.tag, call);
  try {
    // The registry's task runs before its port answers: retry a refused connection for a while.
    const deadline = Date.now() + READY_MS;
    for (;;) {
      try {
        return `${repo}@${await engine.images.push(repo, opts.tag, { ...call, auth: registry.auth })}`;
      } catch (err) {
        if (Date.now() > deadline || !/connection refused|connection reset|EOF|no such host/i.test((err as Error).message)) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  } finally {
    await engine.images.remove(`${repo}:${opts.tag}`).catch(() => {});
  }
}
