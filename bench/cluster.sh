#!/usr/bin/env bash
# Benchmarks that need the local control plane (brought up if needed).
#   npm run bench                                   # defaults below
#   BENCH_POOLS=100,300,1000 BENCH_RUNS=3 BENCH_RUNS_AT=1000=1 npm run bench
#   BENCH_CHECKOUT=/path/to/other/checkout npm run bench   # the same figures for another checkout's operator
#   BENCH_CHANGES=20                                # rendered-config changes per reaction run
#   BENCH_ROLLOUT_BEFORE=/path/to/checkout           # the rollout bench for that checkout's operator too, side by side
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
hack/local-cluster.sh up >/dev/null 2>&1
eval "$(hack/local-cluster.sh env)"
export PATH="$PWD/node_modules/.bin:$PATH"
echo "== API connections (bench/api-connections.bench.ts), 3 runs"
for _ in 1 2 3; do node bench/api-connections.bench.ts 200; done
echo "== server-side applies a second the control plane takes, by concurrency (bench/apply-throughput.bench.ts)"
for c in 1 8 32; do node bench/apply-throughput.bench.ts 200 "$c" imagestreams; done
echo "== rendered-config push against skopeo (bench/push.bench.ts)"
node bench/push.bench.ts --runs "${BENCH_RUNS:-3}"
echo "== one content build on the realistic CoreOS base beside MCO's way and the pull floor (bench/content-build.bench.ts)"
node bench/content-build.bench.ts --runs "${BENCH_CONTENT_RUNS:-1}"
echo "== reaction beside the raw watch, and the storm (bench/reaction.bench.ts)"
node bench/reaction.bench.ts --runs "${BENCH_RUNS:-3}" --changes "${BENCH_CHANGES:-20}" ${BENCH_CHECKOUT:+--checkout "$BENCH_CHECKOUT"}
echo "== a MachineConfig change from the edit to the node Done on its image, node moves counted (bench/rollout.bench.ts)"
node bench/rollout.bench.ts --changes "${BENCH_ROLLOUT_CHANGES:-3}" ${BENCH_ROLLOUT_BEFORE:+--before "$BENCH_ROLLOUT_BEFORE"}
node bench/scale.bench.ts \
  --pools "${BENCH_POOLS:-100,300,1000}" --runs "${BENCH_RUNS:-3}" --runs-at "${BENCH_RUNS_AT:-1000=1}" \
  --idle-at "${BENCH_IDLE_AT:-1000}" --idle-seconds "${BENCH_IDLE_SECONDS:-60}" \
  ${BENCH_CHECKOUT:+--checkout "$BENCH_CHECKOUT"}
