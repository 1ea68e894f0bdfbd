import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { KreproError } from '../errors.js';

/** The two key types krepro signs with: what in-toto, securesystemslib and sigstore tooling all read. */
export type KeyAlgorithm = 'ecdsa-p256' | 'ed25519';

/** What identifies a key and may be published: its id, algorithm and public half. */
export interface KeyIdentity {
  /** lowercase hex SHA-256 of the public key's DER SubjectPublicKeyInfo (see keyIdOf in krepro/attest) */
  readonly keyid: string;
  /** ECDSA P-256 or Ed25519. */
  readonly algorithm: KeyAlgorithm;
  /** the public key as PEM (SPKI), safe to print and publish */
  readonly publicKeyPem: string;
}

/** A private key loaded for signing. The key material stays inside: it is never part of a message or of JSON. */
export interface SigningKey extends KeyIdentity {
  /** ECDSA: SHA-256, DER-encoded signature (as securesystemslib, sigstore and go-securesystemslib write it); Ed25519: 64 bytes */
  sign(data: Buffer): Buffer;
}

/** A public key loaded for verifying signatures. */
export interface VerifyingKey extends KeyIdentity {
  /** ECDSA accepts DER and raw r‖s (IEEE P1363, as DSSE's test vector) signatures */
  verify(data: Buffer, signature: Buffer): boolean;
}

/**
 * The key id krepro writes into DSSE signatures: lowercase hex SHA-256 of the public key's DER-encoded
 * SubjectPublicKeyInfo, so anyone can recompute it from the public key alone:
 * `openssl pkey -pubin -in key.pub -outform DER | sha256sum`. DSSE treats it as a hint, never as proof.
 */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
}

function algorithmOf(key: KeyObject, file: string, role: string): KeyAlgorithm {
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ecdsa-p256';
  const what = key.asymmetricKeyType === 'ec' ? `an EC key on curve ${key.asymmetricKeyDetails?.namedCurve ?? 'unknown'}` : `a${key.asymmetricKeyType === 'rsa' ? 'n' : ''} ${key.asymmetricKeyType ?? 'unknown'} key`;
  throw new KreproError('E_ATTEST', `${role} ${file} is ${what}; krepro signs with ECDSA P-256 or Ed25519 keys (openssl genpkey -algorithm ed25519 -out key.pem)`, { path: file });
}

async function readPem(file: string, role: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (cause) {
    throw new KreproError('E_ATTEST', `cannot read ${role} ${file}: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}`, { path: file, cause });
  }
}

function publicHalf(publicKey: KeyObject, algorithm: KeyAlgorithm): KeyIdentity {
  return { keyid: keyIdOf(publicKey), algorithm, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/**
 * Loads a PEM private key (PKCS#8 or SEC1 `EC PRIVATE KEY`) for signing. Errors name the file and what is wrong,
 * never the file's content; an encrypted key is refused with how to decrypt it.
 */
export async function loadSigningKey(file: string): Promise<SigningKey> {
  const role = 'signing key';
  const pem = await readPem(file, role);
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
    const isPublic = /-----BEGIN PUBLIC KEY-----/.test(pem);
    throw new KreproError('E_ATTEST', `${role} ${file} ${isPublic ? 'holds a public key; signing needs the private key' : 'is not a PEM private key'} (expected -----BEGIN PRIVATE KEY-----)`, { path: file });
  }
  // PKCS#8 `ENCRYPTED PRIVATE KEY` or a legacy PEM with `Proc-Type: 4,ENCRYPTED`: OpenSSL's own error for these
  // varies by version ("interrupted or cancelled"), so it is recognized here.
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(pem)) {
    throw new KreproError('E_ATTEST', `${role} ${file} is encrypted; krepro reads unencrypted keys (openssl pkey -in ${file} -out PLAIN.pem)`, { path: file });
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    // Not the cause's message: OpenSSL's text can quote parts of the input.
    throw new KreproError('E_ATTEST', `${role} ${file} cannot be parsed as a PEM private key`, { path: file });
  }
  const algorithm = algorithmOf(privateKey, file, role);
  const half = publicHalf(createPublicKey(privateKey), algorithm);
  const digest = algorithm === 'ed25519' ? null : 'sha256';
  return Object.freeze({ ...half, sign: (data: Buffer) => sign(digest, data, privateKey) });
}

/** Loads a PEM public key (SPKI) for verification; a private key is refused, so it is not passed around by mistake. */
export async function loadVerifyingKey(file: string): Promise<VerifyingKey> {
  const role = 'public key';
  const pem = await readPem(file, role);
  if (/PRIVATE KEY-----/.test(pem)) {
    throw new KreproError('E_ATTEST', `${file} holds a private key; verify with the public key (openssl pkey -in ${file} -pubout -out key.pub)`, { path: file });
  }
  return verifyingKeyFromPem(pem, file);
}

/** A public key from PEM text already in memory; `origin` names it in errors. */
export function verifyingKeyFromPem(pem: string, origin = 'the public key'): VerifyingKey {
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: pem, format: 'pem' });
  } catch {
    throw new KreproError('E_ATTEST', `${origin} is not a PEM public key (expected -----BEGIN PUBLIC KEY-----)`, { path: origin });
  }
  const algorithm = algorithmOf(publicKey, origin, 'public key');
  const half = publicHalf(publicKey, algorithm);
  const check = (data: Buffer, signature: Buffer): boolean => {
    if (algorithm === 'ed25519') return verify(null, data, publicKey, signature);
    if (verify('sha256', data, publicKey, signature)) return true;
    return signature.length === 64 && verify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature);
  };
  return Object.freeze({
    ...half,
    verify: (data: Buffer, signature: Buffer) => {
      try {
        return check(data, signature);
      } catch {
        return false; // a malformed DER signature is an invalid signature, not an error
      }
    },
  });
}
