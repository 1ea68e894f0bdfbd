// A swarm of three dockerds on this machine for bench/verify-pool.sh's swarm row (test/helpers/swarm.ts: each in a
// network namespace of its own; needs root): prints the manager's engine URL, and removes the swarm when its stdin
// closes.
import { startSwarm } from '../test/helpers/swarm.js';

const swarm = await startSwarm(3);
process.stdout.write(`${swarm.manager}\n`);
process.stdin.resume();
await new Promise((resolve) => process.stdin.once('end', resolve).once('close', resolve));
await swarm.remove();
