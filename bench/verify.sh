#!/usr/bin/env bash
# Benchmark: krepro verify's own overhead (sync, copy-out, staging, packing, comparison) beyond the two builds'
# commands, on the Kubernetes-shaped Go fixture; and the builds attribution needs for one cause and for two among
# all 16 variations (corpus cases clock and path-and-tz): k + 4 when each cause's value is recognized, and the
# bound with ceil(log2 n) + 2 per cause the bisection has to find.
# Needs a running Docker engine and krepro-base:trixie.
#   bench/verify.sh
# Target: overhead <= 15 % of the wall time.
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
for c in clock path-and-tz; do
  project "verify-corpus/$c" "$work/$c"
  (cd "$work/$c" && node "$here/dist/cli/main.js" verify --json > "$work/$c.json" 2>/dev/null) || true
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const n = r.variations.filter((v) => v.tested).length;
    const causes = r.causes.filter((c) => c.kind === "variation" || c.kind === "interaction");
    const k = causes.length;
    const guessed = r.attribution.guesses.filter((g) => g.confirmed).length;
    const worst = 4 + guessed + (k - guessed) * (Math.ceil(Math.log2(n)) + 2);
    console.log(`corpus ${process.argv[2]}: causes ${JSON.stringify(causes.map((c) => c.id))} among ${n} variations (${guessed} recognized by value), ${r.builds.length} builds in all (k + 4 = ${k + 4}; bound ${worst}), diff ${(r.attribution.diffMs / 1000).toFixed(1)} s`);
  ' "$work/$c.json" "$c"
done
