package v1alpha1

import (
	"strings"
	"testing"
)

func TestParseDiskAllowList(t *testing.T) {
	l, err := ParseDiskAllowList(" prod=/dev/mapper/mpath*, *=/dev/mapper/shared-* ,")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ns, dev string
		ok      bool
	}{
		{"prod", "/dev/mapper/mpatha", true},
		{"dev", "/dev/mapper/mpatha", false},
		{"dev", "/dev/mapper/shared-1", true},
		{"prod", "/dev/sda", false},
	} {
		if got := l.Allows(c.ns, c.dev); got != c.ok {
			t.Errorf("%s %s: allowed %v, want %v", c.ns, c.dev, got, c.ok)
		}
	}
	if (DiskAllowList{}).Allows("x", "/dev/mapper/mpatha") {
		t.Error("the empty list allows a disk")
	}
	for _, bad := range []string{"mpatha", "=x", "ns=", "ns=[", "ns"} {
		if _, err := ParseDiskAllowList(bad); err == nil || !strings.Contains(err.Error(), "NAMESPACE=PATTERN") && !strings.Contains(err.Error(), "pattern") {
			t.Errorf("%q: %v, want an error naming the syntax", bad, err)
		}
	}
}
