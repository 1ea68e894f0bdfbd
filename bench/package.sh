#!/usr/bin/env bash
# Benchmark: `krepro package` against the reference shell pipelines (GNU tar | pigz / gzip, sha256sum, sha512sum)
# on the Kubernetes-like stage from shared/bench, in one run, so only ratios are compared.
#   bench/package.sh [STAGE_DIR] [ROUNDS]      (default /tmp/krepro-bench-stage, 3 rounds; best of each is kept)
# Targets (issue #2): krepro ≤ 0.9 × the pigz pipeline's wall time, ≤ 256 MiB peak RSS.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
shared=${KREPRO_SHARED:-$here/../shared}
stage=${1:-/tmp/krepro-bench-stage}; rounds=${2:-3}
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
[ -d "$stage/server" ] || bash "$shared/bench/make-stage.sh" "$stage"
[ -f "$here/dist/cli/main.js" ] || (cd "$here" && npm run build >/dev/null)
command -v pigz >/dev/null || { echo "pigz is not installed (apt-get install pigz)" >&2; exit 2; }

# run NAME CMD...: prints "<seconds> <max RSS KiB>" of one run
run() { /usr/bin/time -f '%e %M' -o "$out/time" "$@" >/dev/null 2>"$out/err" || { cat "$out/err" >&2; exit 1; }; cat "$out/time"; }
best() { sort -n | head -1; }

declare -A secs rss
for r in $(seq "$rounds"); do
  for tool in pigz gzip krepro; do
    rm -rf "$out/$tool"
    case $tool in
      krepro) line=$(SOURCE_DATE_EPOCH=1700000000 run node "$here/dist/cli/main.js" package --stage "$stage" --out "$out/$tool" --no-source) ;;
      *) line=$(run bash "$shared/bench/reference-pack.sh" "$stage" "$out/$tool" "$tool") ;;
    esac
    secs[$tool]="${secs[$tool]:-} ${line% *}"; rss[$tool]="${rss[$tool]:-} ${line#* }"
    echo "round $r $tool: ${line% *} s, ${line#* } KiB" >&2
  done
done
pick() { tr ' ' '\n' <<<"$1" | grep . | best; }
p=$(pick "${secs[pigz]}"); g=$(pick "${secs[gzip]}"); k=$(pick "${secs[krepro]}")
krss=$(tr ' ' '\n' <<<"${rss[krepro]}" | grep . | sort -n | tail -1)
mib=$(du -sm "$stage" | cut -f1)
echo "stage: $mib MiB, best of $rounds rounds, $(nproc) cores, node $(node -v) zlib $(node -p process.versions.zlib)"
printf 'pigz pipeline   %6.2f s\n' "$p"
printf 'gzip pipeline   %6.2f s\n' "$g"
printf 'krepro package  %6.2f s  peak RSS %d MiB\n' "$k" $((krss / 1024))
awk -v k="$k" -v p="$p" -v g="$g" 'BEGIN { printf "ratio krepro/pigz %.2f (target <= 0.90), krepro/gzip %.2f\n", k/p, k/g }'
