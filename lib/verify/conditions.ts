import * as path from 'node:path';
import type { BuildConditions, Probes } from '../backend/conditions.js';
import { KreproError } from '../errors.js';
import { quote } from '../quote.js';
import { runGit } from '../source/git.js';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The control conditions: fixed values that depend on nothing but krepro's version and the project (where its
 * sources go, projectBuildPath), never on the engine (its CPUs, whether it can switch randomization off), so the
 * same commit verified anywhere records the same recipe. What an engine cannot apply it says in the build's result;
 * facts about the engine are recorded beside each build.
 */
export function controlConditions(buildPath = '/go/src/k8s.io/kubernetes'): BuildConditions {
  return {
    buildPath,
    tz: 'UTC',
    locale: 'C.UTF-8',
    umask: '0022',
    uid: 1000,
    gid: 1000,
    hostname: 'krepro-control',
    domainname: 'control.invalid',
    home: '/tmp/krepro-home/control',
    path: DEFAULT_PATH,
    fileOrder: 'sorted',
    clockOffset: '',
    kernel: 'native',
    aslr: false,
  };
}

/** A module path or directory name that may become part of a path: no `..`, no empty or hidden parts, plain characters. */
const SAFE_PATH = /^(?!.*(^|\/)\.)[A-Za-z0-9_~+-][A-Za-z0-9._~+-]*(\/[A-Za-z0-9_~+-][A-Za-z0-9._~+-]*)*$/;

/**
 * Where the control build puts the sources, following the project as its own builds do: `/go/src/<module path>`
 * when the commit's go.mod (its text: `gomod`) names a module (`/go/src/k8s.io/kubernetes` for Kubernetes),
 * without a major-version suffix (`/v2` is part of the module's name, not a directory: containerd's own CI checks
 * out `github.com/containerd/containerd/v2` into `src/github.com/containerd/containerd`), else
 * `/src/<checkoutName>` (controlFor: the repository's name). A name that is not a plain relative path falls back
 * to `/src/project`.
 */
export function projectBuildPath(gomod: string, checkoutName: string): string {
  const module = /^\s*module\s+"?([^\s"]+)"?\s*$/m.exec(gomod)?.[1]?.replace(/\/v(?:[2-9]|[1-9]\d+)$/, '');
  if (module && SAFE_PATH.test(module)) return `/go/src/${module}`;
  return `/src/${SAFE_PATH.test(checkoutName) ? checkoutName : 'project'}`;
}

/** A go.mod larger than this is not read for its module path (a commit is untrusted input). */
const MAX_GOMOD = 1024 * 1024;

/** The repository a remote URL names (`git@host:org/repo.git`, `https://host/org/repo`, a path): its last part. */
export function repositoryName(url: string): string | undefined {
  const last = url.trim().replace(/\/+$/, '').replace(/\.git$/, '').split(/[/:]/).pop();
  return last || undefined;
}

/**
 * The control conditions of a commit of the checkout at `checkoutRoot` (or below it): its sources where its
 * project's builds put them. Without a go.mod the directory is named after the repository (origin's URL, as CI
 * clones name their directories), else after the checkout's top directory: every clone of one repository agrees.
 */
export async function controlFor(checkoutRoot: string, commit: string): Promise<BuildConditions> {
  const top = (await runGit(checkoutRoot, ['rev-parse', '--show-toplevel'], 'find the checkout\'s top directory')).trim();
  const origin = await runGit(top, ['config', '--get', 'remote.origin.url'], 'read the checkout\'s origin').catch(() => '');
  const blob = `${commit}:go.mod`;
  const size = Number((await runGit(checkoutRoot, ['cat-file', '-s', blob], 'measure the commit\'s go.mod').catch(() => '')).trim());
  const gomod = size > 0 && size <= MAX_GOMOD ? await runGit(checkoutRoot, ['cat-file', 'blob', blob], 'read the commit\'s go.mod').catch(() => '') : '';
  return controlConditions(projectBuildPath(gomod, repositoryName(origin) ?? path.basename(top)));
}

/**
 * The experiment's values, each unique and recognizable (none inside another, none in a control value), so a
 * finding whose new side carries one names its variation (recognize.ts).
 */
