import { rm } from 'node:fs/promises';
import * as path from 'node:path';
import type Docker from 'dockerode';
import { checkoutHash } from '../engine/names.js';
import { removeCheckoutState, type RemovedState } from '../engine/state.js';
import { checkoutIdentity } from './checkout.js';

/**
 * make-clean.sh: removes `_output/` and, when an engine is given, every image, container and volume of this
 * checkout (all versions). The `_output/` part needs no engine.
 */
export async function cleanCheckout(root: string, opts: { hostname: string; docker?: Docker; signal?: AbortSignal }): Promise<{ output: string; removed?: RemovedState }> {
  const output = path.join(root, '_output');
  await rm(output, { recursive: true, force: true });
  if (!opts.docker) return { output };
  const hash = checkoutHash(await checkoutIdentity(root, opts.hostname));
  return { output, removed: await removeCheckoutState(opts.docker, hash, opts.signal ? { signal: opts.signal } : {}) };
}
