import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { KreproError } from '../errors.js';

/**
 * Makes `ref` on `to` the same image (same ID) as on `from`, streaming `docker save` into `docker load` through
 * both engines' APIs; nothing is written to disk. A no-op when `to` already has that ID under `ref`.
 */
export async function transferImage(from: Docker, to: Docker, ref: string, opts: { signal?: AbortSignal } = {}): Promise<string> {
  const { Id } = await from.getImage(ref).inspect();
  const existing = await to
    .getImage(ref)
    .inspect()
    .catch(() => undefined);
  if (existing?.Id === Id) return Id;
  const saved = (await from.getImage(ref).get()) as unknown as Readable;
  const response = (await to.loadImage(saved, { quiet: true, ...(opts.signal ? { abortSignal: opts.signal } : {}) } as never)) as unknown as Readable;
  let body = '';
  for await (const chunk of response) body += String(chunk);
  // Like builds, loads report failure inside a 200 response.
  const failure = body.split('\n').find((l) => l.includes('"error"'));
  if (failure) throw new KreproError('E_IO', `loading ${ref} into the second engine failed: ${failure}`);
  const loaded = await to.getImage(ref).inspect();
  if (loaded.Id !== Id) throw new KreproError('E_IO', `${ref} loaded with ID ${loaded.Id}, expected ${Id}`);
  return Id;
}
