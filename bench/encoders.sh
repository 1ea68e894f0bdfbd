#!/usr/bin/env bash
# bench/encoders.mjs on official Node (this host) and on Debian's nodejs (a container from krepro-test-node:trixie).
#   bench/encoders.sh FILE       e.g. an uncompressed tar of bench/large-stage.sh's server tree
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
file=$(realpath "${1:?usage: bench/encoders.sh FILE}")
[ -f "$here/dist/lib/index.js" ] || (cd "$here" && npm run build >/dev/null)
node "$here/bench/encoders.mjs" "$file"
docker run --rm --name "krepro-bench-encoders-$$" -v "$here:/krepro:ro" -v "$file:/input:ro" krepro-test-node:trixie node /krepro/bench/encoders.mjs /input
