import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pack } from 'tar-stream';
import { sortByBytes } from '../byte-order.js';
import type { StateNames } from '../checkout/names.js';
import type { Engine, ImageInfo } from '../engine/engine.js';
import { KreproError } from '../errors.js';

/** Proxy settings for builds; passed to the engine only as predefined build args, never stored in an image. */
export interface ProxySettings {
  /** http_proxy, e.g. `http://proxy:3128`. Default: none. */
  http?: string;
  /** https_proxy. Default: none. */
  https?: string;
  /** no_proxy: hosts reached directly, comma-separated. Default: none. */
  no?: string;
}

export interface BuildImageOptions {
  names: StateNames;
  /** Directory holding the build image's Dockerfile (krepro's build-image/). */
  dockerfileDir: string;
  /** Where the context sent to the engine is written, e.g. `_output/images/<image with : as _>`; krepro owns it. */
  contextDir: string;
  /** Local image the Dockerfile starts FROM (its BASE_IMAGE build arg), e.g. `krepro-base:trixie`. */
  baseImage: string;
  proxies?: ProxySettings;
  onLog?: (line: string) => void;
  signal?: AbortSignal;
}

/** Set on the build image: the hash of everything it was built from, so an unchanged context is never rebuilt. */
export const LABEL_CONTEXT_HASH = 'io.krepro.context-hash';

/** What the Dockerfile needs, and so all that is sent: nothing else from the repository reaches the engine. */
const CONTEXT_FILES = ['Dockerfile'];

/**
 * The environment entries a container needs for these proxies, in both spellings: tools disagree on which they
 * read (curl ignores upper-case HTTP_PROXY, other tools read only upper case).
 */
export function proxyEnv(p: ProxySettings): string[] {
  const env: string[] = [];
  for (const [name, value] of [
    ['http_proxy', p.http],
    ['https_proxy', p.https],
    ['no_proxy', p.no],
  ] as const) {
    if (value === undefined || value === '') continue;
    env.push(`${name}=${value}`, `${name.toUpperCase()}=${value}`);
  }
  return env;
}

/**
 * Hides proxy credentials in text meant for logs or errors: each proxy URL, its `user:password@` part and the
 * password alone (raw and percent-decoded), since tools print proxies in all of these forms. no_proxy is a list of
 * host names, not a secret, and is left alone.
 */
export function redact(text: string, p: ProxySettings): string {
  let out = text;
  for (const [secret, replacement] of secretsOf(p)) out = out.split(secret).join(replacement);
  return out;
}

function secretsOf(p: ProxySettings): [string, string][] {
  const found = new Map<string, string>();
  for (const value of [p.http, p.https]) {
    if (value === undefined || value === '') continue;
    found.set(value, '***');
    const userinfo = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)@/.exec(value)?.[1];
    if (userinfo === undefined) continue;
    found.set(`${userinfo}@`, '***@');
    const colon = userinfo.indexOf(':');
    const password = colon < 0 ? '' : userinfo.slice(colon + 1);
    if (password === '') continue;
    found.set(password, '***');
    try {
      found.set(decodeURIComponent(password), '***');
    } catch {
      // Not valid percent-encoding: the raw form above is the one tools print.
    }
  }
  // Longest first: a whole URL is replaced before its parts, which would otherwise break the match.
  return [...found].sort(([a], [b]) => b.length - a.length);
}

/**
 * Makes `names.image` from the Dockerfile in `dockerfileDir` on top of `baseImage`, unless an image with that tag
 * already carries the same context hash (the context files plus the base image's ID). Unlike upstream's
 * build/common.sh, which writes a random rsync password into the context and so rebuilds every time, an unchanged
 * context is a no-op here.
 */
