# shellcheck shell=bash
# Building the local control plane's binaries into a version-keyed cache
# outside the work tree. Sourced by hack/local-cluster.sh; each component's
# file calls these from its <name>_build function. Nothing is built twice: a
# binary that exists in the cache is kept, and one lock serialises builds of
# concurrent `up`s (two checkouts share the cache).
#
#   build_k8s_cmd NAME          kube-apiserver, kubelet, ... from the k8s.io/kubernetes module
#   build_etcd                  etcd from its module
#   build_openshift REPO PKG OUT TAGS CGO [EXTRA_LDFLAGS]
#                               an OpenShift binary from ../shared/third_party (or a clone)
#
# Sources of the OpenShift components: $LBC_THIRD_PARTY (default
# <checkout>/../shared/third_party) holds <repo>-<commit>.tar.zst, checked
# against its SHA256SUMS; a machine with internet can instead name a git clone
# of one repository at the pinned commit with LBC_SRC_<REPO> (upper case, dashes
# as underscores; e.g. LBC_SRC_OC=/src/oc); its HEAD must be the pinned commit.

BUILD_REV=3 # bump when a build recipe (flags, ldflags) changes
CACHE="${LBC_CACHE:-$HOME/.cache/layered-build-controller}"
BIN_DIR="$CACHE/bin/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-ocp-$OCP_VERSION-r$BUILD_REV"
SRC_DIR="$CACHE/src"
THIRD_PARTY="${LBC_THIRD_PARTY:-$ROOT/../shared/third_party}"

