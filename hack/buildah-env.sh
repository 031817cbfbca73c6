# shellcheck shell=bash
# The one place that says how buildah runs here (sourced by local-cluster.sh;
# also printed by `hack/local-cluster.sh env`).
#
# This sandbox (root, no container engine, no user namespaces to spare) runs
# buildah with vfs storage and chroot isolation. Storage lives in the cluster's
# state dir so nothing depends on /var/lib/containers. Everything is carried by
# environment variables buildah honours, so a child `buildah bud ...` needs no
# extra flags; BUILDAH_ARGS / BUILDAH_BUD_ARGS / BUILDAH_PUSH_ARGS spell them
# out for callers who prefer explicit flags:
#   buildah $BUILDAH_ARGS bud $BUILDAH_BUD_ARGS -t REF CONTEXT
#   buildah $BUILDAH_ARGS push $BUILDAH_PUSH_ARGS REF docker://HOST:PORT/REPO:TAG
# (the local registry is plain http, hence --tls-verify=false; the registries.conf
# below says the same, so the flag is belt and braces).
: "${LBC_STATE_DIR:?LBC_STATE_DIR must be set before sourcing buildah-env.sh}"
export LBC_BUILDAH_ROOT="$LBC_STATE_DIR/buildah/root"
export LBC_BUILDAH_RUNROOT="$LBC_STATE_DIR/buildah/run"
export CONTAINERS_STORAGE_CONF="$LBC_STATE_DIR/buildah/storage.conf"
# Marks the local registry (plain http) insecure for buildah and skopeo; written
# by local-cluster.sh once the registry port is known.
export CONTAINERS_REGISTRIES_CONF="$LBC_STATE_DIR/registries.conf"
export STORAGE_DRIVER=vfs
export BUILDAH_ISOLATION=chroot
export BUILDAH_ARGS="--storage-driver vfs --root $LBC_BUILDAH_ROOT --runroot $LBC_BUILDAH_RUNROOT"
export BUILDAH_BUD_ARGS="--isolation chroot --tls-verify=false"
export BUILDAH_PUSH_ARGS="--tls-verify=false"

lbc_buildah_init() {
  mkdir -p "$LBC_BUILDAH_ROOT" "$LBC_BUILDAH_RUNROOT"
  [[ -f "$CONTAINERS_STORAGE_CONF" ]] || cat >"$CONTAINERS_STORAGE_CONF" <<CONF
[storage]
driver = "vfs"
graphroot = "$LBC_BUILDAH_ROOT"
runroot = "$LBC_BUILDAH_RUNROOT"
CONF
}
