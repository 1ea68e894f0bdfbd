import { parseArgs } from 'node:util';
import * as path from 'node:path';
import { IN_TOTO_PAYLOAD_TYPE, loadVerifyingKey, printable, quote, verifyAttestationFile } from '../lib/index.js';
import { type CommandIO, EXIT } from './io.js';

export const ATTEST_HELP = `Usage: krepro attest verify --key PUB [options] FILE

Checks every DSSE envelope in FILE against the public key PUB (PEM; ECDSA P-256 or Ed25519): the
signature over the payload and its type (DSSE's PAE), the payload type, and that the payload is an
in-toto Statement v1. FILE is either form --sign-key writes: krepro.intoto.jsonl (one envelope per
line) or krepro.sigstore.json (a sigstore bundle v0.3, checked with sigstore-js, no transparency log
or timestamp required). Offline: nothing but the file and the key is read. A file over 16 MiB is
refused (exit 2): attestations are kilobytes. At most 100 invalid lines are listed, each with its
failures; the rest are counted.

Options:
  --key FILE            public key (PEM, -----BEGIN PUBLIC KEY-----); its key id is the SHA-256 of its DER
                        form: openssl pkey -pubin -in FILE -outform DER | sha256sum
  --payload-type TYPE   expected payload type (default: ${IN_TOTO_PAYLOAD_TYPE})
  --json                print the result as JSON (valid, keyid, per line: failures, subjects)
  -h, --help            show this help

Exit status: 0 every envelope valid, 1 an envelope is invalid (each failure is named: signature,
payload-type, key-id, format or payload), 2 usage or environment error (unreadable file or key).
`;

export async function attestCommand(argv: string[], io: CommandIO): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    io.stdout.write(ATTEST_HELP);
    return sub === undefined ? EXIT.usage : EXIT.ok;
  }
  if (sub !== 'verify') {
    io.stderr.write(`krepro attest: unknown subcommand ${quote(sub)} (known: verify)\n`);
    return EXIT.usage;
  }
  const { values, positionals } = parseArgs({
    args: rest,
    strict: true,
    allowPositionals: true,
    options: { key: { type: 'string' }, 'payload-type': { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    io.stdout.write(ATTEST_HELP);
    return EXIT.ok;
  }
  if (values.key === undefined || positionals.length !== 1) {
    io.stderr.write(`krepro attest verify: ${values.key === undefined ? '--key PUB is required' : 'give exactly one attestation FILE'}\nRun 'krepro attest --help' for usage.\n`);
    return EXIT.usage;
  }
  const key = await loadVerifyingKey(path.resolve(io.cwd, values.key));
  const result = await verifyAttestationFile(path.resolve(io.cwd, positionals[0]!), key, values['payload-type'] ? { payloadType: values['payload-type'] } : {});
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
    io.stderr.write(`${result.valid ? 'valid' : 'INVALID'}: ${bundle ? 'the sigstore bundle' : `${result.lines.length + result.invalidNotListed} envelope(s) in`} ${result.file}\n`);
  }
  return result.valid ? EXIT.ok : EXIT.different;
}
