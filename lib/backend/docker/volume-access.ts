import type { Call, Container, Engine } from '../../engine/engine.js';

export interface VolumeHelperSpec extends Call {
  volume: string;
  /** Any local image with /bin/sh (the helper is often only created, never started). */
  image: string;
  /** Where the volume is mounted in the helper, the same path build containers use. */
  mountPath: string;
  /** What the helper runs if it is started. */
  cmd: string[];
  labels?: Record<string, string>;
  /** A name unique to this run; random when absent. */
  name?: string;
  /** A container that already has the volume mounted at `mountPath`, used instead of a new helper (not removed). */
  via?: Container;
}

/**
 * Reaches a volume's files through a helper container with the volume mounted: the engine mounts a created (not
 * started) container's volumes for archive calls, so most uses never start it. The helper runs as root without a
 * network, and is always removed, also after an error or abort.
 */
export async function withVolumeHelper<T>(engine: Engine, spec: VolumeHelperSpec, use: (helper: Container) => Promise<T>): Promise<T> {
  if (spec.via) return use(spec.via);
  const helper = await engine.containers.create(
    {
      image: spec.image,
      cmd: spec.cmd,
      user: '0:0',
      labels: spec.labels ?? {},
      network: 'none',
      ...(spec.name === undefined ? {} : { name: spec.name }),
      // noCopy: a new volume must start empty, not with whatever the image holds at that path.
      mounts: [{ type: 'volume', source: spec.volume, target: spec.mountPath, noCopy: true }],
    },
    spec,
  );
  try {
    return await use(helper);
  } finally {
    await helper.remove().catch(() => {}); // the engine went away: the labels let `clean` find it later
  }
}
