#!/bin/bash
# PID 1 of the make test-scsi guest, run from the 9p share by the image's
# /sbin/hamon-scsivm-init. It starts udev, runs the scenario named on the
# kernel command line (hamon.scenario=NAME hamon.test=TestX) with
# guest/scenario.sh, keeps the kernel log in results/NAME.dmesg as it
# comes, writes results/NAME.rc and powers the guest off. A scenario that
# terminates the OS never gets to write its rc: the host sees that.
set -euo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/root TERM=dumb
arg() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" /proc/cmdline; }
SCENARIO=$(arg hamon.scenario)
RES=/mnt/share/results
mkdir -p "$RES"
echo "SCSIVM-INIT $(cut -d' ' -f1 /proc/uptime)s kernel $(uname -r) scenario ${SCENARIO:-none}"
hostname scsivm
# udevd for the disks to come (multipathd reads their WWIDs from udev's
# database); no coldplug: nothing present at boot is needed, and loading
# drivers for the emulated chipset costs half a minute under TCG.
/lib/systemd/systemd-udevd --daemon >/dev/null 2>&1 || true
dmesg --follow --time-format iso > "$RES/$SCENARIO.dmesg" 2>&1 &

rc=0
/mnt/share/guest/scenario.sh "$SCENARIO" 2>&1 | tee "$RES/$SCENARIO.log" || rc=$?
echo "SCSIVM-EXIT rc=$rc uptime=$(cut -d' ' -f1 /proc/uptime)s"
echo "$rc" > "$RES/$SCENARIO.rc"
sleep 1
sync
umount /mnt/share 2>/dev/null || true
echo o > /proc/sysrq-trigger
sleep 30
