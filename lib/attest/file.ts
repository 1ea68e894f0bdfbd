import { open, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { writeSmallFile } from '../archive/pack.js';
import { KreproError } from '../errors.js';
import { jsonSyntaxError, shortened } from '../quote.js';
import { BUNDLE_SUFFIX, isSigstoreBundle, sigstoreBundle, verifySigstoreBundle } from './bundle.js';
import { type DsseEnvelope, type EnvelopeVerification, IN_TOTO_PAYLOAD_TYPE, signEnvelope, verifyEnvelope } from './dsse.js';
import type { SigningKey, VerifyingKey } from './keys.js';
import { type Statement, statementPayload, statementProblem } from './statement.js';

/** How SLSA tooling names a file of DSSE envelopes: one JSON envelope per line. */
export const ATTESTATION_SUFFIX = '.intoto.jsonl';
/** The attestation file krepro writes into a release directory. */
export const ATTESTATION_FILE = `krepro${ATTESTATION_SUFFIX}`;
/** The same signed statement as a sigstore bundle v0.3, which cosign and sigstore-js verify, beside it. */
export const BUNDLE_FILE = `krepro${BUNDLE_SUFFIX}`;

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

/**
 * Signs `statement` once and writes it into `dir` in both forms, each file whole or not at all: ATTESTATION_FILE
 * (DSSE JSON Lines, the signature carrying krepro's key id) and BUNDLE_FILE (the same signature in a sigstore
 * bundle). Returns both paths.
 */
export async function writeSignedStatement(dir: string, statement: Statement, key: SigningKey): Promise<{ envelope: string; bundle: string }> {
  const envelope = signStatement(statement, key);
  const files = { envelope: path.join(dir, ATTESTATION_FILE), bundle: path.join(dir, BUNDLE_FILE) };
  await writeAttestations(files.envelope, [envelope]);
  await writeSmallFile(files.bundle, `${JSON.stringify(sigstoreBundle(envelope, key))}\n`);
  return files;
}

/** One envelope of an attestation file, verified. */
export interface AttestationLine extends EnvelopeVerification {
  /** 1-based line number in the file */
  line: number;
  /** the decoded in-toto Statement, when the payload is one */
  statement?: Statement;
}

/** The outcome of verifying an attestation file with one key. */
export interface AttestationFileVerification {
  /** The file, as given. */
  file: string;
  /** a `.intoto.jsonl` file (one DSSE envelope a line) or one sigstore bundle, which is reported as line 1 */
  form: 'dsse-jsonl' | 'sigstore-bundle';
  /** every envelope verified with the key and is an in-toto Statement of the expected payload type */
  valid: boolean;
  /** The verifying key's id (lowercase hex SHA-256 of its SubjectPublicKeyInfo). */
  keyid: string;
  /** every valid line, and the first MAX_INVALID_LINES invalid ones */
  lines: AttestationLine[];
  /** invalid lines past MAX_INVALID_LINES: counted, not listed */
  invalidNotListed: number;
}

/** Attestations are kilobytes: a larger file is refused before it is read, so verifying never takes unbounded memory. */
export const MAX_ATTESTATION_BYTES = 16 * 1024 * 1024;
/** Invalid lines listed in a result (each with its failures); the rest are counted, so a report stays readable. */
export const MAX_INVALID_LINES = 100;

/**
 * Verifies every envelope of a `.intoto.jsonl` file, or the one of a sigstore bundle (a JSON document whose
 * mediaType says so, checked by sigstore-js), against one public key: signature, payload type (default in-toto's),
 * and that the payload is an in-toto Statement v1. A line that is not JSON is a `format` failure of that line; an
 * empty file is an error.
 */
export async function verifyAttestationFile(file: string, key: VerifyingKey, opts: { payloadType?: string } = {}): Promise<AttestationFileVerification> {
  const cannot = (cause: unknown) => new KreproError('E_ATTEST', `cannot read attestation file ${file}: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}`, { path: file, cause });
  const size = (await stat(file).catch((cause: unknown) => {
    throw cannot(cause);
  })).size;
  if (size > MAX_ATTESTATION_BYTES) {
    throw new KreproError('E_ATTEST', `attestation file ${file} is ${size} bytes, over the ${MAX_ATTESTATION_BYTES} bytes (16 MiB) krepro reads: attestations are kilobytes; is it the right file?`, { path: file });
  }
  // Read as opened, up to the size seen: a file that grew since cannot make this read more.
  const text = await readBounded(file, size).catch((cause: unknown) => {
    throw cannot(cause);
  });
  return verifyAttestations(text, file, key, opts);
}

/** {@link verifyAttestationFile} of text the caller has read (e.g. without following links); `file` names it. */
export async function verifyAttestations(text: string, file: string, key: VerifyingKey, opts: { payloadType?: string } = {}): Promise<AttestationFileVerification> {
  const bundle = parseWhole(text);
  if (isSigstoreBundle(bundle)) {
    const result = await verifySigstoreBundle(bundle, key, { ...opts, parsePayload: statementProblem });
    return { file: path.resolve(file), form: 'sigstore-bundle', valid: result.valid, keyid: key.keyid, lines: [{ line: 1, ...withStatement(result) }], invalidNotListed: 0 };
  }
  const lines: AttestationLine[] = [];
  let invalid = 0;
  let count = 0;
  text.split('\n').forEach((raw, i) => {
    if (raw.trim() === '') return;
    count++;
    const line = verifyLine(raw, i + 1, key, opts, invalid < MAX_INVALID_LINES);
    if (!line.valid && ++invalid > MAX_INVALID_LINES) return;
    lines.push(line);
  });
  if (count === 0) throw new KreproError('E_ATTEST', `attestation file ${file} holds no envelope`, { path: file });
  return { file: path.resolve(file), form: 'dsse-jsonl', valid: invalid === 0, keyid: key.keyid, lines, invalidNotListed: Math.max(0, invalid - MAX_INVALID_LINES) };
}

/** One line's envelope verified; `describe` false spares locating a JSON error in a line that will not be listed. */
function verifyLine(raw: string, line: number, key: VerifyingKey, opts: { payloadType?: string }, describe: boolean): AttestationLine {
  let envelope: unknown;
  try {
    envelope = JSON.parse(raw);
  } catch (err) {
    const where = describe ? `: ${jsonSyntaxError(raw, err).replace(/^line 1, /, '')}` : '';
    return { line, valid: false, failures: [{ check: 'format', message: `not JSON${where}` }], keyids: [] };
  }
  const result = withStatement(verifyEnvelope(envelope, key, { ...opts, parsePayload: statementProblem }));
  // What an invalid envelope claims is shown cut: it is anyone's text.
  const claimed = result.valid ? {} : { keyids: result.keyids.map((k) => shortened(k)), ...(result.payloadType !== undefined ? { payloadType: shortened(result.payloadType) } : {}) };
  return { line, ...result, ...claimed };
}

function withStatement(result: EnvelopeVerification): EnvelopeVerification & { statement?: Statement } {
  const statement = result.payload !== undefined && statementProblem(result.payload) === undefined ? (JSON.parse(result.payload.toString('utf8')) as Statement) : undefined;
  return { ...result, ...(statement ? { statement } : {}) };
}

/** The file as one JSON document (a bundle may be pretty-printed over many lines), or undefined. */
function parseWhole(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

async function readBounded(file: string, size: number): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(size + 1);
    let length = 0;
    for (let n = -1; n !== 0 && length < buffer.length; length += n) n = (await handle.read(buffer, length, buffer.length - length, null)).bytesRead;
    if (length > size) throw new Error('it grew while being read');
    return buffer.subarray(0, length).toString('utf8');
  } finally {
    await handle.close();
  }
}
