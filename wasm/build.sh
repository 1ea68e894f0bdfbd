#!/usr/bin/env bash
# Builds wasm/libdeflate.wasm, the deflate encoder of gzip format 2, from pinned source with a pinned toolchain.
#   wasm/build.sh [OUT]      build into OUT (default: wasm/libdeflate.wasm)
#   wasm/build.sh --check    build into a temporary file and fail unless it equals the committed wasm/libdeflate.wasm
# Runs in a fresh container from a Debian trixie image (default krepro-base:trixie, made by
# `krepro base-image --suite trixie --tag krepro-base:trixie`; override with KREPRO_WASM_IMAGE) that can reach
# deb.debian.org. The toolchain is Debian's clang/lld 19 and wasi-libc at the exact versions below; the source is
# libdeflate 1.23 as Debian's source package ships it, checked by SHA-256. Nothing fetched is kept.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
image=${KREPRO_WASM_IMAGE:-krepro-base:trixie}

SOURCE_URL=http://deb.debian.org/debian/pool/main/libd/libdeflate/libdeflate_1.23.orig.tar.gz
SOURCE_SHA256=1ab18349b9fb0ce8a0ca4116bded725be7dcbfa709e19f6f983d99df1fb8b25f
# Every package whose files reach the output: compiler, LLVM, linker, C library, compiler-rt builtins.
TOOLCHAIN="clang-19=1:19.1.7-3+b1 libclang-cpp19=1:19.1.7-3+b1 libllvm19=1:19.1.7-3+b1 libclang-common-19-dev=1:19.1.7-3+b1
  lld-19=1:19.1.7-3+b1 llvm-19-linker-tools=1:19.1.7-3+b1 wasi-libc=0.0~git20241209.574b88d-2
  libclang-rt-19-dev-wasm32=1:19.1.7-3"
# The compressor half of libdeflate and wasi-libc's malloc/free; the decompressor is not built.
EXPORTS=libdeflate_alloc_compressor,libdeflate_free_compressor,libdeflate_deflate_compress,libdeflate_deflate_compress_bound,libdeflate_crc32,malloc,free

check=false; out=$here/libdeflate.wasm
case ${1:-} in
  --check) check=true; out=$(mktemp) ;;
  -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
  "") ;;
  *) out=$1 ;;
esac
command -v docker >/dev/null || { echo "wasm/build.sh: docker is not installed (apt-get install docker.io)" >&2; exit 2; }
docker image inspect "$image" >/dev/null 2>&1 || {
  echo "wasm/build.sh: image $image not found; make it with: node dist/cli/main.js base-image --suite trixie --tag $image" >&2; exit 2; }

TOOLCHAIN=$(echo $TOOLCHAIN)  # one line, for the script below
read -r -d '' script <<SCRIPT || true
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
if ! apt-get install -y -qq --no-install-recommends curl ca-certificates $TOOLCHAIN >/tmp/apt.log 2>&1; then
  tail -20 /tmp/apt.log
  echo "the pinned toolchain is not installable (a Debian point release may have replaced it): update TOOLCHAIN in wasm/build.sh, rebuild, and check the output bytes" >&2
  exit 3
fi
for p in $TOOLCHAIN; do
  have=\$(dpkg-query -W -f='\${Version}' "\${p%%=*}")
  [ "\$have" = "\${p#*=}" ] || { echo "\${p%%=*} is \$have, pinned \${p#*=}" >&2; exit 3; }
done
mkdir -p /build && cd /build
curl -sSf -o src.tar.gz $SOURCE_URL
echo "$SOURCE_SHA256  src.tar.gz" | sha256sum -c --quiet
tar xzf src.tar.gz
cd libdeflate-1.23
clang-19 --target=wasm32-wasi -O2 -msimd128 -g0 -ffile-prefix-map=/build=. -mexec-model=reactor -I. \
  lib/deflate_compress.c lib/utils.c lib/crc32.c -o /build/libdeflate.wasm \
  -Wl,--no-entry,--strip-all,--export=$(echo $EXPORTS | sed 's/,/,--export=/g')
clang-19 --version | head -1 >&2
cat /build/libdeflate.wasm
SCRIPT

name=krepro-wasm-build-$(date +%s)-$$
echo "wasm/build.sh: building in container $name from $image" >&2
tmp=$(mktemp); trap 'rm -f "$tmp"; $check && rm -f "$out"' EXIT
docker run --rm --name "$name" "$image" sh -c "$script" > "$tmp"
[ -s "$tmp" ] || { echo "wasm/build.sh: the build wrote nothing" >&2; exit 1; }
cp "$tmp" "$out"; chmod 644 "$out"
sum=$(sha256sum "$out" | cut -d' ' -f1)
if $check; then
  committed=$(sha256sum "$here/libdeflate.wasm" | cut -d' ' -f1)
  [ "$sum" = "$committed" ] || { echo "wasm/build.sh: rebuilt sha256 $sum differs from the committed wasm/libdeflate.wasm ($committed)" >&2; exit 1; }
  echo "wasm/build.sh: rebuild matches wasm/libdeflate.wasm (sha256 $sum)" >&2
else
  echo "wasm/build.sh: wrote $out (sha256 $sum)" >&2
fi