export const EXPERIMENT_VALUES = {
  buildDir: '/build/krepro-builddir/deeper',
  home: '/tmp/krepro-homedir/nested',
  pathEntry: '/opt/krepro-pathdir/bin',
  extraEnv: ['KREPRO_EXTRA_VARIABLE', 'krepro-extra-value'] as [string, string],
  hostname: 'krepro-varied-hostname',
  domainname: 'krepro-varied-domain.invalid',
  uid: 2345,
  gid: 3456,
  tz: 'Pacific/Chatham',
  locale: 'tr_TR.UTF-8',
  clockOffset: '+373d',
} as const;

/** One condition verify varies, with how to tell it took effect and how to fix a build it changes. */
export interface Variation {
  /** Its name, as `--variations` takes it: `tz`, `locale`, `umask`… */
  name: string;
  /** What it changes, in words. */
  description: string;
  /** The conditions with this variation applied. */
  apply(c: BuildConditions): BuildConditions;
  /** what to change in the build when this variation is the cause */
  fix: string;
  /**
   * Whether the variation took effect, from what the effect probe saw under control and under this variation:
   * a variation that changes nothing a build can observe tests nothing and is reported as not tested.
   */
  tookEffect(control: string | undefined, varied: string | undefined): boolean;
  /**
   * Values the experiment build's outputs carry when this variation changed them, matched longest first on a
   * finding's new side (recognize.ts); none for variations that leave no value (file order, aslr, cpus).
   */
  marks: readonly (string | RegExp)[];
}

const V = EXPERIMENT_VALUES;
/** Turkish month and day names (full and abbreviated) that are not English words too. */
const TURKISH = /(?<![\p{L}])(Ocak|Şubat|Mart|Nisan|Mayıs|Haziran|Temmuz|Ağustos|Eylül|Ekim|Kasım|Aralık|Oca|Şub|Nis|Haz|Tem|Ağu|Eyl|Eki|Kas|Ara|Pazartesi|Salı|Çarşamba|Perşembe|Cuma|Cumartesi|Pazar|Pzt|Sal|Çar|Per|Cum|Cmt|Paz)(?![\p{L}])/u;

const differs = (a: string | undefined, b: string | undefined): boolean => a !== undefined && b !== undefined && a !== b;

