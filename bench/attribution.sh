#!/usr/bin/env bash
# Benchmark: which variations cause each verify-corpus case's differences, as named by reprotest --auto-build
# (Debian's reprotest, null backend, on this host) and by krepro verify, against the case's expected.json.
#   bench/attribution.sh [--setup] [case ...]
# --setup (root, changes the host) gives reprotest what it needs to vary everything it can here: faketime,
# disorderfs and sudo; the et_EE.UTF-8 locale its locale variation uses; a spare user for user_group; /dev/fuse
# usable by that user (Debian's usual 0666). Go 1.24 (the corpus needs it; bookworm has 1.19) is copied from the
# corpus build environment image (bench/variations/harness.sh) with a warm build cache, into $KREPRO_BENCH_CACHE.
#
# reprotest names variations for the whole build, not per artifact: its answer is compared with the union of the
# expected causes. Its user_group and domain_host variations each change two of krepro's conditions at once, so
# they count as both (user+group, hostname+domain), and cases caused by one of the pair cannot be exact for it.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
corpus=$here/fixtures/verify-corpus
cache=${KREPRO_BENCH_CACHE:-/var/tmp/krepro-bench-attribution}
spare_user=krepro-rt

setup() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends faketime disorderfs sudo >/dev/null || return 1
  locale -a | grep -qx et_EE.utf8 || localedef -i et_EE -f UTF-8 et_EE.UTF-8 || return 1
  id "$spare_user" >/dev/null 2>&1 || useradd --system --user-group --no-create-home --shell /usr/sbin/nologin "$spare_user" || return 1
  chmod 0666 /dev/fuse
}

missing() {
  local m=()
  for t in reprotest diffoscope faketime disorderfs sudo docker node; do command -v "$t" >/dev/null || m+=("$t"); done
  locale -a | grep -qx et_EE.utf8 || m+=("locale et_EE.UTF-8")
  id "$spare_user" >/dev/null 2>&1 || m+=("user $spare_user")
  [ -r /dev/fuse ] && [ "$(stat -c %a /dev/fuse)" = 666 ] || m+=("/dev/fuse mode 0666")
  echo "${m[*]}"
}

# Go from the corpus image, dereferenced (Debian's GOROOT is symlinks into /usr/share), with std prebuilt for
# the flag sets the corpus uses, in a cache every build user may write to.
go_toolchain() {
  [ -x "$cache/go/bin/go" ] && [ -e "$cache/gocache/.warm" ] && return
  . "$here/bench/variations/harness.sh"
  local image; image=$(vh_image); rm -rf "$VH_WORK"; [ -n "$image" ] || return 1
  rm -rf "$cache/go" "$cache/gocache" && mkdir -p "$cache/gocache" || return 1
  docker run --rm --name "krepro-research-go-$RANDOM$RANDOM" "$image" sh -c 'tar -chf - -C "$(go env GOROOT)" .' |
    { mkdir -p "$cache/go" && tar -xf - -C "$cache/go"; } || return 1
  for f in "" -trimpath; do for c in 0 1; do
    GOCACHE=$cache/gocache GOTOOLCHAIN=local CGO_ENABLED=$c "$cache/go/bin/go" build $f std || return 1
  done; done
  chmod -R a+rwX "$cache" && touch "$cache/gocache/.warm"
}

# reprotest 0.7.23 runs `sudo -h localhost …`; sudo 1.9 accepts -h HOST only when listing (-l) and refuses.
sudo_shim() {
  mkdir -p "$cache/shim"
  printf '#!/bin/sh\nif [ "$1" = -h ] && [ "$2" = localhost ]; then shift 2; fi\nexec /usr/bin/sudo "$@"\n' >"$cache/shim/sudo"
  chmod 755 "$cache/shim/sudo"
}

# The project's command as one shell line, with the environment every krepro build gets (SOURCE_DATE_EPOCH, the
# project's env, GOFLAGS=-trimpath CGO_ENABLED=0 with "normalize") and Go on PATH.
build_line() {
  node -e '
    const p = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const q = (s) => "'\''" + String(s).replace(/'\''/g, "'\''\\'\'''\''") + "'\''";
    const env = { SOURCE_DATE_EPOCH: "1700000000", GOCACHE: process.argv[2] + "/gocache", GOTOOLCHAIN: "local", GOPROXY: "off", GOFLAGS: "",
      ...(p.normalize ? { GOFLAGS: "-trimpath", CGO_ENABLED: "0" } : {}), ...(p.env || {}) };
    const cmd = p.command === undefined ? "make cross" : typeof p.command === "string" ? p.command : p.command.map(q).join(" ");
    console.log("export " + Object.entries(env).map(([k, v]) => k + "=" + q(v)).join(" ") + " PATH=" + q(process.argv[2] + "/go/bin") + ":\"$PATH\"; " + cmd);
  ' "$1/krepro.json" "$cache"
}

patterns() { node -e 'for (const o of JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).outputs || ["_output/dockerized/bin"]) console.log(o + "/*")' "$1/krepro.json"; }

expected_union() {
  node -e '
    const c = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).causes;
    console.log([...new Set(Object.values(c).flat())].sort().join(","));
  ' "$1/expected.json"
}

