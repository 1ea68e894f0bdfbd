import { createHash, createPublicKey } from 'node:crypto';
import { KreproError } from '../errors.js';
import type { DsseEnvelope, EnvelopeFailure, EnvelopeVerification } from './dsse.js';
import { IN_TOTO_PAYLOAD_TYPE } from './dsse.js';
import type { SigningKey, VerifyingKey } from './keys.js';

/** sigstore's bundle format v0.3 (protobuf-specs, sigstore_bundle.proto), as cosign `--new-bundle-format` reads it. */
export const SIGSTORE_BUNDLE_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
/** cosign's and sigstore-js's name for a bundle file. */
export const BUNDLE_SUFFIX = '.sigstore.json';

/**
 * A sigstore bundle holding one DSSE envelope signed with a key, in protobuf-specs' JSON form: no certificate, no
 * transparency-log entry and no timestamp, so it verifies offline with the public key alone.
 */
export interface SigstoreBundle {
  /** Always SIGSTORE_BUNDLE_MEDIA_TYPE (bundle v0.3). */
  mediaType: typeof SIGSTORE_BUNDLE_MEDIA_TYPE;
  /** The key's hint (see bundleKeyHint); no transparency-log entry. */
  verificationMaterial: { publicKey: { hint: string }; tlogEntries: [] };
  /** The DSSE envelope krepro signed, without the key id. */
  dsseEnvelope: { payload: string; payloadType: string; signatures: [{ sig: string }] };
}

/**
 * The bundle's name for a key, as cosign writes it (`attest-blob --new-bundle-format --key`): base64 of the SHA-256
 * of the DER SubjectPublicKeyInfo, the same digest as krepro's key id (which is its hex).
 */
export function bundleKeyHint(key: Pick<VerifyingKey, 'publicKeyPem'>): string {
  return createHash('sha256').update(createPublicKey(key.publicKeyPem).export({ type: 'spki', format: 'der' })).digest('base64');
}

/**
 * The bundle of an envelope krepro signed with `key`: the same payload, type and signature bytes, laid out as cosign
 * writes a key-signed bundle. The signature's keyid is left out (protobuf JSON omits an empty string), as cosign
 * leaves it: cosign's DSSE check compares a non-empty keyid with an SSH-style `SHA256:` fingerprint it computes,
 * so krepro's hex id would be refused, and sigstore-js ignores it; keyid is not signed, so dropping it keeps the
 * signature. Which key signed is named where the bundle format puts it, `publicKey.hint` (bundleKeyHint).
 */
export function sigstoreBundle(envelope: DsseEnvelope, key: Pick<SigningKey, 'publicKeyPem'>): SigstoreBundle {
  const [signature, ...more] = envelope.signatures;
  if (!signature || more.length > 0) throw new KreproError('E_ATTEST', `a sigstore bundle holds exactly one DSSE signature, got ${envelope.signatures.length}`);
  return {
    mediaType: SIGSTORE_BUNDLE_MEDIA_TYPE,
    verificationMaterial: { publicKey: { hint: bundleKeyHint(key) }, tlogEntries: [] },
    dsseEnvelope: { payload: envelope.payload, payloadType: envelope.payloadType, signatures: [{ sig: signature.sig }] },
  };
}

/** Whether a parsed JSON document says it is a sigstore bundle (any version): what `attest verify` dispatches on. */
export function isSigstoreBundle(value: unknown): boolean {
  const mediaType = value !== null && typeof value === 'object' ? (value as { mediaType?: unknown }).mediaType : undefined;
  return typeof mediaType === 'string' && mediaType.startsWith('application/vnd.dev.sigstore.bundle');
}

/**
 * Verifies a sigstore bundle against one public key with sigstore-js (@sigstore/bundle parses and validates it,
 * @sigstore/verify checks the DSSE signature), offline: the key is the only trust material, no transparency-log
 * entry or timestamp is required, as `cosign --key … --insecure-ignore-tlog` does. Then the same checks as for a
 * `.intoto.jsonl` line: payload type, and `parsePayload` on the payload. Every check that can run does.
 */
export async function verifySigstoreBundle(
  value: unknown,
  key: VerifyingKey,
  opts: { payloadType?: string; parsePayload?: (payload: Buffer) => string | undefined } = {},
): Promise<EnvelopeVerification> {
  // Loaded here, not at the top: only a bundle check pays for sigstore-js.
  const { bundleFromJSON } = await import('@sigstore/bundle');
  const { Verifier, toSignedEntity } = await import('@sigstore/verify');
  const fail = (message: string): EnvelopeVerification => ({ valid: false, failures: [{ check: 'format', message }], keyids: [] });
  let bundle: ReturnType<typeof bundleFromJSON>;
  try {
    bundle = bundleFromJSON(value);
  } catch (err) {
    const fields = (err as { fields?: unknown }).fields;
    return fail(`not a valid sigstore bundle${Array.isArray(fields) && fields.length ? ` (invalid: ${fields.join(', ')})` : ''}`);
  }
  if (bundle.content.$case !== 'dsseEnvelope') return fail('the bundle holds a message signature, not a DSSE envelope (an attestation)');
  if (bundle.verificationMaterial.content.$case !== 'publicKey') {
    return fail('the bundle is signed with a certificate (keyless); krepro checks key-signed bundles: verify it with cosign --certificate-identity');
  }
  const envelope = bundle.content.dsseEnvelope;
  const hint = bundle.verificationMaterial.content.publicKey.hint ?? '';
  const failures: EnvelopeFailure[] = [];
  const expectedType = opts.payloadType ?? IN_TOTO_PAYLOAD_TYPE;
  if (envelope.payloadType !== expectedType) failures.push({ check: 'payload-type', message: `payload type is ${JSON.stringify(envelope.payloadType)}, expected ${JSON.stringify(expectedType)}` });

  const publicKey = createPublicKey(key.publicKeyPem);
  const trust = { certificateAuthorities: [], timestampAuthorities: [], tlogs: [], ctlogs: [], publicKey: () => ({ publicKey, validFor: () => true }) };
  try {
    new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 }).verify(toSignedEntity(bundle));
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code !== 'SIGNATURE_ERROR') {
      failures.push({ check: 'format', message: `sigstore-js refused the bundle (${String(code ?? 'error')}): ${(err as Error).message}` });
    } else if (hint !== '' && hint !== bundleKeyHint(key) && hint !== key.keyid) {
      failures.push({ check: 'key-id', message: `signed by the key the bundle names ${hint}, not by this key (${bundleKeyHint(key)}, krepro key id ${key.keyid}); the signature does not verify with it` });
    } else {
      failures.push({ check: 'signature', message: `the signature does not verify with key ${key.keyid} over the payload and its type` });
    }
  }
  const bad = opts.parsePayload?.(envelope.payload);
  if (bad !== undefined) failures.push({ check: 'payload', message: bad });
  return { valid: failures.length === 0, failures, payloadType: envelope.payloadType, payload: envelope.payload, keyids: hint === '' ? [] : [hint] };
}
