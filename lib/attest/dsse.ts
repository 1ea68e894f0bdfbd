import type { SigningKey, VerifyingKey } from './keys.js';
import { quote, shortened } from '../quote.js';

/** The payload type of in-toto Statements in DSSE envelopes (in-toto attestation framework, SLSA). */
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

/** One signature of a DSSE envelope. */
export interface DsseSignature {
  /** The signing key's id (lowercase hex SHA-256 of its SubjectPublicKeyInfo): a hint, never proof. */
  keyid: string;
  /** base64 of the signature bytes */
  sig: string;
}

/** The DSSE JSON envelope (secure-systems-lab/dsse envelope.md). */
export interface DsseEnvelope {
  /** base64 of the serialized body */
  payload: string;
  /** What the payload is, e.g. IN_TOTO_PAYLOAD_TYPE; signed together with the payload. */
  payloadType: string;
  /** The signatures over the pre-authentication encoding of type and payload; krepro writes one. */
  signatures: DsseSignature[];
}

/**
 * DSSE's Pre-Authentication Encoding (protocol.md):
 * `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths as ASCII decimal byte counts. It is what is
 * signed, so the payload type is authenticated with the payload.
 */
export function preAuthEncoding(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
}

/** Signs `payload` as `payloadType` with one key; the envelope carries the key's id (see keyIdOf) as a hint. */
export function signEnvelope(payload: Buffer, payloadType: string, key: SigningKey): DsseEnvelope {
  const sig = key.sign(preAuthEncoding(payloadType, payload));
  return { payload: payload.toString('base64'), payloadType, signatures: [{ keyid: key.keyid, sig: sig.toString('base64') }] };
}

/** What failed: the envelope's shape, its payload type, which key signed it, the signature, or the payload's content. */
export type EnvelopeCheck = 'format' | 'payload-type' | 'key-id' | 'signature' | 'payload';

/** One reason an envelope does not verify. */
export interface EnvelopeFailure {
  /** Which check failed. */
  check: EnvelopeCheck;
  /** What was wrong, in words, with the values involved. */
  message: string;
}

/** The outcome of verifying one envelope: every check that could run did. */
export interface EnvelopeVerification {
  /** True when no check failed. */
  valid: boolean;
  /** Every check that failed; empty when valid. */
  failures: EnvelopeFailure[];
  /** The envelope's payload type, when it has one. */
  payloadType?: string;
  /** the decoded payload, when the envelope could be decoded */
  payload?: Buffer;
  /** key ids the envelope's signatures name */
  keyids: string[];
}

// Standard or URL-safe alphabet, padding optional: DSSE verifiers MUST accept both encodings.
const BASE64_RE = /^[A-Za-z0-9+/_-]*={0,2}$/;

function decodeBase64(text: unknown): Buffer | undefined {
  if (typeof text !== 'string' || !BASE64_RE.test(text) || (/[+/]/.test(text) && /[-_]/.test(text))) return undefined;
  return Buffer.from(text, /[-_]/.test(text) ? 'base64url' : 'base64');
}

/**
 * Verifies an envelope against one public key, as DSSE's protocol says: decode, verify some signature over
 * PAE(payloadType, payload), check the payload type is the expected one, parse the payload. Every check that can
 * run does, so the result lists every failure (a wrong payload type and a bad signature are both named).
 * `parsePayload` checks the decoded body (e.g. an in-toto Statement) and returns why it is unacceptable.
 */
export function verifyEnvelope(
  envelope: unknown,
  key: VerifyingKey,
  opts: { payloadType?: string; parsePayload?: (payload: Buffer) => string | undefined } = {},
): EnvelopeVerification {
  const expectedType = opts.payloadType ?? IN_TOTO_PAYLOAD_TYPE;
  const failures: EnvelopeFailure[] = [];
  const fail = (check: EnvelopeCheck, message: string): EnvelopeVerification => ({ valid: false, failures: [...failures, { check, message }], keyids: [] });
  if (envelope === null || typeof envelope !== 'object' || Array.isArray(envelope)) return fail('format', 'not a JSON object');
  const e = envelope as Record<string, unknown>;
  if (typeof e['payloadType'] !== 'string') return fail('format', 'payloadType is missing or not a string');
  const payload = decodeBase64(e['payload']);
  if (payload === undefined) return fail('format', 'payload is missing or not base64');
  if (!Array.isArray(e['signatures']) || e['signatures'].length === 0) return fail('format', 'signatures is missing or empty');
  const payloadType = e['payloadType'];
  const signatures: { keyid: string; sig: Buffer | undefined }[] = e['signatures'].map((s: unknown) => {
    const entry = (s ?? {}) as Record<string, unknown>;
    return { keyid: typeof entry['keyid'] === 'string' ? entry['keyid'] : '', sig: decodeBase64(entry['sig']) };
  });
  const keyids = signatures.map((s) => s.keyid);

  if (payloadType !== expectedType) failures.push({ check: 'payload-type', message: `payload type is ${quote(payloadType)}, expected ${quote(expectedType)}` });
  const pae = preAuthEncoding(payloadType, payload);
  const verified = signatures.some((s) => s.sig !== undefined && key.verify(pae, s.sig));
  if (!verified) {
    // An unset key id means "any key"; one naming another key explains the failure better than "bad signature".
    const named = keyids.filter((k) => k !== '');
    if (named.length === signatures.length && !named.includes(key.keyid)) {
      failures.push({ check: 'key-id', message: `signed by key ${named.map((k) => shortened(k)).join(', ')}, not by this key (${key.keyid}); no signature verifies with it` });
    } else {
      failures.push({ check: 'signature', message: `no signature verifies with key ${key.keyid} over the payload and its type` });
    }
  }
  const bad = opts.parsePayload?.(payload);
  if (bad !== undefined) failures.push({ check: 'payload', message: bad });
  return { valid: failures.length === 0, failures, payloadType, payload, keyids };
}
