#!/usr/bin/env bash
# Regenerates hack/k8s/go.mod for a new Kubernetes version: k8s.io/kubernetes
# refers to its staging modules as v0.0.0 with replace directives, which only
# work inside its own repository, so a wrapper module must pin each of them to
# the matching published v0.X.Y. Run by hand when K8S_VERSION changes, then commit.
set -euo pipefail
cd "$(dirname "$0")"
KV=${1:?usage: gen-gomod.sh v1.37.2}
SV=v0.${KV#v1.}
go mod download -json "k8s.io/kubernetes@$KV" >/dev/null
KGOMOD=$(go env GOMODCACHE)/k8s.io/kubernetes@$KV/go.mod
{
  printf 'module github.com/hamon-ha/hamon/hack/k8s\n\ngo 1.26.0\n\ngodebug default=go1.26\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$KV"
  for m in $(sed -n '/^replace (/,/^)/p' "$KGOMOD" | awk '/=>/{print $1}'); do
    # Only the staging modules kubernetes itself requires (sample-* are not published).
    if grep -qE "^\s+$m v0.0.0" "$KGOMOD"; then printf '\t%s => %s %s\n' "$m" "$m" "$SV"; fi
  done
  printf ')\n'
} > go.mod
go mod tidy
