import { finding } from './findings.js';
import type { Finding } from './types.js';

/**
 * DiffOptions.every: keeps the first `max` located findings of a member; the rest become one finding whose span
 * covers them all and that says how many it stands for. Nothing is dropped, only merged, so attribution still sees
 * every differing place (coarser past the bound).
 */
export function bounded(findings: Finding[], max: number): Finding[] {
  if (findings.length <= max) return findings;
  const keep = Math.max(0, max - 1);
  const rest = findings.slice(keep);
  const first = rest[0]!;
  const spans = rest.map((f) => f.at).filter((a) => a !== undefined);
  const causes = new Set(rest.map((f) => f.cause));
  const merged = finding(
    causes.size === 1 ? first.cause : 'content',
    first.path,
    first.layer,
    first.field,
    null,
    null,
    `${rest.length} more differing places, past the ${keep} kept one by one (limits.maxLocated): one finding spans them`,
  );
  if (first.at && spans.length === rest.length) {
    merged.at = { unit: first.at.unit, start: spans.reduce((m, s) => Math.min(m, s.start), Infinity), end: spans.reduce((m, s) => Math.max(m, s.end), -Infinity), total: first.at.total };
  }
  return [...findings.slice(0, keep), merged];
}
