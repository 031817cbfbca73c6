#!/usr/bin/env bash
# Build kube-apiserver, kube-controller-manager (garbage collector, namespace
# lifecycle), kubectl and etcd from their Go modules into a
# version-keyed cache outside the work tree. Does nothing if they are there.
# Usage: hack/build-binaries.sh            (prints the bin dir on the last line)
set -euo pipefail
HACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=hack/versions.env
. "$HACK_DIR/versions.env"
export PATH="/usr/local/go/bin:$PATH"
CACHE="${LBC_CACHE:-$HOME/.cache/layered-build-controller}"
BIN_DIR="$CACHE/bin/k8s-$K8S_VERSION-etcd-$ETCD_VERSION"
SRC_DIR="$CACHE/src"
mkdir -p "$BIN_DIR" "$SRC_DIR"
export GOFLAGS=-mod=mod CGO_ENABLED=0 GOTOOLCHAIN=local
BUILD_FLAGS=(-trimpath "-ldflags=-s -w")

log() { printf '[build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# One lock so two concurrent `up`s do not build twice.
exec 9>"$CACHE/build.lock"
flock 9

build_etcd() {
  [[ -x "$BIN_DIR/etcd" ]] && return 0
  local dir="$SRC_DIR/etcd-$ETCD_VERSION" t0=$SECONDS
  log "building etcd $ETCD_VERSION (first time only)..."
  mkdir -p "$dir"
  cat >"$dir/go.mod" <<GOMOD
module lbc.local/etcdwrapper

go 1.25
GOMOD
  cat >"$dir/main.go" <<'GOMAIN'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GOMAIN
  (cd "$dir" && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" && go mod tidy \
    && go build "${BUILD_FLAGS[@]}" -o "$BIN_DIR/etcd.tmp" . && mv "$BIN_DIR/etcd.tmp" "$BIN_DIR/etcd")
  log "etcd built in $((SECONDS - t0))s"
}

k8s_module() {
  local dir="$SRC_DIR/k8s-$K8S_VERSION"
  [[ -f "$dir/.ready" ]] && return 0
  log "preparing the Kubernetes $K8S_VERSION wrapper module..."
  mkdir -p "$dir"
  local minor="v0.${K8S_VERSION#v1.}"
  # k8s.io/kubernetes replaces every staging module with ./staging/...; a
  # consumer must replace them with the published v0.x.y of the same release.
  local modfile
  modfile="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')"
  {
    echo "module lbc.local/k8swrapper"
    echo
    echo "go 1.26.0"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    echo "replace ("
    grep -oE '^\s*k8s\.io/[a-z0-9./-]+ => \./staging/' "$modfile" | awk -v v="$minor" '{print "\t" $1 " => " $1 " " v}'
    echo ")"
  } >"$dir/go.mod"
  cat >"$dir/tools.go" <<'GOTOOLS'
//go:build tools

package tools
GOTOOLS
  touch "$dir/.ready"
}

build_k8s_cmd() {
  local name="$1" dir="$SRC_DIR/k8s-$K8S_VERSION" t0=$SECONDS
  [[ -x "$BIN_DIR/$name" ]] && return 0
  k8s_module
  log "building $name $K8S_VERSION (first time only; several minutes)..."
  (cd "$dir" && go build "${BUILD_FLAGS[@]}" -o "$BIN_DIR/$name.tmp" "k8s.io/kubernetes/cmd/$name" \
    && mv "$BIN_DIR/$name.tmp" "$BIN_DIR/$name")
  log "$name built in $((SECONDS - t0))s"
}

build_etcd
build_k8s_cmd kube-apiserver
build_k8s_cmd kubectl
build_k8s_cmd kube-controller-manager
echo "$BIN_DIR"
