import { byteOrder } from '../../byte-order.js';
import { KreproError } from '../../errors.js';
import type { ServiceSpec } from '../../engine/swarm.js';
import type { BuildRequest } from '../backend.js';
import type { BuildConditions, Unapplied } from '../conditions.js';
import { conditionsVariables, wrappedCommand } from '../wrapper.js';

/** Where a task finds the pieces of the sources (configs, mounted in order). */
export const SOURCES_DIR = '/run/krepro/sources';

/** Marks of the lines the task writes for krepro, each followed by the build's nonce and `@@`. */
export const MARKS = { host: '@@krepro-host-', exit: '@@krepro-exit-', fail: '@@krepro-fail-', out: '@@krepro-out-', end: '@@krepro-end-' } as const;

/**
 * Runs as root in the build's task, before and after the build: unpacks the sources from the configs, lays them
 * into the build path (an in-memory file system, so readdir follows creation order, unless the conditions' file
 * order is the file system's own) in the order the conditions ask for and gives them to the build user; runs the build as that user (setpriv, as Docker's `User` would), pinned
 * to the cpuset with taskset when one is asked for (a service cannot set a cpuset); then, when it succeeded,
 * writes every output as a gzip'd tar in base64 lines to stdout with its SHA-256 — the service's logs are how
 * outputs leave a node. Its own variables are taken out of the build's environment.
 */
const TASK_SCRIPT = String.raw`
saved_path=$PATH
PATH=/usr/sbin:/usr/bin:/sbin:/bin
nonce=$KREPRO_NONCE
fail() { echo "@@krepro-fail-$nonce@@ $1"; exit 125; }
for t in tar gzip sort find setpriv base64 sha256sum cut sed chown cat; do command -v "$t" >/dev/null || fail "the environment has no $t"; done
setpriv=$(command -v setpriv)
pin=
if [ -n "$KREPRO_CPUS" ]; then command -v taskset >/dev/null || fail "the environment has no taskset (util-linux), which pins the build to its cpuset"; pin="$(command -v taskset) -c $KREPRO_CPUS"; fi
echo "@@krepro-host-$nonce@@ kernel $(cat /proc/sys/kernel/osrelease)"
build=$(pwd)
stage=/tmp/krepro-sources
mkdir -p "$stage" && cat ${SOURCES_DIR}/* | gzip -dc | tar -x --no-same-owner -p -C "$stage" || fail "unpacking the sources failed"
order=; [ "$KREPRO_ORDER" = reversed ] && order=-r
(cd "$stage" && find . -mindepth 1 -print0 | LC_ALL=C sort -z $order | tar -c --null --no-recursion -T -) | tar -x --no-same-owner -p -C "$build" || fail "laying out the sources failed"
rm -rf "$stage"
chown -R "$KREPRO_UID:$KREPRO_GID" "$build" || fail "giving the sources to the build user failed"
printf '%s\n' "$KREPRO_OUTPUTS" > /tmp/krepro-outputs
uid=$KREPRO_UID gid=$KREPRO_GID
env -u KREPRO_NONCE -u KREPRO_UID -u KREPRO_GID -u KREPRO_ORDER -u KREPRO_CPUS -u KREPRO_OUTPUTS PATH="$saved_path" "$setpriv" --reuid="$uid" --regid="$gid" --clear-groups $pin "$@"
code=$?
# What the build left running must not outlive it: it could read the nonce from the command lines below.
[ "$uid" = 0 ] || "$setpriv" --reuid="$uid" --regid="$gid" --clear-groups sh -c 'kill -KILL -1' 2>/dev/null
echo "@@krepro-exit-$nonce@@ $code"
if [ "$code" = 0 ]; then
  i=0
  while IFS= read -r rel; do
    if [ -e "$rel" ] || [ -L "$rel" ]; then
      tar -C "$(dirname "$rel")" -c -- "$(basename "$rel")" | gzip -1 > /tmp/krepro-out.gz || fail "packing output $rel failed"
      base64 -w 3000 /tmp/krepro-out.gz | sed "s/^/@@krepro-out-$nonce@@ $i /"
      echo "@@krepro-end-$nonce@@ $i $(sha256sum < /tmp/krepro-out.gz | cut -d' ' -f1)"
      rm -f /tmp/krepro-out.gz
    else
      echo "@@krepro-end-$nonce@@ $i missing"
    fi
    i=$((i + 1))
  done < /tmp/krepro-outputs
fi
exit "$code"
`;

