package simdisk

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
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

// WWIDOf is the WWID of the simulated disk whose map name is name, shaped
// as LIO's (naa 6001405 and 25 hex digits): a simulated LUN has one WWID,
// whatever a spec calls it.
func WWIDOf(name string) string {
	sum := sha256.Sum256([]byte(name))
	return "36001405" + hex.EncodeToString(sum[:])[:25]
}

var hexWWID = regexp.MustCompile(`^[0-9a-fA-F]{9,65}$`)

// Resolve returns the disk's paths for this host. A device named by its
// WWID is the disk of Root whose WWIDOf is that WWID, as multipath finds a
// map by its uuid; a WWID no disk has names a disk of its own (its file is
// named after the WWID).
func (r Resolver) Resolve(device string) (scsipr.Disk, error) {
	name, mapped := strings.CutPrefix(device, "/dev/mapper/")
	if !diskName.MatchString(name) {
		return scsipr.Disk{}, fmt.Errorf("%q is not a disk name", device)
	}
	wwid := WWIDOf(name)
	if !mapped && hexWWID.MatchString(name) {
		wwid = strings.ToLower(name)
		if entries, err := os.ReadDir(r.Root); err == nil {
			for _, e := range entries {
				if WWIDOf(e.Name()) == wwid {
					name = e.Name()
					break
				}
			}
		}
	}
	blocks := r.Blocks
	if blocks == 0 {
		blocks = 1024
	}
	d, err := Open(filepath.Join(r.Root, name), blocks)
	if err != nil {
		return scsipr.Disk{}, err
	}
	disk := scsipr.Disk{Name: name, WWID: wwid}
	if !mapped {
		disk.Name = device // named by its WWID: the name multipath gives the map then
	}
	for _, p := range r.Ports {
		disk.Paths = append(disk.Paths, d.Path(Nexus{Initiator: r.Initiator, Port: p}))
	}
	return disk, nil
}
