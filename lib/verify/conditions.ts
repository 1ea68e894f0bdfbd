import type { BuildConditions, Probes } from '../backend/conditions.js';
import { KreproError } from '../errors.js';
import { quote } from '../quote.js';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The control conditions: fixed values that depend on nothing but krepro's version, never on the engine (its CPUs,
 * whether it can switch randomization off), so the same commit verified anywhere records the same recipe. What an
 * engine cannot apply it says in the build's result; facts about the engine are recorded beside each build.
 */
export function controlConditions(): BuildConditions {
  return {
    buildPath: '/go/src/k8s.io/kubernetes',
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

export interface Variation {
  name: string;
  description: string;
  apply(c: BuildConditions): BuildConditions;
  /** what to change in the build when this variation is the cause */
  fix: string;
  /**
   * Whether the variation took effect, from what the effect probe saw under control and under this variation:
   * a variation that changes nothing a build can observe tests nothing and is reported as not tested.
   */
  tookEffect(control: string | undefined, varied: string | undefined): boolean;
}

const differs = (a: string | undefined, b: string | undefined): boolean => a !== undefined && b !== undefined && a !== b;

export const VARIATIONS: readonly Variation[] = [
  {
    name: 'build-path',
    description: 'sources in another, deeper directory',
    apply: (c) => ({ ...c, buildPath: '/build/krepro-experiment/some/deeper/path/kubernetes' }),
    fix: 'build with `go build -trimpath` (C: -ffile-prefix-map=$PWD=.) so the build directory is not embedded',
    tookEffect: differs,
  },
  {
    name: 'tz',
    description: 'another time zone (TZ=Pacific/Chatham, UTC+13:45 at SOURCE_DATE_EPOCH)',
    apply: (c) => ({ ...c, tz: 'Pacific/Chatham' }),
    fix: 'format dates in UTC (date -u, time.UTC) or pin TZ=UTC in the build',
    tookEffect: differs,
  },
  {
    name: 'locale',
    description: 'another locale (LANG and LC_ALL=tr_TR.UTF-8, generated in the build environment)',
    apply: (c) => ({ ...c, locale: 'tr_TR.UTF-8' }),
    fix: 'set LC_ALL=C for sorting and formatting in the build scripts',
    tookEffect: differs,
  },
  { name: 'umask', description: 'umask 0002 instead of 0022', apply: (c) => ({ ...c, umask: '0002' }), fix: 'set file modes explicitly (install -m, chmod) or normalize them when packing', tookEffect: differs },
  { name: 'user', description: 'another uid (2345), same gid', apply: (c) => ({ ...c, uid: 2345 }), fix: "do not record the builder's uid or user name (tar --owner=0 --numeric-owner)", tookEffect: differs },
  { name: 'group', description: 'another gid (2345), same uid', apply: (c) => ({ ...c, gid: 2345 }), fix: "do not record the builder's gid or group name (tar --group=0 --numeric-owner)", tookEffect: differs },
  { name: 'hostname', description: 'another hostname', apply: (c) => ({ ...c, hostname: 'krepro-experiment' }), fix: 'do not embed `hostname` or `uname -n` output in build products', tookEffect: differs },
  { name: 'domain', description: 'another NIS domain name', apply: (c) => ({ ...c, domainname: 'experiment.invalid' }), fix: 'do not embed `domainname` or `hostname -d` output in build products', tookEffect: differs },
  { name: 'home', description: 'another HOME', apply: (c) => ({ ...c, home: '/tmp/krepro-home/experiment/nested' }), fix: 'do not embed $HOME or paths under it (e.g. Go module cache paths without -trimpath)', tookEffect: differs },
  {
    name: 'env',
    description: 'an extra environment variable (KREPRO_EXTRA_VARIABLE)',
    apply: (c) => ({ ...c, extraEnv: ['KREPRO_EXTRA_VARIABLE', 'experiment'] }),
    fix: 'do not record the whole build environment (env dumps)',
    tookEffect: differs,
  },
  { name: 'path', description: 'PATH with an extra directory at the end', apply: (c) => ({ ...c, path: `${c.path}:/krepro/experiment/bin` }), fix: 'do not embed $PATH (or tool locations found through it) in build products', tookEffect: differs },
  { name: 'cpus', description: 'a single CPU (cpuset 0)', apply: (c) => ({ ...c, cpuset: '0' }), fix: 'make parallel steps write their outputs in a fixed order, independent of the number of CPUs', tookEffect: differs },
  {
    name: 'file-order',
    description: 'source files created in reverse order in an in-memory tree, so directory listings come in another order',
    apply: (c) => ({ ...c, fileOrder: 'reversed' }),
    fix: 'sort file lists (LC_ALL=C sort, sorted globs) instead of relying on readdir order',
    tookEffect: differs,
  },
  {
    name: 'clock',
    description: 'wall clock 373 days ahead (libfaketime; programs that read the clock without libc, such as Go binaries, see the real time)',
    apply: (c) => ({ ...c, clockOffset: '+373d' }),
    fix: 'use SOURCE_DATE_EPOCH for every embedded date instead of the current time',
    // A day's slack: the two builds run minutes apart, the offset is a year.
    tookEffect: (a, b) => a !== undefined && b !== undefined && Math.abs(Number(b) - Number(a)) > 86_400,
  },
  {
    name: 'kernel',
    description: 'another kernel personality: 32-bit machine and a 2.6 kernel release (setarch linux32 --uname-2.6)',
    apply: (c) => ({ ...c, kernel: 'linux32-uname26' }),
    fix: 'do not embed `uname -r`/`uname -m` output; take the target architecture from the build configuration',
    tookEffect: differs,
  },
  {
    name: 'aslr',
    description: 'address-space layout randomization on (the control build runs with it off)',
    apply: (c) => ({ ...c, aslr: true }),
    fix: 'do not let addresses decide output: order by keys, not pointers; no pointer values in output',
    // The probe reads the same address twice: equal with randomization off, different with it on.
    tookEffect: (a, b) => a !== undefined && b !== undefined && samePair(a) && !samePair(b),
  },
];

function samePair(pair: string): boolean {
  const [x, y] = pair.split(' | ');
  return x !== undefined && x === y;
}

export function variationNamed(name: string): Variation {
  const v = VARIATIONS.find((x) => x.name === name);
  if (!v) throw new KreproError('E_USAGE', `unknown variation ${quote(name)}; known: ${VARIATIONS.map((x) => x.name).join(', ')}`);
  return v;
}

export function applyVariations(base: BuildConditions, variations: readonly Variation[]): BuildConditions {
  return variations.reduce((c, v) => v.apply(c), base);
}

export type { BuildConditions, Probes };
