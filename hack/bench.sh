#!/usr/bin/env bash
# make bench: switchover times on simulated hosts, as distributions, and
# API writes at rest. Flags go to hack/bench (e.g. --crash-runs 30).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export ROOT RUN=$ROOT/bin/run/bench
NODES=(node-a node-b node-c)
# shellcheck source=hack/sim-env.sh
source "$ROOT/hack/sim-env.sh"
trap sim_env_stop EXIT
sim_env_start
NODES_LIST="${NODES[*]}" go run ./hack/bench "$@"
