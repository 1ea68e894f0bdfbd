import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import type { Engine } from '../engine/engine.js';
import { KreproError } from '../errors.js';
import { removeTree } from '../process/remove-tree.js';
import { runLogged, waitExit } from '../process/run.js';
import { quote } from '../quote.js';

/** What makeBaseImage makes with debootstrap. */
export interface BaseImageOptions {
  /** Debian suite for debootstrap, e.g. 'trixie'. */
  suite: string;
  /** Image reference to create, e.g. 'krepro-base:trixie'. */
  tag: string;
  /** Extra Debian packages (debootstrap --include). */
  include?: string[];
  /** Debian mirror URL; debootstrap's default (deb.debian.org) when absent. */
  mirror?: string;
  /** Directory under which a temporary root filesystem is made; it must allow device nodes (not a nodev mount). */
  workDir: string;
  /** Each line of debootstrap's output. */
  onLog?: (line: string) => void;
  /** Aborts the build; nothing is left behind. */
  signal?: AbortSignal;
}

const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const SUITE_RE = /^[a-z0-9][a-z0-9.-]*$/;
// Debian policy for package names; also keeps a name from being read as a debootstrap option.
const PACKAGE_RE = /^[a-z0-9][a-z0-9+.-]+$/;
const LOG_TAIL = 20;

/**
 * Makes a minimal Debian image with debootstrap and imports it into the engine, unless `tag` already exists.
 * Returns the image id (sha256:…). Needs root (debootstrap) and a reachable engine.
 */
export async function makeBaseImage(engine: Engine, opts: BaseImageOptions): Promise<string> {
  const { suite, tag } = opts;
  const include = opts.include ?? [];
  const log = opts.onLog ?? (() => {});
  if (!SUITE_RE.test(suite)) throw new KreproError('E_USAGE', `invalid Debian suite name ${quote(suite)}`);
  for (const name of include) {
    if (!PACKAGE_RE.test(name)) throw new KreproError('E_USAGE', `invalid Debian package name ${quote(name)} in --include`);
  }
  if (opts.mirror !== undefined && !/^(https?|file):\/\//.test(opts.mirror)) {
    throw new KreproError('E_USAGE', `mirror must be an http://, https:// or file:// URL, got ${quote(opts.mirror)}`);
  }
  const { repo, imageTag } = splitTag(tag);
  const fail = (step: string, message: string, cause?: unknown, path?: string): KreproError =>
    new KreproError('E_BASE_IMAGE', `base image ${tag} (suite ${suite}): ${step}: ${message}`, {
      ...(cause === undefined ? {} : { cause }),
      ...(path === undefined ? {} : { path }),
    });

  const existing = (await engine.images.inspect(tag, opts.signal ? { signal: opts.signal } : {}))?.id;
  if (existing !== undefined) {
    log(`image ${tag} already present (${existing}); not rebuilding`);
    return existing;
  }
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw fail('debootstrap', 'needs root (it creates device nodes and chroots)');
  }

  await mkdir(opts.workDir, { recursive: true });
  // realpath: mount points in /proc/self/mountinfo are canonical, and cleanup compares against them.
  const dir = await realpath(await mkdtemp(join(opts.workDir, `krepro-rootfs-${suite}-`)));
  try {
    const args = ['--variant=minbase', ...(include.length > 0 ? [`--include=${include.join(',')}`] : []), suite, dir];
    if (opts.mirror !== undefined) args.push(opts.mirror);
    log(`debootstrap ${args.join(' ')}`);
    const started = Date.now();
    const boot = await runLogged('debootstrap', args, log, opts.signal ? { signal: opts.signal } : {});
    if (boot.error !== undefined || boot.code !== 0) {
      const detail = boot.error !== undefined ? boot.error.message : `exit ${boot.code ?? boot.signal}`;
      const extra = await readTail(join(dir, 'debootstrap', 'debootstrap.log'));
      throw fail('debootstrap', `${detail}\n${[...boot.tail, ...(extra.length > 0 ? ['--- debootstrap.log:', ...extra] : [])].join('\n')}`, boot.error, dir);
    }
    log(`debootstrap done in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    const importStarted = Date.now();
    const id = await importRootfs(engine, dir, { repo, imageTag, suite, include, signal: opts.signal, fail });
    log(`imported ${tag} as ${id} in ${((Date.now() - importStarted) / 1000).toFixed(1)} s`);
    return id;
  } finally {
    await removeTree(dir, log);
  }
}

interface ImportContext {
  repo: string;
  imageTag: string;
  suite: string;
  include: string[];
  signal: AbortSignal | undefined;
  fail: (step: string, message: string, cause?: unknown, path?: string) => KreproError;
}

/** Streams `tar -c` of the rootfs into the engine's image import and returns the new image id. */
async function importRootfs(engine: Engine, dir: string, ctx: ImportContext): Promise<string> {
  const { fail } = ctx;
  // --numeric-owner: owner names would come from the host's passwd, not the rootfs's; store the numbers only.
  // --one-file-system: never archive a mount left inside the rootfs (e.g. /proc after an interrupted run).
  const tar = spawn('tar', ['--numeric-owner', '--one-file-system', '-C', dir, '-c', '.'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(ctx.signal === undefined ? {} : { signal: ctx.signal }),
  });
  const tarDone = waitExit(tar);
  const tarErr: string[] = [];
  tar.stderr!.setEncoding('utf8').on('data', (s: string) => tarErr.push(s));
  let id: string | undefined;
  let importError: unknown;
  try {
    id = await engine.images.importRootfs(tar.stdout!, {
      repo: ctx.repo,
      tag: ctx.imageTag,
      // Imported images have an empty config; give them what `docker run IMAGE cmd` users expect.
      changes: [`ENV ${PATH_ENV}`, 'CMD ["/bin/bash"]', `LABEL io.krepro.base-image.suite=${ctx.suite}`, `LABEL io.krepro.base-image.include=${ctx.include.join(',') || '-'}`],
      message: `krepro base-image: debootstrap --variant=minbase ${ctx.suite}`,
      ...(ctx.signal === undefined ? {} : { signal: ctx.signal }),
    });
  } catch (cause) {
    tar.kill();
    importError = cause;
  }
  const exit = await tarDone;
  if (exit.error !== undefined || exit.code !== 0) {
    // A tar that failed part-way may still have produced a valid but incomplete archive: drop what was imported.
    if (id !== undefined) await engine.images.remove(id, { force: true }).catch(() => {});
    const detail = exit.error?.message ?? `exit ${exit.code ?? exit.signal}`;
    throw fail('tar of root filesystem', `${detail}: ${tarErr.join('').trim().split('\n').slice(-LOG_TAIL).join('\n')}`, exit.error, dir);
  }
  if (importError !== undefined || id === undefined) throw fail('import into engine', (importError as Error)?.message ?? 'no image', importError);
  return id;
}

/** Splits `name[:tag]`; a ':' before the last '/' is a registry port, not a tag. */
function splitTag(ref: string): { repo: string; imageTag: string } {
  const colon = ref.lastIndexOf(':');
  if (colon > ref.lastIndexOf('/')) {
    const repo = ref.slice(0, colon);
    const imageTag = ref.slice(colon + 1);
    if (repo !== '' && /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(imageTag)) return { repo, imageTag };
  } else if (ref !== '') {
    return { repo: ref, imageTag: 'latest' };
  }
  throw new KreproError('E_USAGE', `invalid image tag ${quote(ref)} (expected name:tag)`);
}

async function readTail(file: string): Promise<string[]> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-LOG_TAIL);
  } catch {
    return [];
  }
}
