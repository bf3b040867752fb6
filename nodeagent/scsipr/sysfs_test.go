package scsipr

import (
	"os"
	"path/filepath"
	"testing"
)

func fakeSysfs(t *testing.T) SysfsResolver {
	t.Helper()
	root := t.TempDir()
	sys, dev := filepath.Join(root, "sys"), filepath.Join(root, "dev")
	for _, d := range []string{"block/dm-3/slaves/sdb", "block/dm-3/slaves/sdc", "block/dm-3/dm", "block/dm-4/slaves", "block/sda"} {
		if err := os.MkdirAll(filepath.Join(sys, d), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(sys, "block/dm-3/dm/uuid"), []byte("mpath-36001405d27e5d898829468b90ce4ef8c\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dev, "mapper"), 0o750); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"mpatha": "../dm-3", "empty": "../dm-4", "plain": "../sda"} {
		if err := os.Symlink(target, filepath.Join(dev, "mapper", name)); err != nil {
			t.Fatal(err)
		}
	}
	return SysfsResolver{SysRoot: sys, DevRoot: dev}
}

func TestSysfsResolver(t *testing.T) {
	r := fakeSysfs(t)
	for _, device := range []string{"/dev/mapper/mpatha", "36001405d27e5d898829468b90ce4ef8c"} {
		d, err := r.Resolve(device)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Paths) != 2 || d.Paths[0].Name() != "sdb" || d.Paths[1].Name() != "sdc" || d.WWID != "36001405d27e5d898829468b90ce4ef8c" {
			t.Fatalf("%s: %+v", device, d)
		}
	}
	for _, bad := range []string{"/dev/mapper/missing", "/dev/mapper/empty", "/dev/mapper/plain", "3600ffff"} {
		if _, err := r.Resolve(bad); err == nil {
			t.Errorf("%s resolved", bad)
		}
	}
}

func TestSysfsResolverRejectsHostileNames(t *testing.T) {
	r := fakeSysfs(t)
	if err := os.MkdirAll(filepath.Join(r.SysRoot, "block/dm-3/slaves/..evil"), 0o750); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Resolve("/dev/mapper/mpatha"); err == nil {
		t.Fatal("a slave named ..evil was accepted")
	}
}

// What sysfs and /dev say is untrusted: whatever the link target, slave
// names and uuid, Resolve never panics and never returns a path outside
// /dev or one that is not a kernel device name.
func FuzzSysfsResolver(f *testing.F) {
	f.Add("../dm-3", "sdb", "sdc", "mpath-3600", "/dev/mapper/mpatha")
	f.Add("../../etc", "..", "sdx", "", "3600")
	f.Add("dm-1/../../x", "sd b", "a/b", "mpath-x\x00", "/dev/mapper/../../etc/passwd")
	f.Fuzz(func(t *testing.T, target, slave1, slave2, uuid, device string) {
		root := t.TempDir()
		sys, dev := filepath.Join(root, "sys"), filepath.Join(root, "dev")
		_ = os.MkdirAll(filepath.Join(dev, "mapper"), 0o750)
		_ = os.MkdirAll(filepath.Join(sys, "block", "dm-3", "dm"), 0o750)
		for _, s := range []string{slave1, slave2} {
			_ = os.MkdirAll(filepath.Join(sys, "block", "dm-3", "slaves", s), 0o750)
		}
		_ = os.WriteFile(filepath.Join(sys, "block", "dm-3", "dm", "uuid"), []byte(uuid), 0o600)
		_ = os.Symlink(target, filepath.Join(dev, "mapper", "mpatha"))
		d, err := SysfsResolver{SysRoot: sys, DevRoot: dev}.Resolve(device)
		if err != nil {
			return
		}
		for _, p := range d.Paths {
			dp, ok := p.(DevicePath)
			if !ok || filepath.Dir(dp.Dev) != dev || !kernelName.MatchString(filepath.Base(dp.Dev)) {
				t.Fatalf("Resolve(%q) gave the path %v", device, p)
			}
		}
	})
}
