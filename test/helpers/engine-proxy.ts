import { existsSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A proxy on a unix socket in front of the shared engine: cutting its connections is what a crashed dockerd or a
 * dropped connection looks like to a client, while the shared engine itself stays up. With `cutAfterBytes`, every
 * connection is cut once one of them has carried that many bytes back to the client.
 */
export interface EngineProxy {
  host: string;
  /** destroys every open connection and stops listening */
  cut(): Promise<void>;
  /** listens again on the same socket (after a cut) */
  restart(): Promise<void>;
}

export async function startEngineProxy(sock: string, opts: { cutAfterBytes?: number } = {}): Promise<EngineProxy> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const listen = () => {
    const s = createServer((client) => {
      const upstream = connect('/var/run/docker.sock');
      for (const end of [client, upstream]) {
        sockets.add(end);
        end.on('close', () => sockets.delete(end));
        end.on('error', () => {});
      }
      client.pipe(upstream);
      let down = 0;
      upstream.on('data', (chunk: Buffer) => {
        down += chunk.length;
        if (opts.cutAfterBytes !== undefined && down > opts.cutAfterBytes) for (const end of sockets) end.destroy();
        else client.write(chunk);
      });
      upstream.on('end', () => client.end());
    });
    server = s;
    return new Promise<void>((resolve) => s.listen(sock, resolve));
  };
  await listen();
  return {
    host: `unix://${sock}`,
    async cut() {
      const closed = new Promise((resolve) => server?.close(resolve));
      for (const end of sockets) end.destroy();
      await closed;
    },
    async restart() {
      if (existsSync(sock)) rmSync(sock);
      await listen();
    },
  };
}
