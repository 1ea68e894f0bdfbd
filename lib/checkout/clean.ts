import { rm } from 'node:fs/promises';
import type { Backend, RemovedState } from '../backend/backend.js';
import { OUTPUT_DIR, pathBeneath } from './beneath.js';
import { checkoutIdentity } from './identity.js';
import { claimCheckout } from './claim.js';
import { checkoutHash } from './names.js';

/**
 * make-clean.sh: removes `_output/` and, when a backend is given, everything it keeps for this checkout (images,
 * containers and volumes of all versions, and whatever killed runs left). The `_output/` part needs no backend.
 * Refused while another krepro run holds the checkout, whose state it would pull from under it.
 */
export async function cleanCheckout(root: string, opts: { hostname: string; backend?: Backend; signal?: AbortSignal }): Promise<{ output: string; removed?: RemovedState }> {
  // The lock refuses an `_output` link that came with the checkout; a link of the user's own is removed, not followed.
  const lock = await claimCheckout(root, 'clean');
  const output = await pathBeneath(root, OUTPUT_DIR, { userOutputLink: true });
  try {
    const removed = opts.backend ? await opts.backend.removeCheckout(checkoutHash(await checkoutIdentity(root, opts.hostname)), opts.signal ? { signal: opts.signal } : {}) : undefined;
    await rm(output, { recursive: true, force: true });
    return { output, ...(removed ? { removed } : {}) };
  } finally {
    await lock.release();
  }
}
