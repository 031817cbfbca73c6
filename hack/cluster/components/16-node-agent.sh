# shellcheck shell=bash
# STAND-IN for the machine-config daemon, which needs a real CoreOS host: it
# only sets the annotations MCD would on each node of this cluster once the
# node "has" its desired config (currentConfig = desiredConfig, state Done).
# See hack/node-agent/main.ts. Nothing else of MCD is imitated.
node_agent_hash() { hash_of "$ROOT/hack/node-agent/main.ts"; }
node_agent_ready() { alive node-agent && stamp_ok node-agent "$(node_agent_hash)"; }
node_agent_start() {
  stop node-agent
  [[ -x "$ROOT/node_modules/.bin/node" ]] || die "Node 24 from npm is missing: run 'npm ci' first"
  KUBECONFIG="$KUBECONFIG_FILE" start node-agent "hack/node-agent/main.ts" "$ROOT/node_modules/.bin/node" "$ROOT/hack/node-agent/main.ts"
  stamp_set node-agent "$(node_agent_hash)"
}
node_agent_wait() { wait_until "node-agent stand-in" 10 node-agent alive node-agent; }
node_agent_stop() { stop node-agent; }
node_agent_describe() { echo "stand-in for MCD's node annotations (hack/node-agent/main.ts)"; }
