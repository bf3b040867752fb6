#!/bin/bash
# The storage of make test-scsi, built in the guest (sourced by scenario.sh):
#
#   LIO fileio backstore disk0 (64 MiB, unit serial hamon-disk0)
#     -> iSCSI target $TARGET, TPG 1, LUN 0, portal 127.0.0.1:3260
#        (demo mode: any initiator, no authentication)
#   host A: two initiator ports, as two HBAs: iqn.2024-01.io.hamon.scsivm:
#           node-a.p1 and node-a.p2 (open-iscsi ifaces ifA1, ifA2), one
#           session each -> two paths under dm-multipath: /dev/mapper/mpatha
#   host B: node-b.p1 and node-b.p2 (ifB1, ifB2) -> two raw paths, kept out
#           of multipath
#
# One initiator name per path, not one per host with a session per path:
# LIO decides whether a command comes from a registrant per initiator name
# (node ACL and LUN), not per I_T nexus (initiator name + ISID), so a
# second, unregistered session of a registered name could write under
# type 5 and would hide an unregistered path (seen in scenario 4).
#
# LIO is set up through configfs (what targetcli does underneath). The
# iSCSI transport, not tcm_loop: PREEMPT AND ABORT through tcm_loop
# deadlocks Debian 6.1's LIO. fabric_up writes /run/scsivm.env for the
# test binary.
set -euo pipefail
CFS=/sys/kernel/config/target
TARGET=iqn.2024-01.io.hamon.scsivm:disk0
PORTAL=127.0.0.1:3260

say() { echo "[fabric +$(cut -d' ' -f1 /proc/uptime)s] $*"; }

