import { canonicalJson } from '../image/oci.js';
import type { Digests } from '../integrity/hash-stream.js';
import { jsonSyntaxError, quote } from '../quote.js';

export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const SLSA_PROVENANCE_TYPE = 'https://slsa.dev/provenance/v1';

export interface Subject {
  name: string;
  /** algorithm → lowercase hex, e.g. `{ sha256: '…' }` */
  digest: Record<string, string>;
}

/** An in-toto Statement v1 (in-toto/attestation spec/v1/statement.md). */
export interface Statement<P = unknown> {
  _type: typeof STATEMENT_TYPE;
  subject: Subject[];
  predicateType: string;
  predicate: P;
}

export function inTotoStatement<P>(subject: Subject[], predicateType: string, predicate: P): Statement<P> {
  return { _type: STATEMENT_TYPE, subject, predicateType, predicate };
}

/** Subjects for artifacts krepro wrote: each named as in its directory, with its sha256 and sha512. */
export function subjectsOf(artifacts: readonly { name: string; digests: Digests }[]): Subject[] {
  return artifacts.map((a) => ({ name: a.name, digest: { sha256: a.digests.sha256, sha512: a.digests.sha512 } }));
}

/** The bytes that are signed: keys sorted by UTF-8 bytes, no whitespace, so the same statement is the same payload. */
export function statementPayload(statement: Statement): Buffer {
  return Buffer.from(canonicalJson(statement), 'utf8');
}

/** Why a DSSE payload is not an in-toto Statement v1, or undefined when it is one. */
export function statementProblem(payload: Buffer): string | undefined {
  const text = payload.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return `payload is not JSON: ${jsonSyntaxError(text, err)}`;
  }
  const s = (value ?? {}) as Record<string, unknown>;
  if (s['_type'] !== STATEMENT_TYPE) return `payload _type is ${quote(s['_type'])}, expected ${quote(STATEMENT_TYPE)}`;
  if (!Array.isArray(s['subject']) || s['subject'].length === 0) return 'payload has no subject';
  if (typeof s['predicateType'] !== 'string') return 'payload has no predicateType';
  return undefined;
}
