import { rm } from 'node:fs/promises';
import type { Engine } from '../engine/engine.js';
import { OUTPUT_DIR, pathBeneath } from './beneath.js';
import { checkoutIdentity } from './identity.js';
import { lockCheckout } from './lock.js';
import { checkoutHash } from './names.js';
import { removeCheckoutState, type RemovedState } from './state.js';

/**
 * make-clean.sh: removes `_output/` and, when an engine is given, every image, container and volume of this
 * checkout (all versions, and whatever killed runs left), found by label. The `_output/` part needs no engine.
 * Refused while another krepro run holds the checkout, whose state it would pull from under it.
 */
export async function cleanCheckout(root: string, opts: { hostname: string; engine?: Engine; signal?: AbortSignal }): Promise<{ output: string; removed?: RemovedState }> {
  // The lock refuses an `_output` link that came with the checkout; a link of the user's own is removed, not followed.
  const lock = await lockCheckout(root, 'clean');
  const output = await pathBeneath(root, OUTPUT_DIR, { userOutputLink: true });
  try {
    const removed = opts.engine ? await removeCheckoutState(opts.engine, checkoutHash(await checkoutIdentity(root, opts.hostname)), opts.signal ? { signal: opts.signal } : {}) : undefined;
    await rm(output, { recursive: true, force: true });
    return { output, ...(removed ? { removed } : {}) };
  } finally {
    await lock.release();
  }
}
