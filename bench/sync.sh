#!/usr/bin/env bash
# Benchmark: syncSources on a 20,000-file git tree — first sync, no-op re-sync, one-file change.
#   bench/sync.sh [TREE_DIR] [IMAGE] [FILES]   (default /tmp/krepro-bench-sync-tree, krepro-test-node:trixie, 20000)
# The tree is made once and reused. Needs a Docker engine (DOCKER_HOST as for krepro) and the image locally.
# Targets: no-op re-sync ≤ 2 s with < 1 MiB sent; a one-file change sends about that file's size.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
exec node --import tsx/esm bench/sync.ts "$@"
