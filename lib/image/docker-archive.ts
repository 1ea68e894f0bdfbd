import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { KreproError } from '../errors.js';
import { parseJson } from '../quote.js';

/** Makes the error for one archive: `what` completes "<the archive> …" (the caller knows whether it is a base, a staged image…). */
export type ArchiveError = (what: string, cause?: unknown) => KreproError;

interface Member {
  type: string;
  linkname?: string;
}

/** manifest.json, index.json, configs and OCI manifests are small; anything larger is not read into memory. */
export const MAX_JSON_BYTES = 4 << 20;
const MAX_LINK_HOPS = 32;

/** The one image of a docker-archive's manifest.json: member names as written there (resolve them with the archive). */
export interface ArchiveImage {
  config: string;
  layers: string[];
  repoTags: string[];
}

/**
 * A docker-archive or OCI layout tarball (`docker save`, Docker 20.10 and ≥ 25 layouts alike) after one sequential
 * pass: every member's type and link, and the small members that are JSON. Layers are not read: a second pass
 * (scanTar) streams the ones the caller needs, as the archive is not seekable and manifest.json may come last.
 */
export class DockerArchive {
  private constructor(
    readonly tarball: string,
    readonly fail: ArchiveError,
    private readonly members: Map<string, Member>,
    private readonly docs: Map<string, Buffer>,
  ) {}

  static async read(tarball: string, fail: ArchiveError, signal?: AbortSignal): Promise<DockerArchive> {
    const st = await stat(tarball).catch(() => undefined);
    if (!st?.isFile()) throw fail('does not exist or is not a file (expected a docker-archive tarball, as `docker save` writes)');
    const members = new Map<string, Member>();
    const docs = new Map<string, Buffer>();
    await scanTar(tarball, fail, signal, async (name, header, entry) => {
      members.set(name, { type: header.type ?? 'file', ...(header.linkname ? { linkname: header.linkname } : {}) });
      if (header.type === 'file' && (header.size ?? 0) <= MAX_JSON_BYTES) {
        const doc = await jsonOrNothing(entry);
        if (doc) docs.set(name, doc);
      } else {
        await drain(entry);
      }
    });
    return new DockerArchive(tarball, fail, members, docs);
  }

  /** manifest.json's single image; `role` says why exactly one is needed ("a base", "a staged server image"). */
  singleImage(role: string): ArchiveImage {
    const manifest = this.json('manifest.json', 'the docker-archive manifest');
    if (!Array.isArray(manifest) || manifest.length !== 1) {
      throw this.fail(`holds ${Array.isArray(manifest) ? manifest.length : 'no list of'} images in manifest.json; ${role} must hold exactly one`);
    }
    const item = manifest[0] as { Config?: unknown; Layers?: unknown; RepoTags?: unknown };
    if (typeof item.Config !== 'string' || !Array.isArray(item.Layers) || !item.Layers.every((l) => typeof l === 'string')) {
      throw this.fail('has a manifest.json entry without a Config path and a list of Layers');
    }
    const repoTags = Array.isArray(item.RepoTags) ? item.RepoTags.filter((t): t is string => typeof t === 'string') : [];
    return { config: item.Config, layers: item.Layers as string[], repoTags };
  }

  /** Follows symlinks and hard links (Docker 20.10 links a repeated layer to its first copy) to a regular member. */
  resolve(ref: string, what: string): string {
    let name = memberName(ref);
    for (let hop = 0; hop < MAX_LINK_HOPS; hop++) {
      const m = this.members.get(name);
      if (!m) throw this.fail(`has no ${ref} (${what})`);
      if (m.type === 'file') return name;
      if ((m.type !== 'symlink' && m.type !== 'link') || m.linkname === undefined) throw this.fail(`has ${ref} (${what}) as a ${m.type}, not a file`);
      const target = m.type === 'symlink' ? path.posix.join(path.posix.dirname(name), m.linkname) : m.linkname;
      if (path.posix.isAbsolute(target) || memberName(target).startsWith('../')) throw this.fail(`has ${ref} (${what}) linking outside the archive: ${m.linkname}`);
      name = memberName(target);
    }
    throw this.fail(`has a link loop at ${ref} (${what})`);
  }

  has(ref: string): boolean {
    return this.members.has(memberName(ref));
  }

  bytes(ref: string, what: string): Buffer {
    const name = this.resolve(ref, what);
    const doc = this.docs.get(name);
    if (!doc) throw this.fail(`has ${ref} (${what}), but it is not a JSON document of at most ${MAX_JSON_BYTES} bytes`);
    return doc;
  }

  json(ref: string, what: string): unknown {
    return this.parse(this.bytes(ref, what), ref);
  }

  /** Parsed, or an error that says where and why in words: a member's bytes are anyone's and never printed. */
  parse(bytes: Buffer, ref: string): unknown {
    return parseJson(bytes.toString('utf8'), (where) => this.fail(`has ${ref}, which is not valid JSON: ${where}`));
  }
}

/** Member names as `docker load` resolves them: relative, no `./`, no trailing `/`. */
export function memberName(name: string): string {
  const normalized = path.posix.normalize(name.replace(/^(\.\/)+/, '')).replace(/\/+$/, '');
  return normalized === '.' ? '' : normalized;
}

async function jsonOrNothing(entry: AsyncIterable<Buffer>): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let isJson: boolean | undefined;
  for await (const chunk of entry) {
    isJson ??= /^\s*[[{]/.test(chunk.subarray(0, 64).toString('latin1'));
    if (isJson) chunks.push(chunk);
  }
  return isJson ? Buffer.concat(chunks) : undefined;
}

export async function drain(entry: AsyncIterable<Buffer>): Promise<void> {
  for await (const _ of entry) {
    // discard
  }
}

/** Streams the members of a tar file to `onEntry`, which must consume each; any failure names the tarball. */
export async function scanTar(
  tarball: string,
  fail: ArchiveError,
  signal: AbortSignal | undefined,
  onEntry: (name: string, header: tar.Header, entry: AsyncIterable<Buffer>) => Promise<void>,
): Promise<void> {
  const source = createReadStream(tarball);
  const extract = tar.extract();
  const feeding = pipeline(source, extract as unknown as NodeJS.WritableStream, signal ? { signal } : {}).then(
    () => undefined,
    (err: unknown) => err,
  );
  try {
    for await (const entry of extract) await onEntry(memberName(entry.header.name), entry.header, entry as unknown as AsyncIterable<Buffer>);
    const err = await feeding;
    if (err !== undefined) throw err;
  } catch (err) {
    signal?.throwIfAborted();
    throw err instanceof KreproError ? err : fail(`cannot be read as a tar archive: ${(err as Error).message}`, err);
  } finally {
    source.destroy();
    extract.destroy();
  }
}
