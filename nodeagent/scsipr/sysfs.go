package scsipr

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// SysfsResolver finds a device-mapper multipath disk's paths the way the
// kernel lists them: /dev/mapper/<name> is a link to /dev/dm-N, and
// /sys/block/dm-N/slaves holds its SCSI disks. What sysfs says is treated
// as untrusted: names are checked before they become paths.
type SysfsResolver struct {
	// SysRoot is /sys, DevRoot is /dev (other roots in tests).
	SysRoot, DevRoot string
}

var kernelName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// Resolve returns the multipath disk named by device (/dev/mapper/<name>
// or a WWID) with one DevicePath per slave.
func (r SysfsResolver) Resolve(device string) (Disk, error) {
	sys, dev := r.SysRoot, r.DevRoot
	if sys == "" {
		sys = "/sys"
	}
	if dev == "" {
		dev = "/dev"
	}
	var dm, name, wwid string
	if mapName, ok := strings.CutPrefix(device, "/dev/mapper/"); ok {
		target, err := os.Readlink(filepath.Join(dev, "mapper", filepath.Base(mapName)))
		if err != nil {
			return Disk{}, fmt.Errorf("%s: %w", device, err)
		}
		dm, name = filepath.Base(target), mapName
	} else {
		var err error
		if dm, err = r.findWWID(sys, device); err != nil {
			return Disk{}, err
		}
		name, wwid = device, device
	}
	if !strings.HasPrefix(dm, "dm-") || !kernelName.MatchString(dm) {
		return Disk{}, fmt.Errorf("%s is %q, not a device-mapper device", device, dm)
	}
	slaves, err := os.ReadDir(filepath.Join(sys, "block", dm, "slaves"))
	if err != nil {
		return Disk{}, fmt.Errorf("%s: reading its paths: %w", device, err)
	}
	if wwid == "" {
		wwid = r.wwidOf(sys, dm)
	}
	d := Disk{Name: name, WWID: wwid}
	for _, s := range slaves {
		if !kernelName.MatchString(s.Name()) {
			return Disk{}, fmt.Errorf("%s: path name %q from sysfs is not a kernel device name", device, s.Name())
		}
		d.Paths = append(d.Paths, DevicePath{Dev: filepath.Join(dev, s.Name())})
	}
	if len(d.Paths) == 0 {
		return Disk{}, fmt.Errorf("%s has no paths", device)
	}
	return d, nil
}

// wwidOf reads dm's WWID from its uuid (mpath-<wwid>), "" when it has none.
func (r SysfsResolver) wwidOf(sys, dm string) string {
	uuid, err := os.ReadFile(filepath.Join(sys, "block", dm, "dm", "uuid"))
	if err != nil {
		return ""
	}
	wwid, ok := strings.CutPrefix(strings.TrimSpace(string(uuid)), "mpath-")
	if !ok || !hexWWID.MatchString(wwid) {
		return ""
	}
	return wwid
}

// hexWWID is a WWID as multipath shows it (and as spec.sharedDisks names it).
var hexWWID = regexp.MustCompile(`^[0-9a-fA-F]{9,65}$`)

// findWWID finds the dm device whose uuid is mpath-<wwid>.
func (r SysfsResolver) findWWID(sys, wwid string) (string, error) {
	entries, err := os.ReadDir(filepath.Join(sys, "block"))
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "dm-") {
			continue
		}
		uuid, err := os.ReadFile(filepath.Join(sys, "block", e.Name(), "dm", "uuid"))
		if err == nil && strings.TrimSpace(string(uuid)) == "mpath-"+wwid {
			return e.Name(), nil
		}
	}
	return "", fmt.Errorf("no multipath device has WWID %s", wwid)
}