blog() { printf '[build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# with_build_lock CMD...: one build at a time per cache (2 GB per Go link).
with_build_lock() {
  mkdir -p "$CACHE" "$BIN_DIR" "$SRC_DIR"
  (
    exec 7>"$CACHE/build.lock"
    flock 7
    "$@"
  )
}

go_env() {
  export PATH="/usr/local/go/bin:$PATH" GOTOOLCHAIN=local
  command -v go >/dev/null || { blog "ERROR: Go (>= 1.26) is needed at /usr/local/go/bin/go"; return 1; }
}

k8s_ldflags() {
  local pkg v="$K8S_VERSION" minor
  minor="${v#v1.}"
  minor="${minor%%.*}"
  local out="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    out+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    out+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  printf '%s' "$out"
}

build_etcd() {
  [[ -x "$BIN_DIR/etcd" ]] && return 0
  go_env || return 1
  local dir="$SRC_DIR/etcd-$ETCD_VERSION" t0=$SECONDS
  blog "building etcd $ETCD_VERSION (first time only)..."
  mkdir -p "$dir"
  printf 'module lbc.local/etcdwrapper\n\ngo 1.25\n' >"$dir/go.mod"
  cat >"$dir/main.go" <<'GOMAIN'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GOMAIN
  (cd "$dir" && export GOFLAGS=-mod=mod CGO_ENABLED=0 && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" && go mod tidy &&
    go build -trimpath -ldflags="-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION" -o "$BIN_DIR/etcd.tmp" . &&
    mv "$BIN_DIR/etcd.tmp" "$BIN_DIR/etcd") || return 1
  blog "etcd built in $((SECONDS - t0))s"
}

k8s_module() {
  local dir="$SRC_DIR/k8s-$K8S_VERSION"
  [[ -f "$dir/.ready" ]] && return 0
  blog "preparing the Kubernetes $K8S_VERSION wrapper module..."
  mkdir -p "$dir"
  local minor="v0.${K8S_VERSION#v1.}" modfile
  # k8s.io/kubernetes replaces every staging module with ./staging/...; a
  # consumer must replace them with the published v0.x.y of the same release.
  modfile="$(GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')"
  {
    printf 'module lbc.local/k8swrapper\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$K8S_VERSION"
    grep -oE '^\s*k8s\.io/[a-z0-9./-]+ => \./staging/' "$modfile" | awk -v v="$minor" '{print "\t" $1 " => " $1 " " v}'
    echo ")"
  } >"$dir/go.mod"
  printf '//go:build tools\n\npackage tools\n' >"$dir/tools.go"
  touch "$dir/.ready"
}

build_k8s_cmd() {
  local name="$1" dir="$SRC_DIR/k8s-$K8S_VERSION" t0=$SECONDS
  [[ -x "$BIN_DIR/$name" ]] && return 0
  go_env || return 1
  k8s_module
  blog "building $name $K8S_VERSION (first time only)..."
  (cd "$dir" && export GOFLAGS=-mod=mod CGO_ENABLED=0 && go build -trimpath -ldflags="$(k8s_ldflags)" -o "$BIN_DIR/$name.tmp" "k8s.io/kubernetes/cmd/$name" &&
    mv "$BIN_DIR/$name.tmp" "$BIN_DIR/$name") || return 1
  blog "$name built in $((SECONDS - t0))s"
}

# third_party_src REPO: print the directory of REPO's pinned tree, unpacking
# (after the SHA256SUMS check) or taking the clone named by LBC_SRC_<REPO>.
third_party_src() {
  local repo="$1" commit var tarball dir
  commit="$(pinned_commit "$repo")" || return 1
  var="LBC_SRC_$(printf '%s' "$repo" | tr 'a-z-' 'A-Z_')"
  if [[ -n "${!var:-}" ]]; then
    local head
    head="$(git -C "${!var}" rev-parse HEAD 2>/dev/null)" || { blog "ERROR: $var=${!var} is not a git clone"; return 1; }
    [[ "$head" == "$commit" ]] || { blog "ERROR: $var=${!var} is at $head, not the pinned $commit"; return 1; }
    printf '%s' "${!var}"
    return 0
  fi
  tarball="$THIRD_PARTY/$repo-$commit.tar.zst"
  dir="$SRC_DIR/$repo-$commit"
  if [[ ! -f "$dir/.unpacked" ]]; then
    [[ -f "$tarball" ]] || { blog "ERROR: $tarball is missing (set LBC_THIRD_PARTY, or $var to a git clone at $commit)"; return 1; }
    (cd "$THIRD_PARTY" && grep " $repo-$commit.tar.zst\$" SHA256SUMS | sha256sum -c --quiet -) ||
      { blog "ERROR: $tarball does not match $THIRD_PARTY/SHA256SUMS"; return 1; }
    rm -rf "$dir"
    tar --zstd -xf "$tarball" -C "$SRC_DIR" || return 1
    touch "$dir/.unpacked"
  fi
  printf '%s' "$dir"
}

# pinned_commit REPO: the commit of REPO in hack/versions.env (OCP_COMMIT_<REPO>).
pinned_commit() {
  local var="OCP_COMMIT_$(printf '%s' "$1" | tr 'a-z-' 'A-Z_')"
  [[ -n "${!var:-}" ]] || { blog "ERROR: no pinned commit $var in hack/versions.env"; return 1; }
  printf '%s' "${!var}"
}

# build_openshift REPO PKG OUT TAGS CGO [EXTRA_LDFLAGS]
build_openshift() {
  local repo="$1" pkg="$2" out="$3" tags="$4" cgo="$5" extra="${6:-}" t0=$SECONDS src mod commit
  [[ -x "$BIN_DIR/$out" ]] && return 0
  go_env || return 1
  src="$(third_party_src "$repo")" || return 1
  commit="$(pinned_commit "$repo")"
  mod="$(sed -n 's/^module //p' "$src/go.mod")"
  local minor="${OCP_VERSION#v4.}"
  local ld="-s -w -X $mod/pkg/version.versionFromGit=$OCP_VERSION -X $mod/pkg/version.majorFromGit=4"
  ld+=" -X $mod/pkg/version.minorFromGit=$minor -X $mod/pkg/version.commitFromGit=${commit:0:9}"
  ld+=" -X $mod/pkg/version.gitTreeState=clean -X $mod/pkg/version.buildDate=1970-01-01T00:00:00Z $extra"
  blog "building $out from $repo@${commit:0:12} (first time only; minutes)..."
  (cd "$src" && export GOFLAGS=-mod=vendor CGO_ENABLED="$cgo" &&
    go build -trimpath -tags "$tags" -ldflags "$ld" -o "$BIN_DIR/$out.tmp" "./$pkg" &&
    mv "$BIN_DIR/$out.tmp" "$BIN_DIR/$out") || { blog "ERROR: building $out failed"; return 1; }
  blog "$out built in $((SECONDS - t0))s"
}
