import * as path from 'node:path';
import { IN_TOTO_PAYLOAD_TYPE } from '../lib/api/attest.js';
import { loadVerifyingKey, verifyAttestationFile } from '../lib/index.js';
import { printable, quote } from '../lib/quote.js';
import { defineCommand, parseCommand, UsageError } from './command.js';
import { showHelp } from './help.js';
import { type CommandIO, EXIT } from './io.js';
import { uiFor } from './ui.js';

export const ATTEST = defineCommand({
  name: 'attest',
  summary: 'check the signatures of a .intoto.jsonl attestation file or a sigstore bundle against a public key (offline)',
  usage: ['attest verify --key PUB [options] FILE'],
  description: `Checks every DSSE envelope in FILE against the public key PUB (PEM; ECDSA P-256 or Ed25519): the
signature over the payload and its type (DSSE's PAE), the payload type, and that the payload is an
in-toto Statement v1. FILE is either form --sign-key writes: krepro.intoto.jsonl (one envelope per
line) or krepro.sigstore.json (a sigstore bundle v0.3, checked with sigstore-js, no transparency log
or timestamp required). Offline: nothing but the file and the key is read. A file over 16 MiB is
refused (exit 2): attestations are kilobytes. At most 100 invalid lines are listed, each with its
failures; the rest are counted. It checks the statement, not the files it names: 'krepro check --key PUB
DIR' checks a release directory's files against it.`,
  options: {
    key: { type: 'string', value: 'FILE', complete: 'file', help: 'public key (PEM, -----BEGIN PUBLIC KEY-----); its key id is the SHA-256 of its DER form: openssl pkey -pubin -in FILE -outform DER | sha256sum' },
    'payload-type': { type: 'string', value: 'TYPE', complete: 'none', help: `expected payload type (default: ${IN_TOTO_PAYLOAD_TYPE})` },
    json: { type: 'boolean', help: 'print the result as JSON (valid, keyid, per line: failures, subjects)' },
  },
  positionals: [
    { name: 'verify', help: 'the subcommand', complete: ['verify'] },
    { name: 'FILE', help: 'the attestation file (.intoto.jsonl) or sigstore bundle (.sigstore.json)', complete: 'file' },
  ],
  examples: [{ command: 'krepro attest verify --key release.pub _output/release-tars/krepro.intoto.jsonl', does: 'check the signed statement krepro package --sign-key wrote' }],
  exits: [
    [0, 'every envelope valid'],
    [1, 'an envelope is invalid (each failure is named: signature, payload-type, key-id, format or payload)'],
    [2, 'usage or environment error (unreadable file or key)'],
  ],
});

export async function attestCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseCommand(ATTEST, argv);
  if (values.help) return showHelp(ATTEST, io);
  const ui = uiFor(io, values);
  const [sub, file] = positionals;
  if (sub !== 'verify') throw new UsageError(sub === undefined ? 'give a subcommand: krepro attest verify --key PUB FILE' : `unknown subcommand ${quote(sub)} (known: verify)`);
  if (values.key === undefined) throw new UsageError('--key PUB is required');
  if (file === undefined) throw new UsageError('give the attestation FILE to verify');
  const key = await loadVerifyingKey(path.resolve(io.cwd, values.key));
  const result = await verifyAttestationFile(path.resolve(io.cwd, file), key, values['payload-type'] ? { payloadType: values['payload-type'] } : {});
  if (values.json) {
    const lines = result.lines.map((l) => ({ line: l.line, valid: l.valid, payloadType: l.payloadType, keyids: l.keyids, failures: l.failures, subjects: l.valid ? (l.statement?.subject ?? []) : [] }));
    io.stdout.write(`${JSON.stringify({ file: result.file, form: result.form, valid: result.valid, keyid: result.keyid, lines, invalidNotListed: result.invalidNotListed }, null, 2)}\n`);
  } else {
    const bundle = result.form === 'sigstore-bundle';
    for (const l of result.lines) {
      const where = bundle ? 'bundle' : `line ${l.line}`;
      if (l.valid) {
        const subjects = l.statement?.subject.map((s) => s.name).join(', ') ?? '';
        io.stdout.write(`${where}: valid, signed by ${key.keyid} (${key.algorithm}); ${l.statement?.predicateType ?? ''} for ${subjects}\n`);
      } else {
        for (const f of l.failures) io.stdout.write(`${where}: INVALID ${f.check}: ${printable(f.message)}\n`);
      }
    }
    if (result.invalidNotListed > 0) io.stdout.write(`… and ${result.invalidNotListed} more invalid line(s), not listed\n`);
    ui.note(`${result.valid ? 'valid' : 'INVALID'}: ${bundle ? 'the sigstore bundle' : `${result.lines.length + result.invalidNotListed} envelope(s) in`} ${result.file}`);
  }
  return result.valid ? EXIT.ok : EXIT.different;
}
