import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { bundleFromJSON } from '@sigstore/bundle';
import { toSignedEntity, Verifier } from '@sigstore/verify';
import { BUNDLE_FILE, type DsseEnvelope, keyIdOf, type SigstoreBundle, verifyEnvelope } from '../lib/api/attest.js';
import { ATTESTATION_FILE, isKreproError, loadSigningKey, loadVerifyingKey } from '../lib/index.js';
import { preAuthEncoding } from '../lib/attest/dsse.js';
import { materializeStage, tempDir } from './helpers/stage.js';

// Signing offline: krepro's DSSE envelopes are checked by krepro and by an implementation that is not krepro
// (Python with Debian's securesystemslib), for both key types; a changed byte is rejected by both.
const CLI = path.resolve('dist/cli/main.js');
const PYTHON_VERIFIER = path.resolve('test/helpers/dsse_verify.py');
const validateLine = new Ajv2020({ strict: true, allErrors: true }).compile(JSON.parse(readFileSync(path.resolve('schemas/dsse-envelope.schema.json'), 'utf8')));
const { NO_COLOR: _n, FORCE_COLOR: _f, ...ENV } = process.env;

function krepro(...args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: ENV });
}

function python(pub: string, file: string) {
  // Debian's interpreter: securesystemslib is a Debian package, not in a pyenv or venv python.
  return spawnSync('/usr/bin/python3', [PYTHON_VERIFIER, pub, file], { encoding: 'utf8' });
}

const KEYS = {
  ed25519: ['-algorithm', 'ed25519'],
  'ecdsa-p256': ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'],
} as const;

function keyPair(dir: string, kind: keyof typeof KEYS | 'rsa' | 'p384'): { priv: string; pub: string } {
  const priv = path.join(dir, `${kind}.pem`);
  const pub = path.join(dir, `${kind}.pub`);
  const args = kind === 'rsa' ? ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'] : kind === 'p384' ? ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'] : KEYS[kind];
  execFileSync('openssl', ['genpkey', ...args, '-out', priv], { stdio: 'ignore' });
  execFileSync('openssl', ['pkey', '-in', priv, '-pubout', '-out', pub]);
  return { priv, pub };
}

function lines(file: string): DsseEnvelope[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as DsseEnvelope);
}

function writeLines(file: string, envelopes: DsseEnvelope[]): void {
  writeFileSync(file, envelopes.map((e) => `${JSON.stringify(e)}\n`).join(''));
}

/**
 * sigstore-js's own verifier, called here without krepro in between (an implementation that is not krepro, like
 * securesystemslib for the .intoto.jsonl form): the public key as the only trust material, no log, no timestamp.
 */
function sigstoreAccepts(bundle: unknown, pub: string): boolean {
  const publicKey = createPublicKey(readFileSync(pub, 'utf8'));
  const trust = { certificateAuthorities: [], timestampAuthorities: [], tlogs: [], ctlogs: [], publicKey: () => ({ publicKey, validFor: () => true }) };
  try {
    new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 }).verify(toSignedEntity(bundleFromJSON(bundle)));
    return true;
  } catch {
    return false;
  }
}