/** Every variation verify knows, in the order it tries them. */
export const VARIATIONS: readonly Variation[] = [
  {
    name: 'build-path',
    description: `sources in another, deeper directory (${V.buildDir}/<the control directory's name>)`,
    apply: (c) => ({ ...c, buildPath: `${V.buildDir}/${path.posix.basename(c.buildPath)}` }),
    fix: 'build with `go build -trimpath` (C: -ffile-prefix-map=$PWD=.) so the build directory is not embedded',
    tookEffect: differs,
    marks: ['krepro-builddir'],
  },
  {
    name: 'tz',
    description: `another time zone (TZ=${V.tz}, UTC+13:45 at SOURCE_DATE_EPOCH)`,
    apply: (c) => ({ ...c, tz: V.tz }),
    fix: 'format dates in UTC (date -u, time.UTC) or pin TZ=UTC in the build',
    tookEffect: differs,
    marks: [V.tz, 'CHADT', 'CHAST', /[+]13:?45\b/, /[+]12:?45\b/],
  },
  {
    name: 'locale',
    description: `another locale (LANG and LC_ALL=${V.locale}, generated in the build environment)`,
    apply: (c) => ({ ...c, locale: V.locale }),
    fix: 'set LC_ALL=C for sorting and formatting in the build scripts',
    tookEffect: differs,
    marks: ['tr_TR', TURKISH],
  },
  {
    name: 'umask',
    description: 'umask 0002 instead of 0022 (files group-writable)',
    apply: (c) => ({ ...c, umask: '0002' }),
    fix: 'set file modes explicitly (install -m, chmod) or normalize them when packing',
    tookEffect: differs,
    // The mode bits themselves: recognize.ts checks a mode that gained group write.
    marks: [],
  },
  { name: 'user', description: `another uid (${V.uid}), same gid`, apply: (c) => ({ ...c, uid: V.uid }), fix: "do not record the builder's uid or user name (tar --owner=0 --numeric-owner)", tookEffect: differs, marks: [new RegExp(`\\b${V.uid}\\b`)] },
  { name: 'group', description: `another gid (${V.gid}), same uid`, apply: (c) => ({ ...c, gid: V.gid }), fix: "do not record the builder's gid or group name (tar --group=0 --numeric-owner)", tookEffect: differs, marks: [new RegExp(`\\b${V.gid}\\b`)] },
  { name: 'hostname', description: `another hostname (${V.hostname})`, apply: (c) => ({ ...c, hostname: V.hostname }), fix: 'do not embed `hostname` or `uname -n` output in build products', tookEffect: differs, marks: [V.hostname] },
  { name: 'domain', description: `another NIS domain name (${V.domainname})`, apply: (c) => ({ ...c, domainname: V.domainname }), fix: 'do not embed `domainname` or `hostname -d` output in build products', tookEffect: differs, marks: ['krepro-varied-domain'] },
  { name: 'home', description: `another HOME (${V.home})`, apply: (c) => ({ ...c, home: V.home }), fix: 'do not embed $HOME or paths under it (e.g. Go module cache paths without -trimpath)', tookEffect: differs, marks: ['krepro-homedir'] },
  {
    name: 'env',
    description: `an extra environment variable (${V.extraEnv[0]}=${V.extraEnv[1]})`,
    apply: (c) => ({ ...c, extraEnv: V.extraEnv }),
    fix: 'do not record the whole build environment (env dumps)',
    tookEffect: differs,
    marks: [...V.extraEnv],
  },
  { name: 'path', description: `PATH with an extra directory at the end (${V.pathEntry})`, apply: (c) => ({ ...c, path: `${c.path}:${V.pathEntry}` }), fix: 'do not embed $PATH (or tool locations found through it) in build products', tookEffect: differs, marks: ['krepro-pathdir'] },
  { name: 'cpus', description: 'a single CPU (cpuset 0)', apply: (c) => ({ ...c, cpuset: '0' }), fix: 'make parallel steps write their outputs in a fixed order, independent of the number of CPUs', tookEffect: differs, marks: [] },
  {
    name: 'file-order',
    description: 'source files created in reverse order in an in-memory tree, so directory listings come in another order',
    apply: (c) => ({ ...c, fileOrder: 'reversed' }),
    fix: 'sort file lists (LC_ALL=C sort, sorted globs) instead of relying on readdir order',
    tookEffect: differs,
    marks: [],
  },
  {
    name: 'clock',
    description: `wall clock 373 days ahead (libfaketime ${V.clockOffset}; programs that read the clock without libc, such as Go binaries, see the real time)`,
    apply: (c) => ({ ...c, clockOffset: V.clockOffset }),
    fix: 'use SOURCE_DATE_EPOCH for every embedded date instead of the current time',
    // A day's slack: the two builds run minutes apart, the offset is a year.
    tookEffect: (a, b) => a !== undefined && b !== undefined && Math.abs(Number(b) - Number(a)) > 86_400,
    // Also a date a year ahead: recognize.ts compares the dates of both sides.
    marks: [V.clockOffset, 'libfaketime'],
  },
  {
    name: 'kernel',
    description: 'another kernel personality: 32-bit machine and a 2.6 kernel release (setarch linux32 --uname-2.6)',
    apply: (c) => ({ ...c, kernel: 'linux32-uname26' }),
    fix: 'do not embed `uname -r`/`uname -m` output; take the target architecture from the build configuration',
    tookEffect: differs,
    marks: [/\bi686\b/, /\b2\.6\.\d{2,3}\b/],
  },
  {
    name: 'aslr',
    description: 'address-space layout randomization on (the control build runs with it off)',
    apply: (c) => ({ ...c, aslr: true }),
    fix: 'do not let addresses decide output: order by keys, not pointers; no pointer values in output',
    // The probe reads the same address twice: equal with randomization off, different with it on.
    tookEffect: (a, b) => a !== undefined && b !== undefined && samePair(a) && !samePair(b),
    marks: [],
  },
];

function samePair(pair: string): boolean {
  const [x, y] = pair.split(' | ');
  return x !== undefined && x === y;
}

/** The variation of that name; E_USAGE naming the known ones otherwise. */
export function variationNamed(name: string): Variation {
  const v = VARIATIONS.find((x) => x.name === name);
  if (!v) throw new KreproError('E_USAGE', `unknown variation ${quote(name)}; known: ${VARIATIONS.map((x) => x.name).join(', ')}`);
  return v;
}

export function applyVariations(base: BuildConditions, variations: readonly Variation[]): BuildConditions {
  return variations.reduce((c, v) => v.apply(c), base);
}

export type { BuildConditions, Probes };
