#!/usr/bin/env bash
# The CoreOS stand-in base image: a real ostree-native bootable container image,
# built from Debian 12 packages the way rpm-ostree builds RHCOS from RPMs (a root
# filesystem, one `ostree commit`, `ostree-ext container encapsulate` into chunked
# layers). What is real and what is the stand-in: README.md beside this file.
#
#   hack/coreos-base/build.sh test|realistic OUT_DIR   # OCI image layout in OUT_DIR (oci:OUT_DIR:latest)
#   hack/coreos-base/build.sh tools                    # only the two tools (ostree-ext CLI, Ignition)
#   hack/coreos-base/build.sh verify OUT_DIR           # deploy it like a node; MCO's apply step in a buildah build
#
# Sourced, it defines coreos_base_build SIZE OUT_DIR (and the cb_* helpers) and runs nothing.
# Everything expensive is cached under ${LBC_CACHE:-$HOME/.cache/layered-build-controller}/coreos-base,
# keyed by its inputs (the code of the step included): a second build is a copy of the cached image.
# Needs root (the root filesystem is built with mmdebstrap --mode=root), the Debian packages
# hack/ensure-deps.sh installs, cargo (rustup's, ~/.cargo/bin) and Go at /usr/local/go/bin.
# LBC_DEBIAN_MIRROR overrides mmdebstrap's default mirror; LBC_COREOS_REFRESH=1 rebuilds
# the root filesystems (new Debian point release) without touching the tools.
set -euo pipefail

COREOS_BASE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CB_CACHE=${LBC_CACHE:-$HOME/.cache/layered-build-controller}/coreos-base
export PATH=$HOME/.cargo/bin:/usr/local/go/bin:$PATH

CB_IGNITION_VERSION=v2.24.0
CB_SUITE=bookworm
# The one named stand-in: no machine here boots this kernel, an ostree deployment only needs it present.
CB_KERNEL_VERSION=6.1.0-coreos-standin
# Fixed: package versions come from the mirror; every timestamp the build writes is this one.
CB_EPOCH=1735689600 # 2025-01-01T00:00:00Z

# What RHCOS has that the tests and MCO's apply step use: bash (MCO's RUN lines are bash:
# `exec -a`, `<(...)`), jq (MCO's `jq '.spec.config'`), ostree, useradd & co. (Ignition's users).
# gpg: satisfies libgpgme11's "gnupg | gpg" with the one binary instead of all of GnuPG.
CB_PACKAGES_TEST=(bash jq ostree passwd libssl3 gzip gpg usr-is-merged)
# A host like RHCOS: systemd, the container stack, storage and network tools.
CB_PACKAGES_REALISTIC=("${CB_PACKAGES_TEST[@]}" ca-certificates systemd udev dbus kmod openssh-server openssh-client
  network-manager nftables iptables iproute2 ethtool podman crun conmon runc containernetworking-plugins skopeo
  fuse-overlayfs slirp4netns chrony sudo less vim-tiny curl rsync git lvm2 cryptsetup-bin mdadm xfsprogs e2fsprogs
  dosfstools gdisk nfs-common cifs-utils open-iscsi multipath-tools nvme-cli tpm2-tools clevis tcpdump strace lsof
  bash-completion kexec-tools auditd policycoreutils rpm zstd firmware-linux-free)
# The realistic image: at least this much content (packages, then incompressible filler as firmware-like
# blobs), in this many package groups (+ filler components); RHCOS is 1.2-1.5 GB compressed in ~50 layers.
CB_REALISTIC_MIN_BYTES=$((1152 * 1024 * 1024))
CB_REALISTIC_FILLER_FILES=12
CB_GROUPS_TEST=4
CB_GROUPS_REALISTIC=34

cb_log() { printf '[coreos-base] %s\n' "$*" >&2; }
cb_die() { printf '[coreos-base] error: %s\n' "$*" >&2; exit 1; }
cb_hash() { sha256sum | cut -c1-16; }
# Seconds since $1 (an EPOCHREALTIME value), for the timing lines.
cb_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f s", b - a }'; }

