import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { LIBDEFLATE_VERSION, LIBDEFLATE_WASM_SHA256 } from '../lib/api/archive.js';
import { packageRelease, type PackageReleaseOptions } from '../lib/index.js';
import { extractWithEach } from './helpers/extract.js';
import { FIXTURES, GOLDEN, makeSourceRepo, materializeStage, tempDir, type StageConditions } from './helpers/stage.js';

const SDE = GOLDEN.sourceDateEpoch;
const srcRepo = makeSourceRepo(tempDir(), SDE);

async function digestsUnder(conditions: StageConditions, extra: Partial<PackageReleaseOptions> = {}): Promise<Record<string, string>> {
  const dir = tempDir();
  const stage = materializeStage(path.join(dir, 'stage'), conditions);
  const result = await packageRelease({ stage, out: path.join(dir, 'out'), sourceDateEpoch: SDE, sourceRoot: srcRepo, ...extra });
  return Object.fromEntries(result.tarballs.map((t) => [t.name, t.digests.sha256]));
}

test('the fixture stage packs to the golden digests', async () => {
  assert.equal(await digestsUnder({}), GOLDEN.sha256);
});

const variations: [string, StageConditions][] = [
  ['umask 000', { umask: 0o000 }],
  ['umask 077', { umask: 0o077 }],
  ['reversed creation order', { reverse: true }],
  ['other mtimes and atimes', { mtime: new Date('2031-05-06T07:08:09Z'), atime: new Date('1999-01-01T00:00:00Z') }],
  ['owned by uid 4242', { owner: 4242 }],
];
for (const [name, conditions] of variations) {
  test(`same digests with the stage made under ${name}`, async () => {
    assert.equal(await digestsUnder(conditions), GOLDEN.sha256);
  });
}

test('--encoder 1 (gzip format 1) still packs the stage to the digests releases made before format 2 have', async () => {
  assert.equal(await digestsUnder({ reverse: true }, { encoder: 1 }), GOLDEN.format1Sha256);
});

test('--encoder takes a format version and names the accepted ones otherwise', () => {
  const r = spawnSync(process.execPath, [path.resolve('dist/cli/main.js'), 'package', '--stage', tempDir(), '--out', tempDir(), '--no-source', '--encoder', 'pako'], { encoding: 'utf8' });
  assert.is(r.status, 2);
  assert.match(r.stderr, /--encoder must be a gzip format version, 1 or 2 .*got "pako"/);
});

test('the two formats hold the same tar; only the gzip layer differs', async () => {
  const dir = tempDir();
  const stage = materializeStage(path.join(dir, 'stage'));
  const tars = [];
  for (const encoder of [1, 2] as const) {
    const r = await packageRelease({ stage, out: path.join(dir, `out${encoder}`), sourceDateEpoch: SDE, encoder });
    assert.is(r.manifest.encoder.version, encoder);
    tars.push(gunzipSync(readFileSync(path.join(r.out, 'kubernetes-server-linux-amd64.tar.gz'))));
  }
  assert.ok(tars[0]!.equals(tars[1]!));
});

test('same digests under another TZ and LANG (separate process)', () => {
  const dir = tempDir();
  const stage = materializeStage(path.join(dir, 'stage'), { reverse: true });
  const out = path.join(dir, 'out');
  const r = spawnSync(process.execPath, [path.resolve('dist/cli/main.js'), 'package', '--stage', stage, '--out', out, '--source', srcRepo, '--json'], {
    env: { ...process.env, TZ: 'Pacific/Chatham', LANG: 'tr_TR.UTF-8', LC_ALL: 'tr_TR.UTF-8', SOURCE_DATE_EPOCH: String(SDE) },
    encoding: 'utf8',
  });
  assert.is(r.status, 0, r.stderr);
  const sums = readFileSync(path.join(out, 'SHA256SUMS'), 'utf8');
  for (const [name, hex] of Object.entries(GOLDEN.sha256)) assert.ok(sums.includes(`${hex}  ${name}\n`), `${name} in SHA256SUMS`);
});

