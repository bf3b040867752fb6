#!/usr/bin/env bash
# Builds Kubernetes and etcd binaries from Go module sources into bin/k8s/
# (no binary can be downloaded here). Cached: a binary is rebuilt only when the
# pinned version (hack/k8s/go.mod, hack/etcd/go.mod) changes or it is missing.
#
#   hack/build-k8s.sh                      # kube-apiserver etcd kubectl (envtest's set)
#   hack/build-k8s.sh kubelet kube-scheduler kube-controller-manager
#
# A cold build of the default set takes about 6-7 minutes on 2 cores; a warm
# check takes well under a second.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${K8S_BIN_DIR:-$ROOT/bin/k8s}
mkdir -p "$OUT"
want=("$@")
[ ${#want[@]} -gt 0 ] || want=(kube-apiserver etcd kubectl)

KV=$(awk '/^require k8s.io\/kubernetes/{print $3}' "$ROOT/hack/k8s/go.mod")
EV=$(awk '/^require go.etcd.io\/etcd\/server\/v3/{print $3}' "$ROOT/hack/etcd/go.mod")

# The version stamp makes `kubectl version` and the server's /version report
# the real release; without it helm's kubeVersion checks fail (v0.0.0-master).
ldflags() {
  local maj min ld="-s -w"
  maj=$(echo "${KV#v}" | cut -d. -f1); min=$(echo "${KV#v}" | cut -d. -f2)
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=$KV -X $p.gitMajor=$maj -X $p.gitMinor=$min -X $p.gitTreeState=clean"
    ld="$ld -X $p.gitCommit=0000000000000000000000000000000000000000 -X $p.buildDate=2026-01-01T00:00:00Z"
  done
  echo "$ld"
}

for c in "${want[@]}"; do
  if [ "$c" = etcd ]; then ver=$EV; else ver=$KV; fi
  stamp="$OUT/.$c.version"
  if [ -x "$OUT/$c" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$ver" ]; then continue; fi
  start=$(date +%s)
  echo "building $c $ver from module sources (cached in $OUT)" >&2
  if [ "$c" = etcd ]; then
    (cd "$ROOT/hack/etcd" && go build -trimpath -ldflags "-s -w" -o "$OUT/etcd" .)
  else
    (cd "$ROOT/hack/k8s" && go build -trimpath -ldflags "$(ldflags)" -o "$OUT/$c" "k8s.io/kubernetes/cmd/$c")
  fi
  echo "$ver" > "$stamp"
  echo "built $c in $(( $(date +%s) - start ))s" >&2
done