test('PAE and an ECDSA signature in raw r||s form: the test vector of DSSE protocol.md', () => {
  const pae = preAuthEncoding('http://example.com/HelloWorld', Buffer.from('hello world'));
  assert.is(pae.toString(), 'DSSEv1 29 http://example.com/HelloWorld 11 hello world');
  const coordinate = (decimal: string) => Buffer.from(BigInt(decimal).toString(16).padStart(64, '0'), 'hex').toString('base64url');
  const jwk = {
    kty: 'EC',
    crv: 'P-256',
    x: coordinate('46950820868899156662930047687818585632848591499744589407958293238635476079160'),
    y: coordinate('5640078356564379163099075877009565129882514886557779369047442380624545832820'),
  };
  const dir = tempDir();
  const pub = path.join(dir, 'vector.pub');
  writeFileSync(pub, createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' }));
  const envelope = {
    payload: 'aGVsbG8gd29ybGQ=',
    payloadType: 'http://example.com/HelloWorld',
    signatures: [{ sig: 'A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJPcIAriEGAHTVeCUjW2JIZA==' }],
  };
  return loadVerifyingKey(pub).then((key) => {
    const ok = verifyEnvelope(envelope, key, { payloadType: 'http://example.com/HelloWorld' });
    assert.ok(ok.valid, JSON.stringify(ok.failures));
    assert.is(ok.payload?.toString(), 'hello world');
    // URL-safe base64 is as valid as standard (protocol.md: verifiers MUST accept either)
    const urlSafe = { ...envelope, signatures: [{ sig: Buffer.from(envelope.signatures[0]!.sig, 'base64').toString('base64url') }] };
    assert.ok(verifyEnvelope(urlSafe, key, { payloadType: 'http://example.com/HelloWorld' }).valid);
    const tampered = verifyEnvelope({ ...envelope, payload: Buffer.from('hello World').toString('base64') }, key, { payloadType: 'http://example.com/HelloWorld' });
    assert.equal(tampered.failures.map((f) => f.check), ['signature']);
  });
});

for (const kind of Object.keys(KEYS) as (keyof typeof KEYS)[]) {
  test(`${kind}: package --sign-key; krepro and securesystemslib accept the envelope and both reject a changed payload byte or signature`, async () => {
    const dir = tempDir();
    const { priv, pub } = keyPair(dir, kind);
    const out = path.join(dir, 'out');
    const r = krepro('package', '--stage', materializeStage(path.join(dir, 'stage')), '--out', out, '--no-source', '--mtime', '1700000000', '--sign-key', priv, '--json');
    assert.is(r.status, 0, r.stderr);
    const json = JSON.parse(r.stdout);
    const key = await loadVerifyingKey(pub);
    assert.equal(json.attestation, { file: ATTESTATION_FILE, bundle: BUNDLE_FILE, keyid: key.keyid, algorithm: kind });
    assert.ok(json.files.includes(ATTESTATION_FILE) && json.files.includes(BUNDLE_FILE));
    // The key never reaches the output, and the attestation is not among the signed checksums.
    const privateBody = readFileSync(priv, 'utf8').split('\n')[1]!;
    assert.not.ok(r.stdout.includes(privateBody) || r.stderr.includes(privateBody));
    assert.not.ok(readFileSync(path.join(out, 'SHA256SUMS'), 'utf8').includes(ATTESTATION_FILE));

    const file = path.join(out, ATTESTATION_FILE);
    const [envelope] = lines(file);
    assert.ok(validateLine(envelope), JSON.stringify(validateLine.errors));
    // keyid as documented: sha256 of the DER SubjectPublicKeyInfo, the same as openssl's
    const der = execFileSync('openssl', ['pkey', '-pubin', '-in', pub, '-outform', 'DER']);
    assert.is(envelope!.signatures[0]!.keyid, keyIdOf(createPublicKey({ key: der, format: 'der', type: 'spki' })));
    const statement = JSON.parse(Buffer.from(envelope!.payload, 'base64').toString('utf8'));
    assert.is(statement._type, 'https://in-toto.io/Statement/v1');
    const manifest = JSON.parse(readFileSync(path.join(out, 'krepro-manifest.json'), 'utf8'));
    assert.equal(
      statement.subject.map((s: { name: string }) => s.name),
      manifest.files.map((f: { name: string }) => f.name),
    );
    for (const s of statement.subject) assert.ok(readFileSync(path.join(out, `${s.name}.sha256`), 'utf8').startsWith(s.digest.sha256), s.name);

    const ok = krepro('attest', 'verify', '--key', pub, file);
    assert.is(ok.status, 0, ok.stdout + ok.stderr);
    const py = python(pub, file);
    assert.is(py.status, 0, py.stdout + py.stderr);
    assert.match(py.stdout, /verified by securesystemslib 0\.26/);

    // One payload byte changed: the signature no longer covers it.
    const payload = Buffer.from(envelope!.payload, 'base64');
    payload[payload.indexOf('"sha256":"') + 10] ^= 0x01;
    const changedPayload = path.join(dir, 'payload.intoto.jsonl');
    writeLines(changedPayload, [{ ...envelope!, payload: payload.toString('base64') }]);
    // One signature byte changed.
    const sig = Buffer.from(envelope!.signatures[0]!.sig, 'base64');
    sig[sig.length - 1] ^= 0x01;
    const changedSig = path.join(dir, 'sig.intoto.jsonl');
    writeLines(changedSig, [{ ...envelope!, signatures: [{ keyid: envelope!.signatures[0]!.keyid, sig: sig.toString('base64') }] }]);
    for (const bad of [changedPayload, changedSig]) {
      const k = krepro('attest', 'verify', '--key', pub, '--json', bad);
      assert.is(k.status, 1, k.stdout + k.stderr);
      assert.equal(JSON.parse(k.stdout).lines[0].failures.map((f: { check: string }) => f.check), ['signature']);
      assert.is(python(pub, bad).status, 1, `securesystemslib rejects ${path.basename(bad)}`);
    }

    // The bundle: the same payload, type and signature bytes; no keyid on the signature, the key id as the hint.
    const bundleFile = path.join(out, BUNDLE_FILE);
    const bundle = JSON.parse(readFileSync(bundleFile, 'utf8')) as SigstoreBundle;
    assert.equal(bundle, {
      mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      // the hint as cosign writes it: base64 of the same SHA-256 (of the DER SubjectPublicKeyInfo) as the key id
      verificationMaterial: { publicKey: { hint: Buffer.from(key.keyid, 'hex').toString('base64') }, tlogEntries: [] },
      dsseEnvelope: { payload: envelope!.payload, payloadType: envelope!.payloadType, signatures: [{ sig: envelope!.signatures[0]!.sig }] },
    });
    assert.ok(sigstoreAccepts(bundle, pub), '@sigstore/verify accepts the bundle');
    const viaKrepro = krepro('attest', 'verify', '--key', pub, '--json', bundleFile);
    assert.is(viaKrepro.status, 0, viaKrepro.stdout + viaKrepro.stderr);
    const checked = JSON.parse(viaKrepro.stdout);
    assert.equal([checked.form, checked.lines[0].subjects], ['sigstore-bundle', statement.subject]);
    for (const [what, changed] of [
      ['payload', { ...bundle, dsseEnvelope: { ...bundle.dsseEnvelope, payload: payload.toString('base64') } }],
      ['signature', { ...bundle, dsseEnvelope: { ...bundle.dsseEnvelope, signatures: [{ sig: sig.toString('base64') }] } }],
    ] as const) {
      const bad = path.join(dir, `${what}${BUNDLE_FILE}`);
      writeFileSync(bad, JSON.stringify(changed));
      assert.not.ok(sigstoreAccepts(changed, pub), `@sigstore/verify rejects a changed ${what} byte`);
      const k = krepro('attest', 'verify', '--key', pub, '--json', bad);
      assert.is(k.status, 1, k.stdout + k.stderr);
      assert.equal(JSON.parse(k.stdout).lines[0].failures.map((f: { check: string }) => f.check), ['signature'], what);
    }
  });
}

/** The fixture stage packed and signed with Ed25519 key `a`; `b` is another key (ECDSA P-256). */
function signedByA() {
  const dir = tempDir();
  const a = keyPair(dir, 'ed25519');
  const b = keyPair(dir, 'ecdsa-p256');
  const out = path.join(dir, 'out');
  assert.is(krepro('package', '--stage', materializeStage(path.join(dir, 'stage')), '--out', out, '--no-source', '--mtime', '1700000000', '--sign-key', a.priv).status, 0);
  return { dir, a, b, out };
}

test('attest verify of a sigstore bundle names what failed: another key, payload type, two signatures, a certificate, not a bundle', async () => {
  const { dir, a, b, out } = signedByA();
  const bundle = JSON.parse(readFileSync(path.join(out, BUNDLE_FILE), 'utf8')) as SigstoreBundle;
  const check = (value: unknown, pub = a.pub, pretty = false) => {
    const file = path.join(dir, `case${BUNDLE_FILE}`);
    writeFileSync(file, JSON.stringify(value, null, pretty ? 2 : 0));
    const r = krepro('attest', 'verify', '--key', pub, '--json', file);
    return { status: r.status, checks: r.status === 2 ? [] : JSON.parse(r.stdout).lines[0].failures.map((f: { check: string }) => f.check), out: r.stdout + r.stderr };
  };
  assert.equal(check(bundle, a.pub, true).status, 0, 'pretty-printed over many lines is the same bundle');
  let r = check(bundle, b.pub);
  assert.equal([r.status, r.checks], [1, ['key-id']], r.out);
  assert.match(r.out, /signed by the key the bundle names [A-Za-z0-9+/]{43}=, not by this key/);
  r = check({ ...bundle, verificationMaterial: { ...bundle.verificationMaterial, publicKey: { hint: '' } } }, b.pub);
  assert.equal(r.checks, ['signature'], 'without a hint the wrong key is a bad signature');
  r = check({ ...bundle, dsseEnvelope: { ...bundle.dsseEnvelope, payloadType: 'application/json' } });
  assert.equal(r.checks, ['payload-type', 'signature'], r.out);
  const sig = bundle.dsseEnvelope.signatures[0];
  r = check({ ...bundle, dsseEnvelope: { ...bundle.dsseEnvelope, signatures: [sig, sig] } });
  assert.equal([r.status, r.checks], [1, ['format']], r.out);
  assert.match(r.out, /content\.dsseEnvelope\.signatures/);
  r = check({ ...bundle, verificationMaterial: { certificate: { rawBytes: 'MIIB' }, tlogEntries: [] } });
  assert.equal(r.checks, ['format'], r.out);
  assert.match(r.out, /signed with a certificate/);
  r = check({ ...bundle, mediaType: 'application/vnd.dev.sigstore.bundle.v9+json' });
  assert.equal(r.checks, ['format'], r.out);
});

test('attest verify names what failed: payload type, key id (another key), format of a line', async () => {
  const { dir, a, b, out } = signedByA();
  const [envelope] = lines(path.join(out, ATTESTATION_FILE));

  const retyped = path.join(dir, 'type.intoto.jsonl');
  writeLines(retyped, [{ ...envelope!, payloadType: 'application/json' }]);
  let r = krepro('attest', 'verify', '--key', a.pub, '--json', retyped);
  assert.is(r.status, 1);
  // The type is signed too, so changing it also breaks the signature; both are reported.
  assert.equal(JSON.parse(r.stdout).lines[0].failures.map((f: { check: string }) => f.check), ['payload-type', 'signature']);
  assert.is(python(a.pub, retyped).status, 1);

  r = krepro('attest', 'verify', '--key', b.pub, path.join(out, ATTESTATION_FILE));
  assert.is(r.status, 1);
  assert.match(r.stdout, /INVALID key-id: signed by key [0-9a-f]{64}, not by this key/);
  assert.is(python(b.pub, path.join(out, ATTESTATION_FILE)).status, 1);

  const mixed = path.join(dir, 'mixed.intoto.jsonl');
  writeFileSync(mixed, `${JSON.stringify(envelope)}\nnot json\n`);
  r = krepro('attest', 'verify', '--key', a.pub, '--json', mixed);
  assert.is(r.status, 1);
  const result = JSON.parse(r.stdout);
  assert.equal(
    result.lines.map((l: { line: number; valid: boolean }) => [l.line, l.valid]),
    [
      [1, true],
      [2, false],
    ],
  );
  assert.is(result.lines[1].failures[0].check, 'format');
});

test('keys: unsupported or misplaced keys are usage errors naming the file, never its content', async () => {
  const dir = tempDir();
  const rsa = keyPair(dir, 'rsa');
  const p384 = keyPair(dir, 'p384');
  const ed = keyPair(dir, 'ed25519');
  const encrypted = path.join(dir, 'encrypted.pem');
  execFileSync('openssl', ['pkey', '-in', ed.priv, '-aes256', '-passout', 'pass:secret', '-out', encrypted]);
  const expectError = async (file: string, load: (file: string) => Promise<unknown>, pattern: RegExp) => {
    try {
      await load(file);
      assert.unreachable('should have thrown');
    } catch (err) {
      assert.ok(isKreproError(err) && err.code === 'E_ATTEST', String(err));
      assert.match((err as Error).message, pattern);
      const body = spawnSync('cat', [file], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l !== '' && !l.startsWith('-----'));
      for (const line of body) assert.not.ok((err as Error).message.includes(line.slice(0, 24)), 'no key material in the message');
    }
  };
  await expectError(rsa.priv, loadSigningKey, /rsa\.pem is an rsa key; krepro signs with ECDSA P-256 or Ed25519/);
  await expectError(p384.priv, loadSigningKey, /is an EC key on curve secp384r1/);
  await expectError(encrypted, loadSigningKey, /encrypted\.pem is encrypted/);
  await expectError(ed.pub, loadSigningKey, /holds a public key; signing needs the private key/);
  await expectError(ed.priv, loadVerifyingKey, /holds a private key; verify with the public key/);
  await expectError(path.join(dir, 'missing.pem'), loadSigningKey, /cannot read signing key .*missing\.pem: ENOENT/);

  const stage = materializeStage(path.join(dir, 'stage'));
  const r = krepro('package', '--stage', stage, '--out', path.join(dir, 'out'), '--no-source', '--mtime', '1700000000', '--sign-key', rsa.priv);
  assert.is(r.status, 2);
  assert.match(r.stderr, /rsa\.pem is an rsa key/);
  // Refused before packing: nothing was written.
  assert.not.ok(spawnSync('test', ['-e', path.join(dir, 'out')]).status === 0);
  assert.is(krepro('attest', 'verify', path.join(dir, 'x.intoto.jsonl')).status, 2, '--key is required');
});

test.run();
