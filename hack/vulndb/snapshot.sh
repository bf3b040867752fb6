#!/usr/bin/env bash
# Refresh the committed snapshot of the Go vulnerability database that
# `make vulncheck` reads. CI has no route to vuln.go.dev, so govulncheck runs
# against this snapshot; it is only as fresh as the date in SOURCE.
#
#   hack/vulndb/snapshot.sh /path/to/a/checkout/of/go.googlesource.com/vulndb
#
# (Where vuln.go.dev is reachable, `make vulncheck VULNDB=https://vuln.go.dev`
# checks against the live database instead.)
set -euo pipefail
src=${1:?usage: hack/vulndb/snapshot.sh VULNDB_CHECKOUT}
here=$(cd "$(dirname "$0")" && pwd)
[[ -d $src/data/osv ]] || { echo "snapshot.sh: $src/data/osv is not there: give a checkout of the vulndb repository" >&2; exit 2; }
commit=$(git -C "$src" rev-parse HEAD)
date=$(git -C "$src" log -1 --format=%cs HEAD)
count=$(find "$src/data/osv" -name 'GO-*.json' | wc -l)
tar -C "$src/data" --sort=name --mtime="$date" --owner=0 --group=0 --numeric-owner -cf - osv | gzip -9n >"$here/osv.tar.gz"
printf 'golang/vulndb %s (%s), data/osv: %s entries\n' "$commit" "$date" "$count" >"$here/SOURCE"
cat "$here/SOURCE"
