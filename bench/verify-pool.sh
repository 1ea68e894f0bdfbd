#!/usr/bin/env bash
# Benchmark: verify at the speed of one build (issue 20), in one run, on this machine's engine.
#
#   bench/verify-pool.sh [--go-repo GITDIR [--go-ref REF] [--go-vary a,b]] [--swarm URL] [ROW...]
#
# A corpus project whose build sleeps 20 s and has two causes (build-path and tz in one line: corpus case
# path-and-tz plus `sleep 20`), verified by each ROW; then, with --go-repo, a real Go project with one cause.
# Rows (default: all of ROWS, in order, swarm aside; "none": only the Go project):
#   adaptive  the adaptive plan on one engine (--jobs 1)
#   matrix    the matrix plan on the local engine (--jobs 19)
#   ci        the matrix plan through --plan-only, every --build job at once from one checkout, --collect
#   pool      the matrix plan (--jobs 19) on a pool of three engines: this machine's, and two dockerds in network
#             namespaces of their own (made for the row, removed after; they share this machine's cores)
#   poolkill  the same, with the third engine stopped 5 s into the builds: same verdict and causes, that engine named
#   swarm     (asked for by name) the matrix plan on a Docker Swarm (--backend swarm --jobs 19): the swarm of --swarm
#             URL (its manager's engine), else three dockerds on this machine (bench/swarm.ts, as test/swarm.test.ts
#             makes them; root). A first run (row swarm-cold, printed after it) pays for the environment reaching
#             every node; the row is the second run.
# Printed per row: verdict, causes, builds and rounds, wall time, and wall time ÷ the control build's duration
# (the adaptive row's control build, which ran alone: "one build"; and the row's own control build beside it).
# Target: <= 2.0 for matrix, ci, pool and swarm, the same verdict and causes as adaptive (poolkill too, with the engine named).
#
# --go-repo GITDIR: a Go project with vendored dependencies (fetched, never committed; e.g. containernetworking/plugins
# at v1.9.1, the default ref) built without -trimpath (one cause: build-path), adaptive against matrix. Its project
# file: KREPRO_BENCH_GO_PROJECT (JSON), default the CNI plugins' {"command":"./build_linux.sh","outputs":["bin"]}.
# --go-vary a,b: only these variations for it (n + 3 CPU-heavy builds at once take long on a small machine).
#
# More rows are functions named row_NAME writing "$work/NAME.json" (the verify report)
# and "$work/NAME.wall" (seconds), added to ROWS below.
# Needs a running Docker engine and the locked environment (made on first use); pool rows need root, iproute2 and
# util-linux (nsenter). This machine has 2 cores: the pool's three engines share them.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
krepro() { node "$here/dist/cli/main.js" "$@"; }
[ -f "$here/dist/cli/main.js" ] || (cd "$here" && npm run build >/dev/null)
work=$(mktemp -d)
cleanup() {
  for d in "$work"/*/; do [ -d "$d/.git" ] && (cd "$d" && krepro clean >/dev/null 2>&1 || true); done
  for d in "${engines[@]}"; do stop_engine "$d"; done
  # bench/swarm.ts removes its swarm when its stdin closes.
  if [ -n "${swarm_in:-}" ]; then eval "exec $swarm_in>&-"; wait "$swarm_pid" || true; fi
  rm -rf "$work"
}
engine_url=''
trap cleanup EXIT

go_repo=''
go_vary=''
go_ref='v1.9.1'
swarm_host=''
swarm_in=''
swarm_pid=''
vary=()
selected=()
while [ $# -gt 0 ]; do
  case "$1" in
    --go-repo) go_repo=$2; shift 2 ;;
    --go-ref) go_ref=$2; shift 2 ;;
    --go-vary) go_vary=$2; shift 2 ;;
    --swarm) swarm_host=$2; shift 2 ;;
    -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
    *) selected+=("$1"); shift ;;
  esac
done

commit_all() { (cd "$1" && git init -q -b main && git add -A && git -c user.name=b -c user.email=b@x.invalid commit -qm bench); }
now() { date +%s.%N; }

# The slow project: one line with the build directory and a date in local time, after 20 s of "compiling".
slow="$work/slow"
cp -r "$here/fixtures/verify-corpus/path-and-tz" "$slow"
rm "$slow/expected.json"
sed -i 's/^\tmkdir -p out$/\tsleep 20\n\tmkdir -p out/' "$slow/Makefile"
grep -q 'sleep 20' "$slow/Makefile"
commit_all "$slow"

# row_NAME DIR: verifies DIR one way, leaving the report in $work/NAME.json and the wall time in $work/NAME.wall.
timed() {  # timed NAME COMMAND...: runs it, keeps its wall time; verify's exit 1 (not reproducible) is a result
  local name=$1; shift
  local start; start=$(now)
  "$@" || [ $? -eq 1 ]
  echo "$(now) - $start" | bc > "$work/$name.wall"
}
row_adaptive() { (cd "$1" && timed adaptive sh -c "node '$here/dist/cli/main.js' verify --json --jobs 1 ${vary[*]} > '$work/adaptive.json' 2> '$work/adaptive.err'"); }
row_matrix() { (cd "$1" && timed matrix sh -c "node '$here/dist/cli/main.js' verify --json --plan matrix --jobs 19 ${vary[*]} > '$work/matrix.json' 2> '$work/matrix.err'"); }
ci_jobs() {  # what a CI matrix does, on this machine: the plan, every job at once from one checkout, collect
  local dir=$1 plan jobs
  plan=$(krepro verify --plan-only)
  jobs=$(node -e 'console.log(JSON.parse(process.argv[1]).matrix.join(" "))' "$plan")
  for j in $jobs; do
    krepro verify --build "$j" --bundle "$work/bundles/$j" 2> "$work/ci-build-$j.err" &
  done
  wait
  krepro verify --collect "$work"/bundles/* --json > "$work/ci.json" 2> "$work/ci.err"
}
row_ci() { (cd "$1" && timed ci ci_jobs "$1"); }

# Engines of a pool: dockerds with their own data root, exec root and socket, each in a network namespace of its own
# (in the host's namespace a second dockerd would remove the first one's docker0). Unique to this run; removed on exit.
engines=()
start_engine() {  # start_engine NAME: sets engine_url once the engine answers (no subshell: engines must be kept)
  local dir="$work/engine-$1" ns="krepro-bench-$1-$$-$RANDOM"
  mkdir -p "$dir"
  echo "$ns" > "$dir/netns"
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  nsenter --net="/run/netns/$ns" -- dockerd --host "unix://$dir/docker.sock" --data-root "$dir/data" --exec-root "$dir/exec" \
    --pidfile "$dir/pid" --bridge none --iptables=false --ip-masq=false > "$dir/log" 2>&1 &
  echo $! > "$dir/daemon"
  engines+=("$dir")
  for _ in $(seq 300); do docker -H "unix://$dir/docker.sock" version > /dev/null 2>&1 && break; sleep 0.1; done
  docker -H "unix://$dir/docker.sock" version > /dev/null || { tail -20 "$dir/log" >&2; return 1; }
  engine_url="unix://$dir/docker.sock"
}
stop_engine() {  # stop_engine DIR: as a service manager stops it (SIGTERM), then its namespace and mounts go
  local dir=$1 pid
  pid=$(cat "$dir/daemon")
  kill -TERM "$pid" 2> /dev/null || true
  while kill -0 "$pid" 2> /dev/null; do sleep 0.2; done
  # the shims of containers it had running when it was stopped, found by their containerd's address below $dir
  for f in $(grep -lsa -- "$dir/exec/containerd/containerd.sock" /proc/[0-9]*/cmdline || true); do
    p=${f#/proc/}
    kill -KILL "${p%/cmdline}" 2> /dev/null || true
  done
  ip netns delete "$(cat "$dir/netns")" 2> /dev/null || true
  grep -o " $dir/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount 2> /dev/null || true
}
local_engine=${DOCKER_HOST:-unix:///var/run/docker.sock}
row_pool() {  # row_pool DIR [NAME KILL]: the matrix plan on this engine and two in namespaces; KILL: stop the third mid-verify
  local dir=$1 name=${2:-pool} kill=${3:-} a b
  start_engine "$name-a"
  a=$engine_url
  start_engine "$name-b"
  b=$engine_url
  (cd "$dir" && timed "$name" sh -c "node '$here/dist/cli/main.js' verify --json --plan matrix --jobs 19 ${vary[*]} --pool '$local_engine' --pool '$a' --pool '$b' > '$work/$name.json' 2> '$work/$name.err'") &
  local verify=$!
  if [ -n "$kill" ]; then
    until grep -q 'build control: control\.\.\.' "$work/$name.err" 2> /dev/null || ! kill -0 "$verify" 2> /dev/null; do sleep 0.5; done
    sleep 5
    stop_engine "${engines[-1]}"
  fi
  wait "$verify"
  for d in "${engines[@]}"; do stop_engine "$d"; done
  engines=()
}
row_poolkill() { row_pool "$1" poolkill kill; }
row_swarm() {
  if [ -z "$swarm_host" ]; then
    coproc SWARM { cd "$here" && exec node --import tsx/esm bench/swarm.ts; }
    swarm_in=${SWARM[1]} swarm_pid=$SWARM_PID
    read -r swarm_host <&"${SWARM[0]}" || { echo "bench: the swarm did not start" >&2; return 1; }
  fi
  local verify="node '$here/dist/cli/main.js' verify --json --backend swarm --engine '$swarm_host' --plan matrix --jobs 19 ${vary[*]}"
  (cd "$1" && timed swarm-cold sh -c "$verify > '$work/swarm-cold.json' 2> '$work/swarm-cold.err'")
  (cd "$1" && timed swarm sh -c "$verify > '$work/swarm.json' 2> '$work/swarm.err'")
}
ROWS=(adaptive matrix ci pool poolkill)
[ ${#selected[@]} -gt 0 ] || selected=("${ROWS[@]}")

summary() {  # summary TITLE ROW...: one line per row, ratios against the first row's control build
  node -e '
    const fs = require("fs");
    const [work, title, ...rows] = process.argv.slice(1);
    const causes = (r) => r.causes.filter((c) => c.kind !== "consequence").flatMap((c) => c.artifacts.map((a) => `${a}: ${c.kind === "variation" || c.kind === "interaction" ? c.variations.join("+") : c.kind}`)).sort().join("; ");
    let reference;
    console.log(title);
    for (const name of rows) {
      const r = JSON.parse(fs.readFileSync(`${work}/${name}.json`, "utf8"));
      const wall = Number(fs.readFileSync(`${work}/${name}.wall`, "utf8"));
      const control = r.builds.find((b) => b.id === "control" || b.label === "control").durationMs / 1000;
      reference ??= control;
      const rounds = r.plan.rounds.map((x) => `${x.builds.length} in ${(x.ms / 1000).toFixed(1)} s`).join(" + ");
      const machines = new Set(r.builds.map((b) => b.host.machine)).size;
      // The progress lines say when the first build started: what went before is the environment (and on a swarm its push).
      const err = fs.existsSync(`${work}/${name}.err`) ? fs.readFileSync(`${work}/${name}.err`, "utf8") : "";
      const first = /^\[(\d+)s\] build \S+: .*\.\.\.$/m.exec(err)?.[1];
      const alone = rows[0] === "adaptive" ? "alone" : `the control build of ${rows[0]}`;
      const engines = (r.plan.engines ?? []).map((e) => `${e.name.replace(/^docker unix:\/\/.*\/(engine-[^/]*)\/docker.sock$/, "$1")} ${e.builds.length}${e.lost ? ` (LOST: ${e.lost.slice(0, 80)}; ran again elsewhere: ${e.requeued.join(",")})` : ""}`).join(", ");
      console.log(`  ${name.padEnd(10)} ${r.verdict}, causes [${causes(r)}], plan ${r.plan.kind}: ${r.builds.length} builds in ${r.plan.rounds.length} round(s) (${rounds}) on ${machines} machine(s)${first ? `, first build after ${first} s` : ""}, wall ${wall.toFixed(1)} s = ${(wall / reference).toFixed(2)} × one build (${reference.toFixed(1)} s, ${alone}); its own control build ${control.toFixed(1)} s (${(wall / control).toFixed(2)} ×)${engines ? `; builds per engine: ${engines}` : ""}`);
    }
  ' "$work" "$@"
}

if [ "${selected[*]}" != none ]; then  # ROW "none": the Go project only
  for row in "${selected[@]}"; do "row_$row" "$slow"; done
  rows=(); for row in "${selected[@]}"; do rows+=("$row"); [ "$row" != swarm ] || rows+=(swarm-cold); done
  summary "20 s build, two causes (target: matrix, ci, pool and swarm <= 2.0 × one build, same verdict and causes as adaptive):" "${rows[@]}"
fi

if [ -n "$go_repo" ]; then
  go="$work/go"
  git --git-dir="$go_repo" archive --prefix=go/ "$go_ref" | tar -x -C "$work"
  echo "${KREPRO_BENCH_GO_PROJECT:-{\"command\":\"./build_linux.sh\",\"outputs\":[\"bin\"],\"release\":false,\"images\":false}}" > "$go/krepro.json"
  commit_all "$go"
  [ -z "$go_vary" ] || vary=(--vary "$go_vary")
  for f in adaptive matrix; do for x in json wall; do [ ! -f "$work/$f.$x" ] || mv "$work/$f.$x" "$work/slow-$f.$x"; done; done
  row_adaptive "$go"
  row_matrix "$go"
  summary "a real Go project ($(basename "$go_repo") $go_ref, one cause${go_vary:+, varying $go_vary}), $(nproc) CPUs: a CPU-heavy build shares them, so the matrix plan's builds run $(nproc) at a time in effect:" adaptive matrix
fi
