#!/usr/bin/env bash
# Starts (or stops) a local control plane for people and for the demo:
# etcd and kube-apiserver built from module sources, on 127.0.0.1 only.
#
#   hack/control-plane.sh start     # prints the KUBECONFIG to use
#   hack/control-plane.sh stop
#   hack/control-plane.sh restart-apiserver [SECONDS]   # down for SECONDS (default 6), etcd stays
#
# State lives in bin/run/cp (removed by stop). Ports: HAMON_APISERVER_PORT
# (default 16443) and HAMON_ETCD_PORT (default 12379, and the next for peers).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/bin/k8s
RUN=${HAMON_RUN_DIR:-$ROOT/bin/run/cp}
APORT=${HAMON_APISERVER_PORT:-16443}
EPORT=${HAMON_ETCD_PORT:-12379}

stop() {
  for p in apiserver etcd; do
    if [ -f "$RUN/$p.pid" ]; then
      kill "$(cat "$RUN/$p.pid")" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$(cat "$RUN/$p.pid")" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$(cat "$RUN/$p.pid")" 2>/dev/null || true
    fi
  done
  rm -rf "$RUN"
}

start() {
  "$ROOT/hack/build-k8s.sh" kube-apiserver etcd kubectl
  stop
  mkdir -p "$RUN/pki"
  command -v openssl >/dev/null || { echo "openssl is needed: apt-get install -y openssl" >&2; exit 1; }
  openssl genrsa -out "$RUN/pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$RUN/pki/sa.key" -pubout -out "$RUN/pki/sa.pub" 2>/dev/null
  # Static tokens: an administrator, and one identity per agent/controller
  # added by the demo. Loopback only; never use this outside a test machine.
  echo "hamon-admin-token,admin,admin,system:masters" > "$RUN/pki/tokens.csv"
  start_ts=$(date +%s%N)
  nohup "$BIN/etcd" --name cp --data-dir "$RUN/etcd" \
    --listen-client-urls "http://127.0.0.1:$EPORT" --advertise-client-urls "http://127.0.0.1:$EPORT" \
    --listen-peer-urls "http://127.0.0.1:$((EPORT + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((EPORT + 1))" \
    --initial-cluster "cp=http://127.0.0.1:$((EPORT + 1))" > "$RUN/etcd.log" 2>&1 &
  echo $! > "$RUN/etcd.pid"
  run_apiserver
  cat > "$RUN/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- cluster: {server: "https://127.0.0.1:$APORT", insecure-skip-tls-verify: true}
  name: hamon-local
users:
- name: admin
  user: {token: hamon-admin-token}
contexts:
- context: {cluster: hamon-local, user: admin}
  name: hamon-local
current-context: hamon-local
KC
  wait_ready
  echo "control plane ready in $(( ($(date +%s%N) - start_ts) / 1000000 )) ms" >&2
  echo "export KUBECONFIG=$RUN/kubeconfig"
}

wait_ready() {
  for _ in $(seq 300); do
    "$BIN/kubectl" --kubeconfig "$RUN/kubeconfig" get --raw /readyz >/dev/null 2>&1 && return 0
    kill -0 "$(cat "$RUN/apiserver.pid")" 2>/dev/null || { tail -20 "$RUN/apiserver.log" >&2; exit 1; }
    sleep 0.2
  done
  echo "kube-apiserver did not become ready; see $RUN/apiserver.log" >&2
  exit 1
}

run_apiserver() {
  nohup "$BIN/kube-apiserver" --etcd-servers="http://127.0.0.1:$EPORT" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$APORT" \
    --cert-dir="$RUN/pki" --token-auth-file="$RUN/pki/tokens.csv" \
    --authorization-mode=RBAC \
    --service-account-issuer=https://kubernetes.default.svc --service-account-key-file="$RUN/pki/sa.pub" \
    --service-account-signing-key-file="$RUN/pki/sa.key" --service-cluster-ip-range=10.0.0.0/24 \
    --endpoint-reconciler-type=none --allow-privileged=true ${HAMON_APISERVER_EXTRA:-} >> "$RUN/apiserver.log" 2>&1 &
  echo $! > "$RUN/apiserver.pid"
}

# restart_apiserver: a fault for people and the demo: kube-apiserver goes
# away (SIGKILL) for a while and comes back on the same port and
# certificates; etcd, and so every object, stays.
restart_apiserver() {
  [ -f "$RUN/apiserver.pid" ] || { echo "no control plane running in $RUN" >&2; exit 1; }
  local down=${1:-6} t0
  t0=$(date +%s%N)
  kill -9 "$(cat "$RUN/apiserver.pid")" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$(cat "$RUN/apiserver.pid")" 2>/dev/null || break; sleep 0.1; done
  echo "kube-apiserver killed; down for ${down} s" >&2
  sleep "$down"
  run_apiserver
  wait_ready
  echo "kube-apiserver back after $(( ($(date +%s%N) - t0) / 1000000 )) ms" >&2
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  restart-apiserver) restart_apiserver "${2:-}" ;;
  *) echo "usage: $0 start|stop|restart-apiserver [SECONDS]" >&2; exit 2 ;;
esac
