#!/usr/bin/env bash
# The main job on the embedded default: installs what is missing, brings the
# local control plane up, applies the sample layered pool and runs the operator
# until the pool has its layered image (see hack/demo.ts).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
hack/ensure-deps.sh
export PATH="$PWD/node_modules/.bin:/usr/local/go/bin:$PATH"
exec node hack/demo.ts "$@"
