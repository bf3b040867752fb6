#!/usr/bin/env bash
# Builds promtool from the Prometheus module sources into bin/promtool (no
# binary can be downloaded here; only the Go module proxy is reachable).
# Cached: rebuilt only when bin/promtool is missing or reports another
# version. make test uses it to check and unit-test the chart's alert rules
# (charts/hamon/files/alerts.yaml).
#
#   hack/build-promtool.sh                 # bin/promtool, the pinned version
#   PROMETHEUS_VERSION=v0.x.y hack/build-promtool.sh
#
# Prometheus's Go module versions are v0.<minor>.<patch> for release
# 3.<minor>.<patch>. A cold build takes a few minutes on 2 cores.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${PROMTOOL_BIN_DIR:-$ROOT/bin}
PV=${PROMETHEUS_VERSION:-v0.316.0}
mkdir -p "$OUT"
stamp="$OUT/.promtool.version"

if [ -x "$OUT/promtool" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$PV" ]; then
  exit 0
fi
start=$(date +%s)
echo "building promtool (prometheus $PV) from module sources (cached in $OUT)" >&2
# Outside any module, so this repository's go.mod is neither read nor changed.
(cd / && GOWORK=off GOBIN="$OUT" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" \
  "github.com/prometheus/prometheus/cmd/promtool@$PV")
"$OUT/promtool" --help >/dev/null
echo "$PV" >"$stamp"
echo "built promtool $PV in $(( $(date +%s) - start ))s" >&2
