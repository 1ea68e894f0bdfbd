import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { mapDiskFull } from '../disk-full.js';
import { KreproError } from '../errors.js';
import type { Artifact } from '../integrity/artifact.js';
import { HashStream } from '../integrity/hash-stream.js';
import type { ArchivePolicy, Entry } from './entry.js';
import { type GzipEncoder, type GzipSpec, PinnedGzip } from './gzip.js';
import { MAX_MTIME, tarHeader } from './header.js';
import { appendEntry, appendFile } from './tar-sink.js';

/** How writeTarball compresses and reports. */
export interface PackOptions {
  /** The pinned gzip format and level (1-9) of the output. */
  gzip: GzipSpec;
  /** a shared encoder (workers started once for many tarballs); otherwise each tarball starts its own */
  encoder?: GzipEncoder;
  /** Aborts the write; the destination is then left as it was. */
  signal?: AbortSignal;
  /** Called with the number of uncompressed bytes just read from a source file. */
  onBytes?: (n: number) => void;
}

/** A file written atomically: an Artifact before the caller names it. */
export type WrittenFile = Omit<Artifact, 'name'>;

/** Streams the entries as a tar into `pack`, reading each file once and checking it did not change meanwhile. */
async function feedTar(pack: tar.Pack, entries: Entry[], policy: ArchivePolicy, onBytes?: (n: number) => void): Promise<void> {
  if (!Number.isInteger(policy.mtime) || policy.mtime < 0 || policy.mtime > MAX_MTIME) {
    throw new KreproError('E_SOURCE_DATE_EPOCH', `archive mtime must be a whole number of seconds from 0 to ${MAX_MTIME}, got ${policy.mtime}`);
  }
  for (const entry of entries) {
    const header = tarHeader(entry, policy);
    if (entry.type === 'file') await appendFile(pack, header, entry.source, onBytes);
    else await appendEntry(pack, header, '');
  }
  pack.finalize();
}

/** The uncompressed tar of `entries` as a stream (also what `diff` and tests compare). */
export function tarStream(entries: Entry[], policy: ArchivePolicy, onBytes?: (n: number) => void): Readable {
  const pack = tar.pack();
  feedTar(pack, entries, policy, onBytes).catch((err: unknown) => pack.destroy(err as Error));
  return pack as unknown as Readable;
}

/**
 * Writes entries as a pinned-gzip tarball to `dest`: tar → gzip → hash → temporary file → rename. On any failure
 * the temporary file is removed and `dest` is untouched.
 */
export async function writeTarball(entries: Entry[], policy: ArchivePolicy, dest: string, opts: PackOptions): Promise<WrittenFile> {
  const gzip = new PinnedGzip(opts.gzip, opts.encoder ? { encoder: opts.encoder } : {});
  const hash = new HashStream();
  const input = { bytes: entries.reduce((sum, e) => sum + (e.type === 'file' ? e.size : 0), 0), what: 'the files it packs hold' };
  return writeAtomically(dest, (out) => pipeline(tarStream(entries, policy, opts.onBytes), gzip, hash, out, opts.signal ? { signal: opts.signal } : {}), hash, input);
}

/**
 * Writes a stream's bytes through `hash` to a temporary sibling of `dest`, then renames it into place. A full disk
 * is E_NO_SPACE naming `dest`, the bytes written and `needed` (what is known of the size); the temporary file is
 * removed and `dest` is untouched.
 */
export async function writeAtomically(
  dest: string,
  write: (out: NodeJS.WritableStream) => Promise<void>,
  hash: HashStream,
  needed?: { bytes: number; what: string },
): Promise<WrittenFile> {
  const temp = path.join(path.dirname(dest), `.${path.basename(dest)}.partial-${randomBytes(6).toString('hex')}`);
  const out = createWriteStream(temp, { mode: 0o644 });
  const context = () => ({ target: dest, written: out.bytesWritten, ...(needed ? { needed } : {}), kept: `${dest} was left as it was and the partial file was removed` });
  await mapDiskFull(context, async () => {
    try {
      await write(out);
      await rename(temp, dest);
    } catch (err) {
      out.destroy();
      await rm(temp, { force: true });
      throw err;
    }
  });
  return { path: dest, ...hash.result() };
}

/** Writes a small in-memory file (checksums, manifests) atomically, hashed like every other artifact. */
export async function writeSmallFile(dest: string, content: string | Buffer): Promise<WrittenFile> {
  const hash = new HashStream();
  return writeAtomically(dest, (out) => pipeline([Buffer.from(content)], hash, out), hash);
}
