#!/usr/bin/env bash
# A local three-node Kubernetes cluster without Docker, for make test-cluster
# (hack/cluster/README.md says how it is built and why).
#
#   hack/cluster/cluster.sh up                 # control plane + nodes hc-a hc-b hc-c, prints the KUBECONFIG
#   hack/cluster/cluster.sh down               # stops everything, leaves the machine as it was
#   hack/cluster/cluster.sh status
#   hack/cluster/cluster.sh node-kill NODE     # host loss: every process of the node dies at once
#   hack/cluster/cluster.sh node-start NODE [--reboot]   # boot it (a new boot ID with --reboot)
#   hack/cluster/cluster.sh kubelet-restart NODE  # the kubelet stops and is started again (an upgrade); containers run on
#   hack/cluster/cluster.sh partition NODE     # drop the node's traffic with the API server
#   hack/cluster/cluster.sh heal NODE
#   hack/cluster/cluster.sh import TAR... [--node NODE]  # ctr images import, on every node by default
#   hack/cluster/cluster.sh ctr NODE ARGS...   # ctr -n k8s.io on the node's containerd
#
# Each node is a network namespace (its own address on the bridge hc-br0,
# its own iptables) and a private mount namespace in which the node's
# containerd and kubelet run: /run/containerd, /var/lib/containerd,
# /var/lib/kubelet, /var/lib/cni, /var/log/pods, /var/log/containers and
# /var/lib/hamon-sim are bind mounts of the node's own directories, so every
# node has its containerd socket at the standard path, and hostPath volumes
# resolve per node. Its processes live in the cgroup /<node> (the kubelet's
# --cgroup-root), which is how a host loss kills them all at once.
#
# Environment: HAMON_CLUSTER_RUN (state, default bin/run/cluster),
# HAMON_CLUSTER_IMAGES (image tarballs imported at boot, default
# bin/cluster/images), HAMON_CLUSTER_APISERVER_PORT (16643),
# HAMON_CLUSTER_ETCD_PORT (12579 and the next), HAMON_CLUSTER_NET (10.77.0:
# the bridge is .1, the nodes .11 .12 .13), HAMON_CLUSTER_PODNET (10.78: node
# N's pods in 10.78.N.0/24), HAMON_CLUSTER_SVCNET (10.79.0: the Service /24).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/hack/cluster
K8S=$ROOT/bin/k8s
RUN=${HAMON_CLUSTER_RUN:-$ROOT/bin/run/cluster}
IMAGES=${HAMON_CLUSTER_IMAGES:-$ROOT/bin/cluster/images}
APORT=${HAMON_CLUSTER_APISERVER_PORT:-16643}
EPORT=${HAMON_CLUSTER_ETCD_PORT:-12579}
NET=${HAMON_CLUSTER_NET:-10.77.0}
PODNET=${HAMON_CLUSTER_PODNET:-10.78}
SVCNET=${HAMON_CLUSTER_SVCNET:-10.79.0}
BR=hc-br0
NODES=(hc-a hc-b hc-c)
API=$NET.1
KCM_PORT=10657
SCHED_PORT=10659
# Directories the node mount namespaces bind over: created when missing,
# removed by down.
MOUNTPOINTS=(/run/containerd /var/lib/containerd /var/lib/kubelet /var/lib/cni /var/lib/hamon-sim
  /var/log/pods /var/log/containers /run/udev)
# Host settings the kubelet changes (it sets these sysctls): restored by down.
SYSCTLS=(vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops kernel/keys/root_maxkeys
  kernel/keys/root_maxbytes)
export KUBECONFIG=$RUN/pki/admin.kubeconfig

log() { echo "cluster: $*" >&2; }
die() { log "$*"; exit 1; }
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

