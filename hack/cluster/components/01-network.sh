# shellcheck shell=bash
# The node's network: a Linux bridge owned by this checkout with the node's
# address on it (pods, the node IP and the registries pods push to live here),
# and a DNAT that makes the `kubernetes` Service address (10.0.0.1:443) reach
# the API server on loopback from pods, as kube-proxy would (one kube-proxy per
# machine only, so none). Host changes: the bridge, two iptables rules matched
# on this bridge only, route_localnet on this bridge, and net.ipv4.ip_forward
# (the CNI bridge plugin turns it on); `down` removes/restores all of them.
network_rule() { echo "PREROUTING -i $BRIDGE -d 10.0.0.1/32 -p tcp --dport 443 -j DNAT --to-destination 127.0.0.1:$PORT_APISERVER -m comment --comment lbc-$BRIDGE"; }
network_config() {
  command -v ip >/dev/null || die "ip is missing (apt-get install iproute2)"
  command -v iptables >/dev/null || die "iptables is missing (apt-get install iptables)"
  remember_sysctl net.ipv4.ip_forward
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
  fi
  network_ready || ip addr add "$NODE_IP/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  echo 1 >"/proc/sys/net/ipv4/conf/$BRIDGE/route_localnet"
  # shellcheck disable=SC2046
  iptables -t nat -C $(network_rule) 2>/dev/null || iptables -t nat -A $(network_rule)
}
# (No `| grep -q` under pipefail: grep's early exit would fail the pipeline.)
network_ready() { [[ "$(ip -4 -o addr show dev "$BRIDGE" 2>/dev/null)" == *"inet $NODE_IP/"* ]]; }
network_describe() { echo "bridge $BRIDGE $NODE_IP/24, kubernetes Service 10.0.0.1:443 -> 127.0.0.1:$PORT_APISERVER"; }
network_undo() {
  # shellcheck disable=SC2046
  while iptables -t nat -D $(network_rule) 2>/dev/null; do :; done
  ip link del "$BRIDGE" 2>/dev/null || true
  undo_sysctls
}