# The ostree-ext CLI (crate ostree-ext, pinned in ostree-ext-cli/Cargo.toml and Cargo.lock). Prints its path.
cb_tool_ostree_ext() {
  local src=$COREOS_BASE_DIR/ostree-ext-cli key out work t0
  key=$({ cat "$src/Cargo.toml" "$src/Cargo.lock" "$src/src/main.rs"; rustc --version; declare -f cb_tool_ostree_ext; } | cb_hash)
  out=$CB_CACHE/tools/ostree-ext-cli-$key
  if [[ ! -x $out ]]; then
    t0=$EPOCHREALTIME
    cb_log "building the ostree-ext CLI (cargo, ~5 min cold on 2 cores)"
    work=$CB_CACHE/build/ostree-ext-cli
    mkdir -p "$work/src" "$CB_CACHE/tools"
    cp "$src/Cargo.toml" "$src/Cargo.lock" "$work/"
    cp "$src/src/main.rs" "$work/src/"
    (cd "$work" && cargo build --release --locked --quiet) >&2
    install -m 0755 "$work/target/release/ostree-ext-cli" "$out.tmp"
    mv "$out.tmp" "$out"
    cb_log "ostree-ext CLI built in $(cb_since "$t0")"
  fi
  printf '%s\n' "$out"
}

# The real Ignition, from the Go module proxy, built as its own ./build does (cgo, PIE, version
# ldflag; its go.mod pins the dependencies). Prints its path.
cb_tool_ignition() {
  local key out work t0
  key=$({ echo "$CB_IGNITION_VERSION"; go version; declare -f cb_tool_ignition; } | cb_hash)
  out=$CB_CACHE/tools/ignition-$CB_IGNITION_VERSION-$key
  if [[ ! -x $out ]]; then
    t0=$EPOCHREALTIME
    cb_log "building Ignition $CB_IGNITION_VERSION (go, ~2-3 min cold)"
    work=$CB_CACHE/build/ignition
    rm -rf "$work" && mkdir -p "$work" "$CB_CACHE/tools"
    GOBIN=$work CGO_ENABLED=1 GOFLAGS=-mod=mod go install -trimpath -buildmode=pie \
      -ldflags "-s -w -X github.com/coreos/ignition/v2/internal/version.Raw=$CB_IGNITION_VERSION" \
      "github.com/coreos/ignition/v2/internal@$CB_IGNITION_VERSION" >&2
    install -m 0755 "$work/internal" "$out.tmp"
    mv "$out.tmp" "$out"
    cb_log "Ignition built in $(cb_since "$t0")"
  fi
  printf '%s\n' "$out"
}

# Debian root filesystem of SIZE into DIR (which must not exist), with mmdebstrap: only the Essential
# set and the named packages with their dependencies, no recommends, no docs/man pages/translations.
cb_debian_rootfs() {
  local size=$1 dir=$2 pkgs
  if [[ $size == test ]]; then pkgs=("${CB_PACKAGES_TEST[@]}"); else pkgs=("${CB_PACKAGES_REALISTIC[@]}"); fi
  local IFS=,
  # The hooks are run by mmdebstrap with the root filesystem as $1. usrmerge (and with it perl) is what
  # apt picks for init-system-helpers' "usrmerge | usr-is-merged" while /usr is already merged.
  # shellcheck disable=SC2016
  SOURCE_DATE_EPOCH=$CB_EPOCH mmdebstrap --mode=root --variant=essential --quiet \
    --include="${pkgs[*]}" \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --customize-hook='APT_CONFIG=$MMDEBSTRAP_APT_CONFIG apt-get -yq -oDPkg::Chroot-Directory="$1" purge usrmerge libfile-find-rule-perl libnumber-compare-perl libtext-glob-perl' \
    --customize-hook='APT_CONFIG=$MMDEBSTRAP_APT_CONFIG apt-mark auto perl libperl5.36 perl-modules-5.36' \
    --customize-hook='APT_CONFIG=$MMDEBSTRAP_APT_CONFIG apt-get -yq -oDPkg::Chroot-Directory="$1" -oAPT::AutoRemove::RecommendsImportant=false -oAPT::AutoRemove::SuggestsImportant=false autoremove --purge' \
    "$CB_SUITE" "$dir" ${LBC_DEBIAN_MIRROR:+"$LBC_DEBIAN_MIRROR"} >&2
  local p
  for p in "${pkgs[@]}"; do
    dpkg-query --admindir="$dir/var/lib/dpkg" -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed ||
      cb_die "package $p is not installed in the root filesystem"
  done
}

