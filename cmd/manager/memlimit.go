package main

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// setMemoryLimit gives the Go runtime a soft memory limit of 90% of the
// container's (its cgroup's memory.max), unless GOMEMLIMIT says otherwise:
// the garbage collector then works harder as the heap nears the limit
// rather than letting it grow to twice the live heap (GOGC's default) and
// the kernel kill the controller. It returns the limit set, 0 for none.
func setMemoryLimit(cgroupRoot string) int64 {
	if os.Getenv("GOMEMLIMIT") != "" {
		return 0
	}
	limit := cgroupMemoryMax(cgroupRoot)
	if limit <= 0 {
		return 0
	}
	soft := limit / 10 * 9
	debug.SetMemoryLimit(soft)
	return soft
}

// cgroupMemoryMax reads this process's cgroup memory limit: cgroup v2's
// memory.max, or v1's memory.limit_in_bytes; 0 when there is none.
func cgroupMemoryMax(root string) int64 {
	for _, f := range []string{root + "/memory.max", root + "/memory/memory.limit_in_bytes"} {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		v := strings.TrimSpace(string(data))
		if v == "max" {
			return 0
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 || n >= 1<<62 { // v1's "no limit" is a huge number
			return 0
		}
		return n
	}
	return 0
}
