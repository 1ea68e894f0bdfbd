#!/usr/bin/env bash
# Builds a stage with one large server tree (the honest case for a packer: one big tarball, no parallelism
# across tarballs to hide behind), from the largest real executables on this machine plus a Python tree.
#   bench/large-stage.sh DIR [MiB]     (default 400 MiB of server binaries)
set -euo pipefail
dir=${1:?usage: large-stage.sh DIR [MiB]}; want=$(( ${2:-400} * 1024 * 1024 ))
mapfile -t srcs < <(find /usr/local/bin /usr/bin /usr/sbin /usr/lib -maxdepth 3 -type f -size +8M -perm -u+x 2>/dev/null | xargs -r ls -S | head -40)
[ ${#srcs[@]} -gt 0 ] || { echo "no large executables found" >&2; exit 1; }
rm -rf "$dir"; k="$dir/server/linux-amd64/kubernetes"; mkdir -p "$k/server/bin"
total=0; i=0
# Largest first, at most 80 MiB of each (a mix of Go, C and C++ code), each copy changed at one offset so no two
# are equal, until the size is reached.
while [ $total -lt $want ]; do
  src=${srcs[$(( i % ${#srcs[@]} ))]}; left=$(( want - total )); [ $left -gt 83886080 ] && left=83886080; dest="$k/server/bin/bin-$(printf '%02d' $i)-$(basename "$src")"
  head -c "$left" "$src" > "$dest"; chmod 755 "$dest"
  printf '%08d' "$i" | dd of="$dest" bs=1 seek=4096 conv=notrunc 2>/dev/null
  total=$(( total + $(stat -c %s "$dest") )); i=$(( i + 1 ))
done
py=$(find /usr/lib -maxdepth 1 -type d -name 'python3.*' | sort | tail -1)
[ -n "$py" ] && cp -rL "$py" "$k/python" 2>/dev/null || true
mkdir -p "$k/LICENSES"; cp /usr/share/common-licenses/Apache-2.0 "$k/LICENSES/LICENSE" 2>/dev/null || echo license > "$k/LICENSES/LICENSE"
printf 'v1.99.0-krepro.0\n' > "$k/version"
echo "staged $(( total / 1048576 )) MiB of binaries and $(du -sm "$k/python" 2>/dev/null | cut -f1) MiB of Python in $dir"
