# Prototype of verify's 16 variations on a real Docker engine, in plain docker CLI: the mechanisms measured in
# docs/research/verify-variations.md, used by probes.sh (does each variation take effect?) and corpus-check.sh
# (does each corpus case differ under exactly its expected variations?). Source it; needs docker, node, tar.
#
#   vh_build SRC OUT "variation ..."   build the project in SRC under control conditions with the named variations
#                                       applied; its output paths land in OUT; returns the build's exit code
#
# Every engine object is named krepro-research-<random> and removed afterwards.

VH_VARIATIONS=(build-path tz locale umask user group hostname domain home env path cpus file-order clock kernel aslr)
VH_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VH_WORK=${VH_WORK:-$(mktemp -d /tmp/krepro-research-XXXXXX)}

# The build environment: trixie with the tools the corpus needs, two generated locales (a locale that is not
# generated silently behaves as C, so the locale variation would prove nothing), and Go's standard library
# compiled ahead into a cache any uid can use (a cold `go build` takes 20-30 s here, a warm one about a second).
VH_DOCKERFILE='FROM krepro-base:trixie
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends golang-go make gcc libc6-dev git tzdata locales faketime util-linux hostname && rm -rf /var/lib/apt/lists/*
RUN printf "fr_CH.UTF-8 UTF-8\ntr_TR.UTF-8 UTF-8\n" > /etc/locale.gen && locale-gen
ENV GOCACHE=/go/cache GOTOOLCHAIN=local GOPROXY=off
RUN for f in "" -trimpath; do for c in 0 1; do CGO_ENABLED=$c go build $f std; done; done && chmod -R a+rwX /go'

vh_image() {
  local tag
  tag=krepro-research-corpus-env:$(printf '%s' "$VH_DOCKERFILE" | sha256sum | cut -c1-12)
  if ! docker image inspect "$tag" >/dev/null 2>&1; then
    printf '%s\n' "$VH_DOCKERFILE" | docker build -q -t "$tag" - >&2 || return 1
  fi
  echo "$tag"
}

# Moby's default seccomp profile with personality() also allowed for ADDR_NO_RANDOMIZE (0x40000) alone and with
# PER_LINUX32 (8) and UNAME26 (0x20000): the aslr control runs `setarch -R`, which the default profile refuses.
# The base profile is the engine's own default as shipped by Debian (golang-github-docker-docker-dev); when the
# host does not have that package, the one file is taken from the package inside a throwaway container.
VH_MOBY_PROFILE=/usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json
vh_seccomp() {
  local out=$VH_WORK/seccomp.json base=$VH_WORK/moby-default.json
  [ -s "$out" ] && { echo "$out"; return; }
  if [ -s "$VH_MOBY_PROFILE" ]; then
    cp "$VH_MOBY_PROFILE" "$base"
  else
    docker run --rm --name "krepro-research-seccomp-$RANDOM$RANDOM" krepro-base:trixie sh -c \
      'cd /tmp && apt-get update -qq >/dev/null && apt-get download -qq golang-github-docker-docker-dev >/dev/null && dpkg-deb --fsys-tarfile golang-github-docker-docker-dev_*.deb | tar -xO ./usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json' >"$base" || return 1
  fi
  node -e '
    const fs = require("fs");
    const p = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
    for (const value of [0x40000, 0x40008, 0x60000, 0x60008])
      p.syscalls.push({ names: ["personality"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value, op: "SCMP_CMP_EQ" }] });
    fs.writeFileSync(process.argv[2], JSON.stringify(p));
  ' "$base" "$out" || return 1
  echo "$out"
}

# Runs in the container as the build user. Positional: umask, faketime offset ('' = real clock), setarch
# architecture (linux32 or '' = as is), setarch flags, then the build command. Parameters rather than variables,
# so nothing of the mechanism is left in the build's environment (except libfaketime's own variables).
VH_WRAPPER='umask "$1"; mkdir -p "$HOME"
if [ -n "$2" ]; then for f in /usr/lib/*/faketime/libfaketime.so.1; do [ -e "$f" ] && export LD_PRELOAD="$f" FAKETIME="$2" NO_FAKE_STAT=1; done; fi
arch=${3:-$(uname -m)}; flags=$4; shift 4
exec setarch "$arch" $flags -- "$@"'

# The control conditions (fixed, never the host's defaults), then one function per variation.
vh_control() {
  C_PATH_DIR=/go/src/k8s.io/kubernetes
  C_TZ=UTC
  C_LOCALE=C.UTF-8
  C_UMASK=0022
  C_UID=1000
  C_GID=1000
  C_HOSTNAME=krepro-control
  C_DOMAIN=control.invalid
  C_HOME=/tmp/krepro-home/control
  C_EXTRA_ENV=
  C_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
  C_CPUSET=0-$(($(docker info --format '{{.NCPU}}') - 1))
  C_ORDER=sorted
  C_FAKETIME=
  C_ARCH=
  C_SETARCH=-R
}
vh_vary() {
  case $1 in
    build-path) C_PATH_DIR=/build/krepro-experiment/some/deeper/path/kubernetes ;;
    tz) C_TZ=Pacific/Chatham ;;
    locale) C_LOCALE=tr_TR.UTF-8 ;;
    umask) C_UMASK=0002 ;;
    user) C_UID=2345 ;;
    group) C_GID=2345 ;;
    hostname) C_HOSTNAME=krepro-experiment ;;
    domain) C_DOMAIN=experiment.invalid ;;
    home) C_HOME=/tmp/krepro-home/experiment/nested ;;
    env) C_EXTRA_ENV=KREPRO_EXTRA_VARIABLE=experiment ;;
    path) C_PATH=$C_PATH:/krepro/experiment/bin ;;
    cpus) C_CPUSET=0 ;;
    file-order) C_ORDER=reversed ;;
    clock) C_FAKETIME=+373d ;;
    kernel) C_ARCH=linux32 C_SETARCH="$C_SETARCH --uname-2.6" ;;
    aslr) C_SETARCH=${C_SETARCH/-R/} ;;
    *) echo "unknown variation $1" >&2; return 2 ;;
  esac
}