# The CoreOS parts, into the Debian root filesystem DIR (still Debian-shaped: /etc, /var).
cb_coreos_parts() {
  local size=$1 dir=$2 ignition=$3 ostree_ext=$4
  # RHCOS's core user (uid 1000, home in /var/home, wheel-like groups; Debian's sudo is wheel).
  SOURCE_DATE_EPOCH=$CB_EPOCH chroot "$dir" useradd --uid 1000 --user-group --groups adm,sudo --home-dir /var/home/core --no-create-home \
    --shell /bin/bash --comment 'CoreOS Admin' core
  # /bin/sh is bash on RHCOS; MCO's RUN lines (`exec -a`, `<(...)`) need it.
  ln -sfn bash "$dir/usr/bin/sh"
  # The real Ignition where RHCOS has it (the initramfs module), on no PATH.
  install -D -m 0755 "$ignition" "$dir/usr/lib/dracut/modules.d/30ignition/ignition"
  # The real ostree-ext: Debian's `ostree container ...` execs it (as RHCOS's ostree does).
  install -D -m 0755 "$ostree_ext" "$dir/usr/libexec/libostree/ext/ostree-container"
  # The named stand-in: a kernel and initramfs nobody boots; an ostree deployment requires both.
  local kdir=$dir/usr/lib/modules/$CB_KERNEL_VERSION
  mkdir -p "$kdir"
  printf 'CoreOS stand-in kernel %s: not a kernel. No machine here boots it; an ostree deployment needs a file here.\n' \
    "$CB_KERNEL_VERSION" >"$kdir/vmlinuz"
  printf 'CoreOS stand-in initramfs: not an initramfs (see vmlinuz beside it).\n' >"$kdir/initramfs.img"
  cat >"$dir/usr/lib/os-release" <<EOF
NAME="CoreOS stand-in"
ID=coreos-standin
ID_LIKE="rhcos fedora"
VERSION_ID=2
VERSION="2 ($size)"
PRETTY_NAME="CoreOS stand-in (Debian 12 ostree, $size) for layered-build-controller tests"
VARIANT="CoreOS stand-in ($size)"
VARIANT_ID=coreos
HOME_URL="https://github.com/openshift/machine-config-operator"
EOF
  ln -sfn ../usr/lib/os-release "$dir/etc/os-release"
  mkdir -p "$dir/usr/share/coreos-standin"
  dpkg-query --admindir="$dir/var/lib/dpkg" -W -f='${Package}\t${Version}\t${Installed-Size}\n' \
    >"$dir/usr/share/coreos-standin/packages.tsv"
  if [[ $size == realistic ]]; then cb_filler "$dir"; fi
}

# Incompressible, reproducible filler (AES-CTR keystream of a fixed key) up to CB_REALISTIC_MIN_BYTES,
# standing in for what RHCOS has and Debian's main archive does not bring here (kernel modules, firmware).
cb_filler() {
  local dir=$1 have need each i fdir=$1/usr/lib/firmware/coreos-standin-filler
  have=$(du -scb "$dir/usr" "$dir/etc" | tail -n 1 | cut -f1)
  need=$((CB_REALISTIC_MIN_BYTES - have))
  ((need > 0)) || return 0
  each=$(((need + CB_REALISTIC_FILLER_FILES - 1) / CB_REALISTIC_FILLER_FILES))
  mkdir -p "$fdir"
  printf 'Filler: pseudo-random (incompressible) blobs that bring the realistic CoreOS stand-in to RHCOS size.\n' >"$fdir/README"
  for ((i = 1; i <= CB_REALISTIC_FILLER_FILES; i++)); do
    openssl enc -aes-256-ctr -nosalt -pass "pass:coreos-standin-filler-$i" -pbkdf2 </dev/zero 2>/dev/null |
      head -c "$each" >"$(printf '%s/blob-%02d.bin' "$fdir" "$i")" || true
  done
}

