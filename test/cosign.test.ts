import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { BUNDLE_FILE } from '../lib/api/attest.js';
import { ATTESTATION_FILE } from '../lib/index.js';
import { cosignImage } from './helpers/cosign.js';
import { engineOrSkip, runInContainer } from './helpers/engine.js';
import { multiPlatformRelease } from './helpers/multi-platform.js';
import { suiteWhen } from './helpers/skip.js';
import { tempDir } from './helpers/stage.js';

// Signatures anyone can verify: cosign from Debian trixie (not krepro, not sigstore-js), in a container without
// network, checks krepro's sigstore bundle against a release tarball and an image index, as README shows it.
const docker = await engineOrSkip();

suiteWhen(docker, 'no Docker engine', (engine, t) => {
  t('cosign verify-blob-attestation --new-bundle-format accepts the bundle for a tarball and an image index, offline; rejects another key, a changed tarball and a hex keyid', async () => {
    const dir = tempDir();
    const keys: Record<string, { priv: string; pub: string }> = {};
    for (const [kind, args] of [
      ['ed25519', ['-algorithm', 'ed25519']],
      ['ecdsa', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']],
    ] as const) {
      keys[kind] = { priv: path.join(dir, `${kind}.pem`), pub: path.join(dir, `${kind}.pub`) };
      execFileSync('openssl', ['genpkey', ...args, '-out', keys[kind]!.priv]);
      execFileSync('openssl', ['pkey', '-in', keys[kind]!.priv, '-pubout', '-out', keys[kind]!.pub]);
    }
    const signed = await multiPlatformRelease(path.join(dir, 'ed'), { signingKey: keys['ed25519']!.priv });
    await multiPlatformRelease(path.join(dir, 'ec'), { signingKey: keys['ecdsa']!.priv });
    const out = signed.result.out;
    // A tarball with one byte changed, under its own name (the bundle names subjects by digest only).
    const changed = path.join(dir, 'changed.tar.gz');
    copyFileSync(path.join(out, 'kubernetes.tar.gz'), changed);
    const bytes = readFileSync(changed);
    bytes[bytes.length - 20] ^= 0x01;
    writeFileSync(changed, bytes);
    // The same signature with krepro's hex key id on it, as in krepro.intoto.jsonl: what decision 15 avoids.
    const bundle = JSON.parse(readFileSync(path.join(out, BUNDLE_FILE), 'utf8'));
    const envelope = JSON.parse(readFileSync(path.join(out, ATTESTATION_FILE), 'utf8').split('\n')[0]!);
    bundle.dsseEnvelope.signatures[0].keyid = envelope.signatures[0].keyid;
    writeFileSync(path.join(dir, 'hex-keyid.sigstore.json'), JSON.stringify(bundle));
    writeFileSync(path.join(dir, 'empty-root.json'), '{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}');

    const cases = [
      ['tarball', 'ed/out/krepro.sigstore.json', 'ed25519.pub', 'ed/out/kubernetes-server-linux-arm64.tar.gz'],
      ['index', 'ed/out/krepro.sigstore.json', 'ed25519.pub', 'ed/out/kube-apiserver.oci.tar'],
      ['ecdsa', 'ec/out/krepro.sigstore.json', 'ecdsa.pub', 'ec/out/kubernetes.tar.gz'],
      ['other-key', 'ed/out/krepro.sigstore.json', 'ecdsa.pub', 'ed/out/kubernetes.tar.gz'],
      ['changed-tarball', 'ed/out/krepro.sigstore.json', 'ed25519.pub', 'changed.tar.gz'],
      ['hex-keyid', 'hex-keyid.sigstore.json', 'ed25519.pub', 'ed/out/kubernetes.tar.gz'],
    ];
    // One container for every case: the command README shows, with /w the test's directory, no network.
    const script = cases
      .map(([name, b, pub, file]) => `echo "== ${name}" >&2; cosign verify-blob-attestation --new-bundle-format --bundle /w/${b} --key /w/${pub} --insecure-ignore-tlog --trusted-root /w/empty-root.json /w/${file}; echo "${name} $?"`)
      .join('\n');
    const r = await runInContainer(engine, { image: await cosignImage(engine), cmd: ['sh', '-c', `cosign version 2>&1 | grep -E '^GitVersion' >&2\n${script}`], binds: [`${dir}:/w:ro`] });
    assert.is(r.exitCode, 0, r.stderr);
    const status = Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split(' ') as [string, string]));
    assert.equal(status, { tarball: '0', index: '0', ecdsa: '0', 'other-key': '1', 'changed-tarball': '1', 'hex-keyid': '1' }, r.stderr);
    const said = (name: string) => r.stderr.split(`== ${name}\n`)[1]!.split('\n== ')[0]!;
    assert.match(said('tarball'), 'Verified OK');
    assert.match(said('other-key'), 'accepted signatures do not match threshold');
    assert.match(said('changed-tarball'), 'provided artifact digest does not match any digest in statement');
    assert.match(said('hex-keyid'), 'accepted signatures do not match threshold');
  });
});

test.run();
