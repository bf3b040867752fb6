#!/usr/bin/env bash
# Builds the images of make test-cluster from this repository's static
# binaries, without Docker or a registry (hack/cluster/mkimage writes each
# as a tarball that `ctr images import` reads):
#
#   localhost/hamon-controller:TAG  /usr/local/bin/manager    (the Dockerfile's controller target)
#   localhost/hamon-nodeagent:TAG   /usr/local/bin/nodeagent  (its nodeagent target)
#   localhost/hamon-demo:TAG        /demo-server and /hctool (patrol and term commands: no shell)
#   registry.k8s.io/pause:3.10      the pod sandbox (hctool pause)
#
# kubectl-hamon is built beside them (bin/cluster/build/TAG), for the host.
#
#   hack/cluster/images.sh TAG [OUT_DIR]    # OUT_DIR default bin/cluster/images
#
# Each image is OUT_DIR/<name>-<tag>.tar with the reference beside it in
# .ref; cluster.sh imports every tarball of the directory when a node boots,
# and `cluster.sh import` imports one into running nodes.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TAG=${1:?usage: images.sh TAG [OUT_DIR]}
OUT=${2:-$ROOT/bin/cluster/images}
B=$ROOT/bin/cluster/build/$TAG
mkdir -p "$OUT" "$B"
start=$(date +%s%N)

(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$B/" \
  ./cmd/manager ./cmd/nodeagent ./cmd/kubectl-hamon ./cmd/demo-server ./hack/cluster/hctool)
(cd "$ROOT/hack/cluster/mkimage" && go build -trimpath -o "$B/mkimage" .)
# What was built, and when: a rebuilt image differs from the last one even
# when the sources did not change.
printf 'tag=%s\nbuilt=%s\ncommit=%s\n' "$TAG" "$(date -u +%FT%TZ)" \
  "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)" > "$B/build-info"

image() { # FILE REF MKIMAGE-ARGS...
  local file=$1 ref=$2; shift 2
  "$B/mkimage" -tag "$ref" -o "$OUT/$file.tar" "$@" >/dev/null
  echo "$ref" > "$OUT/$file.ref"
  echo "$OUT/$file.tar $ref"
}
# The Dockerfile's two images, one static binary each (the chart's
# image.repository and agent.imageRepository, one tag).
image "hamon-controller-$TAG" "localhost/hamon-controller:$TAG" -user 65532:65532 \
  -add "$B/manager=/usr/local/bin/manager" -add "$B/build-info=/etc/hamon-build" -entrypoint /usr/local/bin/manager
image "hamon-nodeagent-$TAG" "localhost/hamon-nodeagent:$TAG" -user 0:0 \
  -add "$B/nodeagent=/usr/local/bin/nodeagent" -add "$B/build-info=/etc/hamon-build" -entrypoint /usr/local/bin/nodeagent
image "hamon-demo-$TAG" "localhost/hamon-demo:$TAG" \
  -add "$B/demo-server=/demo-server" -add "$B/hctool=/hctool" -entrypoint /demo-server
if [ ! -f "$OUT/pause.tar" ]; then
  image pause registry.k8s.io/pause:3.10 -add "$B/hctool=/pause" -entrypoint /pause -entrypoint pause
fi
echo "images built in $(( ($(date +%s%N) - start) / 1000000 )) ms" >&2
