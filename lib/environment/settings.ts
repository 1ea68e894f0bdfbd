/**
 * One thing the locked build environment sets (or deliberately does not set) that can change how tools behave.
 * verify lists these in its report: a cause the environment masks must be visible, never hidden.
 */
export interface EnvironmentImageSetting {
  /** env: a variable in the image config; image: another config field; file: made by a customize hook;
   *  locale: a generated locale; default: Debian's own default, left as is; unset: deliberately not set */
  kind: 'env' | 'image' | 'file' | 'locale' | 'default' | 'unset';
  /** What is set: a variable, a config field, a file path or a locale. */
  name: string;
  /** Its value in the image. */
  value: string;
  /** Why it is set so, in words. */
  why: string;
  /** verify's variations whose effect this setting can hide (the report names them) */
  masks?: string[];
}

/** Where the sources live and builds run, as in upstream's kube-build image. */
export const ENVIRONMENT_WORKDIR = '/go/src/k8s.io/kubernetes';

/** The `go build` commands whose std packages are compiled into the image's GOCACHE: what builds ask for. */
export const GO_STD_BUILDS: readonly string[] = ['CGO_ENABLED=0 go build std', 'CGO_ENABLED=1 go build std', 'CGO_ENABLED=0 go build -trimpath std', 'CGO_ENABLED=1 go build -trimpath std'];

