# shellcheck shell=bash
# Images built here with buildah (nothing can be pulled) and pushed to the
# outside registry: the node's sandbox image, the real openshift-builder image
# build pods run, and the stand-in for the CoreOS base image (busybox + the
# real ignition-apply + the labels MCO inspects) with its extensions image.
# Each is rebuilt only when its inputs change. Not a process.
IMG_DIR="$ROOT/hack/images"

images_build() {
  with_build_lock build_openshift builder cmd openshift-builder \
    "libsqlite3 containers_image_openpgp exclude_graphdriver_btrfs exclude_graphdriver_devicemapper osusergo netgo" 1 \
    "-linkmode external -extldflags '-static -lm'"
}

ext_ref() { printf '%s:%s/%s' "$NODE_IP" "$PORT_EXT_REGISTRY" "$1"; }

# image_exists REF@DIGEST-FILE: the pushed digest is still in the registry.
image_pushed() {
  local repo="$1" digest_file="$2"
  [[ -s "$digest_file" ]] || return 1
  curl -fsS -o /dev/null -I -H 'Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' \
    "http://$NODE_IP:$PORT_EXT_REGISTRY/v2/$repo/manifests/$(cat "$digest_file")"
}

# build_push NAME REPO CONTEXT INPUTS...: build CONTEXT/Containerfile, push to REPO:latest.
build_push() {
  local name="$1" repo="$2" ctx="$3" h
  shift 3
  h="$(hash_of "$@")-$PORT_EXT_REGISTRY-$NODE_IP-v3"
  if stamp_ok "image-$name" "$h" && image_pushed "$repo" "$STATE/$name.digest"; then return 0; fi
  lbc_buildah_init
  # shellcheck disable=SC2086
  buildah $BUILDAH_ARGS bud $BUILDAH_BUD_ARGS --timestamp 0 --layers=false -q \
    -f "$ctx/Containerfile" -t "localhost/$name:latest" "$ctx" >"$STATE/image-$name.log" 2>&1 ||
    { tail -n 30 "$STATE/image-$name.log" >&2; die "building image $name failed (log: $STATE/image-$name.log)"; }
  # shellcheck disable=SC2086
  buildah $BUILDAH_ARGS push $BUILDAH_PUSH_ARGS --digestfile "$STATE/$name.digest.tmp" -q \
    "localhost/$name:latest" "docker://$(ext_ref "$repo"):latest" >>"$STATE/image-$name.log" 2>&1 ||
    { tail -n 30 "$STATE/image-$name.log" >&2; die "pushing image $name failed (log: $STATE/image-$name.log)"; }
  mv "$STATE/$name.digest.tmp" "$STATE/$name.digest"
  log "pushed $(ext_ref "$repo")@$(cat "$STATE/$name.digest")"
  stamp_set "image-$name" "$h"
}

images_config() {
  command -v buildah >/dev/null || die "buildah is missing (apt-get install buildah)"
  [[ -x /usr/bin/busybox ]] || die "a static /usr/bin/busybox is needed (apt-get install busybox-static)"
  cat >"$CONTAINERS_REGISTRIES_CONF" <<CONF
# Both local registries speak plain http.
unqualified-search-registries = []
[[registry]]
location = "$NODE_IP:$PORT_EXT_REGISTRY"
insecure = true
[[registry]]
location = "$NODE_IP:$PORT_INT_REGISTRY"
insecure = true
CONF
}

images_start() {
  local ctx
  go_env
  ctx="$STATE/ctx-pause" && rm -rf "$ctx" && mkdir -p "$ctx" && cp "$IMG_DIR/pause/Containerfile" "$ctx/"
  (cd "$IMG_DIR/pause" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -buildvcs=false -ldflags='-s -w' -o "$ctx/pause" .)
  build_push pause openshift/pause "$ctx" "$IMG_DIR"/pause/* "$ctx/pause"

  ctx="$STATE/ctx-builder" && rm -rf "$ctx" && mkdir -p "$ctx"
  cp "$IMG_DIR"/builder/* "$ctx/" && cp /usr/bin/busybox "$BIN_DIR/openshift-builder" "$ctx/"
  build_push builder openshift/origin-docker-builder "$ctx" "$IMG_DIR"/builder/* "$BIN_DIR/openshift-builder"

  ctx="$STATE/ctx-coreos" && rm -rf "$ctx" && mkdir -p "$ctx"
  cp "$ROOT"/hack/coreos-base/{Containerfile,os-release,ostree} /usr/bin/busybox "$ctx/"
  (cd "$ROOT/hack/coreos-base/ignition-apply" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -buildvcs=false -ldflags='-s -w' -o "$ctx/ignition-apply" .)
  build_push coreos-base openshift/coreos-standin "$ctx" "$ROOT"/hack/coreos-base/{Containerfile,os-release,ostree} \
    "$ROOT"/hack/coreos-base/ignition-apply/{main.go,go.mod} /usr/bin/busybox

  ctx="$STATE/ctx-extensions" && rm -rf "$ctx" && mkdir -p "$ctx" && cp "$ROOT"/hack/coreos-base/extensions/{Containerfile,README} "$ctx/"
  build_push extensions openshift/coreos-standin-extensions "$ctx" "$ROOT"/hack/coreos-base/extensions/{Containerfile,README}
  stamp_set images-done "$(images_inputs)"
}
images_inputs() { cat "$STATE"/{pause,builder,coreos-base,extensions}.digest 2>/dev/null | sha256sum | cut -c1-64; }
images_ready() { stamp_ok images-done "$(images_inputs)" && image_pushed openshift/coreos-standin "$STATE/coreos-base.digest" && stamp_ok image-builder "$(hash_of "$IMG_DIR"/builder/* "$BIN_DIR/openshift-builder")-$PORT_EXT_REGISTRY-$NODE_IP-v3"; }
images_describe() {
  local n
  for n in pause builder coreos-base extensions; do printf '%s=%s ' "$n" "$(cut -c1-19 "$STATE/$n.digest" 2>/dev/null)"; done
}
pause_image() { printf '%s@%s' "$(ext_ref openshift/pause)" "$(cat "$STATE/pause.digest")"; }
builder_image() { printf '%s@%s' "$(ext_ref openshift/origin-docker-builder)" "$(cat "$STATE/builder.digest")"; }
coreos_image() { printf '%s@%s' "$(ext_ref openshift/coreos-standin)" "$(cat "$STATE/coreos-base.digest")"; }
extensions_image() { printf '%s@%s' "$(ext_ref openshift/coreos-standin-extensions)" "$(cat "$STATE/extensions.digest")"; }