export async function ensureBuildImage(engine: Engine, opts: BuildImageOptions): Promise<{ imageId: string; rebuilt: boolean }> {
  opts.signal?.throwIfAborted();
  const { names, baseImage } = opts;
  const proxies = opts.proxies ?? {};
  const log = (line: string): void => opts.onLog?.(redact(line, proxies));
  const fail = (message: string, extra: { cause?: unknown; path?: string } = {}): KreproError =>
    new KreproError('E_BUILD_IMAGE', redact(`build image ${names.image}: ${message}`, proxies), extra);

  const files = await contextFiles(opts.dockerfileDir);
  // Written even when no build follows, so the directory always shows what the current image is made from.
  await writeContextDir(opts.contextDir, files).catch((cause: unknown) => {
    throw fail(`writing the build context: ${(cause as Error).message}`, { cause, path: opts.contextDir });
  });
  const call = opts.signal ? { signal: opts.signal } : {};
  const baseId = (await engine.images.inspect(baseImage, call))?.id;
  if (baseId === undefined) {
    throw new KreproError('E_BASE_IMAGE', `base image ${baseImage} does not exist on the engine; make it with \`krepro base-image --tag ${baseImage}\``);
  }
  const hash = contextHash(files, baseId);

  const existing: ImageInfo | undefined = await engine.images.inspect(names.image, call);
  if (existing !== undefined && existing.labels[LABEL_CONTEXT_HASH] === hash) {
    log(`build image ${names.image} is up to date (context ${hash.slice(0, 12)})`);
    return { imageId: existing.id, rebuilt: false };
  }

  log(`building ${names.image} from ${baseImage} (context ${hash.slice(0, 12)})`);

  const buildargs: Record<string, string> = { BASE_IMAGE: baseImage };
  // Docker's predefined proxy args: RUN steps see them, but history and the image config do not record them as long
  // as the Dockerfile does not declare them with ARG.
  for (const entry of proxyEnv(proxies)) {
    const eq = entry.indexOf('=');
    buildargs[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  // A Buffer, not dockerode's {context, src}: that path re-tars with tar-fs and gzip, with host mtimes and owners.
  const result = await engine.images.build(await contextTar(files), {
    tag: names.image,
    buildargs,
    labels: { ...names.labels, [LABEL_CONTEXT_HASH]: hash },
    onLog: log,
    ...call,
  });
  opts.signal?.throwIfAborted();
  if (result.errors.length > 0) {
    throw fail(`${result.errors.join('; ')}\n${result.tail.join('\n')}`, { path: opts.contextDir });
  }

  const built = await engine.images.inspect(names.image, call);
  if (built === undefined || built.labels[LABEL_CONTEXT_HASH] !== hash) {
    throw fail(`the engine reported success but ${names.image} is missing or is not the image just built`);
  }
  if (existing !== undefined && existing.id !== built.id) {
    // The replaced image lost its tag; without this every rebuild would leave one behind. Not forced: a container
    // still using it keeps it.
    await engine.images.remove(existing.id).catch((err: unknown) => log(`note: could not remove the replaced image ${existing.id}: ${(err as Error).message}`));
  }
  return { imageId: built.id, rebuilt: true };
}

interface ContextFile {
  name: string;
  data: Buffer;
}

async function contextFiles(dockerfileDir: string): Promise<ContextFile[]> {
  const files: ContextFile[] = [];
  for (const name of CONTEXT_FILES) {
    const file = join(dockerfileDir, name);
    try {
      files.push({ name, data: await readFile(file) });
    } catch (cause) {
      throw new KreproError('E_BUILD_IMAGE', `cannot read ${file}: ${(cause as Error).message}`, { cause, path: file });
    }
  }
  return sortByBytes(files, (f) => f.name);
}

/** sha256 over each file's name, length and bytes (sorted) and the base image ID; lengths keep boundaries unambiguous. */
function contextHash(files: ContextFile[], baseId: string): string {
  const h = createHash('sha256').update('krepro-build-context/1\0');
  for (const f of files) h.update(`${f.name}\0${f.data.length}\0`).update(f.data);
  return h.update(`base\0${baseId}`).digest('hex');
}

/** Leaves exactly the context files in the directory: a file an older Dockerfile needed would mislead a reader. */
async function writeContextDir(dir: string, files: ContextFile[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  const keep = new Set(files.map((f) => f.name));
  for (const entry of await readdir(dir)) {
    if (!keep.has(entry)) await rm(join(dir, entry), { recursive: true, force: true });
  }
  for (const f of files) await writeFile(join(dir, f.name), f.data);
}

/** The context as a tar with fixed owners, modes and mtimes, so equal inputs send equal bytes. */
async function contextTar(files: ContextFile[]): Promise<Buffer> {
  const tar = pack();
  for (const f of files) {
    // new Date(0), not 0: tar-stream replaces a falsy mtime with the current time.
    tar.entry({ name: f.name, size: f.data.length, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0, uname: '', gname: '', type: 'file' }, f.data);
  }
  tar.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of tar) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
