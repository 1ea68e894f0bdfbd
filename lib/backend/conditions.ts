/**
 * The conditions one build runs under, as every backend applies them: the control build's are fixed and recorded
 * (never the host's defaults, never a fact of the engine), and each of verify's variations changes what it names.
 * A backend that cannot apply one says so in its result (`unapplied`), so verify reports it as not tested.
 */
export interface BuildConditions {
  /** where the sources are inside the container */
  buildPath: string;
  /** TZ, e.g. `UTC` (control) or `Etc/GMT-14`. */
  tz: string;
  /** LANG and LC_ALL, e.g. `C.UTF-8`. */
  locale: string;
  /** The umask, in octal, e.g. `0022`. */
  umask: string;
  /** The build user's uid. */
  uid: number;
  /** The build user's gid. */
  gid: number;
  /** The container's hostname. */
  hostname: string;
  /** The container's domain name. */
  domainname: string;
  /** HOME. */
  home: string;
  /** one extra environment variable, present only when set */
  extraEnv?: [string, string];
  /** PATH. */
  path: string;
  /** CPUs the build may use (a cpuset, e.g. "0"); absent: every CPU the engine gives */
  cpuset?: string;
  /**
   * order in which source files are created in an in-memory build tree, which readdir then follows; `filesystem`: the
   * tree is on disk (no memory used) and lists files in the file system's own order (ext4 and overlay: by name hash)
   */
  fileOrder: 'sorted' | 'reversed' | 'filesystem';
  /** libfaketime offset for the wall clock ('' = real time); programs that read the clock directly ignore it */
  clockOffset: string;
  /** personality: the machine's own, or a 32-bit one reporting a 2.6 kernel (setarch linux32 --uname-2.6) */
  kernel: 'native' | 'linux32-uname26';
  /** address-space layout randomization; off in the control build (setarch -R), so it is stable */
  aslr: boolean;
}

/** What the effect probes saw in one build: one line of text per variation (see the wrapper's PROBE_SCRIPT). */
export type Probes = Readonly<Record<string, string>>;

/** A condition a backend could not apply, and why: the build ran without it. */
export interface Unapplied {
  /** the field of BuildConditions, e.g. `aslr` */
  condition: keyof BuildConditions;
  /** Why the backend could not apply it. */
  reason: string;
}