const ENV: readonly EnvironmentImageSetting[] = [
  { kind: 'env', name: 'PATH', value: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', why: "Debian's default; go, gcc, make and git are in /usr/bin and nothing is put before them" },
  { kind: 'env', name: 'GOPATH', value: '/go', why: "upstream's kube-build layout: sources at /go/src/k8s.io/kubernetes, the module cache under /go/pkg/mod" },
  { kind: 'env', name: 'GOCACHE', value: '/go/cache', why: "Go's build cache where every uid may write (its default is under HOME, which verify varies and a build uid may not own)", masks: ['home'] },
  { kind: 'env', name: 'GOTOOLCHAIN', value: 'local', why: 'build with the locked Go; never download the newer toolchain a go.mod toolchain line asks for (builds have no network, and a download would bypass the lock)' },
  { kind: 'env', name: 'XDG_CONFIG_HOME', value: '/go/config', why: "Go's configuration (go env -w, the telemetry mode) outside HOME, the same for every uid and HOME", masks: ['home'] },
  { kind: 'env', name: 'HOME', value: ENVIRONMENT_WORKDIR, why: "as upstream's kube-build image; verify and run set their own HOME per build" },
  { kind: 'env', name: 'KUBE_OUTPUT_SUBPATH', value: '_output/dockerized', why: "as upstream's kube-build image: Kubernetes' make writes into _output/dockerized, which krepro copies back" },
];

/** The image config fields besides Env. */
export const ENVIRONMENT_CMD: readonly string[] = ['/bin/bash'];

/**
 * Every setting of an environment with these locales, in the order a report lists them: what the image config
 * sets, what the customize hooks write, and what is deliberately left to the project.
 */
export function environmentSettings(locales: readonly string[]): EnvironmentImageSetting[] {
  return [
    ...ENV,
    { kind: 'image', name: 'WorkingDir', value: ENVIRONMENT_WORKDIR, why: "upstream's source path, so Kubernetes' scripts find themselves" },
    { kind: 'image', name: 'Cmd', value: ENVIRONMENT_CMD.join(' '), why: 'a shell for `docker run IMAGE`; krepro always gives its own command' },
    { kind: 'image', name: 'User', value: '(not set: root)', why: 'krepro chooses the build uid per container (verify varies it)' },
    { kind: 'file', name: '/go, /go/cache, /go/config, /go/src/k8s.io/kubernetes', value: 'mode 0777', why: 'any uid can build and cache' },
    {
      kind: 'file',
      name: '/go/cache',
      value: `Go's standard library precompiled (${GO_STD_BUILDS.join('; ')}), entries dated SOURCE_DATE_EPOCH, subdirectories mode 1777`,
      why: "a verify build starts in a fresh container, where a first go build spent 8-30 s compiling std; Go writes the clock into each entry (read only by go test's result cache) and into trim.txt, so both hold SOURCE_DATE_EPOCH instead. Sticky like /tmp because Go's daily trim deletes entries unused for 5 days by their mtime, here SOURCE_DATE_EPOCH: a build uid adds its own entries but cannot delete the image's. A flag or variable that changes how std compiles is part of Go's action ID, so std is then compiled afresh",
    },
    { kind: 'file', name: '/go/config/go/telemetry/mode', value: 'off <the day of SOURCE_DATE_EPOCH>', why: 'what `go telemetry off` writes, dated by the lock instead of the clock: otherwise every go command writes dated counter files' },
    { kind: 'file', name: '/etc/gitconfig user.name, user.email', value: 'krepro-build-environment <nobody@krepro.invalid>', why: 'commits or tags made by build scripts succeed and name no builder (git would otherwise derive one from the user and host name)', masks: ['user', 'hostname'] },
    { kind: 'file', name: '/etc/gitconfig safe.directory', value: '*', why: 'git reads sources owned by another uid than the build (verify varies the uid)' },
    { kind: 'file', name: '/etc/apt/sources.list', value: 'the locked sources', why: 'apt-get inside the container sees the archive the lock came from' },
    { kind: 'file', name: '/etc/hostname, /etc/resolv.conf', value: '(removed)', why: 'mmdebstrap copies them from the host; the engine mounts its own' },
    { kind: 'locale', name: 'locales', value: ['C.UTF-8', ...locales].join(' '), why: "C.UTF-8 is glibc's built-in; the others are generated (locale-gen) for verify's locale variation, whose collation differs from C" },
    { kind: 'default', name: '/etc/localtime', value: 'Etc/UTC', why: "Debian's default zone; TZ is not set" },
    { kind: 'unset', name: 'GOFLAGS, CGO_ENABLED, GOAMD64, GOEXPERIMENT', value: '(not set)', why: "the project's own Go settings apply, so a missing -trimpath shows; with gcc installed Go's default is CGO_ENABLED=1" },
    { kind: 'unset', name: 'LANG, LC_ALL, TZ, SOURCE_DATE_EPOCH, umask', value: '(not set)', why: "the container's defaults (POSIX locale, UTC, the engine's umask 0022); krepro passes SOURCE_DATE_EPOCH per build" },
  ];
}

/** What the default build-image/environment.json gives (C.UTF-8, tr_TR.UTF-8, fr_CH.UTF-8). */
export const ENVIRONMENT_SETTINGS: readonly EnvironmentImageSetting[] = Object.freeze(environmentSettings(['tr_TR.UTF-8', 'fr_CH.UTF-8']));

/** The image config's Env, from the settings. */
export function environmentEnv(settings: readonly EnvironmentImageSetting[]): string[] {
  return settings.filter((s) => s.kind === 'env').map((s) => `${s.name}=${s.value}`);
}

/** Single-quoted for sh: the hooks below are shell commands stored in the lock. */
function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Hooks that precompile Go's standard library into /go/cache inside the root filesystem, run with exactly the image's
 * environment, then replace what records the clock: each `<hex>-a` entry's last field ("v1 <action> <output>
 * <size %20d> <time %20d>", the time in ns) and trim.txt (the last trim, seconds) become SOURCE_DATE_EPOCH. Any
 * entry not in that format fails the build rather than leaving a clock in the image.
 */
function goStdCacheHooks(env: readonly string[], sourceDateEpoch: number): string[] {
  const time = `${sourceDateEpoch}000000000`.padStart(20);
  const entry = 'v1 [0-9a-f]{64} [0-9a-f]{64} [ 0-9]{19}[0-9]';
  return [
    `chroot "$1" env -i ${env.map(shq).join(' ')} sh -ec ${shq(GO_STD_BUILDS.join('; '))}`,
    `cd "$1/go/cache" && find . -name '*-a' -type f -exec sed -i -E ${shq(`s/^(${entry}) [ 0-9]{19}[0-9]$/\\1 ${time}/`)} {} + && printf %s ${sourceDateEpoch} > trim.txt && ! find . -name '*-a' -type f -exec grep -L -x -E ${shq(`${entry} ${time}`)} {} + | grep .`,
  ];
}

/**
 * mmdebstrap --customize-hook commands (run by sh with the root filesystem as $1) that make the files the settings
 * describe. They are written into the lock, so a build follows the lock, not the code that wrote it.
 */
export function customizeHooks(o: { locales: readonly string[]; sourcesList: string[]; sourceDateEpoch: number; env: readonly string[]; hasGit: boolean; hasGo: boolean }): string[] {
  // `go telemetry off` writes "off <today>"; the date of SOURCE_DATE_EPOCH keeps the file the same every day.
  const day = new Date(o.sourceDateEpoch * 1000).toISOString().slice(0, 10);
  return [
    ...(o.locales.length > 0 ? [`printf '%s\\n' ${o.locales.map((l) => shq(`${l} UTF-8`)).join(' ')} > "$1/etc/locale.gen" && chroot "$1" locale-gen`] : []),
    `mkdir -p "$1/go/cache" "$1/go/config/go/telemetry" "$1${ENVIRONMENT_WORKDIR}" && printf %s ${shq(`off ${day}`)} > "$1/go/config/go/telemetry/mode"`,
    // after the telemetry mode: otherwise go writes dated counter files
    ...(o.hasGo ? goStdCacheHooks(o.env, o.sourceDateEpoch) : []),
    // The cache's 256 subdirectories sticky: a build uid adds entries but cannot trim the image's (Go's trim judges them by mtime, clamped to SOURCE_DATE_EPOCH).
    `chmod -R a+rwX "$1/go"${o.hasGo ? ' && chmod +t "$1"/go/cache/[0-9a-f][0-9a-f]' : ''}`,
    ...(o.hasGit
      ? [`chroot "$1" git config --system user.email nobody@krepro.invalid && chroot "$1" git config --system user.name krepro-build-environment && chroot "$1" git config --system --add safe.directory '*'`]
      : []),
    `printf '%s\\n' ${o.sourcesList.map(shq).join(' ')} > "$1/etc/apt/sources.list"`,
    'rm -f "$1/etc/hostname" "$1/etc/resolv.conf"',
  ];
}