node_index() {
  local i
  for i in "${!NODES[@]}"; do [ "${NODES[$i]}" = "$1" ] && { echo $((i + 1)); return; }; done
  die "unknown node $1 (nodes: ${NODES[*]})"
}
node_dir() { echo "$RUN/nodes/$1"; }
node_ip() { echo "$NET.1$(node_index "$1")"; }
in_node() { local n=$1; shift; nsenter --net="/run/netns/$n" -- "$@"; }
cgroup_dirs() { local h; for h in /sys/fs/cgroup/*/; do echo "${h%/}/$1"; done; }

# ---------------------------------------------------------------- prerequisites

need_packages() {
  local missing=() p
  command -v containerd >/dev/null || missing+=(containerd)
  command -v runc >/dev/null || missing+=(runc)
  [ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
  command -v iptables >/dev/null || missing+=(iptables)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v nsenter >/dev/null || missing+=(util-linux)
  command -v ip >/dev/null || missing+=(iproute2)
  [ ${#missing[@]} -eq 0 ] && return
  log "installing ${missing[*]} (Debian packages)"
  # The package's service is never started here: policy-rc.d says no.
  local prc=/usr/sbin/policy-rc.d created_prc=
  if [ ! -e $prc ]; then printf '#!/bin/sh\nexit 101\n' > $prc; chmod +x $prc; created_prc=1; fi
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ -z "$created_prc" ] || rm -f $prc
  for p in containerd runc iptables; do command -v $p >/dev/null || die "$p is still missing"; done
}

check_host() {
  [ "$(id -u)" = 0 ] || die "must run as root (network namespaces, mounts, cgroups)"
  { [ -d /sys/fs/cgroup/freezer ] && [ -d /sys/fs/cgroup/pids ]; } ||
    die "needs the cgroup v1 freezer and pids hierarchies (this script does not support a cgroup v2-only host yet)"
  local b
  for b in kube-apiserver etcd kubectl kubelet kube-controller-manager kube-scheduler; do
    [ -x "$K8S/$b" ] || die "$K8S/$b is missing: hack/build-k8s.sh kube-apiserver etcd kubectl kubelet kube-scheduler kube-controller-manager"
  done
  ls "$IMAGES"/*.tar >/dev/null 2>&1 || die "no image tarballs in $IMAGES: hack/cluster/images.sh TAG"
}

# ---------------------------------------------------------------- PKI and kubeconfigs

kubeconfig() { # FILE TOKEN
  cat > "$1" <<KC
apiVersion: v1
kind: Config
clusters:
- cluster: {server: "https://$API:$APORT", certificate-authority: "$RUN/pki/ca.crt"}
  name: hamon-cluster
users:
- name: user
  user: {token: "$2"}
contexts:
- context: {cluster: hamon-cluster, user: user}
  name: hamon-cluster
current-context: hamon-cluster
KC
}

make_pki() {
  local p=$RUN/pki n
  mkdir -p "$p"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7 -subj /CN=hamon-cluster-ca \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    -keyout "$p/ca.key" -out "$p/ca.crt" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=kube-apiserver \
    -keyout "$p/apiserver.key" -out "$p/apiserver.csr" 2>/dev/null
  printf 'subjectAltName=IP:%s,IP:%s.1,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n' \
    "$API" "$SVCNET" > "$p/apiserver.ext"
  openssl x509 -req -in "$p/apiserver.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial -days 7 \
    -extfile "$p/apiserver.ext" -out "$p/apiserver.crt" 2>/dev/null
  openssl genrsa -out "$p/sa.key" 2048 2>/dev/null
  openssl rsa -in "$p/sa.key" -pubout -out "$p/sa.pub" 2>/dev/null
  # Static tokens, one identity per component (loopback-range test cluster only).
  {
    echo "hc-admin-token,admin,admin,system:masters"
    echo "hc-kcm-token,system:kube-controller-manager,kcm"
    echo "hc-scheduler-token,system:kube-scheduler,scheduler"
    for n in "${NODES[@]}"; do echo "hc-kubelet-$n-token,system:node:$n,node-$n,system:nodes"; done
  } > "$p/tokens.csv"
  kubeconfig "$p/admin.kubeconfig" hc-admin-token
  kubeconfig "$p/kcm.kubeconfig" hc-kcm-token
  kubeconfig "$p/scheduler.kubeconfig" hc-scheduler-token
  for n in "${NODES[@]}"; do kubeconfig "$p/kubelet-$n.kubeconfig" "hc-kubelet-$n-token"; done
}

# ---------------------------------------------------------------- host state

save_host_state() {
  local s d
  : > "$RUN/host/sysctls"
  for s in "${SYSCTLS[@]}"; do echo "$s $(cat "/proc/sys/$s")" >> "$RUN/host/sysctls"; done
  : > "$RUN/host/created"
  for d in "${MOUNTPOINTS[@]}"; do
    [ -e "$d" ] || { mkdir -p "$d"; echo "$d" >> "$RUN/host/created"; }
  done
  [ -e /run/netns ] || echo /run/netns >> "$RUN/host/created.netns"
}

restore_host_state() {
  local s v d
  if [ -f "$RUN/host/sysctls" ]; then
    while read -r s v; do echo "$v" > "/proc/sys/$s" 2>/dev/null || true; done < "$RUN/host/sysctls"
  fi
  if [ -f "$RUN/host/created" ]; then
    tac "$RUN/host/created" | while read -r d; do rmdir "$d" 2>/dev/null || log "left $d (not empty)"; done
  fi
  # /run/netns was created by ip netns add: remove it when ours and empty.
  if [ -f "$RUN/host/created.netns" ] && [ -d /run/netns ] && [ -z "$(ls -A /run/netns)" ]; then
    umount /run/netns 2>/dev/null || true
    rmdir /run/netns 2>/dev/null || true
  fi
}

# ---------------------------------------------------------------- network

net_up() {
  ip link add $BR type bridge
  ip addr add "$API/24" dev $BR
  ip link set $BR up
  local n i
  for n in "${NODES[@]}"; do
    i=$(node_index "$n")
    ip netns add "$n"
    ip link add "$n-h" type veth peer name eth0 netns "$n"
    ip link set "$n-h" master $BR up
    ip -n "$n" addr add "$(node_ip "$n")/24" dev eth0
    ip -n "$n" link set lo up
    ip -n "$n" link set eth0 up
    # No default route: a node reaches the bridge's subnet and its own pods,
    # nothing else (no traffic leaves the machine).
    in_node "$n" sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'
    # The kubernetes Service (first address of the Service range) leads to
    # the API server: kube-proxy's one job that pods here need. The route
    # lets the node's own processes connect (the DNAT comes after routing);
    # other Service addresses end at the bridge, which forwards nothing.
    ip -n "$n" route add "$SVCNET.0/24" via "$API"
    in_node "$n" iptables -t nat -N HC-SERVICES
    in_node "$n" iptables -t nat -A HC-SERVICES -d "$SVCNET.1/32" -p tcp --dport 443 -j DNAT --to-destination "$API:$APORT"
    in_node "$n" iptables -t nat -A OUTPUT -j HC-SERVICES
    in_node "$n" iptables -t nat -A PREROUTING -j HC-SERVICES
    # Partitions go here (partition/heal).
    in_node "$n" iptables -N HC-PARTITION
    for c in INPUT OUTPUT FORWARD; do in_node "$n" iptables -I $c -j HC-PARTITION; done
  done
}

net_down() {
  local n
  for n in "${NODES[@]}"; do
    if [ -e "/run/netns/$n" ]; then ip netns del "$n" 2>/dev/null || true; fi
    ip link del "$n-h" 2>/dev/null || true
  done
  ip link del $BR 2>/dev/null || true
}

# ---------------------------------------------------------------- control plane

start_bg() { # NAME CMD...: a process in its own session, logs in logs/NAME.log
  local name=$1; shift
  setsid "$@" > "$RUN/logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$RUN/pids/$name"
}

stop_pid() { # NAME [SIGNAL]
  local f=$RUN/pids/$1 p i
  [ -f "$f" ] || return 0
  p=$(cat "$f")
  kill "-${2:-TERM}" "$p" 2>/dev/null || true
  for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null || true
  rm -f "$f"
}

control_plane_up() {
  local p=$RUN/pki i
  start_bg etcd "$K8S/etcd" --name hc --data-dir "$RUN/etcd" \
    --listen-client-urls "http://127.0.0.1:$EPORT" --advertise-client-urls "http://127.0.0.1:$EPORT" \
    --listen-peer-urls "http://127.0.0.1:$((EPORT + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((EPORT + 1))" \
    --initial-cluster "hc=http://127.0.0.1:$((EPORT + 1))" --listen-metrics-urls=
  start_bg apiserver "$K8S/kube-apiserver" --etcd-servers="http://127.0.0.1:$EPORT" \
    --bind-address="$API" --advertise-address="$API" --secure-port="$APORT" \
    --tls-cert-file="$p/apiserver.crt" --tls-private-key-file="$p/apiserver.key" \
    --token-auth-file="$p/tokens.csv" --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --service-account-issuer=https://kubernetes.default.svc --service-account-key-file="$p/sa.pub" \
    --service-account-signing-key-file="$p/sa.key" --service-cluster-ip-range="$SVCNET.0/24" \
    --allow-privileged=true --kubelet-preferred-address-types=InternalIP --profiling=false
  for i in $(seq 300); do
    "$K8S/kubectl" get --raw /readyz >/dev/null 2>&1 && break
    kill -0 "$(cat "$RUN/pids/apiserver")" 2>/dev/null || { tail -20 "$RUN/logs/apiserver.log" >&2; die "kube-apiserver died"; }
    [ "$i" = 300 ] && die "kube-apiserver not ready after 60 s"
    sleep 0.2
  done
  start_bg kube-controller-manager "$K8S/kube-controller-manager" --kubeconfig="$p/kcm.kubeconfig" \
    --authentication-kubeconfig="$p/kcm.kubeconfig" --authorization-kubeconfig="$p/kcm.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=$KCM_PORT --leader-elect=false \
    --service-account-private-key-file="$p/sa.key" --root-ca-file="$p/ca.crt" --use-service-account-credentials=true \
    --allocate-node-cidrs=false --profiling=false
  start_bg kube-scheduler "$K8S/kube-scheduler" --kubeconfig="$p/scheduler.kubeconfig" \
    --authentication-kubeconfig="$p/scheduler.kubeconfig" --authorization-kubeconfig="$p/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=$SCHED_PORT --leader-elect=false --profiling=false
}

# ---------------------------------------------------------------- nodes

write_node_config() {
  local n=$1 d i
  d=$(node_dir "$n"); i=$(node_index "$n")
  mkdir -p "$d"/{run-containerd,var-containerd,var-kubelet,var-cni,cni,sim/disks,log-pods,log-containers,udev}
  cat > "$d/containerd.toml" <<EOF
version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
# Plugins that would touch the host outside the node's mounts, or that are not used.
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "/run/containerd/containerd.sock"

[plugins."io.containerd.grpc.v1.cri"]
  # Root here may lack CAP_SYS_RESOURCE: no negative oom_score_adj.
  restrict_oom_score_adj = true
  sandbox_image = "registry.k8s.io/pause:3.10"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$d/cni"
EOF
  cat > "$d/cni/10-hc.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "hc",
  "plugins": [
    {
      "type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
      "ipam": {"type": "host-local", "ranges": [[{"subnet": "$PODNET.$i.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]}
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  cat > "$d/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $(node_ip "$n")
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
failCgroupV1: false
failSwapOn: false
cgroupDriver: cgroupfs
cgroupRoot: /$n
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization:
  mode: AlwaysAllow
clusterDomain: cluster.local
clusterDNS: ["$SVCNET.10"]
resolvConf: /etc/resolv.conf
# No registry: never collect the imported images.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%", "nodefs.inodesFree": "1%"}
serializeImagePulls: false
syncFrequency: 10s
EOF
}

node_boot() { # NODE REBOOT(0|1)
  local n=$1 reboot=${2:-0} d c start
  d=$(node_dir "$n")
  node_running "$n" && die "$n is running"
  start=$(date +%s%N)
  write_node_config "$n"
  # A boot: /run is empty, and a rebooted host has a new boot ID (the agent
  # reads it from /var/lib/hamon-sim/boot_id: --boot-id-file).
  rm -rf "${d:?}/run-containerd" "$d/var-cni/networks" && mkdir -p "$d/run-containerd"
  if [ ! -f "$d/sim/boot_id" ] || [ "$reboot" = 1 ]; then cat /proc/sys/kernel/random/uuid > "$d/sim/boot_id"; fi
  # A boot starts with no cgroups: the dead pods' would cost the kubelet's
  # cAdvisor seconds each ("Failed to create existing container").
  for c in $(cgroup_dirs "$n"); do
    [ -d "$c" ] && find "$c" -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null
    mkdir -p "$c"
  done
  # cgroup v1 cpuset: a new cgroup has no CPUs until given its parent's.
  cat /sys/fs/cgroup/cpuset/cpuset.cpus > "/sys/fs/cgroup/cpuset/$n/cpuset.cpus"
  cat /sys/fs/cgroup/cpuset/cpuset.mems > "/sys/fs/cgroup/cpuset/$n/cpuset.mems"
  echo THAWED > "/sys/fs/cgroup/freezer/$n/freezer.state"
  mkdir -p "/sys/fs/cgroup/freezer/$n/node" "/sys/fs/cgroup/pids/$n/node"
  (
    echo "$BASHPID" > "/sys/fs/cgroup/freezer/$n/node/cgroup.procs"
    echo "$BASHPID" > "/sys/fs/cgroup/pids/$n/node/cgroup.procs"
    exec setsid nsenter --net="/run/netns/$n" -- unshare --mount --propagation private -- \
      "$HERE/node-init.sh" "$n" "$d" "$RUN" "$IMAGES" "$(node_ip "$n")" "$RUN/pki/kubelet-$n.kubeconfig" "$K8S"
  ) >> "$RUN/logs/$n-node.log" 2>&1 < /dev/null &
  echo $! > "$RUN/pids/$n-node"
  echo "$start" > "$d/boot.start"
}

node_running() { [ -n "$(node_pids "$1")" ]; }
node_pids() { find "/sys/fs/cgroup/freezer/$1" -name cgroup.procs -exec cat {} + 2>/dev/null || true; }

# node_kill: a host loss. The node's cgroup is frozen, every process in it
# (kubelet, containerd, shims, containers) killed, then thawed, so nothing
# of the node runs a moment longer than the rest.
node_kill() {
  local n=$1 f=/sys/fs/cgroup/freezer/$1 i p
  [ -d "$f" ] || return 0
  echo FROZEN > "$f/freezer.state"
  for i in $(seq 50); do [ "$(cat "$f/freezer.state")" = FROZEN ] && break; sleep 0.1; done
  for i in $(seq 100); do
    p=$(node_pids "$n")
    [ -z "$p" ] && break
    # shellcheck disable=SC2086
    kill -KILL $p 2>/dev/null || true
    echo THAWED > "$f/freezer.state"
    sleep 0.1
  done
  echo THAWED > "$f/freezer.state"
  [ -z "$(node_pids "$n")" ] || die "$n: processes left: $(node_pids "$n")"
  rm -f "$RUN/pids/$n-node"
}

# kill_kubelet NODE: SIGTERM to the node's kubelet (found in its cgroup).
kill_kubelet() {
  local n=$1 p found=0
  for p in $(node_pids "$n"); do
    if [ "$(cat "/proc/$p/comm" 2>/dev/null)" = kubelet ]; then kill -TERM "$p"; found=1; fi
  done
  [ "$found" = 1 ] || die "$n: no kubelet running"
}

# wait_nodes_ready: each node Ready, as its kubelet reported since it
# booted (a node that was killed is still Ready until the grace period ends).
wait_nodes_ready() { # NODE...
  local n i boot hb
  for n in "$@"; do
    boot=$(( $(cat "$(node_dir "$n")/boot.start") / 1000000000 ))
    for i in $(seq 600); do
      hb=$("$K8S/kubectl" get node "$n" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].lastHeartbeatTime}' 2>/dev/null || true)
      [ "${hb%% *}" = True ] && [ "$(date -d "${hb#* }" +%s 2>/dev/null || echo 0)" -ge "$boot" ] && break
      node_running "$n" || { tail -30 "$RUN/logs/$n-node.log" "$RUN/logs/$n-kubelet.log" >&2 || true; die "$n died while booting"; }
      [ "$i" = 600 ] && die "$n not Ready after 120 s (see $RUN/logs/$n-kubelet.log)"
      sleep 0.2
    done
    log "$n Ready $(ms_since "$(cat "$(node_dir "$n")/boot.start")") ms after its boot"
  done
}

cgroups_remove() {
  local n c
  for n in "${NODES[@]}"; do
    for c in $(cgroup_dirs "$n"); do
      if [ -d "$c" ]; then find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null || true; fi
      [ -d "$c" ] && log "left cgroup $c"
    done
  done
  return 0
}

# ---------------------------------------------------------------- commands

cmd_up() {
  check_host
  need_packages
  [ -d "$RUN/pids" ] && die "a cluster runs (or was not stopped) in $RUN: hack/cluster/cluster.sh down first"
  local start n
  start=$(date +%s%N)
  rm -rf "$RUN" && mkdir -p "$RUN"/{pids,logs,host,nodes,disks}
  # A failed start undoes itself.
  UP_OK=
  trap '[ -n "$UP_OK" ] || { log "up failed: stopping what started (logs in $RUN/logs)"; cmd_down; }' EXIT
  save_host_state
  make_pki
  net_up
  control_plane_up
  log "control plane ready in $(ms_since "$start") ms"
  for n in "${NODES[@]}"; do node_boot "$n" 1; done
  wait_nodes_ready "${NODES[@]}"
  log "cluster up in $(ms_since "$start") ms"
  UP_OK=1
  echo "export KUBECONFIG=$KUBECONFIG"
}

cmd_down() {
  local n
  [ -d "$RUN" ] || return 0
  for n in "${NODES[@]}"; do node_kill "$n" || true; done
  for n in kube-scheduler kube-controller-manager apiserver etcd; do stop_pid $n; done
  cgroups_remove
  net_down
  restore_host_state
  # Everything but the logs.
  find "$RUN" -mindepth 1 -maxdepth 1 ! -name logs -exec rm -rf {} +
  log "down; logs kept in $RUN/logs"
}

cmd_status() {
  local n
  for n in "${NODES[@]}"; do
    if node_running "$n"; then echo "$n running ($(node_pids "$n" | wc -w) processes)"; else echo "$n stopped"; fi
  done
  "$K8S/kubectl" get nodes -o wide 2>/dev/null || echo "API server not reachable"
}

cmd_import() {
  local tars=() only=() n t
  while [ $# -gt 0 ]; do
    case $1 in
      --node) only+=("$2"); shift 2 ;;
      *) tars+=("$1"); shift ;;
    esac
  done
  [ ${#only[@]} -gt 0 ] || only=("${NODES[@]}")
  for n in "${only[@]}"; do
    for t in "${tars[@]}"; do
      ctr --address "$(node_dir "$n")/run-containerd/containerd.sock" -n k8s.io images import "$t" >/dev/null
    done
  done
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  node-kill) node_index "$2" >/dev/null; node_kill "$2" ;;
  node-start)
    node_index "$2" >/dev/null
    node_running "$2" && die "$2 is running"
    node_boot "$2" "$([ "${3:-}" = --reboot ] && echo 1 || echo 0)"
    wait_nodes_ready "$2" ;;
  kubelet-restart)
    # The node's kubelet stopped (as an upgrade does); node-init.sh starts
    # it again, and the node's containers keep running meanwhile.
    node_index "$2" >/dev/null
    kill_kubelet "$2" ;;
  partition)
    node_index "$2" >/dev/null
    in_node "$2" iptables -F HC-PARTITION
    in_node "$2" iptables -A HC-PARTITION -d "$API" -j DROP
    in_node "$2" iptables -A HC-PARTITION -s "$API" -j DROP ;;
  heal) node_index "$2" >/dev/null; in_node "$2" iptables -F HC-PARTITION ;;
  import) shift; cmd_import "$@" ;;
  ctr) n=$2; shift 2; exec ctr --address "$(node_dir "$n")/run-containerd/containerd.sock" -n k8s.io "$@" ;;
  env) echo "export KUBECONFIG=$KUBECONFIG" ;;
  *) sed -n '2,14p' "$0" >&2; exit 2 ;;
esac
