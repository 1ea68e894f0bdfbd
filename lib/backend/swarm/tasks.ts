import { FINAL_TASK_STATES, type Swarm, type SwarmTask } from '../../engine/swarm.js';
import { KreproError } from '../../errors.js';

const POLL_MS = 500;
/** A task no node can take (constraints, resources, a node down) stays pending: after this long it is an error. */
const PENDING_MS = 120_000;

/**
 * Waits until a task of a service is on a node (`until: 'placed'`), every task is running (`'running'`) or done
 * (`'final'`), polling the manager;
 * answers the tasks as they then are. A task that ends (failed, rejected) while waiting for `running` ends the wait
 * too. Pending beyond PENDING_MS is E_ENGINE with the scheduler's reason.
 */
export async function waitForTasks(swarm: Swarm, serviceId: string, opts: { until: 'placed' | 'running' | 'final'; count?: number; signal?: AbortSignal }): Promise<SwarmTask[]> {
  const started = Date.now();
  const call = opts.signal ? { signal: opts.signal } : {};
  for (;;) {
    opts.signal?.throwIfAborted();
    const tasks = await swarm.tasks(serviceId, call);
    if (opts.until === 'placed') {
      const placed = tasks.find((t) => t.nodeId !== '' || FINAL_TASK_STATES.has(t.state));
      if (placed) return [placed];
    } else if (opts.until === 'running') {
      const running = tasks.filter((t) => t.state === 'running');
      if (running.length >= (opts.count ?? 1)) return running;
      // A service that restarts its tasks keeps the failed one listed beside its replacement: that is the answer.
      const failed = tasks.find((t) => t.state === 'failed' || t.state === 'rejected');
      if (failed) return [failed];
    } else if (tasks.length >= (opts.count ?? 1) && tasks.every((t) => FINAL_TASK_STATES.has(t.state))) return tasks;
    const looked = tasks;
    const pending = looked.find((t) => t.state === 'pending');
    if (pending && Date.now() - started > PENDING_MS) {
      throw new KreproError('E_ENGINE', `no node of the swarm takes the task of service ${serviceId.slice(0, 12)}: ${pending.error ?? pending.message}`);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