# Debian-shaped DIR -> the layout an ostree commit of a bootable OS has (what rpm-ostree commits):
# /usr merged, /etc as /usr/etc (ostree's deploy merges it into /etc; ostree-ext's export shows it as /etc),
# /var empty (a deployment's /var is the stateroot's own), the state directories as symlinks into /var,
# no device nodes, nothing of the build host (hostname, resolv.conf, machine-id, ssh host keys).
cb_ostree_layout() {
  local dir=$1 d
  [[ -d $dir/usr && $(realpath "$dir") != / ]] || cb_die "cb_ostree_layout: $dir is no root filesystem to rework"
  for d in bin sbin lib lib64; do
    [[ ! -e $dir/$d || -L $dir/$d ]] || cb_die "/$d is not a symlink into /usr (no merged /usr)"
  done
  rm -f "$dir"/etc/{hostname,resolv.conf,machine-id,.pwd.lock,passwd-,group-,shadow-,gshadow-,subuid-,subgid-} "$dir"/etc/ssh/ssh_host_*
  : >"$dir/etc/machine-id" # empty: systemd's "not yet initialized" (RHCOS ships no id either)
  # A postinst (policycoreutils) writes /etc/selinux/config naming a policy no package here installs;
  # ostree's deploy would then try to load that policy and fail (selabel_open: No such file or directory).
  local policy
  policy=$(sed -n 's/^SELINUXTYPE=//p' "$dir/etc/selinux/config" 2>/dev/null || true)
  [[ -z $policy || -d $dir/etc/selinux/$policy ]] || rm -f "$dir/etc/selinux/config"
  rm -rf "$dir/usr/etc"
  mv "$dir/etc" "$dir/usr/etc"
  rm -rf --one-file-system "${dir:?}"/{var,dev,run,proc,sys,tmp,boot,home,root,opt,srv,mnt,media,usr/local}
  mkdir -m 0755 "$dir"/{var,dev,run,proc,sys,boot,sysroot}
  mkdir -m 1777 "$dir/tmp"
  ln -s sysroot/ostree "$dir/ostree"
  ln -s var/home "$dir/home"
  ln -s var/roothome "$dir/root"
  ln -s var/opt "$dir/opt"
  ln -s var/srv "$dir/srv"
  ln -s var/mnt "$dir/mnt"
  ln -s run/media "$dir/media"
  ln -s ../var/usrlocal "$dir/usr/local"
  # What a booted deployment creates in /var (systemd-tmpfiles; RHCOS ships the same kind of file).
  mkdir -p "$dir/usr/lib/tmpfiles.d"
  cat >"$dir/usr/lib/tmpfiles.d/coreos-standin.conf" <<'EOF'
d /var/home 0755 root root -
d /var/roothome 0700 root root -
d /var/opt 0755 root root -
d /var/srv 0755 root root -
d /var/mnt 0755 root root -
d /var/usrlocal 0755 root root -
d /var/lib 0755 root root -
d /var/log 0755 root root -
d /var/cache 0755 root root -
d /var/spool 0755 root root -
d /var/home/core 0700 core core -
EOF
}

# Which package owns each path of the Debian-shaped DIR, as the paths will be in the commit
# (merged /usr, /etc as /usr/etc): "path<TAB>package" lines on stdout.
cb_path_owners() {
  local dir=$1 list pkg
  for list in "$dir"/var/lib/dpkg/info/*.list; do
    pkg=${list##*/}
    pkg=${pkg%.list}
    pkg=${pkg%%:*}
    awk -v pkg="$pkg" '{
      p = $0
      sub(/^\/(bin|sbin|lib|lib64)\//, "/usr&", p)
      if (p ~ /^\/etc(\/|$)/) p = "/usr" p
      print p "\t" pkg
    }' "$list"
  done
}

