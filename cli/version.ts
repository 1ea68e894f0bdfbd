import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { LIBDEFLATE_VERSION, LIBDEFLATE_WASM_SHA256 } from '../lib/api/archive.js';
import { lockDigest, readLock } from '../lib/api/environment.js';
import { CURRENT_GZIP_FORMAT } from '../lib/api/package.js';
import { KREPRO_VERSION } from '../lib/index.js';
import { libdeflateWasmPath } from '../lib/archive/libdeflate.js';
import { defaultLockFile } from './env.js';

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/**
 * `krepro --version`: what decides the bytes krepro writes. krepro itself, the Node.js running it, the gzip format
 * it writes with the digest of its WebAssembly encoder (checked against the installed file), and the digest of the
 * bundled environment lock that run, release and verify build in.
 */
export async function versionText(): Promise<string> {
  const wasm = libdeflateWasmPath();
  const installed = await sha256Of(wasm).catch((err: NodeJS.ErrnoException) => `unreadable (${err.code ?? err.message})`);
  const wasmState = installed === LIBDEFLATE_WASM_SHA256 ? 'the installed module matches' : `BUT the installed ${wasm} is ${installed}: reinstall krepro`;
  const lockFile = defaultLockFile();
  const lock = await readLock(lockFile).then(
    (l) => `${lockDigest(l)} (Debian ${l.suite} ${l.architecture}, ${l.packages.length} packages; ${lockFile})`,
    (err: Error) => `unreadable: ${err.message}`,
  );
  return [
    `krepro ${KREPRO_VERSION}`,
    `Node.js ${process.version} (${process.platform} ${process.arch}, V8 ${process.versions.v8})`,
    `gzip format ${CURRENT_GZIP_FORMAT}: libdeflate ${LIBDEFLATE_VERSION} in WebAssembly, sha256 ${LIBDEFLATE_WASM_SHA256} (${wasmState})`,
    `environment lock: ${lock}`,
  ].join('\n') + '\n';
}
