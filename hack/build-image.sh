#!/usr/bin/env bash
# Builds the operator image from the Dockerfile with buildah, on a machine that
# can pull nothing: the base images are made here, from scratch.
#
#   hack/build-image.sh            # -> localhost/layered-build-controller:dev
#   IMAGE=layered-build-controller:test hack/build-image.sh
#
# Steps:
#   1. localhost/lbc-node-base:24   runtime base: the Node 24 binary of the `node`
#      npm dev dependency, the shared libraries `ldd` lists for it, /etc/passwd
#      and /etc/group with a non-root user (65532), /tmp, CA certificates.
#   2. localhost/lbc-node-build:24  build base: the runtime base plus npm (the
#      system's /usr/lib/node_modules/npm) and a static busybox as /bin/sh
#      (npm runs scripts through sh).
#   3. buildah bud --build-arg BASE_IMAGE=<1> --build-arg BUILD_IMAGE=<2> -t $IMAGE .
#   4. buildah from $IMAGE + buildah run of the image's ENTRYPOINT with --help:
#      the CLI really runs in the image. Its output is printed.
#
# Buildah runs as everywhere here (hack/buildah-env.sh): vfs storage under the
# local cluster's state dir, chroot isolation. The npm cache of this machine
# (npm config get cache) is mounted into the build stage, so `npm ci` is fast
# when the packages were installed here before (it still works without).
# Base images are rebuilt only when their inputs change (a stamp file).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export LBC_STATE_DIR="${LBC_STATE_DIR:-$ROOT/.local/cluster}"
# shellcheck source=hack/buildah-env.sh
source "$ROOT/hack/buildah-env.sh"
lbc_buildah_init

IMAGE="${IMAGE:-localhost/layered-build-controller:dev}"
RUNTIME_BASE="${RUNTIME_BASE:-localhost/lbc-node-base:24}"
BUILD_BASE="${BUILD_BASE:-localhost/lbc-node-build:24}"
NODE_BIN="${NODE_BIN:-$ROOT/node_modules/node/bin/node}"
NPM_DIR="${NPM_DIR:-/usr/lib/node_modules/npm}"
BUSYBOX="${BUSYBOX:-/usr/bin/busybox}"
CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
WORK="$LBC_STATE_DIR/image-build"

log() { printf '[build-image] %s\n' "$*" >&2; }
die() { printf '[build-image] ERROR: %s\n' "$*" >&2; exit 1; }
# shellcheck disable=SC2086
bh() { buildah $BUILDAH_ARGS "$@"; }

command -v buildah >/dev/null || die "buildah is missing (apt-get install buildah)"
[[ -x "$NODE_BIN" ]] || die "$NODE_BIN is missing: run 'npm ci' first (the node dev dependency brings Node 24)"
"$NODE_BIN" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 24 ? 0 : 1)' || die "$NODE_BIN is not Node 24+"
[[ -f "$NPM_DIR/bin/npm-cli.js" ]] || die "npm not found in $NPM_DIR (set NPM_DIR)"
[[ -x "$BUSYBOX" ]] || die "a static busybox is needed at $BUSYBOX (apt-get install busybox-static)"
[[ -f "$CA_BUNDLE" ]] || die "CA bundle $CA_BUNDLE is missing (apt-get install ca-certificates)"
mkdir -p "$WORK"

image_exists() { bh inspect --type image "$1" >/dev/null 2>&1; }

# Copies a file into rootfs $1 at its own absolute path, following symlinks.
put() { local root="$1" src="$2" dst="${3:-$2}"; mkdir -p "$root$(dirname "$dst")"; cp -L "$src" "$root$dst"; }

make_rootfs() {
  local root="$1" lib
  rm -rf "$root" && mkdir -p "$root"/{tmp,etc,home/nonroot,usr/local/bin,etc/ssl/certs}
  chmod 1777 "$root/tmp"
  put "$root" "$NODE_BIN" /usr/local/bin/node
  chmod 0755 "$root/usr/local/bin/node"
  # The shared libraries node links against, at the paths the loader looks for them.
  while read -r lib; do
    [[ -n "$lib" ]] && put "$root" "$lib"
  done < <(ldd "$NODE_BIN" | awk '/=> \//{print $3} /^[[:space:]]*\/[^ ]+ \(/{print $1}')
  [[ -n "$(find "$root" -name 'ld-linux*' -print -quit)" ]] || die "ldd listed no dynamic loader for $NODE_BIN"
  cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
  cat >"$root/etc/group" <<'EOF'
root:x:0:
nonroot:x:65532:
EOF
  printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
  chown 65532:65532 "$root/home/nonroot"
  put "$root" "$CA_BUNDLE" /etc/ssl/certs/ca-certificates.crt
}

