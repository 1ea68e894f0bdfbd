import { homedir } from 'node:os';
import * as path from 'node:path';
import { type Engine } from '../lib/api/engine.js';
import { ENVIRONMENT_LOCK_FILE, ENVIRONMENT_SPEC_FILE, type EnvironmentImage, type EnvironmentLock, type EnvironmentSource, type EnvironmentSpec, lockDigest, lockEnvironment, makeEnvironmentImage, readEnvironmentSpec, readLock, writeLock } from '../lib/api/environment.js';
import { KreproError } from '../lib/index.js';
import { proxyEnv } from '../lib/environment/build-image.js';
import { quote } from '../lib/quote.js';
import { defineCommand, didYouMean, type OptionSpecs, parseCommand, UsageError, SIGNAL_EXITS } from './command.js';
import { showHelp } from './help.js';
import { type CommandIO, EXIT, openEngineFor, packageRoot, proxiesFrom } from './io.js';
import { uiFor } from './ui.js';

/** krepro's own lock: build-image/environment.lock.json in the installed package. */
export function defaultLockFile(): string {
  return path.join(packageRoot(), 'build-image', ENVIRONMENT_LOCK_FILE);
}

/** The options a command that uses the locked environment takes (env, run, release, verify, rebuild). */
export const ENVIRONMENT_OPTIONS = {
  lock: { type: 'string', value: 'FILE', complete: 'file', help: `the locked build environment (default: krepro's build-image/${ENVIRONMENT_LOCK_FILE}): made from the lock outside any engine, the same image ID on every engine. Needs root and mmdebstrap the first time` },
  'work-dir': { type: 'string', value: 'DIR', help: "temporary files: packages, mmdebstrap's root filesystem (default: $TMPDIR or /var/tmp; it must allow device nodes)" },
  'cache-dir': { type: 'string', value: 'DIR', help: 'verified .debs and root filesystems by lock digest (default: $XDG_CACHE_HOME/krepro, else ~/.cache/krepro)' },
  'no-cache': { type: 'boolean', help: 'make the root filesystem from scratch and load it even when cached or present' },
  mirror: {
    type: 'string',
    value: '[NAME=]URL',
    multiple: true,
    complete: 'none',
    help: "download the locked packages from URL instead of the lock's mirror NAME (default NAME: debian), e.g. for an old lock whose versions the mirror dropped: --mirror http://snapshot.debian.org/archive/debian/20261201T000000Z/",
  },
} as const satisfies OptionSpecs;

export const ENV = defineCommand({
  name: 'env',
  summary: 'lock the build environment (exact Debian packages) and make it on an engine: same image ID everywhere',
  usage: ['env lock  [--spec FILE] [--lock FILE] [--work-dir DIR]', 'env build [--lock FILE] [--host URL] [--mirror [NAME=]URL]... [--no-cache] [--json]', 'env settings [--lock FILE] [--json]'],
  description: `The locked build environment: a Debian root filesystem made outside any engine by mmdebstrap from exact
package versions, assembled into an image without a daemon and loaded through the engine API. The same lock
gives the same image ID on every engine. Needs root (mmdebstrap --mode=root).

  lock      resolve the spec (wanted packages, locales, mirrors) against the mirror with one mmdebstrap run
            and write the lock: every package of the closure with version, architecture and the SHA-256 of
            the mirror's signed index, the hooks, the image config, SOURCE_DATE_EPOCH (the newest InRelease
            Date). An unchanged closure keeps the lock as it is. Takes about a minute.
  build     make the environment from the lock on the engine and print its image ID and name (with --json:
            {"id", "image", ...}). Every .deb is checked against the lock's SHA-256; the root filesystem is
            cached by lock digest in the cache directory. About 3 minutes from scratch (half of it precompiling
            Go's standard library into the image's GOCACHE), seconds when cached.
  settings  list what the environment sets (environment variables, files, locales) and why, and what it
            deliberately leaves unset (GOFLAGS, CGO_ENABLED, ...)`,
  options: {
    spec: { type: 'string', value: 'FILE', complete: 'file', help: 'the wanted environment (default: environment.json beside the lock)' },
    ...ENVIRONMENT_OPTIONS,
    image: { type: 'string', value: 'NAME:TAG', complete: 'none', help: 'image name to load as (default: krepro-environment:<first 16 hex of the lock digest>)' },
    host: { type: 'string', value: 'URL', complete: 'none', help: 'Docker engine (default: DOCKER_HOST, else unix:///var/run/docker.sock)' },
    json: { type: 'boolean', help: 'print the result as JSON on stdout' },
  },
  positionals: [{ name: 'lock|build|settings', help: 'what to do', complete: ['lock', 'build', 'settings'] }],
  notes: ['Environment: KUBERNETES_HTTP_PROXY/HTTPS_PROXY/NO_PROXY reach apt during env lock.'],
  exits: [
    [0, 'done'],
    [2, 'usage or environment error (a package the mirror no longer has is named, with the --mirror to use)'],
    ...SIGNAL_EXITS,
  ],
});

