/**
 * The conditions one build runs under. The control build uses fixed, recorded values (never the host's defaults);
 * each variation changes one field for the experiment build.
 */
export interface BuildConditions {
  /** where the sources are inside the container */
  buildPath: string;
  tz: string;
  locale: string;
  umask: string;
  uid: number;
  gid: number;
  hostname: string;
  domainname: string;
  home: string;
  /** one extra environment variable, present only when set */
  extraEnv?: [string, string];
  /** CPUs the build may use (cpuset), undefined = all */
  cpuset?: string;
  /** order in which source files are created in the build tree */
  fileOrder: 'sorted' | 'reversed';
  /** libfaketime offset for the wall clock ('' = real time); Go programs read the clock directly and ignore it */
  clockOffset: string;
}

export const CONTROL: BuildConditions = {
  buildPath: '/go/src/k8s.io/kubernetes',
  tz: 'UTC',
  locale: 'C.UTF-8',
  umask: '0022',
  uid: 1000,
  gid: 1000,
  hostname: 'krepro-control',
  domainname: 'control.invalid',
  home: '/tmp/krepro-home-control',
  fileOrder: 'sorted',
  clockOffset: '',
};

export interface Variation {
  name: string;
  description: string;
  apply(c: BuildConditions): BuildConditions;
  /** what to change in the build when this variation is the cause */
  fix: string;
}

export const VARIATIONS: readonly Variation[] = [
  {
    name: 'build-path',
    description: 'sources in another directory',
    apply: (c) => ({ ...c, buildPath: '/build/krepro-experiment/some/deeper/path/kubernetes' }),
    fix: 'build with `go build -trimpath` (C: -ffile-prefix-map=$PWD=.) so the build directory is not embedded',
  },
  { name: 'tz', description: 'another time zone', apply: (c) => ({ ...c, tz: 'Pacific/Chatham' }), fix: 'format dates in UTC (date -u, time.UTC)' },
  {
    name: 'locale',
    description: 'another locale (LANG and LC_ALL)',
    apply: (c) => ({ ...c, locale: 'tr_TR.UTF-8' }),
    fix: 'set LC_ALL=C for sorting and formatting in the build scripts',
  },
  { name: 'umask', description: 'umask 0002 instead of 0022', apply: (c) => ({ ...c, umask: '0002' }), fix: 'set file modes explicitly (install -m, chmod) or normalize them when packing' },
  { name: 'user', description: 'another uid and gid', apply: (c) => ({ ...c, uid: 2345, gid: 2345 }), fix: 'do not record the builder\'s uid/gid or user name (tar --owner=0 --group=0 --numeric-owner)' },
  {
    name: 'hostname',
    description: 'another hostname and domain name',
    apply: (c) => ({ ...c, hostname: 'krepro-experiment', domainname: 'experiment.invalid' }),
    fix: 'do not embed `hostname` or `uname -n` output in build products',
  },
  { name: 'home', description: 'another HOME', apply: (c) => ({ ...c, home: '/tmp/krepro-home-experiment/nested' }), fix: 'do not embed $HOME or paths under it (e.g. Go module cache paths without -trimpath)' },
  {
    name: 'env',
    description: 'an extra environment variable',
    apply: (c) => ({ ...c, extraEnv: ['KREPRO_EXTRA_VARIABLE', 'experiment'] }),
    fix: 'do not record the whole build environment (env dumps, `go version -m` of GOFLAGS-like variables)',
  },
  { name: 'cpus', description: 'a single CPU (cpuset 0)', apply: (c) => ({ ...c, cpuset: '0' }), fix: 'make parallel steps write their outputs in a fixed order, independent of the number of CPUs' },
  {
    name: 'file-order',
    description: 'source files created in reverse order (directory listing order differs)',
    apply: (c) => ({ ...c, fileOrder: 'reversed' }),
    fix: 'sort file lists (LC_ALL=C sort, sorted globs) instead of relying on readdir order',
  },
  {
    name: 'clock',
    description: 'wall clock 373 days ahead (libfaketime; dynamically linked programs only)',
    apply: (c) => ({ ...c, clockOffset: '+373d' }),
    fix: 'use SOURCE_DATE_EPOCH for every embedded date instead of the current time',
  },
];

export function variationNamed(name: string): Variation {
  const v = VARIATIONS.find((x) => x.name === name);
  if (!v) throw new Error(`unknown variation ${JSON.stringify(name)}; known: ${VARIATIONS.map((x) => x.name).join(', ')}`);
  return v;
}

export function applyVariations(base: BuildConditions, variations: readonly Variation[]): BuildConditions {
  return variations.reduce((c, v) => v.apply(c), base);
}

/** Variations that can only be told apart by design: HOME defaults under the build path in many images. */
export const COUPLED: readonly [string, string][] = [['build-path', 'home']];
