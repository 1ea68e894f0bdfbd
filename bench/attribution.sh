#!/usr/bin/env bash
# Benchmark: krepro verify's attribution on every verify-corpus case, the previous commit's algorithm (causes per
# artifact, from a worktree of KREPRO_BENCH_OLD, default 2fb365e) beside this tree's (causes per finding), in one
# run: the causes each names per artifact, whether they are exactly the case's expected.json (per artifact; for
# this tree also per finding), builds and wall time per case. With --reprotest also Debian's reprotest
# --auto-build (null backend, on this host) per case, against the union of the expected causes.
#   bench/attribution.sh [--reprotest] [--setup] [case ...]
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
    const rules = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).findings;
    console.log([...new Set(rules.map((r) => r.cause).filter((c) => c !== "consequence" && c !== "masked-by-noise").flatMap((c) => c.split("+")))].sort().join(","));
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
# krepro verify (the CLI at $3) on a committed git checkout of the case, on the Docker engine: scored by
# bench/attribution-score.ts as "causes per artifact|artifact-exact|finding-exact|builds|seconds".
run_krepro() {
  local src=$1 work=$2 cli=$3 start
  rm -rf "$work" && mkdir -p "$work" && cp -r "$src/." "$work" && rm -f "$work/expected.json"
  (cd "$work" && git init -q -b main && git add -A && git -c user.name=b -c user.email=b@x.invalid commit -qm bench) >/dev/null
  start=$(date +%s)
  (cd "$work" && SOURCE_DATE_EPOCH=1700000000 node "$cli" verify --json >"$work/.report.json" 2>"$work/.stderr")
  (cd "$here" && node --import tsx/esm bench/attribution-score.ts "$src" "$work/.report.json" "$(($(date +%s) - start))")
  (cd "$work" && node "$cli" clean >/dev/null 2>&1)
}

# The previous commit's CLI, built in a worktree of it (node_modules shared: the same dependencies).
old_cli() {
  local rev=${KREPRO_BENCH_OLD:-2fb365e}
  git -C "$here" worktree add -q --detach "$work/old" "$rev" >&2 || return 1
  ln -s "$here/node_modules" "$work/old/node_modules"
  (cd "$work/old" && npx tsc -p tsconfig.json >&2) || return 1
  echo "$work/old/dist/cli/main.js"
}
# =====================================================================================================================

main() {
  local with_reprotest=0
  if [ "${1:-}" = --reprotest ]; then with_reprotest=1; shift; fi
  if [ "${1:-}" = --setup ]; then setup || { echo "setup failed" >&2; exit 2; }; shift; fi
  if [ $with_reprotest = 1 ]; then
    local need; need=$(missing)
    if [ -n "$need" ]; then echo "attribution: missing $need (run bench/attribution.sh --setup as root)" >&2; exit 2; fi
    go_toolchain || { echo "attribution: cannot prepare Go from the corpus image" >&2; exit 2; }
    sudo_shim
  fi
  [ -f "$here/dist/cli/main.js" ] || (cd "$here" && npm run build >/dev/null)
  local cases=("$@") n=0 old new
  [ ${#cases[@]} = 0 ] && cases=($(cd "$corpus" && for d in */; do echo "${d%/}"; done))
  work=$(mktemp -d /tmp/krepro-attribution-XXXXXX)  # global: the EXIT trap runs after main returns
  trap 'git -C "$here" worktree remove --force "$work/old" >/dev/null 2>&1; rm -rf "$work"' EXIT
  old=$(old_cli) || { echo "attribution: cannot build the previous commit (${KREPRO_BENCH_OLD:-2fb365e})" >&2; exit 2; }
  new=$here/dist/cli/main.js
  local o_art=0 n_art=0 n_find=0 o_builds=0 n_builds=0 o_s=0 n_s=0 r_exact=0 r_builds=0
  printf '%-24s | %-34s | %-44s | %s\n' case "previous: per artifact (builds, s)" "this tree: per artifact, per finding (builds, s)" "${with_reprotest:+reprotest}"
  for c in "${cases[@]}"; do
    n=$((n + 1))
    local oc oa of ob os nc na nf nb ns rt=""
    IFS='|' read -r oc oa of ob os < <(run_krepro "$corpus/$c" "$work/$c-old" "$old")
    IFS='|' read -r nc na nf nb ns < <(run_krepro "$corpus/$c" "$work/$c-new" "$new")
    [ "$oa" = '=' ] && o_art=$((o_art + 1)); [ "$na" = '=' ] && n_art=$((n_art + 1)); [ "$nf" = '=' ] && n_find=$((n_find + 1))
    o_builds=$((o_builds + ob)); n_builds=$((n_builds + nb)); o_s=$((o_s + os)); n_s=$((n_s + ns))
    if [ $with_reprotest = 1 ]; then
      local exp r_causes rb r_s mark=' '
      exp=$(expected_union "$corpus/$c")
      IFS='|' read -r r_causes rb r_s < <(run_reprotest "$corpus/$c" "$work/$c-reprotest")
      [ "$r_causes" = "$exp" ] && mark='=' && r_exact=$((r_exact + 1))
      r_builds=$((r_builds + rb))
      rt="$mark ${r_causes:-(reproducible)} ($rb, $r_s)"
    fi
    printf '%-24s | %s %2s b %4s s | %s%s %2s b %4s s | %s\n' "$c" "$oa" "$ob" "$os" "$na" "$nf" "$nb" "$ns" "$rt"
    [ "$oa$na$nf" = '===' ] || printf '%-24s   previous: %s\n%-24s   this tree: %s\n' '' "$oc" '' "$nc"
  done
  echo "previous commit: $o_art/$n exact per artifact; $o_builds builds, $o_s s"
  echo "this tree:       $n_art/$n exact per artifact, $n_find/$n per finding; $n_builds builds, $n_s s"
  [ $with_reprotest = 1 ] && echo "reprotest --auto-build: $r_exact/$n exact (union of causes); $r_builds builds"
  return 0
}

main "$@"
