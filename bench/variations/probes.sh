#!/usr/bin/env bash
# Effect probes: for each variation, one command run under the control conditions and under that variation alone,
# through the same mechanism verify will use (harness.sh). The variation took effect when the outputs differ;
# for aslr the probe also shows that the control is stable (two reads of the same address).
#   bench/variations/probes.sh [variation ...]
set -uo pipefail
. "$(dirname "$0")/harness.sh"
trap 'rm -rf "$VH_WORK"' EXIT

declare -A PROBE=(
  [build-path]='pwd'
  [tz]='date -d @1700000000 +%z'
  [locale]='printf "a\nB\n" | sort | tr "\n" " "'
  [umask]='umask'
  [user]='id -u'
  [group]='id -g'
  [hostname]='uname -n'
  [domain]='domainname'
  [home]='echo "$HOME"'
  [env]='env | LC_ALL=C sort | cut -d= -f1 | tr "\n" " "'
  [path]='echo "$PATH"'
  [cpus]='nproc'
  [file-order]='ls -U files | tr "\n" " "'
  [clock]='date -u +%Y'
  [kernel]='uname -r -m'
  [aslr]='a=$(head -1 /proc/self/maps | cut -d- -f1); b=$(head -1 /proc/self/maps | cut -d- -f1); [ "$a" = "$b" ] && echo "stable $a" || echo "randomized $a $b"'
)

proj=$VH_WORK/probe
mkdir -p "$proj/files"
for f in a b c d e; do echo "$f" >"$proj/files/$f"; done
status=0
printf '%-11s | %-44s | %-44s | %s\n' variation control experiment took-effect
for v in "${@:-${VH_VARIATIONS[@]}}"; do
  node -e 'console.log(JSON.stringify({ command: "mkdir -p out && { " + process.argv[1] + "; } > out/probe.txt", outputs: ["out"] }))' "${PROBE[$v]}" >"$proj/krepro.json"
  rm -rf "$VH_WORK/c" "$VH_WORK/e"
  vh_build "$proj" "$VH_WORK/c" "" || { echo "$v: control build failed: $(tail -3 "$VH_WORK/c/build.log")"; status=1; continue; }
  vh_build "$proj" "$VH_WORK/e" "$v" || { echo "$v: experiment build failed: $(tail -3 "$VH_WORK/e/build.log")"; status=1; continue; }
  c=$(cat "$VH_WORK/c/out/probe.txt") e=$(cat "$VH_WORK/e/out/probe.txt")
  ok=yes
  [ "$c" = "$e" ] && ok=NO
  [ "$v" = aslr ] && [[ $c != stable* ]] && ok=NO
  [ $ok = NO ] && status=1
  printf '%-11s | %-44s | %-44s | %s\n' "$v" "$c" "$e" "$ok"
done
exit $status
