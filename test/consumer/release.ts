// release.ts STAGE SOURCE WORKDIR: pack a staged release, check it as a downloader would, verify its signed
// statement, and let krepro diff say what packing it again one day later changes.
import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import {
  ATTESTATION_FILE,
  checkRelease,
  diff,
  hashFile,
  loadSigningKey,
  loadVerifyingKey,
  packageRelease,
  resolveSourceDateEpoch,
  verifyAttestationFile,
} from 'krepro';

const [stage, source, work] = process.argv.slice(2);
if (stage === undefined || source === undefined || work === undefined) throw new Error('usage: release.js STAGE SOURCE WORKDIR');

// SOURCE_DATE_EPOCH: the environment's when set, else the source checkout's last commit time.
const epoch = await resolveSourceDateEpoch({ environment: process.env['SOURCE_DATE_EPOCH'], repoDir: source });

// A signing key made here for the example; a release keeps its own (openssl genpkey -algorithm ed25519 -out release.key).
const pair = generateKeyPairSync('ed25519');
await writeFile(path.join(work, 'release.key'), pair.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
await writeFile(path.join(work, 'release.pub'), pair.publicKey.export({ type: 'spki', format: 'pem' }));

// 1. Pack: the kubernetes*.tar.gz tarballs, SBOMs, SHA256SUMS and SHA512SUMS, krepro-manifest.json and a signed
//    in-toto statement of them all, written to a new directory that replaces `out` only once complete.
const release = await packageRelease({
  stage,
  sourceRoot: source,
  out: path.join(work, 'release'),
  sourceDateEpoch: epoch.seconds,
  signingKey: await loadSigningKey(path.join(work, 'release.key')),
});
for (const a of release.artifacts) console.log(`${a.digests.sha256}  ${a.name}`);

// 2. Check the sums: every list in the directory against every file, and the signed subjects against the files.
const publicKey = await loadVerifyingKey(path.join(work, 'release.pub'));
const check = await checkRelease({ dir: release.out, key: publicKey });
if (!check.ok) throw new Error(`${release.out} does not match its own lists: ${check.files.filter((f) => f.verdict !== 'match').map((f) => `${f.name} ${f.verdict}`).join(', ')}`);
const client = release.artifacts.find((a) => a.name === 'kubernetes-client-linux-amd64.tar.gz');
if (client === undefined) throw new Error('the stage has no linux/amd64 client');
if ((await hashFile(client.path)).digests.sha256 !== client.digests.sha256) throw new Error(`${client.path} changed after packing`);
console.log(`checked ${check.files.length} files against ${check.lists.length} lists`);

// 3. Verify the signed statement with the public key alone, and read what it covers.
const signed = await verifyAttestationFile(path.join(release.out, ATTESTATION_FILE), publicKey);
if (!signed.valid) throw new Error(`${signed.file} does not verify with release.pub`);
console.log(`${ATTESTATION_FILE}: signed by ${signed.keyid}, ${signed.lines[0]?.statement?.subject.length ?? 0} subjects`);

// 4. Pack again with SOURCE_DATE_EPOCH one day later: diff names each difference and its cause.
const later = await packageRelease({ stage, out: path.join(work, 'later'), sourceDateEpoch: epoch.seconds + 86_400 });
const report = await diff(client.path, path.join(later.out, client.name));
for (const c of report.summary.causes) console.log(`${client.name} differs: ${c.count} × ${c.cause} (fix: ${report.causes[c.cause]?.fix})`);
