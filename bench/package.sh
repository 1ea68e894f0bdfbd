#!/usr/bin/env bash
# Benchmark: `krepro package` on official Node and on Debian's nodejs (in a container from krepro-test-node:trixie)
# against the reference shell pipelines (GNU tar | pigz / gzip, sha256sum, sha512sum), in one run, so only ratios
# are compared.
#   bench/package.sh [STAGE_DIR] [ROUNDS]      (default /tmp/krepro-bench-stage, 3 rounds; best of each is kept)
#   bench/large-stage.sh /tmp/krepro-large-stage && bench/package.sh /tmp/krepro-large-stage   (one big tarball)
# Targets (issue #13): krepro ≤ 0.7 × the pigz pipeline's wall time on both runtimes, ≤ 256 MiB peak RSS, output
# at most 2 % larger than pigz -6.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
shared=${KREPRO_SHARED:-$here/../shared}
stage=${1:-/tmp/krepro-bench-stage}; rounds=${2:-3}
debian_image=krepro-test-node:trixie
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
[ -d "$stage" ] || bash "$shared/bench/make-stage.sh" "$stage"
stage=$(cd "$stage" && pwd)
[ -f "$here/dist/cli/main.js" ] || (cd "$here" && npm run build >/dev/null)
command -v pigz >/dev/null || { echo "pigz is not installed (apt-get install pigz)" >&2; exit 2; }
docker image inspect "$debian_image" >/dev/null 2>&1 || {
  echo "image $debian_image is missing, so Debian's nodejs cannot be measured; make it with:" >&2
  echo "  node dist/cli/main.js base-image --suite trixie --tag $debian_image --include nodejs,git" >&2; exit 2; }

# run CMD...: prints "<seconds> <max RSS KiB> <CPU seconds>" of one run. CPU time is printed too: on a machine shared
# with other work, wall time depends on how many runnable threads each side has.
fmt='%e %M %U %S'
run() { /usr/bin/time -f "$fmt" -o "$out/time" "$@" >/dev/null 2>"$out/err" || { cat "$out/err" >&2; exit 1; }; cat "$out/time"; }
# The same measurement inside the container (the host's GNU time, bind-mounted), so container start-up is not counted.
run_debian() {
  docker run --rm --name "krepro-bench-$$-$r" -v "$here:/krepro:ro" -v "$stage:/stage:ro" -v "$out:/out" \
    -v /usr/bin/time:/usr/bin/time:ro -e SOURCE_DATE_EPOCH=1700000000 "$debian_image" \
    /usr/bin/time -f "$fmt" -o /out/time-debian node /krepro/dist/cli/main.js package --stage /stage --out /out/krepro-debian --no-source \
    >/dev/null 2>"$out/err" || { cat "$out/err" >&2; exit 1; }
  cat "$out/time-debian"
}

tools=(pigz gzip krepro krepro-debian)
declare -A secs rss cpu
for r in $(seq "$rounds"); do
  for tool in "${tools[@]}"; do
    rm -rf "${out:?}/$tool"
    case $tool in
      krepro) line=$(SOURCE_DATE_EPOCH=1700000000 run node "$here/dist/cli/main.js" package --stage "$stage" --out "$out/$tool" --no-source) ;;
      krepro-debian) line=$(run_debian) ;;
      *) line=$(run bash "$shared/bench/reference-pack.sh" "$stage" "$out/$tool" "$tool") ;;
    esac
    read -r e m u s <<<"$line"; c=$(awk -v u="$u" -v s="$s" 'BEGIN { print u + s }')
    secs[$tool]="${secs[$tool]:-} $e"; rss[$tool]="${rss[$tool]:-} $m"; cpu[$tool]="${cpu[$tool]:-} $c"
    echo "round $r $tool: $e s, $c s CPU, $m KiB" >&2
  done
done
pick() { tr ' ' '\n' <<<"$1" | grep . | sort -n | head -1; }
peak() { tr ' ' '\n' <<<"$1" | grep . | sort -n | tail -1; }
bytes() { cat "$out/$1"/*.tar.gz | wc -c; }
cmp -s "$out/krepro/SHA256SUMS" "$out/krepro-debian/SHA256SUMS" || { echo "official Node and Debian's nodejs wrote different bytes" >&2; exit 1; }
p=$(pick "${secs[pigz]}"); g=$(pick "${secs[gzip]}"); k=$(pick "${secs[krepro]}"); d=$(pick "${secs[krepro-debian]}")
pc=$(pick "${cpu[pigz]}"); kc=$(pick "${cpu[krepro]}"); dc=$(pick "${cpu[krepro-debian]}")
mib=$(du -sm "$stage" | cut -f1)
echo "stage: $stage, $mib MiB, best of $rounds rounds, $(nproc) cores"
echo "official node $(node -v) zlib $(node -p process.versions.zlib); Debian $(docker run --rm "$debian_image" node -p 'process.version + " zlib " + process.versions.zlib')"
printf 'pigz pipeline            %6.2f s  %6.2f s CPU  %5d MiB out\n' "$p" "$pc" $(( $(bytes pigz) / 1048576 ))
printf 'gzip pipeline            %6.2f s  %5d MiB out\n' "$g" $(( $(bytes gzip) / 1048576 ))
printf 'krepro, official Node    %6.2f s  %6.2f s CPU  peak RSS %d MiB\n' "$k" "$kc" $(( $(peak "${rss[krepro]}") / 1024 ))
printf "krepro, Debian's nodejs  %6.2f s  %6.2f s CPU  peak RSS %d MiB\n" "$d" "$dc" $(( $(peak "${rss[krepro-debian]}") / 1024 ))
awk -v k="$k" -v d="$d" -v p="$p" -v g="$g" -v kc="$kc" -v dc="$dc" -v pc="$pc" -v kb="$(bytes krepro)" -v pb="$(bytes pigz)" 'BEGIN {
  printf "ratio krepro/pigz: official %.2f, Debian %.2f (target <= 0.70); krepro/gzip: official %.2f, Debian %.2f\n", k/p, d/p, k/g, d/g
  printf "CPU time krepro/pigz: official %.2f, Debian %.2f\n", kc/pc, dc/pc
  printf "size krepro/pigz -6: %+.2f %% (target <= +2 %%); identical bytes on both runtimes\n", (kb/pb - 1) * 100 }'
