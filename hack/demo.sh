#!/usr/bin/env bash
# make demo: a local control plane, the hamon controller, three simulated
# hosts (a node agent + a kubelet-lite each) sharing a simulated SAN disk,
# and live switchovers: a server crash, a planned swap back, a host loss, a
# partition of the active host from the API server; then an API-server
# outage that stops nothing.
# In a terminal it leaves everything running until Ctrl-C; without one (CI)
# it cleans up and exits 0 by itself.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
RUN=$ROOT/bin/run/demo
NODES=(node-a node-b node-c)
# shellcheck source=hack/sim-env.sh
source "$ROOT/hack/sim-env.sh"

if [ -t 1 ]; then B=$'\e[1m'; G=$'\e[32m'; Y=$'\e[33m'; C=$'\e[36m'; N=$'\e[0m'; else B= G= Y= C= N=; fi
say() { printf '\n%s== %s%s\n' "$B" "$*" "$N"; }
note() { printf '%s%s%s\n' "$C" "$*" "$N"; }

trap sim_env_stop EXIT

say "Building hamon and the control plane (cached after the first run), starting it, the controller and three simulated hosts"
sim_env_start
note "hosts: ${NODES[*]}; each reaches the shared disk mpatha through two paths (p1, p2)"

say "Applying an HAServer: Server mode, three hosts (multi-standby), a shared disk"
cat > "$RUN/db.yaml" <<EOF
apiVersion: ha.hamon.io/v1alpha1
kind: HAServer
metadata: {name: db, namespace: default}
spec:
  mode: Server
  alias: DB
  hosts: [{node: node-a}, {node: node-b}, {node: node-c}]
  switchType: Switch
  sharedDisks: [{device: /dev/mapper/mpatha}]
  template:
    spec:
      containers:
      - name: server
        image: demo-server
        command: [$ROOT/bin/demo-server]
        env: [{name: HAMON_SIM_DISK_ROOT, value: $RUN/disks}]
EOF
$K apply -f "$RUN/db.yaml"


wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local limit=$1 what=$2; shift 2
  local start; start=$(date +%s%N)
  until "$@" >/dev/null 2>&1; do
    if [ $(( ($(date +%s%N) - start) / 1000000000 )) -ge "$limit" ]; then
      echo "${Y}timed out waiting for: $what${N}"; $K get haservers -o wide; $K get events --sort-by=.lastTimestamp | tail -20
      exit 1
    fi
    sleep 0.1
  done
  ELAPSED_MS=$(( ($(date +%s%N) - start) / 1000000 ))
}
active() { $K get haserver db -o jsonpath='{.status.activeNode}'; }
is_active_on() { [ "$(active)" = "$1" ] && [ "$($K get haserver db -o jsonpath='{.status.phase}')" = Online ]; }
standbys_ready() { [ "$($K get haserver db -o jsonpath='{.status.standbyNodes}')" = "$1" ]; }

wait_for 60 "db Online on node-a" is_active_on node-a
wait_for 30 "two standbys" standbys_ready "node-b,node-c"
$K get haservers -o wide
sleep 1
bin/hamon-sim disk --disk-root "$RUN/disks"

say "Fault 1: the active server on node-a crashes (abnormal termination, Table 4-3 row 2)"
bin/hamon-sim kill --node node-a --state "$RUN/sim"
wait_for 30 "db Online on node-b" is_active_on node-b
printf '%sswitchover node-a -> node-b in %d ms%s (crash seen, node-b took the reservation, standby copy promoted)\n' "$G" "$ELAPSED_MS" "$N"
$K get haservers -o wide
$K get events --sort-by=.lastTimestamp -o custom-columns=REASON:.reason,MESSAGE:.message | grep HAMN | tail -8
sleep 1
bin/hamon-sim disk --disk-root "$RUN/disks"

say "Planned swap back with the kubectl plugin: kubectl hamon begin (monbegin), kubectl hamon swap (monswap)"
export PATH=$ROOT/bin:$PATH
note "\$ kubectl hamon begin db --node node-a"
$K hamon begin db --node node-a --timeout 30s
wait_for 30 "node-a standby again" standbys_ready "node-a,node-c"
note "\$ kubectl hamon swap db --node node-a"
start_swap=$(date +%s%N)
$K hamon swap db --node node-a --timeout 30s
printf '%splanned swap node-b -> node-a in %d ms%s\n' "$G" "$(( ($(date +%s%N) - start_swap) / 1000000 ))" "$N"
note "\$ kubectl hamon show db"
$K hamon show db

say "Fault 2: host node-a is lost (its agent stops renewing its Lease)"
wait_for 30 "two standbys" standbys_ready "node-b,node-c"
kill "${AGENT[node-a]}"
wait_for 30 "db Online on node-b" is_active_on node-b
printf '%shost-loss switchover node-a -> node-b in %d ms%s (lease 4 s, then PREEMPT AND ABORT of node-a'"'"'s key)\n' "$G" "$ELAPSED_MS" "$N"
$K get haservers -o wide
sleep 1
bin/hamon-sim disk --disk-root "$RUN/disks"
note "node-a's server process may still run, but its writes are refused: its key was preempted (see 'write ... refused' in $RUN/sim/node-a/*.log)"

