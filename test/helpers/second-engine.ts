import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { tempDir } from './stage.js';

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${r.stderr || r.error?.message}`);
}

export interface SecondEngine {
  host: string;
  /** its network namespace: only loopback (and its own bridge with `bridge`) */
  netns: string;
  /** its state directory: start it again with the same `dir` and it finds its containers, images and volumes */
  dir: string;
  /** Stops it as a service manager does (SIGTERM to dockerd), waits until it has exited, keeps `dir`. */
  stop: () => Promise<void>;
  /** Stops it if it runs, removes its namespace, and removes `dir` with whatever dockerd left mounted in it. */
  remove: () => Promise<void>;
}

/**
 * A second, independent Docker engine on this machine, for independent-rebuild and engine-death tests: its own
 * data root, exec root, pidfile and socket, in its own network namespace that has only loopback (`ip netns add`,
 * entered with `nsenter --net`). In the host's namespace its network setup would remove the first engine's docker0
 * bridge, and with a namespace of its own it cannot reach the network: whatever it has came through its API socket.
 * `bridge` gives it a default bridge inside that namespace (containers reach each other, not the world).
 * Needs root, dockerd, iproute2 and util-linux, as .ci/run provides.
 */
export async function startSecondEngine(opts: { dir?: string; bridge?: boolean } = {}): Promise<SecondEngine> {
  const dir = opts.dir ?? tempDir('krepro-dockerd-');
  const socket = path.join(dir, 'docker.sock');
  const netns = `krepro-engine-${randomBytes(4).toString('hex')}`;
  ip('netns', 'add', netns);
  ip('-n', netns, 'link', 'set', 'lo', 'up');
  const args = ['--host', `unix://${socket}`, '--data-root', path.join(dir, 'data'), '--exec-root', path.join(dir, 'exec'), '--pidfile', path.join(dir, 'pid')];
  const daemon: ChildProcess = spawn('nsenter', [`--net=/run/netns/${netns}`, '--', 'dockerd', ...args, ...(opts.bridge ? [] : ['--bridge', 'none']), '--iptables=false', '--ip-masq=false'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise((resolve) => daemon.once('exit', resolve));
  let log = '';
  daemon.stderr!.on('data', (c: Buffer) => (log += c.toString()));
  const stop = async (): Promise<void> => {
    if (daemon.exitCode === null && daemon.signalCode === null) {
      daemon.kill('SIGTERM'); // nsenter execs dockerd: this is dockerd's pid
      await exited;
    }
    spawnSync('ip', ['netns', 'delete', netns]);
  };
  const remove = async (): Promise<void> => {
    await stop();
    // dockerd bind-mounts its data root onto itself (to make it a private mount), and does not always undo it.
    const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '');
    for (const m of mounts.filter((p) => p === dir || p.startsWith(`${dir}/`)).sort().reverse()) spawnSync('umount', [m]);
    const stillMounted = readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => (l.split(' ')[1] ?? '').startsWith(`${dir}/`));
    if (!stillMounted) rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 300 && !(existsSync(socket) && log.includes('API listen')); i++) await new Promise((r) => setTimeout(r, 100));
  if (!log.includes('API listen')) {
    await remove();
    throw new Error(`second dockerd did not start:\n${log.slice(-2000)}`);
  }
  return { host: `unix://${socket}`, netns, dir, stop, remove };
}
