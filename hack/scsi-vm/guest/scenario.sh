#!/bin/bash
# Runs one scenario in the guest: the storage (fabric.sh), then one test of
# the static test binary (nodeagent/scsivm) with a deadline.
#   guest/scenario.sh NAME   (the tests and the deadline come from the kernel
#                             command line: hamon.test=TestA[,TestB],
#                             hamon.timeout=SECONDS)
set -euo pipefail
NAME=${1:?usage: scenario.sh NAME}
arg() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" /proc/cmdline; }
TEST=$(arg hamon.test)
TIMEOUT=$(arg hamon.timeout)
MULTIPATHD_LOG=/mnt/share/results/$NAME.multipathd.log
: > "$MULTIPATHD_LOG"
# The test binary comes over 9p: copy it to tmpfs while the storage is built.
cp /mnt/share/scsivm.test /tmp/scsivm.test &
copy=$!
. /mnt/share/guest/fabric.sh
fabric_up
wait "$copy"
set -a
. /run/scsivm.env
set +a
echo "SCSIVM-TEST $TEST (timeout ${TIMEOUT:-300}s) at $(cut -d' ' -f1 /proc/uptime)s"
cd /tmp
# hamon.test=TestA,TestB runs both, in the order of the source.
timeout -k 5 "${TIMEOUT:-300}" /tmp/scsivm.test -test.run "^(${TEST//,/|})\$" -test.v -test.count=1 \
  -test.timeout "$((${TIMEOUT:-300} - 5))s"