# A project's settings from its krepro.json: command (string for sh -c, or argv), outputs, env, normalize.
vh_project() {
  node -e '
    const fs = require("fs");
    const p = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
    const cmd = p.command === undefined ? ["make", "cross"] : typeof p.command === "string" ? ["sh", "-c", p.command] : p.command;
    const env = { ...(p.normalize ? { GOFLAGS: "-trimpath", CGO_ENABLED: "0" } : {}), ...(p.env || {}) };
    const out = { cmd, outputs: p.outputs || ["_output/dockerized/bin"], env: Object.entries(env).map(([k, v]) => `${k}=${v}`) };
    for (const [k, v] of Object.entries(out)) console.log(k + "\0" + v.join("\0"));
  ' "$1/krepro.json" | tr '\0' '\t'
}

vh_build() {
  local src=$1 out=$2 image seccomp id rc=0 v
  image=$(vh_image) && seccomp=$(vh_seccomp) || return 125
  vh_control
  for v in $3; do vh_vary "$v" || return 2; done
  local cmd=() outputs=() penv=() line
  while IFS=$'\t' read -r -a line; do
    case ${line[0]} in cmd) cmd=("${line[@]:1}") ;; outputs) outputs=("${line[@]:1}") ;; env) penv=("${line[@]:1}") ;; esac
  done < <(vh_project "$src")
  id=krepro-research-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
  mkdir -p "$out"
  # Sources live on a tmpfs volume: readdir there follows creation order (ext4/overlay use name hashes), so
  # creating them in byte order or in reverse really changes the order a build lists them in. A tmpfs volume is
  # unmounted (emptied) with its last container, so a keeper container holds it from copy-in to copy-out.
  docker volume create --label krepro-research=1 -d local -o type=tmpfs -o device=tmpfs \
    -o "o=size=2g,uid=$C_UID,gid=$C_GID,mode=0755" "$id" >/dev/null || return 125
  docker run -d --name "$id-keeper" --label krepro-research=1 --network none -v "$id:$C_PATH_DIR" "$image" sleep infinity >/dev/null || rc=125
  if [ $rc = 0 ]; then
    local sortflag=; [ "$C_ORDER" = reversed ] && sortflag=-r
    # `find` lists directories before their contents; after sort -r they come after them and tar (GNU and the
    # engine's) creates missing parents on the way, so every directory's entries are created in reverse.
    (cd "$src" && find . -mindepth 1 ! -name expected.json | LC_ALL=C sort $sortflag |
      tar --no-recursion --numeric-owner --owner="$C_UID" --group="$C_GID" -cf - -T -) |
      docker cp - "$id-keeper:$C_PATH_DIR" || rc=125
  fi
  if [ $rc = 0 ]; then
    local envargs=() e
    for e in "${penv[@]}"; do envargs+=(-e "$e"); done
    [ -n "$C_EXTRA_ENV" ] && envargs+=(-e "$C_EXTRA_ENV")
    docker run --name "$id-build" --label krepro-research=1 --network none \
      --security-opt "seccomp=$seccomp" --user "$C_UID:$C_GID" --hostname "$C_HOSTNAME" --domainname "$C_DOMAIN" \
      --cpuset-cpus "$C_CPUSET" -v "$id:$C_PATH_DIR" -w "$C_PATH_DIR" \
      -e SOURCE_DATE_EPOCH=1700000000 -e "TZ=$C_TZ" -e "LANG=$C_LOCALE" -e "LC_ALL=$C_LOCALE" -e "HOME=$C_HOME" -e "PATH=$C_PATH" \
      "${envargs[@]}" "$image" sh -c "$VH_WRAPPER" krepro-build "$C_UMASK" "$C_FAKETIME" "$C_ARCH" "$C_SETARCH" "${cmd[@]}" \
      >"$out/build.log" 2>&1 || rc=$?
    for o in "${outputs[@]}"; do
      mkdir -p "$out/$(dirname "$o")"
      docker cp "$id-keeper:$C_PATH_DIR/$o" - 2>/dev/null | tar -xf - -C "$out/$(dirname "$o")" 2>/dev/null
    done
  fi
  docker rm -f "$id-build" "$id-keeper" >/dev/null 2>&1
  docker volume rm "$id" >/dev/null 2>&1
  return $rc
}

# Files under OUT (without the log), with their content digests, one per line: what verify compares.
vh_digests() {
  (cd "$1" && find . -type f ! -name build.log -printf '%P\n' | LC_ALL=C sort | while IFS= read -r f; do
    printf '%s %s\n' "$(sha256sum <"$f" | cut -c1-16)" "$f"
  done)
}
