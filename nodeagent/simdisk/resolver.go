package simdisk

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/hamon-ha/hamon/nodeagent/scsipr"
)

// Resolver finds simulated disks for one simulated host: the disk named by
// /dev/mapper/<name> (or a WWID) lives in Root/<name>, and the host reaches
// it through one path per port.
type Resolver struct {
	Root      string
	Initiator string
	Ports     []string
	// Blocks is the size of a disk created on first use.
	Blocks int64
}

var diskName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

// Resolve returns the disk's paths for this host.
func (r Resolver) Resolve(device string) (scsipr.Disk, error) {
	name := strings.TrimPrefix(device, "/dev/mapper/")
	if !diskName.MatchString(name) {
		return scsipr.Disk{}, fmt.Errorf("%q is not a disk name", device)
	}
	blocks := r.Blocks
	if blocks == 0 {
		blocks = 1024
	}
	d, err := Open(filepath.Join(r.Root, name), blocks)
	if err != nil {
		return scsipr.Disk{}, err
	}
	disk := scsipr.Disk{Name: name}
	for _, p := range r.Ports {
		disk.Paths = append(disk.Paths, d.Path(Nexus{Initiator: r.Initiator, Port: p}))
	}
	return disk, nil
}