commit_rootfs() {
  local root="$1" ref="$2" user="$3" ctr old
  old="$(bh inspect --type image --format '{{.FromImageID}}' "$ref" 2>/dev/null || true)"
  ctr="$(bh from --quiet scratch)"
  bh copy --quiet "$ctr" "$root" / >/dev/null
  bh config --env PATH=/usr/local/bin:/usr/bin:/bin --env HOME="$4" --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    --user "$user" --workingdir / --os linux --arch amd64 "$ctr"
  bh commit --quiet --rm "$ctr" "$ref" >/dev/null
  if [[ -n "$old" && "$old" != "$(bh inspect --type image --format '{{.FromImageID}}' "$ref")" ]]; then bh rmi "$old" >/dev/null 2>&1 || true; fi
}

ensure_bases() {
  local h stamp="$WORK/bases.stamp"
  h="$( (sha256sum "$NODE_BIN" "$BUSYBOX" "$CA_BUNDLE" "$NPM_DIR/package.json" "${BASH_SOURCE[0]}"; ldd "$NODE_BIN" | sed 's/ (0x[0-9a-f]*)//') | sha256sum | cut -c1-64)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$h" ]] && image_exists "$RUNTIME_BASE" && image_exists "$BUILD_BASE"; then
    log "base images up to date: $RUNTIME_BASE, $BUILD_BASE"
    return 0
  fi
  log "making $RUNTIME_BASE from scratch (node $("$NODE_BIN" --version) + its shared libraries)"
  make_rootfs "$WORK/rootfs-runtime"
  commit_rootfs "$WORK/rootfs-runtime" "$RUNTIME_BASE" 65532:65532 /home/nonroot

  log "making $BUILD_BASE from scratch (the runtime base + npm $(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$NPM_DIR/package.json" | head -1) + busybox sh)"
  local root="$WORK/rootfs-build" applet
  make_rootfs "$root"
  mkdir -p "$root/usr/lib/node_modules" "$root/bin" "$root/usr/bin" "$root/root"
  cp -a "$NPM_DIR" "$root/usr/lib/node_modules/npm"
  ln -s ../../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -s ../../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  cp "$BUSYBOX" "$root/bin/busybox"
  for applet in sh ls cat cp mv rm mkdir ln chmod env true false test; do ln -s busybox "$root/bin/$applet"; done
  ln -s ../../bin/busybox "$root/usr/bin/env"
  commit_rootfs "$root" "$BUILD_BASE" 0:0 /root
  rm -rf "$WORK/rootfs-runtime" "$root"
  echo "$h" >"$stamp"
}

build_image() {
  local cache args=() old new
  old="$(bh inspect --type image --format '{{.FromImageID}}' "$IMAGE" 2>/dev/null || true)"
  cache="$("$NODE_BIN" "$NPM_DIR/bin/npm-cli.js" config get cache 2>/dev/null || true)"
  if [[ -n "$cache" && -d "$cache/_cacache" ]]; then
    args+=(--volume "$cache:/root/.npm")
    log "using this machine's npm cache $cache in the build stage"
  fi
  log "buildah bud -t $IMAGE (BASE_IMAGE=$RUNTIME_BASE, BUILD_IMAGE=$BUILD_BASE)"
  # shellcheck disable=SC2086
  bh bud $BUILDAH_BUD_ARGS --layers=false --pull=never "${args[@]}" \
    --build-arg BASE_IMAGE="$RUNTIME_BASE" --build-arg BUILD_IMAGE="$BUILD_BASE" \
    -f "$ROOT/Dockerfile" -t "$IMAGE" "$ROOT"
  # vfs keeps whole copies of every image: drop the one this build replaced.
  new="$(bh inspect --type image --format '{{.FromImageID}}' "$IMAGE")"
  if [[ -n "$old" && "$old" != "$new" ]]; then bh rmi "$old" >/dev/null 2>&1 || true; fi
}

prove_cli_runs() {
  local ctr config
  config="$(bh inspect --type image "$IMAGE")"
  # The image's ENTRYPOINT, one argument a line, becomes the argv of buildah run.
  local -a argv
  mapfile -t argv < <(printf '%s' "$config" | "$NODE_BIN" -e 'const c = JSON.parse(require("fs").readFileSync(0, "utf8")).OCIv1.config; for (const a of c.Entrypoint ?? []) console.log(a)')
  ((${#argv[@]} > 0)) || die "the image $IMAGE has no ENTRYPOINT"
  log "image user: $(printf '%s' "$config" | "$NODE_BIN" -e 'console.log(JSON.parse(require("fs").readFileSync(0, "utf8")).OCIv1.config.User ?? "")'), entrypoint: ${argv[*]}"
  log "running the entrypoint with --help (buildah run, chroot isolation)"
  ctr="$(bh from --quiet --pull-never "$IMAGE")"
  # shellcheck disable=SC2064
  trap "buildah $BUILDAH_ARGS rm '$ctr' >/dev/null 2>&1 || true" EXIT
  bh run --isolation chroot "$ctr" -- "${argv[@]}" --help
}

start=$SECONDS
ensure_bases
build_image
prove_cli_runs
log "done: $IMAGE in $((SECONDS - start)) s"