# Prints "causes|builds|seconds" for one case, causes in krepro's names ("?" when reprotest failed).
run_reprotest() {
  local src=$1 work=$2 out line causes builds start
  rm -rf "$work" && mkdir -p "$work" && cp -r "$src" "$work/tree" && rm -f "$work/tree/expected.json"
  line=$(build_line "$src")
  start=$(date +%s)
  (cd "$work" && PATH=$cache/shim:$PATH reprotest --verbosity 1 --auto-build \
    --variations=+all,user_group.available+=$spare_user:$spare_user,domain_host.use_sudo=1 \
    -c "$line" tree $(patterns "$src") -- null >"$work/stdout" 2>"$work/stderr")
  builds=$(grep -c '^INFO:reprotest:build "' "$work/stderr")
  if grep -q 'Reproducible, even when varying as much as' "$work/stdout"; then
    causes=
  elif grep -q 'Not reproducible, even when fixing as much as' "$work/stdout"; then
    causes=nondeterminism
  elif grep -q 'Observed unreproducibility when varying each of the following' "$work/stdout"; then
    causes=$(grep -A1 'Observed unreproducibility when varying each of the following' "$work/stdout" | tail -1 | tr ' ' '\n' | sed '
      s/^environment$/env/; s/^build_path$/build-path/; s/^num_cpus$/cpus/; s/^time$/clock/; s/^user_group$/user\ngroup/
      s/^fileordering$/file-order/; s/^domain_host$/hostname\ndomain/; s/^locales$/locale/; s/^exec_path$/path/; s/^timezone$/tz/' |
      grep . | LC_ALL=C sort -u | paste -sd, -)
  else
    causes="?"
  fi
  printf '%s|%s|%s\n' "$causes" "$builds" "$(($(date +%s) - start))"
}

# ==== krepro verify ==================================================================================================
# krepro verify on a committed git checkout of the case, on the Docker engine: its causes per artifact
# ("path=a,b;path=c", compared with expected.json exactly), the builds it ran, the seconds.
run_krepro() {
  local src=$1 work=$2 start
  rm -rf "$work" && mkdir -p "$work" && cp -r "$src/." "$work" && rm -f "$work/expected.json"
  (cd "$work" && git init -q -b main && git add -A && git -c user.name=b -c user.email=b@x.invalid commit -qm bench) >/dev/null
  start=$(date +%s)
  (cd "$work" && SOURCE_DATE_EPOCH=1700000000 node "$here/dist/cli/main.js" verify --json >"$work/.report.json" 2>"$work/.stderr")
  node -e '
    let r;
    try { r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); } catch { console.log("?|0|" + process.argv[2]); process.exit(); }
    const per = r.artifacts.filter((a) => a.causes.length).map((a) => a.name + "=" + a.causes.flatMap((c) => c.kind === "nondeterminism" ? ["nondeterminism"] : c.variations).sort().join(","));
    console.log(per.sort().join(";") + "|" + r.builds.length + "|" + process.argv[2]);
  ' "$work/.report.json" "$(($(date +%s) - start))"
  (cd "$work" && node "$here/dist/cli/main.js" clean >/dev/null 2>&1)
}
# =====================================================================================================================

expected_per_artifact() {
  node -e '
    const c = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).causes;
    console.log(Object.keys(c).sort().map((a) => a + "=" + [...c[a]].sort().join(",")).join(";"));
  ' "$1/expected.json"
}

main() {
  if [ "${1:-}" = --setup ]; then setup || { echo "setup failed" >&2; exit 2; }; shift; fi
  local need; need=$(missing)
  if [ -n "$need" ]; then echo "attribution: missing $need (run bench/attribution.sh --setup as root)" >&2; exit 2; fi
  go_toolchain || { echo "attribution: cannot prepare Go from the corpus image" >&2; exit 2; }
  sudo_shim
  [ -f "$here/dist/cli/main.js" ] || (cd "$here" && npm run build >/dev/null)
  local cases=("$@") rt kr rt_exact=0 kr_exact=0 kr_ran=0 n=0 rt_builds=0 kr_builds=0
  [ ${#cases[@]} = 0 ] && cases=($(cd "$corpus" && for d in */; do echo "${d%/}"; done))
  work=$(mktemp -d /tmp/krepro-attribution-XXXXXX)  # global: the EXIT trap runs after main returns
  trap 'rm -rf "$work"' EXIT
  printf '%-24s | %-40s | %-44s | %s\n' case expected "reprotest --auto-build (builds, s)" "krepro verify (builds, s)"
  for c in "${cases[@]}"; do
    n=$((n + 1))
    local exp expa r_causes r_builds r_s k_causes k_builds k_s rmark kmark
    exp=$(expected_union "$corpus/$c"); expa=$(expected_per_artifact "$corpus/$c")
    IFS='|' read -r r_causes r_builds r_s < <(run_reprotest "$corpus/$c" "$work/$c-reprotest")
    IFS='|' read -r k_causes k_builds k_s < <(run_krepro "$corpus/$c" "$work/$c-krepro")
    rt_builds=$((rt_builds + r_builds)); kr_builds=$((kr_builds + k_builds))
    rmark=' '; [ "$r_causes" = "$exp" ] && rmark='=' && rt_exact=$((rt_exact + 1))
    kmark=' '
    if [ "$k_causes" != "not run" ]; then kr_ran=$((kr_ran + 1)); [ "$k_causes" = "$expa" ] && kmark='=' && kr_exact=$((kr_exact + 1)); fi
    printf '%-24s | %-40s | %s %-42s | %s %s\n' "$c" "${exp:-(reproducible)}" "$rmark" "${r_causes:-(reproducible)} ($r_builds, $r_s)" "$kmark" "$k_causes ($k_builds, $k_s)"
  done
  echo "reprotest --auto-build: $rt_exact/$n attributed exactly, $rt_builds builds"
  if [ $kr_ran = 0 ]; then echo "krepro verify: not run (see run_krepro)"; else echo "krepro verify: $kr_exact/$n attributed exactly, $kr_builds builds"; fi
}

main "$@"
