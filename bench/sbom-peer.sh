#!/usr/bin/env bash
# Peer check of krepro's SBOMs: the SPDX project's own Go library (tools-golang, Debian trixie's
# golang-github-spdx-tools-golang-dev) reads each SPDX 2.3 JSON document, validates it (spdxlib.ValidateDocument:
# every relationship names an element of the document, what it describes) and writes it as tag-value.
#   bench/sbom-peer.sh FILE.spdx.json...      (needs the krepro-base:trixie image and Debian's mirror; ~3 min)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -gt 0 ] || { echo "usage: $0 FILE.spdx.json..." >&2; exit 2; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cp "$here/sbom-peer/main.go" "$work/"
mkdir "$work/docs"
for f in "$@"; do cp "$f" "$work/docs/$(basename "$(dirname "$(realpath "$f")")")-$(basename "$f")"; done
docker run --rm --name "krepro-sbom-peer-$$" -e DEBIAN_FRONTEND=noninteractive -v "$work:/w" krepro-base:trixie sh -c '
  apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends golang-go golang-github-spdx-tools-golang-dev >/dev/null
  echo "tools-golang $(dpkg-query -W -f "\${Version}" golang-github-spdx-tools-golang-dev), $(go version)"
  cd /w && GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=/tmp/gocache GOFLAGS= go run main.go /w/docs/*.spdx.json'
