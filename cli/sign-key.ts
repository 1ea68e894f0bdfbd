import * as path from 'node:path';
import { loadSigningKey, type SigningKey } from '../lib/index.js';
import type { OptionSpecs } from './command.js';
import type { CommandIO } from './io.js';

/** `--sign-key FILE`: spread into a command's options. */
export const SIGN_KEY_OPTION = {
  'sign-key': {
    type: 'string',
    value: 'FILE',
    complete: 'file',
    help: 'sign an in-toto Statement of the outputs with this PEM private key (ECDSA P-256 or Ed25519, unencrypted) and write it as a DSSE envelope into krepro.intoto.jsonl beside them, and as a sigstore bundle into krepro.sigstore.json; check either with krepro attest verify --key PUB, the bundle also with cosign verify-blob-attestation --new-bundle-format (README). The key is read once, never printed or copied',
  },
} as const satisfies OptionSpecs;

/**
 * Loads the key named by --sign-key before any work starts, so a wrong path or key type fails in a second, not
 * after the build. Undefined when the option is absent.
 */
export async function signingKeyOption(values: { 'sign-key'?: string | undefined }, io: Pick<CommandIO, 'cwd'>): Promise<SigningKey | undefined> {
  const file = values['sign-key'];
  if (file === undefined) return undefined;
  return loadSigningKey(path.resolve(io.cwd, file));
}
