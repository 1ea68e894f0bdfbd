import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { writeSmallFile } from '../archive/pack.js';
import { KreproError } from '../errors.js';
import { type DsseEnvelope, type EnvelopeVerification, IN_TOTO_PAYLOAD_TYPE, signEnvelope, verifyEnvelope } from './dsse.js';
import type { SigningKey, VerifyingKey } from './keys.js';
import { type Statement, statementPayload, statementProblem } from './statement.js';

/** How SLSA tooling names a file of DSSE envelopes: one JSON envelope per line. */
export const ATTESTATION_SUFFIX = '.intoto.jsonl';
/** The attestation file krepro writes into a release directory. */
export const ATTESTATION_FILE = `krepro${ATTESTATION_SUFFIX}`;

/** Wraps an in-toto Statement in a DSSE envelope signed with `key`. */
export function signStatement(statement: Statement, key: SigningKey): DsseEnvelope {
  return signEnvelope(statementPayload(statement), IN_TOTO_PAYLOAD_TYPE, key);
}

/** Writes envelopes as JSON Lines (one compact envelope and a newline each), atomically. */
export async function writeAttestations(file: string, envelopes: readonly DsseEnvelope[]): Promise<void> {
  if (!file.endsWith(ATTESTATION_SUFFIX)) throw new KreproError('E_USAGE', `attestation file ${file} must end with ${ATTESTATION_SUFFIX}`, { path: file });
  if (envelopes.length === 0) throw new KreproError('E_USAGE', `no envelopes to write into ${file}`, { path: file });
  await writeSmallFile(file, envelopes.map((e) => `${JSON.stringify({ payloadType: e.payloadType, payload: e.payload, signatures: e.signatures })}\n`).join(''));
}

export interface AttestationLine extends EnvelopeVerification {
  /** 1-based line number in the file */
  line: number;
  /** the decoded in-toto Statement, when the payload is one */
  statement?: Statement;
}

export interface AttestationFileVerification {
  file: string;
  /** every envelope verified with the key and is an in-toto Statement of the expected payload type */
  valid: boolean;
  keyid: string;
  lines: AttestationLine[];
}

/**
 * Verifies every envelope of a `.intoto.jsonl` file against one public key: signature, payload type (default
 * in-toto's), and that the payload is an in-toto Statement v1. A line that is not JSON is a `format` failure of
 * that line; an empty file is an error.
 */
export async function verifyAttestationFile(file: string, key: VerifyingKey, opts: { payloadType?: string } = {}): Promise<AttestationFileVerification> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new KreproError('E_ATTEST', `cannot read attestation file ${file}: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}`, { path: file, cause });
  }
  const lines: AttestationLine[] = [];
  text.split('\n').forEach((raw, i) => {
    if (raw.trim() === '') return;
    let envelope: unknown;
    try {
      envelope = JSON.parse(raw);
    } catch (err) {
      lines.push({ line: i + 1, valid: false, failures: [{ check: 'format', message: `not JSON: ${(err as Error).message}` }], keyids: [] });
      return;
    }
    const result = verifyEnvelope(envelope, key, { ...opts, parsePayload: statementProblem });
    const statement = result.payload !== undefined && statementProblem(result.payload) === undefined ? (JSON.parse(result.payload.toString('utf8')) as Statement) : undefined;
    lines.push({ line: i + 1, ...result, ...(statement ? { statement } : {}) });
  });
  if (lines.length === 0) throw new KreproError('E_ATTEST', `attestation file ${file} holds no envelope`, { path: file });
  return { file: path.resolve(file), valid: lines.every((l) => l.valid), keyid: key.keyid, lines };
}