function packFixture(): string {
  const dir = tempDir();
  const stage = materializeStage(path.join(dir, 'stage'));
  execFileSync(process.execPath, [path.resolve('dist/cli/main.js'), 'package', '--stage', stage, '--out', path.join(dir, 'out'), '--source', srcRepo], {
    env: { ...process.env, SOURCE_DATE_EPOCH: String(SDE) },
    stdio: 'pipe',
  });
  return path.join(dir, 'out');
}

test('sha256sum -c and sha512sum -c accept the SUMS files; per-file digests are bare hex', () => {
  const out = packFixture();
  execFileSync('sha256sum', ['-c', '--strict', 'SHA256SUMS'], { cwd: out, stdio: 'pipe' });
  execFileSync('sha512sum', ['-c', '--strict', 'SHA512SUMS'], { cwd: out, stdio: 'pipe' });
  for (const name of Object.keys(GOLDEN.sha256)) {
    assert.is(readFileSync(path.join(out, `${name}.sha256`), 'utf8'), GOLDEN.sha256[name]);
    const sha512 = execFileSync('sha512sum', [name], { cwd: out, encoding: 'utf8' }).split(' ')[0];
    assert.is(readFileSync(path.join(out, `${name}.sha512`), 'utf8'), sha512);
  }
  const manifest = JSON.parse(readFileSync(path.join(out, 'krepro-manifest.json'), 'utf8'));
  assert.is(manifest.sourceDateEpoch, SDE);
  assert.is(manifest.encoder.level, 6);
  assert.is(manifest.encoder.version, GOLDEN.encoderVersion);
  assert.match(manifest.encoder.deflate, new RegExp(`^libdeflate ${LIBDEFLATE_VERSION} \\(WebAssembly, sha256 ${LIBDEFLATE_WASM_SHA256}\\)$`));
  const server = manifest.files.find((f: { name: string }) => f.name === 'kubernetes-server-linux-amd64.tar.gz');
  assert.is(server.size, statSync(path.join(out, server.name)).size);
  assert.match(server.integrity, /^sha256-\S+ sha512-\S+$/);
  assert.equal(readdirSync(out).filter((f) => f.includes('.partial-')), []);
});

