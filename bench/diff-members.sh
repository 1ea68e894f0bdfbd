#!/usr/bin/env bash
# Benchmark: peak memory of `krepro diff` on two tarballs of 100,000 small members that differ in one, beside
# diffoscope's on the same pair (both measured with /usr/bin/time -v in one run). Target (issue #12): krepro
# under 256 MiB peak RSS. diffoscope extracts every member, so it is given DIFFOSCOPE_TIMEOUT seconds (default
# 1800) and reported as "did not finish" past that.
#   bench/diff-members.sh [MEMBERS]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-100000}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
[ -f "$here/dist/cli/main.js" ] || (cd "$here" && npm run build >/dev/null)

# GNU-format tars like `tar czf` makes: member i holds "member i", except one that differs in content.
python3 - "$work" "$n" <<'PY'
import io, sys, tarfile
work, n = sys.argv[1], int(sys.argv[2])
for side, changed in (('a', b'left\n'), ('b', b'right\n')):
    with tarfile.open(f'{work}/{side}.tar', 'w', format=tarfile.GNU_FORMAT) as t:
        for i in range(n):
            data = changed if i == n // 2 else f'member {i}\n'.encode()
            info = tarfile.TarInfo(f'k/d{i % 100}/f{i}')
            info.size, info.mtime = len(data), 1700000000
            t.addfile(info, io.BytesIO(data))
PY
gzip -n -6 "$work/a.tar" "$work/b.tar"

# measure NAME LIMIT CMD...: prints "NAME <wall>, peak RSS <MiB> MiB" from GNU time's verbose report. Past LIMIT
# seconds (0: none) the command is stopped: TERM, and KILL 30 s later (diffoscope answers TERM by cleaning up for
# minutes). The signals go to GNU time's child, never to GNU time, so its report still gives the child's peak RSS.
measure() {
  local name=$1 limit=$2; shift 2
  /usr/bin/time -v -o "$work/$name.time" "$@" >"$work/$name.out" 2>"$work/$name.err" &
  local timer=$! waited=0 child stopped=
  while kill -0 "$timer" 2>/dev/null; do
    if [ "$limit" -gt 0 ] && [ "$waited" -ge "$limit" ] && [ -z "$stopped" ]; then
      stopped=yes; child=$(pgrep -P "$timer" || true)
      # The child may end between pgrep and kill (set -e must not end the bench then), and once GNU time has
      # exited its pid may be another process's: KILL only while GNU time still waits for it.
      if [ -n "$child" ]; then
        kill -TERM "$child" 2>/dev/null || true
        (sleep 30; if kill -0 "$timer" 2>/dev/null; then kill -KILL "$child" 2>/dev/null || true; fi) &
      fi
    fi
    sleep 1; waited=$((waited + 1))
  done
  local status=0; wait "$timer" || status=$?
  local rss wall
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/$name.time")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/$name.time")
  if [ -n "$stopped" ]; then
    printf '%-11s did not finish within %s s (peak RSS %d MiB until stopped)\n' "$name" "$limit" $((${rss:-0} / 1024)); return
  fi
  if [ "$status" -ne 0 ] && [ "$status" -ne 1 ]; then echo "$name failed (exit $status):" >&2; tail -n 5 "$work/$name.err" >&2; exit 1; fi
  printf '%-11s %10s wall, peak RSS %5d MiB\n' "$name" "$wall" $((rss / 1024))
  echo "$rss" >"$work/$name.rss"
}

echo "two tar.gz of $n members differing in one: $(stat -c %s "$work/a.tar.gz") bytes each, $(nproc) cores, node $(node -v)"
measure krepro 0 node "$here/dist/cli/main.js" diff --json "$work/a.tar.gz" "$work/b.tar.gz"
if command -v diffoscope >/dev/null; then
  measure diffoscope "${DIFFOSCOPE_TIMEOUT:-1800}" diffoscope --json "$work/diffoscope.json" "$work/a.tar.gz" "$work/b.tar.gz"
else
  echo "diffoscope is not installed (apt-get install -y diffoscope): no reference"
fi
k=$(cat "$work/krepro.rss")
findings=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"]["findings"])' "$work/krepro.out")
echo "krepro findings: $findings (expected 1, in k/d$((n / 2 % 100))/f$((n / 2)))"
[ -f "$work/diffoscope.rss" ] && awk -v k="$k" -v d="$(cat "$work/diffoscope.rss")" 'BEGIN { printf "RSS ratio krepro/diffoscope %.2f\n", k/d }'
if [ "$k" -lt $((256 * 1024)) ]; then echo "krepro under 256 MiB: yes"; else echo "krepro under 256 MiB: NO"; exit 1; fi
