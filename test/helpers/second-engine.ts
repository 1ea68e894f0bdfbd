import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { tempDir } from './stage.js';

export interface SecondEngine {
  host: string;
  /** its state directory: start it again with the same `dir` and it finds its containers, images and volumes */
  dir: string;
  /** Stops it as a service manager does (SIGTERM to dockerd) and waits until it has exited. */
  stop: () => Promise<void>;
  /** Stops it if it runs, and removes `dir` with whatever dockerd left mounted in it. */
  remove: () => Promise<void>;
}

/**
 * A second, independent Docker engine on this machine (its own data root, socket and network namespace), for
 * independent-rebuild and engine-death tests. Needs root and dockerd, as .ci/run provides. `bridge` gives it a
 * default bridge network inside its own namespace (containers reach each other, not the outside world).
 */
export async function startSecondEngine(opts: { dir?: string; bridge?: boolean } = {}): Promise<SecondEngine> {
  const dir = opts.dir ?? tempDir('krepro-dockerd-');
  const socket = path.join(dir, 'docker.sock');
  // Its own network namespace (unshare -n): dockerd's network setup would otherwise remove the first engine's
  // docker0 bridge, breaking every later container that needs a network on it.
  const daemon: ChildProcess = spawn(
    'unshare',
    [
      '--net',
      '--',
      'dockerd',
      '--host',
      `unix://${socket}`,
      '--data-root',
      path.join(dir, 'data'),
      '--exec-root',
      path.join(dir, 'exec'),
      '--pidfile',
      path.join(dir, 'pid'),
      ...(opts.bridge ? [] : ['--bridge', 'none']),
      '--iptables=false',
      '--ip-masq=false',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  daemon.stderr!.on('data', (c: Buffer) => (log += c.toString()));
  for (let i = 0; i < 300 && !(existsSync(socket) && log.includes('API listen')); i++) await new Promise((r) => setTimeout(r, 100));
  if (!log.includes('API listen')) {
    daemon.kill('SIGKILL');
    throw new Error(`second dockerd did not start:\n${log.slice(-2000)}`);
  }
  const exited = new Promise((resolve) => daemon.on('exit', resolve));
  const stop = async (): Promise<void> => {
    const pid = Number(readFileSync(path.join(dir, 'pid'), 'utf8'));
    process.kill(pid, 'SIGTERM');
    await exited;
  };
  return {
    host: `unix://${socket}`,
    dir,
    stop,
    remove: async () => {
      if (daemon.exitCode === null && daemon.signalCode === null) await stop().catch(() => {});
      // dockerd bind-mounts its data root onto itself (to make it a private mount), and does not always undo it.
      const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '');
      for (const m of mounts.filter((p) => p === dir || p.startsWith(`${dir}/`)).sort().reverse()) spawnSync('umount', [m]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
