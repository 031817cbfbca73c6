#!/usr/bin/env bash
# Checks an image made by build.sh the way a node and MCO's build use it:
#  1. the labels a node's importer checks (ostree.final-diffid among the diff_ids, bootable, amd64);
#  2. deploy it into a fresh ostree sysroot with the real importer (`ostree-ext container image deploy`,
#     what `rpm-ostree rebase` runs on a node);
#  3. MCO's apply step inside it: a buildah build of MCO's two-stage Containerfile (the rendered
#     MachineConfig extracted, real Ignition run as ignition-apply, the real `ostree container commit`);
#  4. deploy that derived image on top and find the MachineConfig's files in the deployment's /usr/etc.
#
#   hack/coreos-base/verify.sh OCI_DIR        (oci:OCI_DIR:latest, e.g. from build.sh test OCI_DIR)
#
# Everything runs in a temporary directory (buildah storage included), removed at the end.
set -euo pipefail

oci=$(realpath "${1:?usage: verify.sh OCI_DIR}")
# shellcheck source=SCRIPTDIR/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/build.sh"
[[ -f $oci/index.json ]] || cb_die "$oci is not an OCI layout"
ostree_ext=$(cb_tool_ostree_ext)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/coreos-base-verify.XXXXXX")
# ostree marks each deployment root immutable (chattr +i).
cleanup() {
  local d
  for d in "$tmp"/sysroot/ostree/deploy/*/deploy/*; do [[ ! -d $d ]] || chattr -i "$d"; done
  rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT
fail() { cb_die "verify: $*"; }
ok() { cb_log "verify: ok: $*"; }

# 1. What the importer checks.
skopeo inspect --config "oci:$oci:latest" >"$tmp/config.json"
jq -e '.architecture == "amd64"' "$tmp/config.json" >/dev/null || fail "architecture is not amd64"
jq -e '.config.Labels["ostree.bootable"] == "true" and .config.Labels["containers.bootc"] == "1"' "$tmp/config.json" >/dev/null ||
  fail "ostree.bootable / containers.bootc labels missing"
jq -e '.config.Labels["ostree.commit"] | length == 64' "$tmp/config.json" >/dev/null || fail "no ostree.commit label"
jq -e '.config.Labels["ostree.final-diffid"] as $f | $f != null and (.rootfs.diff_ids | index($f)) != null' "$tmp/config.json" >/dev/null ||
  fail "ostree.final-diffid missing or not among rootfs.diff_ids"
ok "labels: $(jq -c '.config.Labels | with_entries(select(.key | test("^ostree|^containers|^io.openshift")))' "$tmp/config.json")"

# 2. A node's first deployment.
sysroot=$tmp/sysroot
mkdir -p "$sysroot"
ostree admin init-fs "$sysroot" >/dev/null
ostree admin os-init --sysroot="$sysroot" default >/dev/null
deploy() {
  local t0=$EPOCHREALTIME
  "$ostree_ext" container image deploy --sysroot "$sysroot" --stateroot default --imgref "ostree-unverified-image:oci:$1:latest" >&2
  deployment=$sysroot/ostree/deploy/default/deploy/$(ostree admin --sysroot="$sysroot" status | awk '$1 == "default" { print $2; exit } $1 == "*" { print $3; exit }')
  cb_log "verify: deployed $1 in $(cb_since "$t0"): ${deployment##*/}"
}
deploy "$oci"
[[ -f $deployment/usr/lib/modules/$CB_KERNEL_VERSION/vmlinuz ]] || fail "no kernel in the deployment"
grep -q '^VARIANT_ID=coreos$' "$deployment/usr/lib/os-release" || fail "os-release has no VARIANT_ID=coreos"
grep -q '^core:x:1000:1000:' "$deployment/usr/etc/passwd" || fail "no core user in /usr/etc/passwd"
[[ -x $deployment/usr/lib/dracut/modules.d/30ignition/ignition ]] || fail "no Ignition in the dracut module"
[[ -x $deployment/usr/libexec/libostree/ext/ostree-container ]] || fail "no ostree-ext as ostree-container"
for d in usr/bin usr/sbin usr/local/bin; do
  [[ ! -e $deployment/$d/ignition && ! -e $deployment/$d/ignition-apply ]] || fail "an ignition on PATH: /$d"
