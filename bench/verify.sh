#!/usr/bin/env bash
# Benchmark: krepro verify's own overhead (sync, copy-out, staging, packing, comparison) beyond the two builds'
# commands, on the Kubernetes-shaped Go fixture; and the number of extra builds attribution needs for one culprit
# among all variations (the wall-clock fixture). Needs a running Docker engine and krepro-base:trixie.
#   bench/verify.sh
# Targets (issue #4): overhead <= 15 % of the wall time; attribution of one culprit in <= 5 extra builds.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
[ -f "$here/dist/cli/main.js" ] || (cd "$here" && npm run build >/dev/null)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
project() {  # project FIXTURE DIR: a committed git checkout of a fixture
  cp -r "$here/fixtures/$1/." "$2"
  (cd "$2" && git init -q -b main && git add -A && git -c user.name=b -c user.email=b@x.invalid commit -qm bench)
}
project kube-like "$work/kube"
start=$(date +%s.%N)
(cd "$work/kube" && node "$here/dist/cli/main.js" verify --json --no-attribution > "$work/kube.json" 2>/dev/null) || true
end=$(date +%s.%N)
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const wall = (process.argv[3] - process.argv[2]) * 1000;
  const cmd = r.builds.reduce((s, b) => s + b.commandMs, 0);
  console.log(`verify of the Go fixture: ${r.verdict}, wall ${(wall/1000).toFixed(1)} s, build commands ${(cmd/1000).toFixed(1)} s, overhead ${((wall-cmd)/1000).toFixed(1)} s = ${(100*(wall-cmd)/wall).toFixed(1)} % of wall time (target <= 15 %)`);
' "$work/kube.json" "$start" "$end"
project unreproducible/wall-clock "$work/clock"
(cd "$work/clock" && node "$here/dist/cli/main.js" verify --json > "$work/clock.json" 2>/dev/null) || true
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(`attribution of the wall-clock fixture among ${r.builds[1].variations.length} variations: ${JSON.stringify(r.attribution.map(a => a.variations))} in ${r.builds.length - 2} extra builds (target <= 5)`);
' "$work/clock.json"
