import * as path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import * as tar from 'tar-stream';
import { appendEntry, appendFile } from '../../archive/tar-sink.js';
import { byteOrder } from '../../byte-order.js';
import type { Swarm } from '../../engine/swarm.js';
import { scanSources } from '../docker/sync/scan.js';

/** A config holds less than 1024000 bytes (the swarm's limit): the sources go in pieces of this size. */
export const CONFIG_PIECE_BYTES = 1_000_000;

export interface SourceConfigs {
  /** config IDs and names, in order: their concatenation is the sources' tar.gz */
  pieces: { id: string; name: string }[];
  bytes: number;
}

/**
 * The sources (a commit's clean tree) as swarm configs: one gzip'd tar, members in byte order, cut into pieces a
 * config can hold. Configs are the swarm's own channel to a task: no shared file system, no registry, no port, and
 * nothing of them is left on a node once its task is gone. Owners are not recorded (the task gives the tree to
 * the build user), modes and file mtimes are.
 */
export async function sourcesAsConfigs(swarm: Swarm, dir: string, opts: { name: (i: number) => string; labels: Record<string, string>; signal?: AbortSignal }): Promise<SourceConfigs> {
  const scanned = await scanSources(dir, opts.signal);
  const pack = tar.pack();
  const feed = (async () => {
    const now = new Date(0);
    for (const rel of [...scanned.keys()].sort(byteOrder)) {
      opts.signal?.throwIfAborted();
      const entry = scanned.get(rel)!;
      const base = { name: rel, uid: 0, gid: 0 };
      if (entry.type === 'dir') await appendEntry(pack, { ...base, type: 'directory', mode: 0o755, mtime: now });
      else if (entry.type === 'symlink') await appendEntry(pack, { ...base, type: 'symlink', linkname: entry.linkTarget, mode: 0o777, mtime: now });
      else await appendFile(pack, { ...base, type: 'file', mode: entry.mode, size: entry.size, mtime: new Date(entry.mtimeMs) }, { path: path.join(dir, rel), size: entry.size, mtimeMs: entry.mtimeMs });
    }
    pack.finalize();
  })();
  feed.catch((err: unknown) => pack.destroy(err as Error));
  const pieces: { id: string; name: string }[] = [];
  let bytes = 0;
  let held: Buffer[] = [];
  let heldBytes = 0;
  const flush = async (): Promise<void> => {
    if (heldBytes === 0) return;
    const name = opts.name(pieces.length);
    const data = Buffer.concat(held);
    held = [];
    heldBytes = 0;
    pieces.push({ id: await swarm.createConfig(name, data, opts.labels, opts.signal ? { signal: opts.signal } : {}), name });
  };
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      let rest = chunk;
      const step = async (): Promise<void> => {
        while (rest.length > 0) {
          const take = Math.min(rest.length, CONFIG_PIECE_BYTES - heldBytes);
          held.push(rest.subarray(0, take));
          heldBytes += take;
          rest = rest.subarray(take);
          if (heldBytes === CONFIG_PIECE_BYTES) await flush();
        }
      };
      step().then(() => cb(), cb);
    },
    final(cb) {
      flush().then(() => cb(), cb);
    },
  });
  await pipeline(pack, createGzip(), sink, opts.signal ? { signal: opts.signal } : {});
  await feed;
  return { pieces, bytes };
}
