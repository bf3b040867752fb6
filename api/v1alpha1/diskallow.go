package v1alpha1

import (
	"fmt"
	"path"
	"strings"
)

// DiskAllowList says which shared disks each namespace may name in
// spec.sharedDisks. The cluster admin sets it (the --allowed-disks flag of
// the controller and of the node agents, the chart's sharedDisks.allowed
// value): a namespace user can otherwise point hamon's reservations, which
// fence whole hosts, at any disk. The zero value allows nothing.
type DiskAllowList struct {
	rules []diskRule
}

type diskRule struct {
	namespace string // a namespace, or * for every namespace
	pattern   string // a path.Match pattern of devices
}

// AllowAllDisks allows every disk in every namespace (tests, demos).
var AllowAllDisks = DiskAllowList{rules: []diskRule{{namespace: "*", pattern: "*"}}}

// ParseDiskAllowList reads NAMESPACE=PATTERN entries separated by commas,
// such as "prod=/dev/mapper/mpath*,*=/dev/mapper/shared-*". NAMESPACE * is
// every namespace; PATTERN is a shell pattern (path.Match) of the device as
// written in spec.sharedDisks.
func ParseDiskAllowList(s string) (DiskAllowList, error) {
	var l DiskAllowList
	for entry := range strings.SplitSeq(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		ns, pattern, ok := strings.Cut(entry, "=")
		if !ok || ns == "" || pattern == "" {
			return DiskAllowList{}, fmt.Errorf("allowed disk %q: want NAMESPACE=PATTERN, such as prod=/dev/mapper/mpath* or *=/dev/mapper/*", entry)
		}
		if _, err := path.Match(pattern, ""); err != nil {
			return DiskAllowList{}, fmt.Errorf("allowed disk %q: pattern %q: %w", entry, pattern, err)
		}
		l.rules = append(l.rules, diskRule{namespace: ns, pattern: pattern})
	}
	return l, nil
}

// Allows says namespace ns may use device.
func (l DiskAllowList) Allows(ns, device string) bool {
	for _, r := range l.rules {
		if r.namespace != "*" && r.namespace != ns {
			continue
		}
		if ok, _ := path.Match(r.pattern, device); ok {
			return true
		}
	}
	return false
}

// String gives the list back in the flag's syntax.
func (l DiskAllowList) String() string {
	parts := make([]string, 0, len(l.rules))
	for _, r := range l.rules {
		parts = append(parts, r.namespace+"="+r.pattern)
	}
	return strings.Join(parts, ",")
}
