import { BUILD_FAILS } from '../../lib/verify/findings.js';
import type { VerifyResult } from '../../lib/verify/verify.js';

/**
 * A verify's causes per artifact, as sorted names (a variation, `a+b` for an interaction, nondeterminism, masked by
 * noise): what tests compare. Consequences and the failure of a build (its own list) are left out.
 */
export function causesOf(r: VerifyResult): Record<string, string[]> {
  const out: Record<string, Set<string>> = {};
  for (const g of r.causes) {
    if (g.kind === 'consequence') continue;
    const name = g.kind === 'variation' || g.kind === 'interaction' ? g.variations.join('+') : g.kind;
    for (const a of g.artifacts) if (a !== BUILD_FAILS) (out[a] ??= new Set()).add(name);
  }
  return Object.fromEntries(Object.entries(out).map(([a, s]) => [a, [...s].sort()]));
}

/** Every finding has a verdict: nothing left unattributed. */
export const allAttributed = (r: VerifyResult): boolean => r.findings.every((f) => f.verdict !== null);