export interface TaskSetup {
  spec: Pick<ServiceSpec, 'command' | 'env' | 'user' | 'workingDir' | 'hostname' | 'sysctls' | 'tmpfs'>;
  unapplied: Unapplied[];
  /** the build's probes are read (controlled builds) */
  probes: boolean;
}

/**
 * How a request becomes a swarm task. On API 1.41 a service has no seccomp profile, no cpuset and no network mode
 * `none`: a controlled build's cpuset is applied with taskset, `aslr: false` cannot be (Docker's default profile
 * refuses personality(ADDR_NO_RANDOMIZE)) and comes back unapplied, the domain name is the `kernel.domainname`
 * sysctl. A plain build runs as its user with its hostname and working directory, its sources laid out sorted.
 */
export function taskSetup(request: BuildRequest, nonce: string): TaskSetup {
  for (const output of request.outputs) {
    if (output.includes('\n')) throw new KreproError('E_USAGE', `output path ${JSON.stringify(output)} has a line break`);
  }
  const env = (vars: Readonly<Record<string, string>>): string[] =>
    Object.keys(vars)
      .sort(byteOrder)
      .map((k) => `${k}=${vars[k]}`);
  const own = (user: { uid: number; gid: number }, order: BuildConditions['fileOrder'], cpus: string): string[] => [
    `KREPRO_NONCE=${nonce}`,
    `KREPRO_UID=${user.uid}`,
    `KREPRO_GID=${user.gid}`,
    `KREPRO_ORDER=${order}`,
    `KREPRO_CPUS=${cpus}`,
    `KREPRO_OUTPUTS=${request.outputs.join('\n')}`,
  ];
  const script = (command: readonly string[]): string[] => ['sh', '-c', TASK_SCRIPT, 'krepro-task', ...command];
  const { container } = request;
  if (container.kind === 'plain') {
    return {
      spec: {
        command: script(request.command),
        env: [...env(request.variables), ...own(container.user, 'sorted', '')],
        user: '0:0',
        workingDir: container.workingDir,
        hostname: container.hostname,
        tmpfs: [{ target: container.workingDir, mode: 0o755 }],
      },
      unapplied: [],
      probes: false,
    };
  }
  const unapplied: Unapplied[] = [];
  let conditions: BuildConditions = container.conditions;
  if (!conditions.aslr) {
    unapplied.push({ condition: 'aslr', reason: 'a swarm service cannot set a seccomp profile (API 1.41), and Docker\'s default one refuses personality(ADDR_NO_RANDOMIZE)' });
    conditions = { ...conditions, aslr: true };
  }
  return {
    spec: {
      command: script(wrappedCommand(conditions, request.command)),
      env: [...env(conditionsVariables(conditions, request.variables)), ...own(conditions, conditions.fileOrder, conditions.cpuset ?? '')],
      user: '0:0',
      workingDir: conditions.buildPath,
      hostname: conditions.hostname,
      ...(conditions.domainname ? { sysctls: { 'kernel.domainname': conditions.domainname } } : {}),
      // In memory only when the file order is asked for: 'filesystem' builds (the matrix plan's on-disk ones) list
      // their files in the node's own order, in the container's writable layer.
      ...(conditions.fileOrder === 'filesystem' ? {} : { tmpfs: [{ target: conditions.buildPath, mode: 0o755 }] }),
    },
    unapplied,
    probes: true,
  };
}
