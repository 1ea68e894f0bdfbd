#!/usr/bin/env bash
# Benchmark: a first `go build` in a fresh container of the locked environment, with the image's precompiled
# standard library (GOCACHE=/go/cache) and with an empty cache (what every verify build paid before), as uid 1000,
# for a hello world and a net/http program, with Go's defaults and with CGO_ENABLED=0 -trimpath.
# Needs a running Docker engine and root (krepro env build makes the image if the engine lacks it).
#   bench/go-std-cache.sh [IMAGE]
# Target: the precompiled cache makes the first build >= 10x faster.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
[ -f "$here/dist/cli/main.js" ] || (cd "$here" && npm run build >/dev/null)
image=${1:-$(node "$here/dist/cli/main.js" env build --json | node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(0, "utf8")).image)')}
build() {  # build PROGRAM GOCACHE FLAGS...: milliseconds of one go build in a fresh container
  docker run --rm --network none -u 1000:1000 -e "GOCACHE=$2" "$image" sh -ec '
    cd /tmp && mkdir -p cold
    printf "package main\n\nimport (\n\t\"fmt\"\n\t\"net/http\"\n)\n\nfunc main() { fmt.Println(http.StatusOK) }\n" > web.go
    printf "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello\") }\n" > hello.go
    program=$1; shift
    s=$(date +%s%N); env "$@" go build -o out "$program.go"; e=$(date +%s%N); echo $(( (e - s) / 1000000 ))' sh "$1" "${@:3}"
}
echo "image $image"
for program in hello web; do
  for flags in "CGO_ENABLED=1" "CGO_ENABLED=0 GOFLAGS=-trimpath"; do
    # shellcheck disable=SC2086 # flags are words
    cold=$(build "$program" /tmp/cold $flags) warm=$(build "$program" /go/cache $flags)
    node -e 'const [p, f, c, w] = process.argv.slice(1); console.log(`${p} (${f}): empty cache ${(c / 1000).toFixed(2)} s, precompiled std ${(w / 1000).toFixed(2)} s, ${(c / w).toFixed(1)}x faster (target >= 10x)`)' "$program" "$flags" "$cold" "$warm"
  done
done
