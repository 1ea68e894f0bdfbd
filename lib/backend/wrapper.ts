import { Writable } from 'node:stream';
import { KreproError } from '../errors.js';
import type { BuildConditions } from './conditions.js';
import { parseJson } from '../quote.js';

const MARK = '@@krepro-probe@@';

/**
 * Effect probes, one line per variation, run in the build container under the build's own conditions just before
 * the build: what each variation changes, seen from inside. Each reads and writes nothing of the build tree.
 */
const PROBE_SCRIPT = [
  `p() { printf '${MARK} %s %s\\n' "$1" "$(printf %s "$2" | tr '\\n' ' ')"; }`,
  'p build-path "$(pwd)"',
  'p tz "$(date -d "@${SOURCE_DATE_EPOCH:-0}" +%z)"',
  `p locale "$(printf 'a\\nB\\nb\\nA\\n' | sort | tr '\\n' ,)"`,
  'p umask "$(umask)"',
  'p user "$(id -u)"',
  'p group "$(id -g)"',
  'p hostname "$(cat /proc/sys/kernel/hostname)"',
  'p domain "$(cat /proc/sys/kernel/domainname)"',
  'p home "$HOME"',
  'p env "${KREPRO_EXTRA_VARIABLE-unset}"',
  'p path "$PATH"',
  'p cpus "$(nproc)"',
  // readdir order of the tree, as a build listing it without sorting would see it
  `p file-order "$(find . -mindepth 1 -maxdepth 3 ! -path './_output*' 2>/dev/null | head -n 1000 | cksum)"`,
  'p clock "$(date +%s)"',
  'p kernel "$(uname -r) $(uname -m)"',
  // two fresh processes: the same mapping address twice with randomization off
  `p aslr "$(head -n1 /proc/self/maps | cut -d' ' -f1) | $(head -n1 /proc/self/maps | cut -d' ' -f1)"`,
].join('\n');

/**
 * Runs in the build container as the build user: sets what only a process can set for itself (umask, HOME's
 * existence, libfaketime), then runs the probes and the build under the personality of the conditions (setarch).
 * Parameters, not variables, so nothing of the mechanism is left in the build's environment (except libfaketime's
 * own variables when the clock is varied).
 */
const WRAPPER = [
  'umask "$1"; mkdir -p "$HOME"',
  'if [ -n "$2" ]; then for f in /usr/lib/*/faketime/libfaketime.so.1; do [ -e "$f" ] && export LD_PRELOAD="$f" FAKETIME="$2" NO_FAKE_STAT=1; done; fi',
  'arch=${3:-$(uname -m)}; flags=$4; probes=$5; shift 5',
  'setarch "$arch" $flags -- sh -c "$probes"',
  'exec setarch "$arch" $flags -- "$@"',
].join('\n');

/** The container command that runs `command` under `conditions`. */
export function wrappedCommand(conditions: BuildConditions, command: readonly string[]): string[] {
  const arch = conditions.kernel === 'linux32-uname26' ? 'linux32' : '';
  const flags = [...(conditions.aslr ? [] : ['-R']), ...(conditions.kernel === 'linux32-uname26' ? ['--uname-2.6'] : [])].join(' ');
  return ['sh', '-c', WRAPPER, 'krepro-build', conditions.umask, conditions.clockOffset, arch, flags, PROBE_SCRIPT, ...command];
}

/** The build container's variables under `conditions`, on top of the project's build variables. */
export function conditionsVariables(conditions: BuildConditions, variables: Readonly<Record<string, string>>): Record<string, string> {
  return {
    ...variables,
    TZ: conditions.tz,
    LANG: conditions.locale,
    LC_ALL: conditions.locale,
    HOME: conditions.home,
    PATH: conditions.path,
    ...(conditions.extraEnv ? { [conditions.extraEnv[0]]: conditions.extraEnv[1] } : {}),
  };
}

/**
 * Splits the build's stdout: probe lines are kept as probes, everything else goes on to `log`. Lines are
 * reassembled across chunks.
 */
export class ProbeReader extends Writable {
  readonly probes: Record<string, string> = {};
  private pending = '';

  constructor(private readonly log: NodeJS.WritableStream) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.pending += chunk.toString('utf8');
    const lines = this.pending.split('\n');
    this.pending = lines.pop()!;
    const passed = lines.filter((line) => !this.take(line));
    if (passed.length === 0) return cb();
    this.log.write(`${passed.join('\n')}\n`, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.pending === '' || this.take(this.pending)) return cb();
    this.log.write(this.pending, cb);
  }

  private take(line: string): boolean {
    if (!line.startsWith(`${MARK} `)) return false;
    const rest = line.slice(MARK.length + 1);
    const space = rest.indexOf(' ');
    this.probes[space < 0 ? rest : rest.slice(0, space)] = space < 0 ? '' : rest.slice(space + 1).trimEnd();
    return true;
  }
}

/** personality() values setarch needs beyond Docker's default profile: -R alone and with linux32 / --uname-2.6. */
const PERSONALITIES = [0x40000, 0x40008, 0x60000, 0x60008];

/**
 * The engine's default seccomp profile (`base`, its JSON text) with personality(ADDR_NO_RANDOMIZE) allowed, so the
 * control build can switch address-space randomization off with `setarch -R`. Everything else stays as the engine
 * would enforce it.
 */
export function seccompWithPersonality(base: string, where: string): string {
  const profile = parseJson(base, (at) => new KreproError('E_USAGE', `${where} is not a seccomp profile (JSON): ${at}`, { path: where })) as { syscalls?: unknown[] };
  if (!Array.isArray(profile.syscalls)) throw new KreproError('E_USAGE', `${where} is not a seccomp profile: it has no "syscalls" list`, { path: where });
  const added = PERSONALITIES.map((value) => ({ names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value, valueTwo: 0, op: 'SCMP_CMP_EQ' }] }));
  return JSON.stringify({ ...profile, syscalls: [...profile.syscalls, ...added] });
}

