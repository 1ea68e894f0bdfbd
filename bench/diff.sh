#!/usr/bin/env bash
# Benchmark: `krepro diff` against diffoscope (Debian package) on two ~300 MB server tarballs that differ in three
# members, in one run, so only the ratio is compared; also checks both name the same set of differing members.
#   bench/diff.sh [STAGE_DIR] [ROUNDS]      (default /tmp/krepro-bench-stage, 1 round: diffoscope takes minutes)
# Target (issue #5): krepro ≤ 0.2 × diffoscope's wall time, same differing members.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
shared=${KREPRO_SHARED:-$here/../shared}
stage=${1:-/tmp/krepro-bench-stage}; rounds=${2:-1}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
command -v diffoscope >/dev/null || { echo "diffoscope is not installed (apt-get install -y diffoscope)" >&2; exit 2; }
[ -d "$stage/server" ] || bash "$shared/bench/make-stage.sh" "$stage" >&2
[ -f "$here/dist/cli/main.js" ] || (cd "$here" && npm run build >/dev/null)

# Two stages holding only the server tree (the tarball under test). The shared stage's server part is ~240 MiB of
# binaries; more copies of its binaries (each changed at one offset, as make-stage.sh does) bring the tarball to
# about 300 MB, as Kubernetes' is. B then differs from A in three members: a build path written into one binary,
# a build date into another, and the version file.
mkdir -p "$work/a"; cp -a "$stage/server" "$work/a/"
bin=$work/a/server/linux-amd64/kubernetes/server/bin
mapfile -t extra < <(find "$stage" -type f -perm -u+x -size +8M | sort)
i=0
while [ "$(du -sm "$work/a/server" | cut -f1)" -lt "${SERVER_MIB:-800}" ]; do
  cp "${extra[$((i % ${#extra[@]}))]}" "$bin/extra-$i"
  printf 'extra%04d' "$i" | dd of="$bin/extra-$i" bs=1 seek=8192 conv=notrunc 2>/dev/null
  i=$((i + 1))
done
cp -a "$work/a" "$work/b"
bin=$work/b/server/linux-amd64/kubernetes/server/bin
printf '/tmp/go-build4242424242/b001/exe/' | dd of="$bin/kube-apiserver" bs=1 seek=$((3 << 20)) conv=notrunc 2>/dev/null
printf 'built 2026-11-25T12:34:56Z' | dd of="$bin/kube-scheduler" bs=1 seek=$((2 << 20)) conv=notrunc 2>/dev/null
printf 'v1.99.0-krepro.1\n' > "$work/b/server/linux-amd64/kubernetes/version"
expected="kubernetes/server/bin/kube-apiserver kubernetes/server/bin/kube-scheduler kubernetes/version"
for side in a b; do
  SOURCE_DATE_EPOCH=1700000000 node "$here/dist/cli/main.js" package --stage "$work/$side" --out "$work/out-$side" --no-source >/dev/null
done
tarball=kubernetes-server-linux-amd64.tar.gz
A=$work/out-a/$tarball; B=$work/out-b/$tarball

krepro_diff=(node "$here/dist/cli/main.js" diff)

# run OUT CMD...: prints "<seconds> <max RSS KiB>"; exit status 1 (different) is the expected outcome of both tools.
run() { local out=$1; shift; /usr/bin/time -f '%e %M' -o "$work/time" "$@" >"$out" 2>"$work/err" || [ $? -eq 1 ] || { cat "$work/err" >&2; exit 1; }; tail -n 1 "$work/time"; }
best() { tr ' ' '\n' | grep . | sort -n | head -1; }
ks=''; ds=''
for r in $(seq "$rounds"); do
  k=$(run "$work/krepro.json" "${krepro_diff[@]}" --json "$A" "$B")
  d=$(run "$work/diffoscope.json" diffoscope --json - "$A" "$B")
  echo "round $r: krepro ${k% *} s (${k#* } KiB), diffoscope ${d% *} s (${d#* } KiB)" >&2
  ks="$ks ${k% *}"; ds="$ds ${d% *}"; krss=${k#* }
done
k=$(best <<<"$ks"); d=$(best <<<"$ds")

# Differing members: krepro's member nodes; diffoscope's member-level sources (paths inside the tar).
members_krepro=$(python3 - "$work/krepro.json" <<'EOF'
import json, sys
out = set()
def walk(n):
    if n['kind'] == 'member':
        out.add(n['source1'] if n['source1'] != '(absent)' else n['source2'])
        return
    for c in n['details']: walk(c)
walk(json.load(open(sys.argv[1]))['tree'])
print(' '.join(sorted(out)))
EOF
)
members_diffoscope=$(python3 - "$work/diffoscope.json" <<'EOF'
import json, sys
out = set()
def walk(n, depth):
    s = n.get('source1', '')
    if s.startswith('kubernetes/') and ' ' not in s:
        out.add(s)
        return
    for c in n.get('details', []): walk(c, depth + 1)
walk(json.load(open(sys.argv[1])), 0)
print(' '.join(sorted(out)))
EOF
)
size=$(stat -c %s "$A")
echo "tarballs: $((size >> 20)) MiB each, $(nproc) cores, node $(node -v), $(diffoscope --version)"
printf 'krepro diff  %7.2f s  peak RSS %d MiB\n' "$k" $((krss / 1024))
printf 'diffoscope   %7.2f s\n' "$d"
awk -v k="$k" -v d="$d" 'BEGIN { printf "ratio krepro/diffoscope %.3f (target <= 0.20)\n", k/d }'
echo "expected members:   $expected"
echo "krepro members:     $members_krepro"
echo "diffoscope members: $members_diffoscope"
if [ "$members_krepro" = "$members_diffoscope" ] && [ "$members_krepro" = "$expected" ]; then echo "same differing members: yes"; else echo "same differing members: NO"; exit 1; fi
