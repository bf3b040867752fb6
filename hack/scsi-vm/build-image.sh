#!/usr/bin/env bash
# Builds the guest of make test-scsi: a Debian bookworm root file system
# (debootstrap from the Debian mirror apt on this machine uses), Debian's own
# kernel with a small initrd, and an ext4 image made straight from the
# directory (mkfs.ext4 -d: no loop device, no mount). Needs root.
#
#   hack/scsi-vm/build-image.sh OUTDIR   -> OUTDIR/{vmlinuz,initrd.img,rootfs.img}
#
# Only a tiny PID 1 is baked in (/sbin/hamon-scsivm-init): it mounts the 9p
# share and runs guest/init.sh from it, so the guest scripts change without a
# rebuild. run.sh rebuilds the image only when this file changes.
set -euo pipefail
OUT=${1:?usage: build-image.sh OUTDIR}
SUITE=bookworm
ROOT=$OUT.rootfs
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
t0=$(date +%s)
say() { echo "[build-image +$(($(date +%s) - t0))s] $*"; }

# The archive URL apt uses here for $SUITE (deb822 .sources, then one-line lists).
mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v suite="$SUITE" '
      function flush() {
        if (uris != "" && types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ")) { split(uris, u, " "); print u[1]; done = 1; exit }
        uris = ""; suites = ""; types = ""
      }
      /^[ \t]*$/ { flush(); next }
      /^[ \t]*#/ { next }
      tolower($1) == "uris:"   { $1 = ""; sub(/^ +/, ""); uris = $0 }
      tolower($1) == "suites:" { $1 = ""; sub(/^ +/, ""); suites = $0 }
      tolower($1) == "types:"  { $1 = ""; sub(/^ +/, ""); types = $0 }
      END { if (!done) flush() }' "$f" | grep . && return 0
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk -v suite="$SUITE" '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } if ($(i+1) == suite) { print $i; exit } }' "$f" | grep . && return 0
  done
  return 1
}
MIRROR=${MIRROR:-$(mirror)} || { echo "no apt source for $SUITE found: set MIRROR" >&2; exit 1; }
say "mirror $MIRROR"

cleanup() { umount "$ROOT/proc" 2>/dev/null || true; }
trap cleanup EXIT
cleanup
rm -rf --one-file-system "$ROOT" "$OUT"
mkdir -p "$ROOT" "$OUT"

# 1. The base system and the storage stack: LIO is configured through
#    configfs (no targetcli), open-iscsi is the initiator, multipath-tools
#    gives multipathd; sg3-utils only for the logs (sg_persist -s).
PKGS=initramfs-tools,zstd,kmod,udev,procps,e2fsprogs,dmsetup,iproute2,multipath-tools,open-iscsi,sg3-utils,psmisc
say "debootstrap --variant=minbase $SUITE"
debootstrap --variant=minbase --include="$PKGS" --components=main "$SUITE" "$ROOT" "$MIRROR" \
  > "$OUT.debootstrap.log" 2>&1 || { tail -30 "$OUT.debootstrap.log"; exit 1; }

# 2. Configuration. A small initrd: only what mounts the virtio root disk.
echo scsivm > "$ROOT/etc/hostname"
printf '/dev/vda / ext4 rw,noatime 0 1\n' > "$ROOT/etc/fstab"
mkdir -p "$ROOT/etc/initramfs-tools/conf.d"
printf 'MODULES=list\nCOMPRESS=zstd\n' > "$ROOT/etc/initramfs-tools/conf.d/scsivm.conf"
printf 'virtio_pci\nvirtio_blk\next4\n' > "$ROOT/etc/initramfs-tools/modules"
sed -i 's/^root:[^:]*:/root::/' "$ROOT/etc/shadow"   # console login for debugging by hand
cat > "$ROOT/sbin/hamon-scsivm-init" <<'INIT'
#!/bin/bash
# PID 1 of the make test-scsi guest: mount the basics and the host's 9p share,
# then hand over to the share's guest/init.sh. Power off if that fails.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mnt() { mountpoint -q "$2" || { mkdir -p "$2"; mount -t "$1" "$1" "$2" ${3:+-o "$3"}; }; }
mnt proc /proc; mnt sysfs /sys; mnt devtmpfs /dev; mnt devpts /dev/pts; mnt tmpfs /run mode=755; mnt tmpfs /tmp
mount -o remount,rw /
modprobe configfs; mnt configfs /sys/kernel/config
modprobe 9pnet_virtio; modprobe 9p
mkdir -p /mnt/share
if mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 share /mnt/share && [ -x /mnt/share/guest/init.sh ]; then
  exec /mnt/share/guest/init.sh
fi
echo "hamon-scsivm-init: no share or no guest/init.sh on it"
echo o > /proc/sysrq-trigger
sleep 30
INIT
chmod 0755 "$ROOT/sbin/hamon-scsivm-init"

# 3. Debian's kernel, after the initramfs configuration so its initrd is small.
say "linux-image-amd64"
mount -t proc proc "$ROOT/proc"
chroot "$ROOT" apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confold linux-image-amd64 \
  > "$OUT.kernel.log" 2>&1 || { tail -30 "$OUT.kernel.log"; exit 1; }
umount "$ROOT/proc"
chroot "$ROOT" apt-get clean
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/usr/share/doc "$ROOT"/usr/share/man "$ROOT"/usr/share/locale
# Module trees a storage test never loads: a smaller image, a faster mkfs.
for kdir in "$ROOT"/lib/modules/*/kernel; do
  rm -rf "$kdir"/sound "$kdir"/drivers/{gpu,media,infiniband,iio,staging,bluetooth,net/wireless,net/ethernet,usb,hid,input}
  chroot "$ROOT" depmod -a "$(basename "$(dirname "$kdir")")"
done

# 4. The artefacts.
cp -L "$ROOT/vmlinuz" "$OUT/vmlinuz"
cp -L "$ROOT/initrd.img" "$OUT/initrd.img"
chroot "$ROOT" dpkg-query -W -f '${Package} ${Version}\n' linux-image-amd64 multipath-tools open-iscsi > "$OUT/versions"
say "mkfs.ext4 -d"
mkfs.ext4 -q -F -L scsivm -E root_owner=0:0 -d "$ROOT" "$OUT/rootfs.img" 1200M
rm -rf --one-file-system "$ROOT"
say "done: $(du -sh "$OUT" | cut -f1) in $OUT ($(tr '\n' ' ' < "$OUT/versions"))"
