import { canonicalJson } from '../image/oci.js';
import type { Digests } from '../integrity/hash-stream.js';
import { jsonSyntaxError, quote } from '../quote.js';

/** An in-toto Statement v1's `_type`. */
export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
/** The predicate type of SLSA provenance v1, which krepro's statements carry. */
export const SLSA_PROVENANCE_TYPE = 'https://slsa.dev/provenance/v1';

/** One artifact a statement is about. */
export interface Subject {
  /** Its name, as in its release directory (`kubernetes-client-linux-amd64.tar.gz`). */
  name: string;
  /** algorithm → lowercase hex, e.g. `{ sha256: '…' }` */
  digest: Record<string, string>;
}

/** An in-toto Statement v1 (in-toto/attestation spec/v1/statement.md). */
export interface Statement<P = unknown> {
  /** Always STATEMENT_TYPE. */
  _type: typeof STATEMENT_TYPE;
  /** The artifacts it is about, each with its digests. */
  subject: Subject[];
  /** What the predicate is, e.g. SLSA_PROVENANCE_TYPE. */
  predicateType: string;
  /** What is said about the subjects. */
  predicate: P;
}

/** An in-toto Statement v1 of `subject` with a predicate; sign it with signStatement. */
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
