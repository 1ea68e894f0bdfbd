import { KreproError } from '../errors.js';
import type { Call, Engine } from './engine.js';

/**
 * Makes `ref` on `to` the same image (same ID) as on `from`, streaming `docker save` into `docker load` through
 * both engines' APIs; nothing is written to disk. A no-op when `to` already has that ID under `ref`.
 */
export async function transferImage(from: Engine, to: Engine, ref: string, opts: Call = {}): Promise<string> {
  const source = await from.images.inspect(ref, opts);
  if (source === undefined) throw new KreproError('E_NOT_FOUND', `image ${ref} is not on the engine at ${from.endpoint}`, { endpoint: from.endpoint });
  const existing = await to.images.inspect(ref, opts);
  if (existing?.id === source.id) return source.id;
  await to.images.load(await from.images.save(ref, opts), opts);
  const loaded = await to.images.inspect(ref, opts);
  if (loaded?.id !== source.id) throw new KreproError('E_ENGINE', `${ref} loaded into ${to.endpoint} with ID ${loaded?.id ?? '(none)'}, expected ${source.id}`, { endpoint: to.endpoint });
  return source.id;
}
