import { createHash } from 'node:crypto';
import { mkdtemp, readFile, realpath, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { writeSmallFile } from '../archive/pack.js';
import { byteOrder } from '../byte-order.js';
import { KreproError } from '../errors.js';
import { canonicalJson } from '../image/oci.js';
import { removeTree } from '../process/remove-tree.js';
import { mmdebstrapVersion, runMmdebstrap } from './mmdebstrap.js';
import { customizeHooks, ENVIRONMENT_CMD, ENVIRONMENT_WORKDIR, environmentEnv, environmentSettings, type EnvironmentImageSetting } from './settings.js';
import { effectiveMirrors, type EnvironmentSpec, PACKAGE_RE } from './spec.js';
import { parseJson, quote } from '../quote.js';

/** The lock's file name, beside the spec in build-image/. */
export const ENVIRONMENT_LOCK_FILE = 'environment.lock.json';
/** The lock's `$schema` (schemas/environment-lock.schema.json). */
export const ENVIRONMENT_LOCK_SCHEMA = 'https://krepro.dev/schemas/environment-lock/v1';

/** One Debian package of the environment, pinned to its exact .deb. */
export interface LockedPackage {
  /** The package name. */
  name: string;
  /** The exact Debian version. */
  version: string;
  /** Its architecture: the lock's, or `all`. */
  architecture: string;
  /** the key of `mirrors` it is downloaded from */
  mirror: string;
  /** path below the mirror, e.g. pool/main/m/make-dfsg/make_4.4.1-2_amd64.deb */
  filename: string;
  /** Size of the .deb in bytes. */
  size: number;
  /** SHA-256 of the .deb as the mirror's (signature-checked) Packages index gave it */
  sha256: string;
}

/** One apt source the lock resolved against. */
export interface LockedSource {
  /** The key of the lock's `mirrors` it is. */
  mirror: string;
  /** The suite, e.g. `trixie` or `trixie-updates`. */
  suite: string;
  /** Its components, e.g. `main`. */
  components: string[];
  /** the Date of the suite's InRelease when the lock was made */
  date: string;
}

/** Everything that enters the environment image: the packages, the hooks run after installing them, the config. */
export interface EnvironmentLock {
  /** Always ENVIRONMENT_LOCK_SCHEMA. */
  $schema: typeof ENVIRONMENT_LOCK_SCHEMA;
  /** The Debian suite, e.g. `trixie`. */
  suite: string;
  /** The Debian architecture, e.g. `amd64`. */
  architecture: string;
  /** mmdebstrap's variant (which packages are in the base). */
  variant: EnvironmentSpec['variant'];
  /** Mirror URLs by key; packages and sources name a key. */
  mirrors: Record<string, string>;
  /** The snapshot.debian.org timestamp the mirrors are pinned to, when they are. */
  snapshot?: string;
  /** The apt sources resolved against. */
  sources: LockedSource[];
  /** the newest InRelease Date of the sources: every mtime in the root filesystem and the image's `created` */
  sourceDateEpoch: number;
  /** what the spec asked for; the packages are their full closure */
  requested: { packages: string[]; locales: string[] };
  /** mmdebstrap's version when the lock was made; another version may lay out the root filesystem differently */
  tools: { mmdebstrap: string };
  /** Every package of the environment, in name order. */
  packages: LockedPackage[];
  /** mmdebstrap --customize-hook commands, in order ($1 is the root filesystem) */
  customize: string[];
  /** The image's environment variables (`NAME=value`), working directory and default command. */
  image: { env: string[]; workingDir: string; cmd: string[] };
  /** The settings the image holds (locale, time zone…), each with why. */
  settings: EnvironmentImageSetting[];
}

/** `sha256:<hex>` of the lock's canonical JSON (keys sorted, no whitespace): the name of an environment. */
export function lockDigest(lock: EnvironmentLock): string {
  return `sha256:${createHash('sha256').update(canonicalJson(lock)).digest('hex')}`;
}

function lockError(file: string, what: string): KreproError {
  return new KreproError('E_ENVIRONMENT', `environment lock ${file}: ${what} (regenerate it with krepro env lock)`, { path: file });
}

/** Checks a lock's fields (the JSON schema in schemas/environment-lock.schema.json says the same), naming the first wrong one. */
export function checkLock(value: unknown, file: string): EnvironmentLock {
  const l = (value ?? {}) as Partial<EnvironmentLock>;
  const bad = (what: string) => lockError(file, what);
  if (l.$schema !== ENVIRONMENT_LOCK_SCHEMA) throw bad(`"$schema" is ${quote(l.$schema)}, expected ${ENVIRONMENT_LOCK_SCHEMA}`);
  for (const k of ['suite', 'architecture', 'variant'] as const) if (typeof l[k] !== 'string') throw bad(`"${k}" is missing`);
  if (l.mirrors === null || typeof l.mirrors !== 'object') throw bad('"mirrors" is missing');
  if (!Array.isArray(l.sources) || l.sources.length === 0) throw bad('"sources" is missing');
  if (!Number.isInteger(l.sourceDateEpoch) || l.sourceDateEpoch! < 0) throw bad('"sourceDateEpoch" must be whole seconds');
  if (!Array.isArray(l.packages) || l.packages.length === 0) throw bad('"packages" is empty');
  for (const [i, p] of l.packages.entries()) {
    const where = `packages[${i}] (${JSON.stringify(p?.name)})`;
    if (typeof p?.name !== 'string' || !PACKAGE_RE.test(p.name)) throw bad(`${where} has no valid name`);
    if (typeof p.version !== 'string' || !/^[A-Za-z0-9.+~:-]+$/.test(p.version)) throw bad(`${where} has no valid version`);
    if (typeof p.architecture !== 'string' || typeof p.mirror !== 'string' || !(p.mirror in l.mirrors)) throw bad(`${where} names no mirror of "mirrors"`);
    if (typeof p.filename !== 'string' || !/^pool\/[^\0]+\.deb$/.test(p.filename) || p.filename.split('/').includes('..')) throw bad(`${where} has no pool/…/.deb filename`);
    if (!Number.isInteger(p.size) || p.size < 0) throw bad(`${where} has no size`);
    if (typeof p.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(p.sha256)) throw bad(`${where} has no SHA-256`);
  }
  if (!Array.isArray(l.customize) || !l.customize.every((h) => typeof h === 'string')) throw bad('"customize" must list shell commands');
  if (!l.image || !Array.isArray(l.image.env) || typeof l.image.workingDir !== 'string' || !Array.isArray(l.image.cmd)) throw bad('"image" must hold env, workingDir and cmd');
  if (!l.tools || typeof l.tools.mmdebstrap !== 'string') throw bad('"tools.mmdebstrap" is missing');
  return l as EnvironmentLock;
}

/** Reads and checks a lock file; E_ENVIRONMENT names the file and the first wrong field. */
export async function readLock(file: string): Promise<EnvironmentLock> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    const missing = (cause as NodeJS.ErrnoException).code === 'ENOENT';
    throw new KreproError('E_ENVIRONMENT', `cannot read environment lock ${file}: ${missing ? 'no such file (make it with krepro env lock)' : (cause as Error).message}`, { path: file, cause });
  }
  return checkLock(parseJson(text, (where) => lockError(file, `not valid JSON: ${where}`)), file);
}