# encapsulate --contentmeta input (ostree-ext 0.15.3 cli.rs RawMeta: {version: 1, created, layers: {id: name},
# mapping: {content object checksum: layer id}}, every content object of the commit mapped, every layer id
# owning at least one object; the CLI gives each id its own layer, plus one reserved layer and the
# commit's own). Packages are packed into GROUPS balanced by size (largest first into the smallest group,
# rpm-ostree's idea without its change-frequency heuristics); files no package owns form "coreos-standin";
# each filler blob is its own component (like a large firmware package).
cb_contentmeta() {
  local repo=$1 ref=$2 owners=$3 groups=$4
  ostree --repo="$repo" ls -R -C "$ref" |
    awk -v OFS='\t' 'FNR == NR { owner[$1] = $2; next }
      $1 ~ /^[-l]/ { print $5, $6, $4, ($6 in owner ? owner[$6] : "") }' "$owners" - |
    awk -F'\t' -v groups="$groups" '
      !($1 in seen) {
        seen[$1] = 1
        comp = $4
        if ($2 ~ /^\/usr\/lib\/firmware\/coreos-standin-filler\/blob-/) { comp = $2; sub(/.*\//, "", comp); sub(/\.bin$/, "", comp); comp = "filler-" comp }
        else if (comp == "") comp = "coreos-standin"
        obj[$1] = comp; size[comp] += $3; n++
      }
      END {
        # packages (not the special components) by size, largest first, each into the smallest group
        for (c in size) if (c != "coreos-standin" && c !~ /^filler-/) pk[++np] = c
        for (i = 2; i <= np; i++) { v = pk[i]; for (j = i - 1; j >= 1 && (size[pk[j]] < size[v] || (size[pk[j]] == size[v] && pk[j] > v)); j--) pk[j + 1] = pk[j]; pk[j + 1] = v }
        for (g = 1; g <= groups; g++) gsize[g] = 0
        for (i = 1; i <= np; i++) {
          best = 1; for (g = 2; g <= groups; g++) if (gsize[g] < gsize[best]) best = g
          gid = sprintf("packages-%02d", best); gsize[best] += size[pk[i]]; layer[pk[i]] = gid
          if (gid in gname) gname[gid] = gname[gid] "," pk[i]; else gname[gid] = pk[i]
        }
        for (c in size) if (!(c in layer)) { layer[c] = c; gname[c] = c }
        for (o in obj) print "map", o, layer[obj[o]]
        for (g in gname) print "layer", g, gname[g]
      }' OFS='\t' |
    LC_ALL=C sort |
    jq -R -s --arg created "$(date -u -d "@$CB_EPOCH" +%Y-%m-%dT%H:%M:%SZ)" '
      [split("\n")[] | select(length > 0) | split("\t")] as $rows
      | { version: 1, created: $created,
          layers: ([$rows[] | select(.[0] == "layer") | {key: .[1], value: .[2]}] | sort_by(.key) | from_entries),
          mapping: ([$rows[] | select(.[0] == "map") | {key: .[1], value: .[2]}] | from_entries) }'
}

# The ostree commit of SIZE into the bare-user REPO as REF, and OWNERS (path -> package, for the
# content meta). Logs timings.
cb_commit() {
  local size=$1 repo=$2 ref=$3 owners=$4 work=$5 ignition ostree_ext root t0
  ignition=$(cb_tool_ignition)
  ostree_ext=$(cb_tool_ostree_ext)
  root=$work/rootfs
  t0=$EPOCHREALTIME
  cb_log "Debian $CB_SUITE root filesystem ($size) with mmdebstrap"
  cb_debian_rootfs "$size" "$root"
  cb_coreos_parts "$size" "$root" "$ignition" "$ostree_ext"
  cb_path_owners "$root" >"$work/owners.tsv"
  cb_ostree_layout "$root"
  cb_log "root filesystem ($size, $(du -sh "$root" | cut -f1)) in $(cb_since "$t0")"
  t0=$EPOCHREALTIME
  [[ -d $repo/objects ]] || ostree --repo="$repo" init --mode=bare-user
  ostree --repo="$repo" commit --branch="$ref" --tree=dir="$root" --consume --bootable \
    --timestamp="@$CB_EPOCH" --subject="CoreOS stand-in ($size)" \
    --add-metadata-string=version="2.$size.${ref##*/}" >/dev/null
  rm -rf --one-file-system "$root"
  mv "$work/owners.tsv" "$owners"
  cb_log "ostree commit $(ostree --repo="$repo" rev-parse "$ref" | cut -c1-12) in $(cb_since "$t0")"
}

# Image of SIZE (test|realistic) as an OCI layout in OUT_DIR (oci:OUT_DIR:latest). Two cached stages:
# the ostree commit (keyed by what makes the root filesystem) and the image (keyed by the commit's key
# and what makes the image from it).
coreos_base_build() {
  local size=${1:-} out=${2:-} ckey ikey ref repo img owners work t0 ostree_ext groups
  [[ $size == test || $size == realistic ]] || cb_die "size must be test or realistic, not '$size'"
  [[ -n $out ]] || cb_die "usage: build.sh test|realistic OUT_DIR"
  [[ $(id -u) == 0 ]] || cb_die "needs root (mmdebstrap --mode=root, chroot)"
  mkdir -p "$CB_CACHE/images" "$CB_CACHE/commits"
  exec {cb_lock}>"$CB_CACHE/.lock"
  flock "$cb_lock"
  ostree_ext=$(cb_tool_ostree_ext)
  groups=$CB_GROUPS_TEST
  [[ $size == test ]] || groups=$CB_GROUPS_REALISTIC
  ckey=$({
    echo "$size $CB_SUITE $CB_EPOCH $CB_KERNEL_VERSION $CB_REALISTIC_MIN_BYTES $CB_REALISTIC_FILLER_FILES"
    echo "${CB_PACKAGES_TEST[*]} / ${CB_PACKAGES_REALISTIC[*]} / ${LBC_DEBIAN_MIRROR:-}"
    basename "$ostree_ext"
    basename "$(cb_tool_ignition)"
    declare -f cb_debian_rootfs cb_coreos_parts cb_filler cb_ostree_layout cb_path_owners cb_commit
  } | cb_hash)
  ikey=$({
    echo "$ckey $groups"
    declare -f cb_contentmeta cb_encapsulate cb_pin_created
  } | cb_hash)
  repo=$CB_CACHE/repo
  ref=lbc/coreos-standin/$size/$ckey
  owners=$CB_CACHE/commits/$size-$ckey.owners.tsv
  img=$CB_CACHE/images/$size-$ikey
  if [[ ${LBC_COREOS_REFRESH:-} == 1 ]]; then
    rm -rf "$img" "$owners"
    [[ ! -d $repo/objects ]] || ostree --repo="$repo" refs --delete "$ref"
  fi
  if [[ ! -f $img/index.json ]]; then
    work=$(mktemp -d "$CB_CACHE/work.XXXXXX")
    # shellcheck disable=SC2064 # $work is fixed now
    trap "rm -rf --one-file-system '$work'" EXIT
    if [[ ! -f $owners ]] || ! ostree --repo="$repo" rev-parse "$ref" >/dev/null 2>&1; then
      cb_commit "$size" "$repo" "$ref" "$owners" "$work"
    fi
    t0=$EPOCHREALTIME
    cb_contentmeta "$repo" "$ref" "$owners" "$groups" >"$work/contentmeta.json"
    cb_encapsulate "$size" "$repo" "$ref" "$work/contentmeta.json" "$work/oci" "$ostree_ext"
    cb_pin_created "$work/oci"
    cb_log "encapsulated in $(cb_since "$t0")"
    rm -rf "$img" && mv "$work/oci" "$img" && mv "$work/contentmeta.json" "$img.contentmeta.json"
    rm -rf --one-file-system "$work"
    trap - EXIT
    cb_prune "$size" "$ckey" "$ikey"
  fi
  if [[ -e $out ]]; then
    [[ -f $out/oci-layout || -z $(ls -A "$out") ]] || cb_die "$out exists and is not an OCI layout; not replacing it"
    rm -rf "$out"
  fi
  mkdir -p "$(dirname "$out")"
  cp -al "$img" "$out" 2>/dev/null || cp -a "$img" "$out"
  cb_log "$size image: oci:$out:latest ($(jq -r '.manifests[0].digest' "$out/index.json"))"
}

cb_encapsulate() {
  local size=$1 repo=$2 ref=$3 meta=$4 dest=$5 ostree_ext=$6
  local title="CoreOS stand-in"
  [[ $size == test ]] || title="CoreOS stand-in (realistic)"
  "$ostree_ext" container encapsulate --repo="$repo" "$ref" "oci:$dest:latest" --contentmeta "$meta" \
    --label ostree.bootable=true --label containers.bootc=1 --label io.openshift.os.streamclass=rhel-9 \
    --label io.openshift.build.versions=coreos-standin=2 --label "org.opencontainers.image.title=$title" \
    --cmd /bin/bash >/dev/null
}

# encapsulate stamps each history entry with the time of the build; pin them to CB_EPOCH so that the
# image digest is a function of the inputs (the layers are already: same commit, same blobs).
cb_pin_created() {
  local dir=$1 created m c nc nm
  created=$(date -u -d "@$CB_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
  m=$(jq -r '.manifests[0].digest' "$dir/index.json")
  m=${m#sha256:}
  c=$(jq -r '.config.digest' "$dir/blobs/sha256/$m")
  c=${c#sha256:}
  jq -c --arg t "$created" '.history |= map(.created = $t)' "$dir/blobs/sha256/$c" >"$dir/config.tmp"
  nc=$(sha256sum "$dir/config.tmp" | cut -d' ' -f1)
  mv "$dir/config.tmp" "$dir/blobs/sha256/$nc"
  jq -c --arg d "sha256:$nc" --argjson s "$(stat -c %s "$dir/blobs/sha256/$nc")" \
    '.config.digest = $d | .config.size = $s' "$dir/blobs/sha256/$m" >"$dir/manifest.tmp"
  nm=$(sha256sum "$dir/manifest.tmp" | cut -d' ' -f1)
  mv "$dir/manifest.tmp" "$dir/blobs/sha256/$nm"
  jq -c --arg d "sha256:$nm" --argjson s "$(stat -c %s "$dir/blobs/sha256/$nm")" \
    '.manifests[0].digest = $d | .manifests[0].size = $s' "$dir/index.json" >"$dir/index.tmp"
  mv "$dir/index.tmp" "$dir/index.json"
  [[ $c == "$nc" ]] || rm -f "$dir/blobs/sha256/$c"
  [[ $m == "$nm" ]] || rm -f "$dir/blobs/sha256/$m"
}

# Keeps only the newest build of SIZE: older images, commits and their owner lists go.
cb_prune() {
  local size=$1 ckey=$2 ikey=$3 f r
  for f in "$CB_CACHE/images/$size-"* "$CB_CACHE/commits/$size-"*; do
    case $f in
      "$CB_CACHE/images/$size-$ikey" | "$CB_CACHE/images/$size-$ikey.contentmeta.json" | "$CB_CACHE/commits/$size-$ckey.owners.tsv") ;;
      *) rm -rf "$f" ;;
    esac
  done
  while read -r r; do
    [[ $r == "$ckey" ]] || ostree --repo="$CB_CACHE/repo" refs --delete "lbc/coreos-standin/$size/$r"
  done < <(ostree --repo="$CB_CACHE/repo" refs "lbc/coreos-standin/$size")
  ostree --repo="$CB_CACHE/repo" prune --refs-only >/dev/null
}

cb_tools() {
  local t0=$EPOCHREALTIME
  cb_tool_ostree_ext
  cb_tool_ignition
  cb_log "tools ready in $(cb_since "$t0")"
}

cb_main() {
  case ${1:-} in
    test | realistic) coreos_base_build "$1" "${2:-}" ;;
    tools) cb_tools ;;
    verify) "$COREOS_BASE_DIR/verify.sh" "${2:-}" ;;
    *) cb_die "usage: build.sh test|realistic OUT_DIR | tools | verify OUT_DIR" ;;
  esac
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then cb_main "$@"; fi