fabric_up() {
  say "modules"
  modprobe -a target_core_mod target_core_file iscsi_target_mod iscsi_tcp sd_mod sg dm_multipath dm_round_robin
  # LIO keeps PR state (APTPL) there: without it every PR OUT ends in NOT READY.
  mkdir -p /var/target/pr /var/target/alua /run/lock/iscsi /etc/multipath/conf.d
  ip link set lo up

  say "LIO: backstore and iSCSI target $TARGET on $PORTAL"
  local bs=$CFS/core/fileio_0/disk0 tpg=$CFS/iscsi/$TARGET/tpgt_1
  mkdir -p "$bs"
  echo "fd_dev_name=/var/tmp/disk0.img,fd_dev_size=$((64 << 20))" > "$bs/control"
  echo 1 > "$bs/enable"
  echo hamon-disk0 > "$bs/wwn/vpd_unit_serial"
  mkdir -p "$tpg/lun/lun_0" "$tpg/np/$PORTAL"
  ln -s "$bs" "$tpg/lun/lun_0/port0"
  echo 1 > "$tpg/attrib/generate_node_acls"
  echo 1 > "$tpg/attrib/cache_dynamic_acls"
  echo 0 > "$tpg/attrib/demo_mode_write_protect"
  echo 0 > "$tpg/attrib/authentication"
  echo 1 > "$tpg/enable"

  say "open-iscsi: one iface per path"
  # Quick detection of a dead connection (scenario 5); the recovery
  # timeout is what multipathd sets from fast_io_fail_tmo.
  sed -i -e 's/^node.conn\[0\].timeo.noop_out_interval = .*/node.conn[0].timeo.noop_out_interval = 2/' \
         -e 's/^node.conn\[0\].timeo.noop_out_timeout = .*/node.conn[0].timeo.noop_out_timeout = 3/' /etc/iscsi/iscsid.conf
  iscsid
  local spec name
  declare -gA IQN DEV
  for spec in A1:node-a.p1 A2:node-a.p2 B1:node-b.p1 B2:node-b.p2; do
    name=${spec%%:*}
    IQN[$name]=iqn.2024-01.io.hamon.scsivm:${spec#*:}
    iscsiadm -m iface -I "if$name" -o new >/dev/null
    iscsiadm -m iface -I "if$name" -o update -n iface.initiatorname -v "${IQN[$name]}" >/dev/null
  done
  # SendTargets discovery through every iface makes one node record per
  # iface; one login command then logs them all in, in parallel.
  iscsiadm -m discovery -t sendtargets -p "$PORTAL" -I ifA1 -I ifA2 -I ifB1 -I ifB2 >/dev/null
  iscsiadm -m node -T "$TARGET" -p "$PORTAL" --login >/dev/null
  local i ok
  for ((i = 0; i < 150; i++)); do
    ok=1
    for name in A1 A2 B1 B2; do
      DEV[$name]=$(iscsiadm -m session -P 3 2>/dev/null | awk -v want="if$name" '
        $1 == "Iface" && $2 == "Name:" { cur = $3 }
        $1 == "Attached" && $2 == "scsi" && $3 == "disk" && cur == want && !found { print $4; found = 1 }')
      [ -n "${DEV[$name]}" ] && [ -e "/sys/block/${DEV[$name]}" ] || ok=0
    done
    [ "$ok" = 1 ] && break
    sleep 0.2
  done
  for name in A1 A2 B1 B2; do
    say "path $name: initiator ${IQN[$name]} -> /dev/${DEV[$name]:-?}"
    [ -n "${DEV[$name]}" ] || return 1
  done
  iscsiadm -m session
  iscsiadm -m node -T "$TARGET" -p "$PORTAL" -I ifA1 | grep -E 'noop_out|replacement_timeout' || true
  udevadm settle -t 30 || true

  say "dm-multipath over A's paths (B's are another host: blacklisted)"
  # reservation_key file: multipathd keeps the keys set with setprkey in
  # /etc/multipath/prkeys (nodeagent/multipath needs it). no_path_retry
  # fail: I/O fails at once when every path is gone (scenario 5 switches
  # to queue).
  cat > /etc/multipath.conf <<'CONF'
defaults {
	user_friendly_names yes
	find_multipaths no
	reservation_key file
	polling_interval 2
}
devices {
	device {
		vendor "LIO-ORG"
		product ".*"
		path_grouping_policy multibus
		path_checker tur
		no_path_retry fail
	}
}
blacklist {
	devnode "^vd[a-z]"
}
CONF
  printf 'blacklist {\n\tdevnode "^(%s|%s)$"\n}\n' "${DEV[B1]}" "${DEV[B2]}" > /etc/multipath/conf.d/node-b.conf
  multipathd -d -s -v2 >> "$MULTIPATHD_LOG" 2>&1 &
  for ((i = 0; i < 150; i++)); do
    if [ -e /dev/mapper/mpatha ] && [ "$(ls "/sys/block/$(basename "$(readlink -f /dev/mapper/mpatha)")/slaves" 2>/dev/null | wc -l)" = 2 ]; then
      break
    fi
    sleep 0.2
  done
  udevadm settle -t 30 || true
  multipath -ll || true
  local dm slaves
  dm=$(basename "$(readlink -f /dev/mapper/mpatha)")
  slaves=$(ls "/sys/block/$dm/slaves" | sort | paste -sd,)
  [ "$slaves" = "$(printf '%s\n' "${DEV[A1]}" "${DEV[A2]}" | sort | paste -sd,)" ] || {
    say "mpatha has paths '$slaves', want ${DEV[A1]} and ${DEV[A2]}"
    return 1
  }
  cat > /run/scsivm.env <<ENV
SCSIVM_MAP=/dev/mapper/mpatha
SCSIVM_A_PATHS=${DEV[A1]},${DEV[A2]}
SCSIVM_A_IFACES=ifA1,ifA2
SCSIVM_B_PATHS=${DEV[B1]},${DEV[B2]}
SCSIVM_TARGET=$TARGET
SCSIVM_PORTAL=$PORTAL
SCSIVM_MULTIPATHD_LOG=$MULTIPATHD_LOG
ENV
  say "ready: $(tr '\n' ' ' < /run/scsivm.env)"
}
