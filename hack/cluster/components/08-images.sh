# shellcheck shell=bash
# Images built here (nothing can be pulled) and pushed to the outside registry:
# the node's sandbox image, the real openshift-builder image build pods run, the
# CoreOS base (a real ostree-native bootable image with the real Ignition and
# ostree-ext, built by hack/coreos-base/build.sh, cached per machine; its
# kernel is the one stand-in) and its extensions image. Each is rebuilt only
# when its inputs change. Not a process.
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

# The CoreOS base: built (or copied from the machine's cache) as an OCI layout by
# hack/coreos-base/build.sh (its own process: it takes its own lock and traps), then
# copied as is (same manifest, same digest) to the outside registry.
coreos_base_push() {
  local oci="$STATE/coreos-base-oci" h t0=$SECONDS
  bash "$ROOT/hack/coreos-base/build.sh" test "$oci" 2>>"$STATE/image-coreos-base.log" ||
    { tail -n 30 "$STATE/image-coreos-base.log" >&2; die "building the CoreOS base failed (log: $STATE/image-coreos-base.log)"; }
  h="$(jq -r '.manifests[0].digest' "$oci/index.json")-$PORT_EXT_REGISTRY-$NODE_IP-v4"
  if stamp_ok image-coreos-base "$h" && image_pushed openshift/coreos-standin "$STATE/coreos-base.digest"; then return 0; fi
  skopeo copy --quiet --dest-tls-verify=false --digestfile "$STATE/coreos-base.digest.tmp" \
    "oci:$oci:latest" "docker://$(ext_ref openshift/coreos-standin):latest" >>"$STATE/image-coreos-base.log" 2>&1 ||
    { tail -n 30 "$STATE/image-coreos-base.log" >&2; die "pushing the CoreOS base failed (log: $STATE/image-coreos-base.log)"; }
  mv "$STATE/coreos-base.digest.tmp" "$STATE/coreos-base.digest"
  [[ "$(cat "$STATE/coreos-base.digest")" == "$(jq -r '.manifests[0].digest' "$oci/index.json")" ]] ||
    die "the registry's digest of the CoreOS base ($(cat "$STATE/coreos-base.digest")) is not the layout's: skopeo converted the manifest"
  log "pushed $(ext_ref openshift/coreos-standin)@$(cat "$STATE/coreos-base.digest") in $((SECONDS - t0))s"
  stamp_set image-coreos-base "$h"
}

images_config() {
  command -v buildah >/dev/null || die "buildah is missing (apt-get install buildah)"
  command -v skopeo >/dev/null || die "skopeo is missing (apt-get install skopeo)"
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

  # The real builder image's containers storage.conf (overlay, /var/lib/shared as an additional
  # store), from the vendored builder tree's imagecontent/: OCM mounts an emptyDir at
  # /var/lib/containers, so overlay works in the build pod as on OpenShift.
  ctx="$STATE/ctx-builder" && rm -rf "$ctx" && mkdir -p "$ctx"
  cp "$IMG_DIR"/builder/* "$ctx/" && cp /usr/bin/busybox "$BIN_DIR/openshift-builder" "$(builder_storage_conf)" "$ctx/"
  # shellcheck disable=SC2046
  build_push builder openshift/origin-docker-builder "$ctx" $(builder_inputs)

  coreos_base_push
  stamp_set image-coreos-base-inputs "$(coreos_base_inputs)"
  ctx="$STATE/ctx-extensions" && rm -rf "$ctx" && mkdir -p "$ctx" && cp "$ROOT"/hack/coreos-base/extensions/{Containerfile,README} "$ctx/"
  build_push extensions openshift/coreos-standin-extensions "$ctx" "$ROOT"/hack/coreos-base/extensions/{Containerfile,README}
  stamp_set images-done "$(images_inputs)"
}
images_inputs() { cat "$STATE"/{pause,builder,coreos-base,extensions}.digest 2>/dev/null | sha256sum | cut -c1-64; }
builder_storage_conf() { printf '%s/imagecontent/etc/containers/storage.conf' "$(third_party_src builder)"; }
builder_inputs() { printf '%s\n' "$IMG_DIR"/builder/* "$BIN_DIR/openshift-builder" "$(builder_storage_conf)"; }
# What makes the CoreOS base (build.sh keys its cache on the same and on package versions).
coreos_base_inputs() { hash_of "$ROOT"/hack/coreos-base/build.sh "$ROOT"/hack/coreos-base/ostree-ext-cli/{Cargo.toml,Cargo.lock,src/main.rs}; }
# shellcheck disable=SC2046
images_ready() {
  stamp_ok images-done "$(images_inputs)" && image_pushed openshift/coreos-standin "$STATE/coreos-base.digest" &&
    stamp_ok image-coreos-base-inputs "$(coreos_base_inputs)" &&
    stamp_ok image-builder "$(hash_of $(builder_inputs))-$PORT_EXT_REGISTRY-$NODE_IP-v3"
}
images_describe() {
  local n
  for n in pause builder coreos-base extensions; do printf '%s=%s ' "$n" "$(cut -c1-19 "$STATE/$n.digest" 2>/dev/null)"; done
}
pause_image() { printf '%s@%s' "$(ext_ref openshift/pause)" "$(cat "$STATE/pause.digest")"; }
builder_image() { printf '%s@%s' "$(ext_ref openshift/origin-docker-builder)" "$(cat "$STATE/builder.digest")"; }
coreos_image() { printf '%s@%s' "$(ext_ref openshift/coreos-standin)" "$(cat "$STATE/coreos-base.digest")"; }
extensions_image() { printf '%s@%s' "$(ext_ref openshift/coreos-standin-extensions)" "$(cat "$STATE/extensions.digest")"; }