/** Writes the lock readably (two-space JSON, fields in a fixed order) and atomically. */
export async function writeLock(file: string, lock: EnvironmentLock): Promise<void> {
  await writeSmallFile(file, `${JSON.stringify(lock, null, 2)}\n`);
}

/** How lockEnvironment resolves a spec. */
export interface LockOptions {
  /** where mmdebstrap's temporary root filesystem and the resolver's output go */
  workDir: string;
  /** the current lock: kept as it is when the new resolution has the same packages and settings */
  previous?: EnvironmentLock;
  /** environment for apt (http_proxy …); apt inside mmdebstrap honours it */
  env?: Record<string, string>;
  /** Each line of mmdebstrap's and apt's output. */
  onLog?: (line: string) => void;
  /** Aborts the resolution. */
  signal?: AbortSignal;
}

/** What lockEnvironment resolved. */
export interface LockResult {
  /** The lock to write. */
  lock: EnvironmentLock;
  /** false when `previous` already locks the same environment (only the archive dates moved) */
  changed: boolean;
}

/**
 * Resolves a spec into a lock: one mmdebstrap run against the mirror (apt resolves the closure and checks the
 * archive's signatures), whose customize hook records every installed package's version and, from apt's verified
 * index, its URL, size and SHA-256, and each suite's InRelease Date. Nothing is written to the output; the caller
 * writes the lock.
 */