export type EnvironmentOptionValues = { lock?: string | undefined; spec?: string | undefined; 'work-dir'?: string | undefined; 'cache-dir'?: string | undefined; 'no-cache'?: boolean | undefined; mirror?: string[] | undefined; image?: string | undefined };

/**
 * The locked environment on `engine`, as `env build` makes it (read the lock, warn when the spec beside it moved
 * on, make or find the image).
 */
export async function lockedEnvironment(engine: Engine, values: EnvironmentOptionValues, io: CommandIO, log: (line: string) => void): Promise<EnvironmentImage> {
  const source = await lockedSource(values, io);
  return makeEnvironmentImage(engine, source.lock, { ...source.options, onLog: log, signal: io.signal });
}

/** The locked environment the options name (the lock, where to work and cache, mirrors), not yet on an engine. */
export async function lockedSource(values: EnvironmentOptionValues, io: CommandIO): Promise<Extract<EnvironmentSource, { kind: 'locked' }>> {
  const lockFile = path.resolve(io.cwd, values.lock ?? defaultLockFile());
  const specFile = path.resolve(io.cwd, values.spec ?? path.join(path.dirname(lockFile), ENVIRONMENT_SPEC_FILE));
  const lock = await readLock(lockFile);
  const spec = await readEnvironmentSpec(specFile).catch(() => undefined);
  const stale = spec && staleness(spec, lock);
  if (stale) io.stderr.write(`warning: ${specFile} changed ${stale} since ${lockFile} was made; run krepro env lock to update the lock\n`);
  return {
    kind: 'locked',
    lock,
    options: {
      workDir: workDirOf(values, io),
      cacheDir: cacheDirOf(values, io),
      noCache: values['no-cache'] ?? false,
      mirrors: parseMirrorOptions(values.mirror ?? [], lock),
      ...(values.image ? { image: values.image } : {}),
    },
  };
}

function workDirOf(values: { 'work-dir'?: string | undefined }, io: CommandIO): string {
  // /var/tmp rather than /tmp: /tmp is often a nodev tmpfs, where mmdebstrap cannot make device nodes.
  return path.resolve(io.cwd, values['work-dir'] ?? (io.env.TMPDIR || '/var/tmp'));
}

function cacheDirOf(values: { 'cache-dir'?: string | undefined }, io: CommandIO): string {
  if (values['cache-dir']) return path.resolve(io.cwd, values['cache-dir']);
  return path.join(io.env.XDG_CACHE_HOME || path.join(io.env.HOME || homedir(), '.cache'), 'krepro');
}

/**
 * Where and how a locked environment is made, from the options, for a lock not known yet (rebuild reads it from
 * the provenance, and checks the mirror names against it).
 */
export function environmentOptions(values: EnvironmentOptionValues, io: CommandIO): { workDir: string; cacheDir: string; noCache: boolean; mirrors: Record<string, string> } {
  return { workDir: workDirOf(values, io), cacheDir: cacheDirOf(values, io), noCache: values['no-cache'] ?? false, mirrors: parseMirrorOptions(values.mirror ?? []) };
}

