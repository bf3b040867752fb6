#!/usr/bin/env bash
# The "init" of one node of hack/cluster/cluster.sh: started by node_boot in
# the node's network namespace and in a private mount namespace of its own,
# it mounts the node's directories over the standard paths, starts the
# node's containerd, imports the images, starts the kubelet and waits.
# Killing the node's cgroup (cluster.sh node-kill) is its end: the mount
# namespace, and every mount in it, goes with its last process.
#
#   node-init.sh NODE NODE_DIR RUN_DIR IMAGES_DIR NODE_IP KUBELET_KUBECONFIG K8S_BIN
set -euo pipefail
n=$1 d=$2 run=$3 images=$4 ip=$5 kubeconfig=$6 k8s=$7
logs=$run/logs

echo "$(date +%T.%N) $n boots (pid $$)"
# Nothing mounted here propagates back to the host.
mount --make-rprivate /
mount --bind "$d/run-containerd" /run/containerd
mount --bind "$d/var-containerd" /var/lib/containerd
mount --bind "$d/var-kubelet" /var/lib/kubelet
mount --bind "$d/var-cni" /var/lib/cni
mount --bind "$d/log-pods" /var/log/pods
mount --bind "$d/log-containers" /var/log/containers
mount --bind "$d/udev" /run/udev
# /var/lib/hamon-sim: this host's boot ID, and the shared disks (one
# directory for every node: the simulated SAN).
mount --bind "$d/sim" /var/lib/hamon-sim
mount --bind "$run/disks" /var/lib/hamon-sim/disks
# Pod network namespaces are pinned here, out of the host's /run/netns.
mount -t tmpfs -o size=1m,mode=755 hc-netns /run/netns

containerd --config "$d/containerd.toml" >> "$logs/$n-containerd.log" 2>&1 &
cpid=$!
ctr_() { ctr --address /run/containerd/containerd.sock "$@"; }
for i in $(seq 300); do
  ctr_ version >/dev/null 2>&1 && break
  kill -0 $cpid 2>/dev/null || { echo "containerd died"; exit 1; }
  [ "$i" = 300 ] && { echo "containerd did not answer in 30 s"; exit 1; }
  sleep 0.1
done
echo "$(date +%T.%N) containerd up"
# The images: no registry here, every image is imported (the kubelet never
# pulls: imagePullPolicy Never or IfNotPresent).
have=$(ctr_ -n k8s.io images ls -q 2>/dev/null || true)
for t in "$images"/*.tar; do
  ref=$(cat "${t%.tar}.ref" 2>/dev/null || true)
  if [ -n "$ref" ] && grep -qxF "$ref" <<< "$have"; then continue; fi
  ctr_ -n k8s.io images import "$t" > /dev/null
done
echo "$(date +%T.%N) images imported"

# The kubelet is restarted when it exits, as systemd's kubelet.service
# (Restart=always) does on a real node: a kubelet restart (an upgrade, a
# crash) leaves the node's containers running.
stopping=0
trap 'stopping=1; kill -TERM $kpid $cpid 2>/dev/null' TERM INT
while :; do
  "$k8s/kubelet" --config="$d/kubelet.yaml" --kubeconfig="$kubeconfig" --hostname-override="$n" --node-ip="$ip" \
    --v=1 >> "$logs/$n-kubelet.log" 2>&1 &
  kpid=$!
  echo "$(date +%T.%N) kubelet started (pid $kpid)"
  wait $kpid || true
  [ "$stopping" = 1 ] && break
  kill -0 $cpid 2>/dev/null || { echo "containerd died"; break; }
  echo "$(date +%T.%N) kubelet exited: restarting it"
  sleep 1
done
wait
