#!/usr/bin/env bash
# make test-scsi: the node agent's SCSI code against a real Linux SCSI stack.
#
# Installs what it needs on this host when it is missing (qemu-system-x86,
# debootstrap; --no-install-recommends), builds the guest image once
# (build-image.sh, cached in bin/scsi-vm/image and rebuilt only when
# build-image.sh changes), builds the test binary of nodeagent/scsivm
# (static: CGO_ENABLED=0 go test -c -tags scsivm), then boots the guest
# once per scenario, one guest at a time, each under a deadline, and prints
# a table of scenario, result and seconds. Exits 1 when a scenario fails.
#
# Results (serial console, test output, kernel log, multipathd's log) go to
# bin/scsi-vm/results/<scenario>.{console,log,dmesg,multipathd.log}.
#
# Environment: SCSIVM_ONLY=REGEX runs the scenarios whose name matches;
# SCSIVM_ACCEL=tcg|kvm (default: kvm only when /dev/kvm works and the CPU
# shows vmx/svm; the nested PVM /dev/kvm of the dev machines cannot boot
# Debian's kernel, TCG can); SCSIVM_OUT=DIR instead of bin/scsi-vm.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$REPO/hack/scsi-vm
OUT=${SCSIVM_OUT:-$REPO/bin/scsi-vm}
IMG=$OUT/image
SHARE=$OUT/share
RESULTS=$OUT/results
t0=$(date +%s)
say() { echo "[test-scsi +$(($(date +%s) - t0))s] $*"; }

# name | tests of nodeagent/scsivm, run in this order | deadline (s) | expected end
SCENARIOS=(
  "1-reserve|TestReserve|180|passes"
  "2-takeover|TestTakeover|180|passes"
  "3-path-faults-by-phase|TestPathFaultsByPhase|TestAllPathsFailWhileTerminating|300|terminates-the-os"
  "4-reinstated-path-registered|TestReinstatedPathRegistered|240|passes"
  "5-queueing-does-not-hang-the-watch|TestQueueingDoesNotHangTheWatch|300|passes"
  "6-fenced-host-rejoins|TestFencedHostRejoins|240|passes"
  "7-watchdog-resets-a-hung-agent|TestWatchdogResetsAHungAgent|180|watchdog-resets"
)

if [ "$(id -u)" != 0 ]; then
  echo "test-scsi needs root (apt-get, debootstrap, chroot)" >&2
  exit 1
fi

