#!/usr/bin/env bash
# Checks the verify corpus against its expected causes by brute force, with the prototype mechanisms of
# harness.sh: per case a control build, a second control build (differences there are "nondeterminism") and one
# build per variation alone. A case passes when the artifacts that differ, and the variations they differ under,
# are exactly expected.json's causes. Prints one line per case; with --json FILE also writes every observation.
#   bench/variations/corpus-check.sh [--json FILE] [case ...]
set -uo pipefail
. "$(dirname "$0")/harness.sh"
trap 'rm -rf "$VH_WORK"' EXIT
corpus=$(cd "$VH_HERE/../../fixtures/verify-corpus" && pwd)
json=
if [ "${1:-}" = --json ]; then json=$2; shift 2; fi
cases=("$@")
[ ${#cases[@]} = 0 ] && cases=($(cd "$corpus" && for d in */; do echo "${d%/}"; done))

# differing A B: artifact paths whose digests differ or that exist on one side only
differing() { join -a1 -a2 -j2 -e- -o 0,1.1,2.1 <(vh_digests "$1" | sort -k2) <(vh_digests "$2" | sort -k2) | awk '$2 != $3 {print $1}'; }

pass=0 total=0 builds=0 results=()
for c in "${cases[@]}"; do
  total=$((total + 1))
  dir=$VH_WORK/$c
  declare -A seen=()
  failed=
  start=$(date +%s)
  for run in control control2 "${VH_VARIATIONS[@]}"; do
    vars=$run; [[ $run == control* ]] && vars=
    builds=$((builds + 1))
    if ! vh_build "$corpus/$c" "$dir/$run" "$vars"; then failed="$run: $(tail -2 "$dir/$run/build.log" | tr '\n' ' ')"; break; fi
    [ "$run" = control ] && continue
    for a in $(differing "$dir/control" "$dir/$run"); do
      name=$vars; [ "$run" = control2 ] && name=nondeterminism
      seen[$a]="${seen[$a]:-} $name"
    done
  done
  # An artifact that differs under identical conditions is nondeterministic: the per-variation differences
  # are its noise, not causes.
  observed=$(for a in "${!seen[@]}"; do
    set -- ${seen[$a]}
    [[ " ${seen[$a]} " == *" nondeterminism "* ]] && set -- nondeterminism
    printf '%s\t%s\n' "$a" "$(printf '%s\n' "$@" | LC_ALL=C sort | paste -sd, -)"
  done | LC_ALL=C sort)
  # expected.json is per finding; per artifact, as this check sees it, noise (or noise masking) is all it shows.
  expected=$(node -e '
    const e = {};
    for (const r of JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).findings) if (r.cause !== "consequence") (e[r.artifact] ??= new Set()).add(r.cause === "masked-by-noise" ? "nondeterminism" : r.cause);
    for (const a of Object.keys(e).sort()) console.log(a + "\t" + (e[a].has("nondeterminism") ? "nondeterminism" : [...e[a]].sort().join(",")));
  ' "$corpus/$c/expected.json" | LC_ALL=C sort)
  verdict=MISMATCH
  [ -z "$failed" ] && [ "$observed" = "$expected" ] && verdict=exact && pass=$((pass + 1))
  [ -n "$failed" ] && verdict="BUILD FAILED ($failed)"
  printf '%-24s %-8s %3ss  observed: %s\n' "$c" "$verdict" "$(($(date +%s) - start))" "$(echo "$observed" | tr '\t\n' '= ' )"
  [ "$verdict" != exact ] && [ -z "$failed" ] && printf '%-24s          expected: %s\n' '' "$(echo "$expected" | tr '\t\n' '= ')"
  results+=("$(node -e 'console.log(JSON.stringify({ case: process.argv[1], verdict: process.argv[2], observed: process.argv[3], expected: process.argv[4] }))' "$c" "$verdict" "$observed" "$expected")")
  unset seen
  rm -rf "$dir"
done
echo "$pass/$total cases differ under exactly their expected variations ($builds builds)"
[ -n "$json" ] && printf '%s\n' "${results[@]}" >"$json"
[ "$pass" = "$total" ]
