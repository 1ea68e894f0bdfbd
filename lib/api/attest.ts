/**
 * Signed attestations: keys, DSSE envelopes, in-toto statements, `.intoto.jsonl` files and sigstore bundles,
 * verified offline with a public key.
 *
 * @packageDocumentation
 */
export { loadSigningKey, loadVerifyingKey, verifyingKeyFromPem, keyIdOf, type KeyAlgorithm, type KeyIdentity, type SigningKey, type VerifyingKey } from '../attest/keys.js';
export {
  IN_TOTO_PAYLOAD_TYPE,
  signEnvelope,
  verifyEnvelope,
  type DsseEnvelope,
  type DsseSignature,
  type EnvelopeCheck,
  type EnvelopeFailure,
  type EnvelopeVerification,
} from '../attest/dsse.js';
export { STATEMENT_TYPE, SLSA_PROVENANCE_TYPE, inTotoStatement, subjectsOf, statementPayload, type Statement, type Subject } from '../attest/statement.js';
export {
  ATTESTATION_FILE,
  ATTESTATION_SUFFIX,
  BUNDLE_FILE,
  MAX_ATTESTATION_BYTES,
  MAX_INVALID_LINES,
  signStatement,
  writeAttestations,
  writeSignedStatement,
  verifyAttestationFile,
  verifyAttestations,
  type AttestationFileVerification,
  type AttestationLine,
} from '../attest/file.js';
export type { Digests } from '../integrity/hash-stream.js';
export { SIGSTORE_BUNDLE_MEDIA_TYPE, BUNDLE_SUFFIX, sigstoreBundle, verifySigstoreBundle, type SigstoreBundle } from '../attest/bundle.js';