# 1. Host tools, only when missing.
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
command -v go >/dev/null || { echo "go is needed on PATH" >&2; exit 1; }
if [ ${#need[@]} -gt 0 ]; then
  say "apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

# 2. The image (cached) and the test binary, side by side: one waits on the
#    Debian mirror and the disk, the other on the CPU.
mkdir -p "$OUT" "$SHARE" "$RESULTS"
stamp=$(sha256sum "$HERE/build-image.sh" | cut -d' ' -f1)
image_pid=
if [ "$(cat "$IMG/stamp" 2>/dev/null)" != "$stamp" ] || [ ! -s "$IMG/rootfs.img" ]; then
  say "building the guest image (build-image.sh changed or no image yet): log in $OUT/image-build.log"
  (
    "$HERE/build-image.sh" "$IMG" && echo "$stamp" > "$IMG/stamp"
  ) > "$OUT/image-build.log" 2>&1 &
  image_pid=$!
else
  say "guest image cached: $(cat "$IMG/versions" 2>/dev/null | tr '\n' ' ')"
fi
say "building the test binary: CGO_ENABLED=0 go test -c -tags scsivm ./nodeagent/scsivm"
if ! (cd "$REPO" && CGO_ENABLED=0 go test -c -tags scsivm -trimpath -ldflags='-s -w' -o "$SHARE/scsivm.test" ./nodeagent/scsivm) > "$OUT/go-build.log" 2>&1; then
  cat "$OUT/go-build.log"
  [ -z "$image_pid" ] || wait "$image_pid" || true
  exit 1
fi
say "test binary built ($(du -h "$SHARE/scsivm.test" | cut -f1))"
if [ -n "$image_pid" ]; then
  if ! wait "$image_pid"; then
    tail -40 "$OUT/image-build.log"
    exit 1
  fi
  say "guest image built: $(tail -1 "$OUT/image-build.log")"
fi
rm -rf "$SHARE/guest"
cp -r "$HERE/guest" "$SHARE/guest"

# 3. One boot per scenario.
accel=${SCSIVM_ACCEL:-auto}
if [ "$accel" = auto ]; then
  accel=tcg
  if [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then accel=kvm; fi
fi
case $accel in
  kvm) machine=(-machine q35,accel=kvm -cpu host) ;;
  *) machine=(-machine q35,accel=tcg -cpu max) ;;
esac

# boot NAME TEST DEADLINE: the guest's exit; its console in RESULTS/NAME.console
boot() {
  local name=$1 test=$2 deadline=$3
  timeout --foreground -k 10 "$((deadline + 60))" qemu-system-x86_64 "${machine[@]}" -smp 2 -m 1024 \
    -nographic -nodefaults -no-reboot -serial stdio -monitor none \
    -kernel "$IMG/vmlinuz" -initrd "$IMG/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 loglevel=6 printk.devkmsg=on mitigations=off panic=-1 init=/sbin/hamon-scsivm-init hamon.scenario=$name hamon.test=$test hamon.timeout=$deadline" \
    -drive "file=$IMG/rootfs.img,if=virtio,format=raw,snapshot=on,cache=unsafe" \
    -virtfs "local,path=$SHARE,mount_tag=share,security_model=none,id=share" \
    -nic none < /dev/null 2>&1 | tr -d '\033\r' > "$RESULTS/$name.console"
  return "${PIPESTATUS[0]}"
}

rows=()
passed=0
failed=0
for s in "${SCENARIOS[@]}"; do
  name=${s%%|*}
  want=${s##*|}
  rest=${s%|*}
  deadline=${rest##*|}
  rest=${rest%|*}
  test=${rest#*|}
  if [ -n "${SCSIVM_ONLY:-}" ] && ! [[ $name =~ $SCSIVM_ONLY ]]; then continue; fi
  rm -rf "$SHARE/results"
  mkdir -p "$SHARE/results"
  rm -f "$RESULTS/$name".*
  say "scenario $name ($test, $accel, deadline ${deadline}s)"
  start=$(date +%s)
  qrc=0
  boot "$name" "${test//|/,}" "$deadline" || qrc=$?
  secs=$(($(date +%s) - start))
  cp "$SHARE/results/"* "$RESULTS/" 2>/dev/null || true
  rc=$(cat "$SHARE/results/$name.rc" 2>/dev/null || echo none)
  console=$RESULTS/$name.console
  result=FAIL
  why=
  if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
    why="the guest did not end in $((deadline + 60)) s"
  elif [ "$want" = passes ]; then
    case $rc in
      0) result=PASS ;;
      none) why="the guest stopped without a result (qemu exit $qrc)" ;;
      *) why="test exit $rc" ;;
    esac
  elif [ "$want" = watchdog-resets ]; then
    # The guest goes away after the marker, softdog's doing, not reboot(2).
    if grep -q -- '--- FAIL' "$RESULTS/$name.log" 2>/dev/null; then
      why="a test failed before the watchdog was left unfed"
    elif [ "$rc" != none ]; then
      why="the test ended (rc $rc): the watchdog did not reset the guest"
    elif ! grep -q SCSIVM-EXPECT-WATCHDOG-RESET "$console"; then
      why="the guest stopped before the watchdog was left unfed"
    elif ! grep -q "softdog: Initiating system reboot" "$console"; then
      why="the guest stopped, but softdog did not say it reset it"
    else
      result=PASS
      why="reset by softdog after the feeding stopped"
    fi
  else
    # The proof is the guest going away while the test still runs: no rc,
    # the marker before the last fault, the agent's call and the kernel's
    # last words.
    if grep -q -- '--- FAIL' "$RESULTS/$name.log" 2>/dev/null; then
      why="a test failed before the OS termination"
    elif [ "$rc" != none ]; then
      why="the test ended (rc $rc): the OS was not terminated"
    elif ! grep -q SCSIVM-EXPECT-OS-TERMINATION "$console"; then
      why="the guest stopped before the last fault"
    elif ! grep -q "fencing.Linux: Terminating the OS" "$console"; then
      why="the guest stopped, but not through fencing.Linux"
    elif ! grep -q "reboot: Restarting system" "$console"; then
      why="no 'reboot: Restarting system' from the kernel"
    else
      result=PASS
      why="OS terminated (reboot(2)) after KAMN726-E"
    fi
  fi
  if [ "$result" = PASS ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
  rows+=("$(printf '%-40s %-5s %5ss  %s' "$name" "$result" "$secs" "$why")")
  say "scenario $name: $result in ${secs}s $why"
  if [ "$result" = FAIL ]; then
    grep -E -- '--- FAIL|_test.go:[0-9]+: ' "$RESULTS/$name.log" 2>/dev/null | grep -vE '^\s+scenarios_test.go:[0-9]+: (===|\+)' | tail -25 || true
  fi
done

echo
printf '%-40s %-5s %6s  %s\n' scenario result time note
for r in "${rows[@]}"; do echo "$r"; done
echo
say "done; results in $RESULTS"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