function gnuList(file: string): string[] {
  return execFileSync('tar', ['-tvzf', file, '--numeric-owner', '--full-time'], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC', LC_ALL: 'C.UTF-8' } }).trim().split('\n');
}

test('GNU tar lists sorted members with normalized owner, modes, mtime, links and long/non-ASCII names', () => {
  const out = packFixture();
  const lines = gnuList(path.join(out, 'kubernetes-server-linux-amd64.tar.gz'));
  const names = lines.map((l) => l.split(/\s+/).slice(5).join(' '));
  const sorted = [...names].sort((a, b) => Buffer.compare(Buffer.from(a.replace(/\/$/, '')), Buffer.from(b.replace(/\/$/, ''))));
  assert.equal(names, sorted, 'members in UTF-8 byte order');
  assert.is(names[0], 'kubernetes/');
  for (const l of lines) {
    const [mode, owner, , date, time] = l.split(/\s+/);
    assert.is(owner, '0/0', l);
    assert.is(`${date} ${time}`, '2023-11-14 22:13:20', l);
    assert.ok(['drwxr-xr-x', '-rwxr-xr-x', '-rw-r--r--', 'lrwxrwxrwx', 'hrwxr-xr-x'].includes(mode!), l);
  }
  assert.ok(names.includes('kubernetes/addons/version-link -> ../version'));
  assert.ok(names.includes('kubernetes/server/bin/kubectl-convert link to kubernetes/server/bin/kubectl'), 'hard link to the first name in byte order');
  assert.ok(names.includes('kubernetes/addons/ünïcødé.yaml'));
  assert.ok(names.some((n) => n.endsWith('/manifest-with-a-long-name-as-well.yaml') && Buffer.byteLength(n) > 256));
  assert.ok(names.includes('kubernetes/kubernetes-src.tar.gz'), 'src tarball nested');
  assert.ok(names.includes('kubernetes/addons/empty/'), 'empty directory kept');
  const modeOf = (name: string) => lines.find((l) => l.endsWith(` ${name}`))?.split(/\s+/)[0];
  assert.is(modeOf('kubernetes/LICENSES/LICENSE'), '-rw-r--r--');
  assert.is(modeOf('kubernetes/server/bin/kube-apiserver'), '-rwxr-xr-x');
  assert.is(modeOf('kubernetes/LICENSES/'), 'drwxr-xr-x');
});

test('GNU tar, bsdtar and Python tarfile extract the same tree', () => {
  const out = packFixture();
  const tarball = path.join(out, 'kubernetes-server-linux-amd64.tar.gz');
  const listings: string[] = [];
  for (const { tool, dir } of extractWithEach(tarball)) {
    listings.push(execFileSync('find', ['.', '-printf', '%y %m %p %l\\n'], { cwd: dir, encoding: 'utf8' }).split('\n').sort().join('\n'));
    assert.is(readFileSync(path.join(dir, 'kubernetes/addons/ünïcødé.yaml'), 'utf8'), 'name: ünïcødé\n', tool);
    assert.is(statSync(path.join(dir, 'kubernetes/server/bin/kube-apiserver')).mode & 0o777, 0o755, tool);
    assert.is(statSync(path.join(dir, 'kubernetes/server/bin/kubectl')).ino, statSync(path.join(dir, 'kubernetes/server/bin/kubectl-convert')).ino, `${tool} hard link`);
  }
  assert.is(listings[1], listings[0], 'bsdtar = GNU tar');
  assert.is(listings[2], listings[0], 'python = GNU tar');
  // gzip's own integrity check and the nested src tarball
  execFileSync('gzip', ['-t', tarball]);
  const inner = execFileSync('bash', ['-c', `tar -xzOf ${tarball} kubernetes/kubernetes-src.tar.gz | sha256sum`], { encoding: 'utf8' });
  assert.is(inner.split(' ')[0], GOLDEN.sha256['kubernetes-src.tar.gz']);
});

/** Every header field of every member as Python's tarfile parses it: an independent reader of tar-stream's bytes. */
const PY_HEADERS = `
import json, sys, tarfile
out = []
with tarfile.open(sys.argv[1]) as t:
    for m in t:
        out.append({"name": m.name, "mode": oct(m.mode), "uid": m.uid, "gid": m.gid, "size": m.size, "mtime": m.mtime,
                    "type": m.type.decode(), "linkname": m.linkname, "uname": m.uname, "gname": m.gname,
                    "devmajor": m.devmajor, "devminor": m.devminor, "pax": m.pax_headers, "chksum": m.chksum,
                    "offset": m.offset, "offset_data": m.offset_data})
json.dump(out, sys.stdout, indent=1, ensure_ascii=False)
`;

test('tar headers hold the values Python tarfile reads field by field (name, mode, owner, size, mtime, type, links, pax)', () => {
  const out = packFixture();
  const got = JSON.parse(execFileSync('python3', ['-c', PY_HEADERS, path.join(out, 'kubernetes-server-linux-amd64.tar.gz')], { encoding: 'utf8' }));
  // Regenerate only on purpose (a tar-stream upgrade that changes bytes is a format change): see the fixture's name.
  const expected = JSON.parse(readFileSync(path.join(FIXTURES, 'release-stage.tar-headers.json'), 'utf8'));
  assert.equal(got, expected);
});

test('a second run over an existing release-tars replaces it and leaves no temporary files', () => {
  const out = packFixture();
  const parent = path.dirname(out);
  execFileSync(process.execPath, [path.resolve('dist/cli/main.js'), 'package', '--stage', path.join(parent, 'stage'), '--out', out, '--no-source', '--mtime', '2024-01-02T03:04:05Z'], { stdio: 'pipe' });
  assert.not.ok(existsSync(path.join(out, 'kubernetes-src.tar.gz')));
  assert.equal(readdirSync(parent).sort(), ['out', 'stage']);
  writeFileSync(path.join(parent, 'marker'), '');
});

test.run();