export async function lockEnvironment(spec: EnvironmentSpec, opts: LockOptions): Promise<LockResult> {
  const mirrors = effectiveMirrors(spec);
  const sources = spec.sources.map((s) => ({ ...s, line: `deb ${mirrors[s.mirror]} ${s.suite} ${s.components.join(' ')}` }));
  const tools = { mmdebstrap: await mmdebstrapVersion() };
  // realpath: removeTree compares with mountinfo's canonical paths.
  const work = await realpath(await mkdtemp(path.join(opts.workDir, 'krepro-env-lock-')));
  try {
    // The hook runs on the host with the root filesystem as $1; apt-get download --print-uris answers from apt's
    // own, signature-checked index: 'URL' FILE SIZE SHA256:hex.
    const hook = path.join(work, 'record.sh');
    await writeFile(
      hook,
      [
        'set -eu',
        'root=$1 out=$2',
        `chroot "$root" dpkg-query -W -f='\${Package}=\${Version}\\n' | xargs chroot "$root" apt-get download --print-uris > "$out/uris"`,
        'for f in "$root"/var/lib/apt/lists/*_InRelease; do printf \'%s\\t%s\\n\' "${f##*/}" "$(sed -n \'s/^Date: //p\' "$f" | head -n 1)"; done > "$out/dates"',
        '',
      ].join('\n'),
    );
    await runMmdebstrap({
      suite: spec.suite,
      variant: spec.variant,
      architecture: spec.architecture,
      include: spec.packages,
      customizeHooks: [`sh '${hook}' "$1" '${work}'`],
      // snapshot.debian.org serves old Release files whose Valid-Until has passed
      aptOptions: spec.snapshot ? ['Acquire::Check-Valid-Until "false"'] : [],
      target: '/dev/null',
      sources: sources.map((s) => s.line),
      tempDir: work,
      ...(opts.env ? { env: opts.env } : {}),
      ...(opts.onLog ? { onLog: opts.onLog } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    const packages = parsePrintUris(await readFile(path.join(work, 'uris'), 'utf8'), mirrors);
    const dates = parseDates(await readFile(path.join(work, 'dates'), 'utf8'));
    const locked: LockedSource[] = sources.map(({ line: _, ...s }) => {
      const date = dates.get(listName(mirrors[s.mirror]!, s.suite));
      if (date === undefined) throw new KreproError('E_ENVIRONMENT', `apt fetched no InRelease for ${s.suite} from ${mirrors[s.mirror]}`);
      return { ...s, date };
    });
    const sourceDateEpoch = Math.max(...locked.map((s) => Math.floor(Date.parse(s.date) / 1000)));
    if (!Number.isFinite(sourceDateEpoch)) throw new KreproError('E_ENVIRONMENT', `cannot read the InRelease dates: ${locked.map((s) => s.date).join(', ')}`);
    const previousEpoch = opts.previous?.sourceDateEpoch;
    const lock = makeLock(spec, { mirrors, sources: locked, packages, tools, sourceDateEpoch });
    if (opts.previous && previousEpoch !== undefined) {
      // Unchanged packages and settings: keep the old lock (and its epoch), so re-locking does not move the image ID.
      const same = makeLock(spec, { mirrors, sources: opts.previous.sources, packages, tools, sourceDateEpoch: previousEpoch });
      if (lockDigest(same) === lockDigest(opts.previous)) return { lock: opts.previous, changed: false };
    }
    return { lock, changed: true };
  } finally {
    await removeTree(work, opts.onLog ?? (() => {}));
  }
}

function makeLock(
  spec: EnvironmentSpec,
  r: { mirrors: Record<string, string>; sources: LockedSource[]; packages: LockedPackage[]; tools: { mmdebstrap: string }; sourceDateEpoch: number },
): EnvironmentLock {
  const settings = environmentSettings(spec.locales);
  const env = environmentEnv(settings);
  const sourcesList = r.sources.map((s) => `deb ${r.mirrors[s.mirror]} ${s.suite} ${s.components.join(' ')}`);
  const has = (name: string) => r.packages.some((p) => p.name === name);
  return {
    $schema: ENVIRONMENT_LOCK_SCHEMA,
    suite: spec.suite,
    architecture: spec.architecture,
    variant: spec.variant,
    mirrors: r.mirrors,
    ...(spec.snapshot ? { snapshot: spec.snapshot } : {}),
    sources: r.sources,
    sourceDateEpoch: r.sourceDateEpoch,
    requested: { packages: [...spec.packages].sort(byteOrder), locales: spec.locales },
    tools: r.tools,
    packages: r.packages,
    customize: customizeHooks({ locales: spec.locales, sourcesList, sourceDateEpoch: r.sourceDateEpoch, env, hasGit: has('git'), hasGo: has('golang-go') }),
    image: { env, workingDir: ENVIRONMENT_WORKDIR, cmd: [...ENVIRONMENT_CMD] },
    settings,
  };
}

/** apt's list file name for a suite's InRelease: the URL without scheme, `/` → `_` (apt's URItoFileName). */
function listName(mirror: string, suite: string): string {
  const uri = `${mirror.replace(/^[a-z]+:\/\//, '').replace(/\/+$/, '')}/dists/${suite}/InRelease`;
  return uri.replace(/\//g, '_');
}

function parseDates(text: string): Map<string, string> {
  const dates = new Map<string, string>();
  for (const line of text.split('\n')) {
    const [file, date] = line.split('\t');
    if (file && date) dates.set(file, new Date(Date.parse(date)).toISOString().replace('.000Z', 'Z'));
  }
  return dates;
}

/** `'URL' NAME_VERSION_ARCH.deb SIZE SHA256:hex` lines → locked packages, sorted by name and architecture. */
export function parsePrintUris(text: string, mirrors: Record<string, string>): LockedPackage[] {
  const packages: LockedPackage[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const m = /^'([^']+)' (\S+) (\d+) SHA256:([0-9a-f]{64})$/.exec(line.trim());
    if (!m) throw new KreproError('E_ENVIRONMENT', `apt-get download --print-uris gave an unexpected line (no SHA256?): ${line}`);
    const [, url, file, size, sha256] = m as unknown as [string, string, string, string, string];
    const [name, version, arch] = decodeURIComponent(file).replace(/\.deb$/, '').split('_');
    const mirror = Object.keys(mirrors).find((k) => url.startsWith(mirrors[k]!.replace(/\/*$/, '/')));
    if (!name || !version || !arch || mirror === undefined) throw new KreproError('E_ENVIRONMENT', `cannot place ${url} on a mirror of ${Object.values(mirrors).join(', ')}`);
    const filename = decodeURIComponent(url.slice(mirrors[mirror]!.replace(/\/*$/, '/').length));
    packages.push({ name, version, architecture: arch, mirror, filename, size: Number(size), sha256 });
  }
  return packages.sort((a, b) => byteOrder(a.name, b.name) || byteOrder(a.architecture, b.architecture));
}
