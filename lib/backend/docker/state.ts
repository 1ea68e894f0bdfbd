import type { Call, Engine } from '../../engine/engine.js';
import { KreproError } from '../../errors.js';
import type { RemovedState } from '../backend.js';
import { LABEL_CHECKOUT, LABEL_RUN, LABEL_VERSION, type StateNames } from '../../checkout/names.js';

/**
 * Removes this checkout's containers, images and volumes, all of them or only those of other versions. Found by
 * label, so another checkout's state on the same engine is never touched.
 */
export async function removeCheckoutState(engine: Engine, checkoutHash: string, opts: Call & { keepVersion?: string } = {}): Promise<RemovedState> {
  const filter = { [LABEL_CHECKOUT]: checkoutHash };
  const stale = (labels: Record<string, string>): boolean => opts.keepVersion === undefined || labels[LABEL_VERSION] !== opts.keepVersion;
  const removed: RemovedState = { containers: [], images: [], volumes: [] };
  for (const c of await engine.containers.list(filter, opts)) {
    if (stale(c.labels) && (await engine.containers.remove(c.id))) removed.containers.push(c.name);
  }
  for (const i of await engine.images.list(filter, opts)) {
    if (stale(i.labels) && (await engine.images.remove(i.id, { force: true }))) removed.images.push(i.repoTags[0] ?? i.id);
  }
  for (const v of await engine.volumes.list(filter, opts)) {
    if (stale(v.labels) && (await engine.volumes.remove(v.name))) removed.volumes.push(v.name);
  }
  return removed;
}

/**
 * Removes what killed runs of this checkout left behind: containers of any run, and volumes of runs (the data volume
 * has no run label and is kept). Only safe while holding the claim on the checkout, which no other live run then holds.
 */
export async function removeLeftovers(engine: Engine, checkoutHash: string, opts: Call = {}): Promise<RemovedState> {
  const filter = { [LABEL_CHECKOUT]: checkoutHash };
  const removed: RemovedState = { containers: [], images: [], volumes: [] };
  for (const c of await engine.containers.list(filter, opts)) {
    if (await engine.containers.remove(c.id)) removed.containers.push(c.name);
  }
  for (const v of await engine.volumes.list(filter, opts)) {
    if (v.labels[LABEL_RUN] !== undefined && (await engine.volumes.remove(v.name))) removed.volumes.push(v.name);
  }
  return removed;
}

/**
 * The persistent data volume (upstream's data container): sources and Go caches survive between runs, so this is
 * the one volume that is reused — but only one made for this checkout and version, never a stranger of that name.
 */
export async function ensureDataVolume(engine: Engine, names: StateNames, opts: Call = {}): Promise<{ created: boolean }> {
  const existing = await engine.volumes.inspect(names.dataVolume, opts);
  if (existing !== undefined) {
    if (existing.labels[LABEL_CHECKOUT] !== names.checkoutHash || existing.labels[LABEL_VERSION] !== names.version) {
      throw new KreproError('E_CONFLICT', `volume ${names.dataVolume} on ${engine.endpoint} was not made by krepro for this checkout (labels ${JSON.stringify(existing.labels)}); remove it or rename it`, { endpoint: engine.endpoint });
    }
    return { created: false };
  }
  await engine.volumes.create(names.dataVolume, names.labels, opts);
  return { created: true };
}