/** `NAME=URL` or `URL` (for the mirror named debian) → overrides of the lock's mirrors (checked against `lock`). */
export function parseMirrorOptions(values: readonly string[], lock?: EnvironmentLock): Record<string, string> {
  const mirrors: Record<string, string> = {};
  for (const v of values) {
    const m = /^([a-z0-9][a-z0-9.-]*)=(.+)$/.exec(v);
    const [name, url] = m ? [m[1]!, m[2]!] : ['debian', v];
    if (lock && !(name in lock.mirrors)) throw new KreproError('E_USAGE', `--mirror ${v}: the lock has no mirror named ${name} (it has ${Object.keys(lock.mirrors).join(', ')})`);
    if (!/^(https?|file):\/\/\S+$/.test(url)) throw new KreproError('E_USAGE', `--mirror ${v}: ${quote(url)} is not an http://, https:// or file:// URL`);
    mirrors[name] = url;
  }
  return mirrors;
}

/** What in the spec differs from what the lock was made for, for a warning before building. */
function staleness(spec: EnvironmentSpec, lock: EnvironmentLock): string | undefined {
  const wanted = [...spec.packages].sort().join(',');
  if (wanted !== [...lock.requested.packages].sort().join(',')) return 'its packages';
  if (spec.locales.join(',') !== lock.requested.locales.join(',')) return 'its locales';
  if (spec.suite !== lock.suite || spec.architecture !== lock.architecture || spec.variant !== lock.variant) return 'its suite, architecture or variant';
  return undefined;
}

export async function envCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseCommand(ENV, argv);
  if (values.help) return showHelp(ENV, io);
  const ui = uiFor(io, values);
  const [sub] = positionals;
  if (sub !== 'lock' && sub !== 'build' && sub !== 'settings') {
    const near = sub === undefined ? [] : didYouMean(sub, ['lock', 'build', 'settings']);
    throw new UsageError(sub === undefined ? 'give a subcommand: lock, build or settings' : `unknown subcommand ${quote(sub)} (known: lock, build, settings)${near.length ? `; did you mean ${near.join(' or ')}?` : ''}`);
  }
  const lockFile = path.resolve(io.cwd, values.lock ?? defaultLockFile());
  const specFile = path.resolve(io.cwd, values.spec ?? path.join(path.dirname(lockFile), ENVIRONMENT_SPEC_FILE));
  const log = (line: string): void => ui.progress(line);

  if (sub === 'lock') {
    const spec = await readEnvironmentSpec(specFile);
    const previous = await readLock(lockFile).catch(() => undefined);
    const env = Object.fromEntries(proxyEnv(proxiesFrom(io.env)).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
    const { lock, changed } = await lockEnvironment(spec, { workDir: workDirOf(values, io), ...(previous ? { previous } : {}), env, onLog: log, signal: io.signal });
    if (changed) await writeLock(lockFile, lock);
    const summary = { lock: lockFile, changed, digest: lockDigest(lock), packages: lock.packages.length, sourceDateEpoch: lock.sourceDateEpoch };
    if (values.json) io.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    else io.stdout.write(`${changed ? 'wrote' : 'unchanged'} ${lockFile}: ${lock.packages.length} packages, ${summary.digest}, SOURCE_DATE_EPOCH=${lock.sourceDateEpoch}\n`);
    return EXIT.ok;
  }

  if (sub === 'settings') {
    const lock = await readLock(lockFile);
    if (values.json) io.stdout.write(`${JSON.stringify(lock.settings, null, 2)}\n`);
    else for (const s of lock.settings) io.stdout.write(`${s.kind.padEnd(8)} ${s.name} = ${s.value}${s.masks ? ` (may hide: ${s.masks.join(', ')})` : ''}\n         ${s.why}\n`);
    return EXIT.ok;
  }

  const engine = await openEngineFor(io, ui, values.host);
  const result = await lockedEnvironment(engine, values, io, log);
  if (values.json) {
    io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } else {
    io.stdout.write(`${result.id}  ${result.image}\n`);
    const how = result.present ? 'already on the engine' : result.cached ? `root filesystem from the cache, loaded in ${result.seconds.load} s` : `packages ${result.seconds.packages} s, mmdebstrap ${result.seconds.mmdebstrap} s, load ${result.seconds.load} s`;
    ui.note(`environment ${result.image} from lock ${result.lockDigest}: root filesystem ${result.rootfsDigest}; ${how}; ${result.seconds.total} s in all`);
  }
  return EXIT.ok;
}
