import { createHash, type Hash } from 'node:crypto';
import * as path from 'node:path';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { KreproError } from '../../errors.js';
import { extractOutputTar } from '../docker/sync/copy-output.js';
import type { ProbeReader } from '../wrapper.js';
import { MARKS } from './task.js';

export interface TaskReport {
  /** the node's kernel, as the task saw it */
  kernel?: string;
  /** the build's exit code, as the task reported it */
  exitCode?: number;
  /** why the task could not run the build (a tool missing from the environment, the sources not unpacked) */
  failure?: string;
}

interface OutputStream {
  sink: PassThrough;
  hash: Hash;
  done: Promise<unknown>;
}

/**
 * Reads a build task's logs (the engine's multiplexed stream): the task's own lines are taken out (host facts, the
 * exit code, each output as base64 lines of a gzip'd tar, checked against its SHA-256 and extracted with the same
 * checks as a copy from a container: nothing outside the request's directory, no path through a symlink); stdout
 * goes on through the probe reader when there is one, and everything else into the log. Only lines carrying this
 * build's nonce count: a build cannot know it (it is in the task's own environment, which the build user cannot
 * read), so its output cannot pose as the task's.
 */
export async function readTaskLogs(
  logs: Readable,
  opts: { nonce: string; outputs: readonly string[]; dir: string; log: Writable; probes?: ProbeReader; signal?: AbortSignal },
): Promise<TaskReport & { extracted: number[] }> {
  const mark = (m: string): string => `${m}${opts.nonce}@@ `;
  const [host, exit, fail, out, end] = [mark(MARKS.host), mark(MARKS.exit), mark(MARKS.fail), mark(MARKS.out), mark(MARKS.end)];
  const report: TaskReport = {};
  const streams = new Map<number, OutputStream>();
  const extracted: number[] = [];
  const stdout = opts.probes ?? opts.log;
  const pending = { 1: '', 2: '' } as Record<1 | 2, string>;

  const outputStream = (i: number): OutputStream => {
    let s = streams.get(i);
    if (s) return s;
    const rel = opts.outputs[i];
    if (rel === undefined) throw new KreproError('E_ENGINE', `the build task sent output #${i}, but the build has ${opts.outputs.length} outputs`);
    const sink = new PassThrough();
    const gunzip = createGunzip();
    sink.pipe(gunzip);
    sink.on('error', (err) => gunzip.destroy(err));
    const done = extractOutputTar(gunzip, path.join(opts.dir, rel), opts.signal ? { signal: opts.signal } : {});
    done.catch(() => {});
    s = { sink, hash: createHash('sha256'), done };
    streams.set(i, s);
    return s;
  };

  const write = (stream: Writable, text: string): Promise<void> => new Promise((resolve, reject) => stream.write(text, (err) => (err ? reject(err) : resolve())));

  const line = async (fd: 1 | 2, text: string): Promise<void> => {
    if (fd === 1 && text.startsWith('@@krepro-')) {
      if (text.startsWith(out)) {
        const rest = text.slice(out.length);
        const space = rest.indexOf(' ');
        const s = outputStream(Number(rest.slice(0, space)));
        const bytes = Buffer.from(rest.slice(space + 1), 'base64');
        s.hash.update(bytes);
        if (!s.sink.write(bytes)) await new Promise((r) => s.sink.once('drain', r));
        return;
      }
      if (text.startsWith(end)) {
        const [index, sum] = text.slice(end.length).split(' ') as [string, string];
        const i = Number(index);
        if (sum === 'missing') return;
        const s = outputStream(i);
        const got = s.hash.digest('hex');
        if (got !== sum) {
          s.sink.destroy(new KreproError('E_ENGINE', `output ${opts.outputs[i]} arrived damaged from the build task (SHA-256 ${got}, sent ${sum})`));
        } else s.sink.end();
        await s.done;
        extracted.push(i);
        return;
      }
      if (text.startsWith(host)) {
        const [key, ...value] = text.slice(host.length).split(' ');
        if (key === 'kernel') report.kernel = value.join(' ');
        return;
      }
      if (text.startsWith(exit)) {
        report.exitCode = Number(text.slice(exit.length));
        return;
      }
      if (text.startsWith(fail)) {
        report.failure = text.slice(fail.length);
        return;
      }
    }
    await write(fd === 1 ? stdout : opts.log, `${text}\n`);
  };

  // Frames: 1 byte stream, 3 zero, 4 bytes size (big endian), then the payload; lines may span frames.
  let buffered: Buffer = Buffer.alloc(0);
  for await (const chunk of logs as AsyncIterable<Buffer>) {
    opts.signal?.throwIfAborted();
    buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
    while (buffered.length >= 8) {
      const size = buffered.readUInt32BE(4);
      if (buffered.length < 8 + size) break;
      const fd = buffered[0] === 2 ? 2 : 1;
      const text = pending[fd] + buffered.subarray(8, 8 + size).toString('utf8');
      buffered = buffered.subarray(8 + size);
      const lines = text.split('\n');
      pending[fd] = lines.pop()!;
      for (const l of lines) await line(fd, l);
    }
  }
  for (const fd of [1, 2] as const) if (pending[fd] !== '') await line(fd, pending[fd]);
  for (const [i, s] of streams) {
    if (!extracted.includes(i)) {
      s.sink.destroy(new KreproError('E_ENGINE', `output ${opts.outputs[i]} arrived incomplete from the build task`));
      await s.done.catch(() => {});
      throw new KreproError('E_ENGINE', `output ${opts.outputs[i]} arrived incomplete from the build task: its logs ended before its end mark`);
    }
  }
  return { ...report, extracted };
}
