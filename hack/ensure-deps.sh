#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian 12 machine, only what is
# missing: Debian packages (buildah, docker-registry, ...) and the npm
# dependencies (which bring Node 24 as the `node` dev dependency). Go must be
# at /usr/local/go/bin (it is on these machines) to build the control plane.
# Used by `npm test`, `npm run demo` and .ci/run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DEBIAN_FRONTEND=noninteractive

SUDO=()
[[ "$(id -u)" == 0 ]] || SUDO=(sudo -n)

# buildah/skopeo: images; docker-registry: the outside registry; containerd,
# runc, containernetworking-plugins, iptables: the node; gcc + libsqlite3-dev:
# the cgo build of openshift-builder; zstd: the third_party tarballs. The CoreOS stand-in base
# (hack/coreos-base/build.sh): mmdebstrap, ostree and jq to build it; libostree-dev, pkg-config,
# libglib2.0-dev, libzstd-dev, libssl-dev to build the ostree-ext CLI; libblkid-dev for Ignition's cgo.
wanted=(buildah docker-registry busybox-static skopeo openssl ca-certificates curl iproute2 util-linux apache2-utils prometheus
  containerd runc containernetworking-plugins iptables gcc libc6-dev libsqlite3-dev zstd
  mmdebstrap ostree jq libostree-dev pkg-config libglib2.0-dev libzstd-dev libssl-dev libblkid-dev)
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "[ensure-deps] installing Debian packages: ${missing[*]}" >&2
  "${SUDO[@]}" apt-get update -q >&2
  "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

# npm dependencies: when absent or older than the lock file.
if [[ ! -x node_modules/.bin/node || ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "[ensure-deps] npm ci" >&2
  npm ci --no-audit --no-fund >&2
fi
