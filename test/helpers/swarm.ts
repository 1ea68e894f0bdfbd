import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { tempDir } from './stage.js';

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr || r.error?.message}`);
  return r.stdout.trim();
}

export interface SwarmNode {
  /** `unix://…/docker.sock` of this node's dockerd */
  host: string;
  netns: string;
  /** its address on the test's bridge */
  address: string;
}

export interface TestSwarm {
  /** the manager's engine (node 0): what `--backend swarm` is given */
  manager: string;
  nodes: SwarmNode[];
  /** Stops every dockerd, removes the namespaces, the bridge and every data root. */
  remove: () => Promise<void>;
}

/**
 * A Docker Swarm of `size` engines on this machine. Each dockerd has its own data root, exec root, pidfile and
 * socket in its own network namespace (a second dockerd in the host's namespace would delete the first one's
 * docker0); the namespaces are joined by veth pairs to a bridge in one more namespace of the test's own, so the
 * only addresses in play are those namespaces' (a /24 the test picks) and loopback. Node 0 inits the swarm on its
 * bridge address, the others join it. Everything is named for this run and removed by `remove`.
 * Needs root, dockerd, iproute2 and util-linux, as .ci/run provides.
 */
export async function startSwarm(size = 3): Promise<TestSwarm> {
  const id = randomBytes(3).toString('hex');
  const dir = tempDir('krepro-swarm-');
  // 10.251.x.0/24: away from Docker's own pools (172.17–31/16, 192.168/16, the swarm's 10.0.0.0/24s).
  const subnet = `10.251.${1 + (randomBytes(1)[0]! % 250)}`;
  const hub = `krepro-swarm-${id}`;
  const daemons: ChildProcess[] = [];
  const namespaces: string[] = [];
  const nodes: SwarmNode[] = [];
  const remove = async (): Promise<void> => {
    await Promise.all(
      daemons.map(async (d) => {
        if (d.exitCode !== null || d.signalCode !== null) return;
        const exited = new Promise((resolve) => d.once('exit', resolve));
        d.kill('SIGTERM'); // nsenter execs dockerd: this is dockerd's pid
        await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
        if (d.exitCode === null && d.signalCode === null) {
          d.kill('SIGKILL');
          await exited;
        }
      }),
    );
    for (const ns of namespaces.reverse()) spawnSync('ip', ['netns', 'delete', ns]);
    // dockerd bind-mounts its data root onto itself and leaves overlay and netns mounts behind when killed.
    const mounted = (): string[] =>
      readFileSync('/proc/mounts', 'utf8')
        .split('\n')
        .map((l) => l.split(' ')[1] ?? '')
        .filter((m) => m === dir || m.startsWith(`${dir}/`));
    for (const m of mounted().sort().reverse()) spawnSync('umount', ['-l', m]);
    if (mounted().length > 0) return;
    // Each data root holds the environment's unpacked layers (tens of thousands of files): removed side by side.
    await Promise.all(nodes.map((_, i) => new Promise((resolve) => spawn('rm', ['-rf', '--one-file-system', path.join(dir, `node${i}`)], { stdio: 'ignore' }).once('exit', resolve))));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    run('ip', ['netns', 'add', hub]);
    namespaces.push(hub);
    run('ip', ['-n', hub, 'link', 'set', 'lo', 'up']);
    run('ip', ['-n', hub, 'link', 'add', 'br0', 'type', 'bridge']);
    run('ip', ['-n', hub, 'link', 'set', 'br0', 'up']);
    for (let i = 0; i < size; i++) {
      const netns = `${hub}-${i}`;
      run('ip', ['netns', 'add', netns]);
      namespaces.push(netns);
      run('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
      run('ip', ['-n', netns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', `port${i}`, 'netns', hub]);
      const address = `${subnet}.${i + 1}`;
      run('ip', ['-n', netns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
      run('ip', ['-n', netns, 'link', 'set', 'eth0', 'up']);
      run('ip', ['-n', hub, 'link', 'set', `port${i}`, 'master', 'br0']);
      run('ip', ['-n', hub, 'link', 'set', `port${i}`, 'up']);
      const home = path.join(dir, `node${i}`);
      const socket = path.join(home, 'docker.sock');
      // The manager's registry is plain HTTP on its swarm address: every node takes the test's /24 as a registry.
      const args = ['--insecure-registry', `${subnet}.0/24`, '--host', `unix://${socket}`, '--data-root', path.join(home, 'data'), '--exec-root', path.join(home, 'exec'), '--pidfile', path.join(home, 'pid')];
      const daemon = spawn('nsenter', [`--net=/run/netns/${netns}`, '--', 'dockerd', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      daemons.push(daemon);
      let log = '';
      daemon.stderr!.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-20_000)));
      for (let t = 0; t < 300 && !(existsSync(socket) && log.includes('API listen')); t++) await new Promise((r) => setTimeout(r, 100));
      if (!log.includes('API listen')) throw new Error(`dockerd of swarm node ${i} did not start:\n${log.slice(-2000)}`);
      nodes.push({ host: `unix://${socket}`, netns, address });
    }
    const docker = (node: SwarmNode, ...args: string[]): string => run('docker', ['-H', node.host, ...args]);
    const [first, ...others] = nodes as [SwarmNode, ...SwarmNode[]];
    docker(first, 'swarm', 'init', '--advertise-addr', first.address, '--listen-addr', `${first.address}:2377`);
    const token = docker(first, 'swarm', 'join-token', '-q', 'worker');
    for (const node of others) docker(node, 'swarm', 'join', '--token', token, '--advertise-addr', node.address, '--listen-addr', `${node.address}:2377`, `${first.address}:2377`);
    return { manager: first.host, nodes, remove };
  } catch (err) {
    await remove();
    throw err;
  }
}
