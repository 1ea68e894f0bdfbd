import type Docker from 'dockerode';
import { LABEL_CHECKOUT, LABEL_VERSION, type StateNames } from './names.js';

export interface RemovedState {
  containers: string[];
  images: string[];
  volumes: string[];
}

/**
 * Removes this checkout's containers, images and volumes, all of them or only those of other versions. Found by
 * label, so another checkout's state on the same engine is never touched.
 */
export async function removeCheckoutState(docker: Docker, checkoutHash: string, opts: { keepVersion?: string; signal?: AbortSignal } = {}): Promise<RemovedState> {
  const filters = { label: [`${LABEL_CHECKOUT}=${checkoutHash}`] };
  const stale = (labels: Record<string, string> | null | undefined) => opts.keepVersion === undefined || labels?.[LABEL_VERSION] !== opts.keepVersion;
  const removed: RemovedState = { containers: [], images: [], volumes: [] };
  for (const c of await docker.listContainers({ all: true, filters, abortSignal: opts.signal } as Docker.ContainerListOptions)) {
    if (!stale(c.Labels)) continue;
    await docker.getContainer(c.Id).remove({ force: true });
    removed.containers.push(c.Names[0]?.replace(/^\//, '') ?? c.Id);
  }
  for (const i of await docker.listImages({ filters, abortSignal: opts.signal } as Docker.ListImagesOptions)) {
    if (!stale(i.Labels)) continue;
    await docker.getImage(i.Id).remove({ force: true });
    removed.images.push(i.RepoTags?.[0] ?? i.Id);
  }
  const { Volumes } = await docker.listVolumes({ filters, abortSignal: opts.signal } as Parameters<Docker['listVolumes']>[0]);
  for (const v of Volumes ?? []) {
    if (!stale(v.Labels)) continue;
    await docker.getVolume(v.Name).remove();
    removed.volumes.push(v.Name);
  }
  return removed;
}

/** The persistent data volume (upstream's data container): sources and Go caches survive between runs. */
export async function ensureDataVolume(docker: Docker, names: StateNames): Promise<{ created: boolean }> {
  try {
    await docker.getVolume(names.dataVolume).inspect();
    return { created: false };
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode !== 404) throw err;
  }
  await docker.createVolume({ Name: names.dataVolume, Labels: names.labels });
  return { created: true };
}
