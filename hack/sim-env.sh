# Sourced by hack/demo.sh and hack/bench.sh: starts a local control plane,
# the hamon controller and simulated hosts, and stops them on exit.
#   RUN      directory of the run (logs, disks, simulated host state)
#   NODES    the simulated hosts' names
# After sim_env_start: KUBECONFIG is exported, AGENT[node] is each agent's pid.
# shellcheck shell=bash

K=$ROOT/bin/k8s/kubectl
export HAMON_RUN_DIR=$RUN/cp HAMON_APISERVER_PORT=${HAMON_APISERVER_PORT:-16543} HAMON_ETCD_PORT=${HAMON_ETCD_PORT:-12479}
PIDS=()
declare -A AGENT

sim_env_stop() {
  set +e
  for f in "$RUN"/sim/*.agent.pid "$RUN"/sim/*.link.pid "$RUN"/sim/manager.pid; do [ -f "$f" ] && PIDS+=("$(cat "$f")"); done
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  sleep 1
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  "$ROOT/hack/control-plane.sh" stop >/dev/null 2>&1
}

# start_link NODE: the host's link to the API server (hamon-sim link): the
# host's kubelet-lite and agent connect through it, so that
# `hamon-sim partition --node NODE` can cut the host off. Writes the
# host's kubeconfig, $RUN/sim/NODE.kubeconfig.
start_link() {
  local n=$1 api=127.0.0.1:$HAMON_APISERVER_PORT i
  rm -f "$RUN/sim/$n.link" "$RUN/sim/$n.cut"
  "$ROOT/bin/hamon-sim" link --node "$n" --state "$RUN/sim" --target "$api" >> "$RUN/logs/$n-link.log" 2>&1 &
  PIDS+=($!)
  echo $! > "$RUN/sim/$n.link.pid"
  for i in $(seq 50); do [ -s "$RUN/sim/$n.link" ] && break; sleep 0.1; done
  [ -s "$RUN/sim/$n.link" ] || { echo "the link of $n did not start (see $RUN/logs/$n-link.log)" >&2; return 1; }
  sed "s#https://$api#https://$(cat "$RUN/sim/$n.link")#" "$KUBECONFIG" > "$RUN/sim/$n.kubeconfig"
  grep -q "$(cat "$RUN/sim/$n.link")" "$RUN/sim/$n.kubeconfig" || { echo "the kubeconfig of $n does not go through its link" >&2; return 1; }
}

# start_agent NODE: (re)starts the node agent of a simulated host: its
# watchdog is the simulated host's, it answers its peers on a port of its
# own (PEER_PORT[NODE]) with the demo's agent certificate.
declare -A PEER_PORT=()
PEERS=0
WATCHDOG=3s
start_agent() {
  local n=$1
  if [ -z "${PEER_PORT[$n]:-}" ]; then
    PEER_PORT[$n]=$((${HAMON_PEER_PORT_BASE:-19440} + PEERS))
    PEERS=$((PEERS + 1))
  fi
  KUBECONFIG="$RUN/sim/$n.kubeconfig" "$ROOT/bin/nodeagent" --node "$n" --sim-disk-root "$RUN/disks" --boot-id-file "$RUN/sim/$n.boot_id" \
    --cri-endpoint "unix://$RUN/sim/$n/cri.sock" \
    --lease-duration=4s --renew-interval=1s --self-fence-deadline=3s --health-probe-bind-address=0 --allowed-disks="*=/dev/mapper/*" \
    --watchdog-device="unix://$RUN/sim/$n/watchdog.sock" --watchdog-timeout=$WATCHDOG \
    --peer-tls-dir="$RUN/peer-tls" --peer-listen="127.0.0.1:${PEER_PORT[$n]}" --peer-address="127.0.0.1:${PEER_PORT[$n]}" --peer-timeout=500ms \
    >> "$RUN/logs/$n-agent.log" 2>&1 &
  AGENT[$n]=$!
  echo $! > "$RUN/sim/$n.agent.pid"
  PIDS+=($!)
}

sim_env_start() {
  "$ROOT/hack/build-k8s.sh" kube-apiserver etcd kubectl
  mkdir -p "$ROOT/bin" && (cd "$ROOT" && CGO_ENABLED=0 go build -o bin/ ./cmd/...)
  rm -rf "$RUN" && mkdir -p "$RUN/disks" "$RUN/sim" "$RUN/logs"
  eval "$("$ROOT/hack/control-plane.sh" start)"
  $K apply -f "$ROOT/config/crd/bases" >/dev/null
  $K wait --for=condition=Established crd --all >/dev/null
  $K create namespace hamon-system >/dev/null
  # No kube-controller-manager runs here to create the default ServiceAccount.
  $K create serviceaccount default -n default >/dev/null
  "$ROOT/bin/hamon-sim" certs --dir "$RUN/peer-tls"
  "$ROOT/bin/manager" --metrics-bind-address="${HAMON_METRICS_ADDR:-0}" --health-probe-bind-address=0 \
    --watchdog-timeout=$WATCHDOG --primary-wait=20s --allowed-disks="*=/dev/mapper/*" > "$RUN/logs/manager.log" 2>&1 &
  PIDS+=($!)
  echo $! > "$RUN/sim/manager.pid"
  local n
  for n in "${NODES[@]}"; do
    echo "boot-$n-1" > "$RUN/sim/$n.boot_id"
    start_link "$n"
    KUBECONFIG="$RUN/sim/$n.kubeconfig" "$ROOT/bin/hamon-sim" host --node "$n" --state "$RUN/sim" > "$RUN/logs/$n-host.log" 2>&1 &
    PIDS+=($!)
    echo $! > "$RUN/sim/$n.host.pid"
    start_agent "$n"
  done
}
