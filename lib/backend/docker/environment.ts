import { outputDirOf, pathBeneath } from '../../checkout/beneath.js';
import { checkoutStateNames } from '../../checkout/identity.js';
import type { StateNames } from '../../checkout/names.js';
import type { Call, Engine } from '../../engine/engine.js';
import { makeEnvironmentImage } from '../../environment/build.js';
import { ensureBuildImage } from '../../environment/build-image.js';
import { type EnvironmentSource, sourceVersion } from '../../environment/source.js';
import { KreproError } from '../../errors.js';
import type { CopiedEnvironment, PreparedEnvironment, PrepareOptions } from '../backend.js';

/** This checkout's state names for an environment source: what sessions and Dockerfile images are named by. */
export async function stateNamesFor(source: EnvironmentSource, opts: { checkoutRoot: string; hostname: string }): Promise<StateNames> {
  return (await checkoutStateNames(opts.checkoutRoot, opts.hostname, await sourceVersion(source))).names;
}

/**
 * Makes sure the engine has the environment: made from the lock (the same ID on every engine), built from the
 * project's Dockerfile (per checkout, only when its context changed), or copied by ID from another backend.
 */
export async function prepareEnvironment(engine: Engine, source: EnvironmentSource | CopiedEnvironment, opts: PrepareOptions & { names?: StateNames }): Promise<PreparedEnvironment> {
  const call = opts.signal ? { signal: opts.signal } : {};
  const log = opts.onLog ? { onLog: opts.onLog } : {};
  if (source.kind === 'copy') return copyEnvironment(engine, source, { ...log, ...call });
  const names = opts.names ?? (await stateNamesFor(source, opts));
  if (source.kind === 'locked') {
    const made = await makeEnvironmentImage(engine, source.lock, { ...source.options, image: names.image, ...log, ...call });
    return { id: made.id, ref: made.image, lock: source.lock, variables: await imageVariables(engine, made.image, call), made: !made.present };
  }
  const built = await ensureBuildImage(engine, {
    names,
    dockerfileDir: source.dockerfileDir,
    contextDir: await pathBeneath(await outputDirOf(opts.checkoutRoot), `images/${names.image.replace(/:/g, '_')}`),
    baseImage: source.baseImage,
    ...(source.proxies ? { proxies: source.proxies } : {}),
    ...log,
    ...call,
  });
  return { id: built.imageId, ref: names.image, variables: await imageVariables(engine, names.image, call), made: built.rebuilt };
}

async function imageVariables(engine: Engine, ref: string, call: Call): Promise<string[]> {
  return (await engine.images.inspect(ref, call))?.env ?? [];
}

/**
 * The very image another backend has (same ID), streamed from its `docker save` into this engine's load; nothing is
 * written to disk. A no-op when this engine already has that ID under the name.
 */
async function copyEnvironment(engine: Engine, source: CopiedEnvironment, opts: Call & { onLog?: (line: string) => void }): Promise<PreparedEnvironment> {
  const { environment, from } = source;
  const existing = await engine.images.inspect(environment.ref, opts);
  if (existing?.id !== environment.id) {
    if (!from.exportEnvironment) throw new KreproError('E_USAGE', `${from.name} cannot hand out its environment image ${environment.ref}; build on one backend, or use the locked environment`);
    opts.onLog?.(`copying ${environment.ref} from ${from.name} to ${engine.endpoint}...`);
    await engine.images.load(await from.exportEnvironment(environment, opts), opts);
    const loaded = await engine.images.inspect(environment.ref, opts);
    if (loaded?.id !== environment.id) throw new KreproError('E_ENGINE', `${environment.ref} loaded into ${engine.endpoint} with ID ${loaded?.id ?? '(none)'}, expected ${environment.id}`, { endpoint: engine.endpoint });
  }
  return { ...environment, made: existing?.id !== environment.id };
}
