#!/usr/bin/env bash
# Benchmarks that need the local control plane (brought up if needed).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
hack/local-cluster.sh up >/dev/null 2>&1
eval "$(hack/local-cluster.sh env)"
export PATH="$PWD/node_modules/.bin:$PATH"
echo "== API connections (bench/api-connections.bench.ts), 3 runs"
for _ in 1 2 3; do node bench/api-connections.bench.ts 200; done
