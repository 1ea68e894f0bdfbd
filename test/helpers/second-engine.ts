import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { tempDir } from './stage.js';

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${r.stderr || r.error?.message}`);
}

/**
 * A second, independent Docker engine on this machine, for independent-rebuild tests: its own data root, exec
 * root, pidfile and socket, in its own network namespace that has only loopback (`ip netns add`, entered with
 * `nsenter --net`). In the host's namespace its network setup would remove the first engine's docker0 bridge, and
 * with a namespace of its own it cannot reach the network: whatever it has came through its API socket.
 * Needs root, dockerd, iproute2 and util-linux, as .ci/run provides.
 */
export async function startSecondEngine(): Promise<{ host: string; netns: string; stop: () => Promise<void> }> {
  const dir = tempDir('krepro-dockerd-');
  const socket = path.join(dir, 'docker.sock');
  const netns = `krepro-engine-${randomBytes(4).toString('hex')}`;
  ip('netns', 'add', netns);
  ip('-n', netns, 'link', 'set', 'lo', 'up');
  const daemon: ChildProcess = spawn(
    'nsenter',
    [`--net=/run/netns/${netns}`, '--', 'dockerd', '--host', `unix://${socket}`, '--data-root', path.join(dir, 'data'), '--exec-root', path.join(dir, 'exec'), '--pidfile', path.join(dir, 'pid'), '--bridge', 'none', '--iptables=false', '--ip-masq=false'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const exited = new Promise((resolve) => daemon.once('exit', resolve));
  let log = '';
  daemon.stderr!.on('data', (c: Buffer) => (log += c.toString()));
  const cleanup = async (): Promise<void> => {
    if (daemon.exitCode === null && daemon.signalCode === null) {
      daemon.kill('SIGTERM'); // nsenter execs dockerd: this is dockerd's pid
      await exited;
    }
    spawnSync('ip', ['netns', 'delete', netns]);
    // dockerd unmounts its layers on exit; never recurse into one it left mounted.
    const mounted = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4]?.startsWith(`${dir}/`));
    if (!mounted) rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 300 && !(existsSync(socket) && log.includes('API listen')); i++) await new Promise((r) => setTimeout(r, 100));
  if (!log.includes('API listen')) {
    await cleanup();
    throw new Error(`second dockerd did not start:\n${log.slice(-2000)}`);
  }
  return { host: `unix://${socket}`, netns, stop: cleanup };
}
