import { Worker } from 'node:worker_threads';

/**
 * Each worker evaluates `handler`, the source of a plain-JavaScript function `(args) => (message) => Uint8Array`, once
 * with `args`, and answers every message with the buffer it returns. Source text rather than a module: a worker
 * cannot import krepro's TypeScript sources when tests run them through tsx.
 */
function workerSource(handler: string): string {
  return `
const { parentPort, workerData } = require('node:worker_threads');
const handle = (${handler})(workerData);
parentPort.on('message', ({ id, message }) => {
  try {
    const out = handle(message);
    // An input buffer goes back with the output, for the caller to reuse instead of allocating one per message.
    const back = message instanceof Uint8Array && message.buffer !== out.buffer ? message : undefined;
    parentPort.postMessage({ id, out, back }, back ? [out.buffer, back.buffer] : [out.buffer]);
  } catch (e) {
    parentPort.postMessage({ id, error: String((e && e.message) || e) });
  }
});`;
}

export interface WorkerPool<M> {
  run(message: M, transfer?: ArrayBuffer[]): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** `size` worker threads, used round-robin; a worker's failure rejects what it had pending. */
export function workerPool<M>(handler: string, args: unknown, size: number, recycle?: (input: Uint8Array) => void): WorkerPool<M> {
  const pending = new Map<number, { resolve: (b: Uint8Array) => void; reject: (e: Error) => void }>();
  const pool = Array.from({ length: Math.max(1, size) }, () => {
    const worker = new Worker(workerSource(handler), { eval: true, workerData: args });
    // Idle workers must not keep a caller's process alive; in-flight work is awaited through its promise.
    worker.unref();
    worker.on('message', (m: { id: number; out?: Uint8Array; back?: Uint8Array; error?: string }) => {
      if (m.back) recycle?.(m.back);
      const p = pending.get(m.id);
      pending.delete(m.id);
      if (m.error !== undefined || !m.out) p?.reject(new Error(m.error ?? 'worker returned nothing'));
      else p?.resolve(m.out);
    });
    worker.on('error', (err) => {
      for (const p of pending.values()) p.reject(err);
      pending.clear();
    });
    return worker;
  });
  let next = 0;
  return {
    run(message, transfer = []) {
      const id = next++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        pool[id % pool.length]!.postMessage({ id, message }, transfer);
      });
    },
    close: async () => {
      await Promise.all(pool.map((w) => w.terminate()));
    },
  };
}