done
ok "base deployed: kernel stand-in, os-release, core user, Ignition off PATH, ostree-container"

# 3. MCO's build (machine-config-operator Containerfile.on-cluster-build-template, its first two stages),
# with the apply line in a subshell so that `ostree container commit` runs: in `exec a && b`, b never runs.
ctx=$tmp/ctx
mkdir -p "$ctx"
cat >"$ctx/config.ign" <<'EOF'
{
  "ignition": { "version": "3.5.0" },
  "passwd": { "users": [ { "name": "core", "sshAuthorizedKeys": [ "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL2xiY29yZW9zYmFzZXZlcmlmeWtleWtleWtleWtleQ verify@coreos-base" ] } ] },
  "storage": { "files": [
    { "path": "/etc/coreos-base-verify/hello.conf", "mode": 420, "overwrite": true,
      "contents": { "source": "data:,hello%20from%20Ignition%0A" } },
    { "path": "/etc/coreos-base-verify/core-owned", "mode": 384, "user": { "name": "core" }, "group": { "name": "core" },
      "contents": { "source": "data:,owned%20by%20core%0A" } } ] },
  "systemd": { "units": [ { "name": "coreos-base-verify.service", "enabled": true,
    "contents": "[Unit]\nDescription=coreos-base verify\n[Service]\nType=oneshot\nExecStart=/usr/bin/true\n[Install]\nWantedBy=multi-user.target\n" } ] }
}
EOF
jq -c '{apiVersion: "machineconfiguration.openshift.io/v1", kind: "MachineConfig", metadata: {name: "rendered-worker-verify"}, spec: {config: .}}' \
  "$ctx/config.ign" | gzip -n | base64 -w0 >"$ctx/machineconfig.json.gz"
cat >"$ctx/Containerfile" <<EOF
FROM oci:$oci:latest AS extract
COPY ./machineconfig.json.gz /tmp/machineconfig.json.gz
RUN mkdir -p /etc/machine-config-daemon && \\
	cat /tmp/machineconfig.json.gz | base64 -d | gunzip - > /etc/machine-config-daemon/currentconfig

FROM oci:$oci:latest AS configs
COPY --from=extract /etc/machine-config-daemon/currentconfig /etc/machine-config-daemon/currentconfig
RUN (container="oci" exec -a ignition-apply /usr/lib/dracut/modules.d/30ignition/ignition --ignore-unsupported <(cat /etc/machine-config-daemon/currentconfig | jq '.spec.config')) && \\
	mkdir -p /var/lib/coreos-base-verify /var/cache/coreos-base-verify && touch /var/lib/coreos-base-verify/kept /var/cache/coreos-base-verify/dropped /tmp/dropped && \\
	ostree container commit && \\
	test ! -e /tmp/dropped && test ! -e /var/cache/coreos-base-verify && test -e /var/lib/coreos-base-verify/kept && \\
	stat -c '%a %U' /etc/coreos-base-verify/core-owned | grep -qx '600 core'
EOF
buildah_=(buildah --root "$tmp/storage/root" --runroot "$tmp/storage/run" --storage-driver overlay)
t0=$EPOCHREALTIME
"${buildah_[@]}" bud --isolation chroot --quiet -t localhost/coreos-base-verify:derived "$ctx" >/dev/null
"${buildah_[@]}" push --quiet localhost/coreos-base-verify:derived "oci:$tmp/derived:latest"
"${buildah_[@]}" rmi --all --force >/dev/null
ok "MCO's apply step built in $(cb_since "$t0") (Ignition as ignition-apply, ostree container commit)"

# 4. The derived image on the node.
deploy "$tmp/derived"
[[ $(stat -c %a "$deployment/usr/etc/coreos-base-verify/hello.conf") == 644 ]] || fail "hello.conf missing or not 0644 in /usr/etc"
[[ -f $deployment/usr/etc/systemd/system/coreos-base-verify.service ]] || fail "unit missing in /usr/etc"
grep -qx 'enable coreos-base-verify.service' "$deployment/usr/etc/systemd/system-preset/20-ignition.preset" || fail "preset missing"
[[ -f $deployment/usr/etc/machine-config-daemon/currentconfig ]] || fail "currentconfig missing"
ok "derived image deployed: /usr/etc holds the MachineConfig's file (0644), unit and preset"
cb_log "verify: all checks passed for oci:$oci:latest"