say "Fault 3: the active host node-b is cut off from the API server (bin/hamon-sim partition): its servers go on running"
wait_for 30 "a standby on node-c" standbys_ready "node-c"
note "\$ bin/hamon-sim partition --node node-b --state $RUN/sim"
bin/hamon-sim partition --node node-b --state "$RUN/sim"
wait_for 30 "db Online on node-c" is_active_on node-c
printf '%spartition switchover node-b -> node-c in %d ms%s (node-b'"'"'s Lease ran out; node-c preempted its key)\n' "$G" "$ELAPSED_MS" "$N"
$K get haservers -o wide
sleep 1
bin/hamon-sim disk --disk-root "$RUN/disks"
note "\$ bin/hamon-sim partition --node node-b --state $RUN/sim --heal"
bin/hamon-sim partition --node node-b --state "$RUN/sim" --heal

say "Fault 4: kube-apiserver stopped for 20 s (a control-plane upgrade): no agent can renew its Lease"
note "web: Server mode, two hosts, no shared disk: only its agent's stop (or the host watchdog) keeps it from running twice"
cat > "$RUN/web.yaml" <<EOF
apiVersion: ha.hamon.io/v1alpha1
kind: HAServer
metadata: {name: web, namespace: default}
spec:
  mode: Server
  hosts: [{node: node-c}, {node: node-b}]
  template:
    spec:
      containers:
      - name: server
        image: web
        command: [/bin/sh, -c, "trap 'exit 0' TERM; while :; do sleep 0.2; done"]
EOF
$K apply -f "$RUN/web.yaml"
web_on() { [ "$($K get haserver web -o jsonpath='{.status.activeNode}/{.status.phase}/{.status.standbyNodes}')" = "$1" ]; }
wait_for 30 "web Online on node-c with its standby" web_on "node-c/Online/node-b"
web_pid() { cat "$RUN/sim/node-c/default_$($K get haserver web -o jsonpath='{.status.hosts[0].pod}').pid"; }
switchovers() { $K get haservers -o jsonpath='{range .items[*]}{.metadata.name}={.status.switchovers[*].cause} {end}'; }
before_pid=$(web_pid); before_sw=$(switchovers)
note "\$ hack/control-plane.sh restart-apiserver 20"
"$ROOT/hack/control-plane.sh" restart-apiserver 20 >/dev/null
note "the agents asked each other (mutual TLS, not through the API server): every peer confirmed it could not renew either, so it was an outage, not isolation"
sleep 8
$K get haservers -o wide
if [ "$(web_pid)" = "$before_pid" ] && [ "$(switchovers)" = "$before_sw" ] && web_on "node-c/Online/node-b"; then
  printf '%sAPI server away 20 s: 0 stops, 0 switchovers%s (web, without a disk, kept pid %s; db kept its reservation)\n' "$G" "$N" "$before_pid"
else
  echo "${Y}web was stopped or something switched over during the outage: pid $before_pid -> $(web_pid), switchovers $before_sw -> $(switchovers)${N}"
  exit 1
fi

say "The story, as kubectl describe tells it"
$K describe haserver db | sed -n '/^Status:/,$p' | grep -E 'Active Node|Cause|From|To:|Result|Reason|Message' | head -30

if [ -t 0 ] && [ -t 1 ]; then
  say "Everything keeps running. Try:"
  echo "  export KUBECONFIG=$KUBECONFIG"
  echo "  $K get haservers -o wide; $K get hanodes; $K get events --sort-by=.lastTimestamp"
  echo "  A=\$($K get haserver db -o jsonpath='{.status.activeNode}')     # the active host"
  echo "  bin/hamon-sim kill --node \$A --state $RUN/sim                 # crash the active server (--signal TERM: it ends normally)"
  echo "  bin/hamon-sim down --node \$A --state $RUN/sim                 # host failure: agent, kubelet-lite and servers die"
  echo "  bin/hamon-sim pause --node \$A --state $RUN/sim                # a hung agent (SIGSTOP): its watchdog resets the host after 3 s"
  echo "  bin/hamon-sim partition --node \$A --state $RUN/sim            # cut the host off from the API server (--heal to reconnect)"
  echo "  bin/hamon-sim path --node \$A --disk-root $RUN/disks --port p2 # fail a path (--reinstate to bring it back)"
  echo "  bin/hamon-sim restart --process manager --state $RUN/sim --down 2s  # the controller killed and started again"
  echo "  HAMON_RUN_DIR=$HAMON_RUN_DIR HAMON_APISERVER_PORT=$HAMON_APISERVER_PORT hack/control-plane.sh restart-apiserver 40  # API server away 40 s: nothing stops"
  echo "  bin/hamon-sim disk --disk-root $RUN/disks                      # who holds and who writes the disk"
  echo "  logs: $RUN/logs"
  echo "Ctrl-C stops everything."
  while sleep 3600; do :; done
fi
say "Demo done; cleaning up"
