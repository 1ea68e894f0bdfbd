import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, copyFile, link, mkdir, readFile, rename, rm } from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { KreproError } from '../errors.js';
import { hashFile, HashStream } from '../integrity/hash-stream.js';
import { runLogged } from '../process/run.js';
import type { EnvironmentLock, LockedPackage } from './lock.js';

export interface FetchOptions {
  /** mirror name → URL, overriding the lock's (e.g. a snapshot.debian.org URL for an old lock) */
  mirrors?: Record<string, string>;
  /** content-addressed store of verified .debs (`<sha256>.deb`), reused across builds; absent: download all */
  packageCache?: string;
  onLog?: (line: string) => void;
  signal?: AbortSignal;
}

const PARALLEL_DOWNLOADS = 4;

function packageUrl(lock: EnvironmentLock, p: LockedPackage, mirrors: Record<string, string> | undefined): string {
  const base = (mirrors?.[p.mirror] ?? lock.mirrors[p.mirror]!).replace(/\/*$/, '/');
  return base + p.filename.split('/').map(encodeURIComponent).join('/');
}

/** `20261130T021541Z`: a snapshot.debian.org timestamp one hour after a suite's Release, when its packages were published. */
function snapshotAfter(date: string): string {
  return new Date(Date.parse(date) + 3600_000).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

function unavailableError(lock: EnvironmentLock, missing: { p: LockedPackage; url: string; why: string }[]): KreproError {
  const lines = missing.map(({ p, url, why }) => `  ${p.name} ${p.version} (${p.architecture}): ${url}: ${why}`);
  const hints = [...new Set(missing.map(({ p }) => p.mirror))].map((mirror) => {
    const dates = lock.sources.filter((s) => s.mirror === mirror).map((s) => s.date).sort();
    return `--mirror ${mirror}=http://snapshot.debian.org/archive/${mirror}/${snapshotAfter(dates[dates.length - 1] ?? new Date(lock.sourceDateEpoch * 1000).toISOString())}/`;
  });
  return new KreproError(
    'E_PACKAGE_UNAVAILABLE',
    `${missing.length} locked package${missing.length === 1 ? ' is' : 's are'} not on the mirror:\n${lines.join('\n')}\n` +
      `The mirror no longer has the locked versions. Point at a mirror that does, e.g. snapshot.debian.org as of the lock: ${hints.join(' ')} ` +
      '(any snapshot taken while these versions were current works), or re-lock with krepro env lock.',
  );
}

/**
 * Downloads every locked .deb into `dir` (named as in the pool) and checks each against the lock's size and
 * SHA-256 before it is used; a verified cache entry is reused, re-hashed. A package the mirror does not have is
 * collected, and all of them are reported at once with the option to point at another mirror.
 */
export async function fetchPackages(lock: EnvironmentLock, dir: string, opts: FetchOptions = {}): Promise<void> {
  // Modes set explicitly, whatever the umask: apt's _apt user reads the repository (see makeEnvironmentRootfs).
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await chmod(dir, 0o755);
  if (opts.packageCache) await mkdir(opts.packageCache, { recursive: true });
  const log = opts.onLog ?? (() => {});
  const missing: { p: LockedPackage; url: string; why: string }[] = [];
  let next = 0;
  let downloaded = 0;
  let bytes = 0;
  const worker = async (): Promise<void> => {
    while (next < lock.packages.length) {
      const p = lock.packages[next++]!;
      opts.signal?.throwIfAborted();
      const dest = path.join(dir, path.posix.basename(p.filename));
      const cached = opts.packageCache ? path.join(opts.packageCache, `${p.sha256}.deb`) : undefined;
      if (cached && (await sha256OfFile(cached).catch(() => undefined)) === p.sha256) {
        await link(cached, dest).catch(() => copyFile(cached, dest));
        await chmod(dest, 0o644);
        continue;
      }
      const url = packageUrl(lock, p, opts.mirrors);
      const why = await download(url, p, dest, opts.signal);
      if (why !== undefined) {
        missing.push({ p, url, why });
        continue;
      }
      downloaded++;
      bytes += p.size;
      // A torn copy (another file system, a crash) is caught by the re-hash on reuse.
      if (cached) await link(dest, cached).catch(() => copyFile(dest, cached));
    }
  };
  await Promise.all(Array.from({ length: PARALLEL_DOWNLOADS }, worker));
  if (missing.length > 0) throw unavailableError(lock, missing);
  log(`packages: ${lock.packages.length} verified against the lock (${downloaded} downloaded, ${(bytes / 1e6).toFixed(1)} MB)`);
}

/** Downloads one .deb through its SHA-256; a wrong digest is an error, an unavailable file is returned as why. */
async function download(url: string, p: LockedPackage, dest: string, signal: AbortSignal | undefined): Promise<string | undefined> {
  let response: Response;
  try {
    response = await fetch(url, signal ? { signal } : {});
  } catch (cause) {
    signal?.throwIfAborted();
    return `cannot be fetched: ${((cause as Error).cause as Error | undefined)?.message ?? (cause as Error).message}`;
  }
  if (!response.ok || !response.body) return `HTTP ${response.status} ${response.statusText}`;
  const temp = `${dest}.partial-${randomBytes(4).toString('hex')}`;
  const hash = new HashStream();
  try {
    await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>), hash, createWriteStream(temp, { mode: 0o644 }), signal ? { signal } : {});
    await chmod(temp, 0o644);
    const { size, digests } = hash.result();
    const digest = digests.sha256;
    if (digest !== p.sha256 || size !== p.size) {
      throw new KreproError(
        'E_PACKAGE_MISMATCH',
        `${p.name} ${p.version} from ${url} is not the locked file: SHA-256 ${digest} (${size} bytes), the lock has ${p.sha256} (${p.size} bytes). The mirror serves other bytes under this name; use another mirror (--mirror) or re-lock.`,
      );
    }
    await rename(temp, dest);
    return undefined;
  } finally {
    await rm(temp, { force: true });
  }
}

async function sha256OfFile(file: string): Promise<string> {
  return (await hashFile(file)).digests.sha256;
}

/**
 * Turns a directory of verified .debs into a flat apt repository with Debian's apt-ftparchive: Packages (whose
 * SHA256 fields are then checked against the lock, so apt's own check is against the lock's digests) and a Release
 * naming the suite, which mmdebstrap's package selection matches on.
 */
export async function makeLocalRepository(lock: EnvironmentLock, dir: string, opts: { onLog?: (line: string) => void; signal?: AbortSignal } = {}): Promise<void> {
  const log = opts.onLog ?? (() => {});
  // Index files are written into the repository itself, as apt expects of a flat repository; Release's patterns
  // (Packages*, Sources*, …) never match the Release being written.
  const ftparchive = async (args: string[], out: string): Promise<void> => {
    const exit = await runLogged('sh', ['-c', 'umask 022 && cd "$1" && shift && exec apt-ftparchive "$@" > "$0"', out, dir, ...args], log, { env: { PATH: '/usr/bin:/bin', LC_ALL: 'C.UTF-8' }, ...(opts.signal ? { signal: opts.signal } : {}) });
    if (exit.error !== undefined || exit.code !== 0) {
      throw new KreproError('E_ENVIRONMENT', `apt-ftparchive ${args[0]} failed (${exit.code === 127 ? 'apt-utils is not installed' : `exit ${exit.code ?? exit.signal}`}): ${exit.tail.join('\n')}`);
    }
  };
  const packagesFile = path.join(dir, 'Packages');
  await ftparchive(['packages', '.'], packagesFile);
  const indexed = new Map<string, string>();
  for (const stanza of (await readFile(packagesFile, 'utf8')).split('\n\n')) {
    const file = /^Filename: \.\/(.+)$/m.exec(stanza)?.[1];
    const sha = /^SHA256: ([0-9a-f]{64})$/m.exec(stanza)?.[1];
    if (file && sha) indexed.set(file, sha);
  }
  for (const p of lock.packages) {
    const sha = indexed.get(path.posix.basename(p.filename));
    if (sha !== p.sha256) throw new KreproError('E_PACKAGE_MISMATCH', `the local index has ${p.name} ${p.version} as ${sha ?? 'missing'}, the lock as ${p.sha256}`);
  }
  const release = ['-o', `APT::FTPArchive::Release::Suite=${lock.suite}`, '-o', `APT::FTPArchive::Release::Codename=${lock.suite}`, 'release', '.'];
  await ftparchive(release, path.join(dir, 'Release'));
}
