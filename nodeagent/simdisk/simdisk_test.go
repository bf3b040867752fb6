package simdisk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hamon-ha/hamon/nodeagent/scsipr"
)

const (
	keyA scsipr.Key = 0xa0a0
	keyB scsipr.Key = 0xb0b0
	keyC scsipr.Key = 0xc0c0
)

var (
	a1 = Nexus{"host-a", "port1"}
	a2 = Nexus{"host-a", "port2"}
	b1 = Nexus{"host-b", "port1"}
	c1 = Nexus{"host-c", "port1"}
)

func newDisk(t *testing.T) *Disk {
	t.Helper()
	d, err := Open(t.TempDir(), 64)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func run(t *testing.T, d *Disk, n Nexus, cdb, out []byte) Result {
	t.Helper()
	r, err := d.Execute(n, cdb, out)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func prout(t *testing.T, d *Disk, n Nexus, a scsipr.OutAction, typ scsipr.Type, p scsipr.OutParams) error {
	t.Helper()
	return run(t, d, n, scsipr.OutCDB(a, typ), p.Encode()).Err()
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, d *Disk, n Nexus, lba uint32, fill byte) error {
	t.Helper()
	cdb := make([]byte, 10)
	cdb[0] = OpWrite10
	binary.BigEndian.PutUint32(cdb[2:6], lba)
	binary.BigEndian.PutUint16(cdb[7:9], 1)
	buf := make([]byte, BlockSize)
	for i := range buf {
		buf[i] = fill
	}
	return run(t, d, n, cdb, buf).Err()
}

func readKeys(t *testing.T, d *Disk, n Nexus) scsipr.Keys {
	t.Helper()
	r := run(t, d, n, scsipr.InCDB(scsipr.ReadKeys, 8192), nil)
	mustOK(t, r.Err())
	k, err := scsipr.ParseReadKeys(r.DataIn)
	mustOK(t, err)
	return k
}

func readReservation(t *testing.T, d *Disk, n Nexus) scsipr.Reservation {
	t.Helper()
	r := run(t, d, n, scsipr.InCDB(scsipr.ReadReservation, 8192), nil)
	mustOK(t, r.Err())
	res, err := scsipr.ParseReadReservation(r.DataIn)
	mustOK(t, err)
	return res
}

// activeA registers host A on both its paths and reserves type 5, as the
// agent does when A becomes active.
func activeA(t *testing.T, d *Disk) {
	t.Helper()
	mustOK(t, prout(t, d, a1, scsipr.RegisterAndIgnoreExisting, 0, scsipr.OutParams{ServiceActionKey: keyA}))
	mustOK(t, prout(t, d, a2, scsipr.RegisterAndIgnoreExisting, 0, scsipr.OutParams{ServiceActionKey: keyA}))
	mustOK(t, prout(t, d, a1, scsipr.Reserve, scsipr.TypeWriteExclusiveRegistrantsOnly, scsipr.OutParams{Key: keyA}))
}

func TestTypeFive_OnlyRegistrantsWrite(t *testing.T) {
	d := newDisk(t)
	activeA(t, d)
	if err := write(t, d, b1, 0, 'b'); !errors.Is(err, scsipr.ErrReservationConflict) {
		t.Fatalf("unregistered B wrote: %v", err)
	}
	mustOK(t, write(t, d, a1, 0, 'a'))
	mustOK(t, write(t, d, a2, 1, 'a')) // registered on every path: either path writes
	// Reads are open to everyone under Write Exclusive.
	cdb := make([]byte, 10)
	cdb[0] = OpRead10
	binary.BigEndian.PutUint16(cdb[7:9], 1)
	if r := run(t, d, b1, cdb, nil); r.Err() != nil || r.DataIn[0] != 'a' {
		t.Fatalf("B read: %v", r.Err())
	}
	res := readReservation(t, d, b1)
	if !res.Held || res.Key != keyA || res.Type != scsipr.TypeWriteExclusiveRegistrantsOnly {
		t.Fatalf("reservation %+v", res)
	}
}

func TestTakeover_PreemptAndAbortFencesTheOldHost(t *testing.T) {
	d := newDisk(t)
	activeA(t, d)
	mustOK(t, write(t, d, a1, 0, 'a'))
	fencedAt := time.Now()
	mustOK(t, prout(t, d, b1, scsipr.RegisterAndIgnoreExisting, 0, scsipr.OutParams{ServiceActionKey: keyB}))
	mustOK(t, prout(t, d, b1, scsipr.PreemptAndAbort, scsipr.TypeWriteExclusiveRegistrantsOnly,
		scsipr.OutParams{Key: keyB, ServiceActionKey: keyA}))
	// Every registration of A's key went, on both its paths at once.
	if k := readKeys(t, d, b1); len(k.Keys) != 1 || k.Keys[0] != keyB {
		t.Fatalf("keys after preempt: %v", k.Keys)
	}
	if res := readReservation(t, d, b1); res.Key != keyB || res.Type != scsipr.TypeWriteExclusiveRegistrantsOnly {
		t.Fatalf("reservation %+v", res)
	}
	// A learns it was preempted: a unit attention first, then conflicts.
	err := write(t, d, a1, 0, 'a')
	var e *scsipr.Error
	if !errors.As(err, &e) || !e.ReservationsPreempted() || !e.Retryable() {
		t.Fatalf("A's first command after preempt: %v", err)
	}
	if err := write(t, d, a1, 0, 'a'); !errors.Is(err, scsipr.ErrReservationConflict) {
		t.Fatalf("fenced A wrote: %v", err)
	}
	if err := write(t, d, a2, 0, 'a'); !errors.Is(err, scsipr.ErrUnitAttention) {
		t.Fatalf("A's other path: %v", err)
	}
	if err := write(t, d, a2, 0, 'a'); !errors.Is(err, scsipr.ErrReservationConflict) {
		t.Fatalf("fenced A wrote through its other path: %v", err)
	}
	mustOK(t, write(t, d, b1, 0, 'b'))
	// The write log proves it: no write with A's key after the fence.
	log, err := d.Writes()
	mustOK(t, err)
	for _, w := range log {
		if w.Key == keyA && w.Time.After(fencedAt) {
			t.Fatalf("A wrote after being fenced: %+v", w)
		}
	}
	if len(log) != 2 || log[1].Key != keyB {
		t.Fatalf("write log %+v", log)
	}
}

func TestRules_ConflictsAndIllegalRequests(t *testing.T) {
	d := newDisk(t)
	activeA(t, d)
	cases := []struct {
		name string
		n    Nexus
		a    scsipr.OutAction
		typ  scsipr.Type
		p    scsipr.OutParams
		want error
	}{
		{"unregistered reserve", b1, scsipr.Reserve, 5, scsipr.OutParams{Key: keyB}, scsipr.ErrReservationConflict},
		{"unregistered preempt", b1, scsipr.Preempt, 5, scsipr.OutParams{Key: keyB, ServiceActionKey: keyA}, scsipr.ErrReservationConflict},
		{"unregistered clear", b1, scsipr.Clear, 0, scsipr.OutParams{Key: keyB}, scsipr.ErrReservationConflict},
		{"register with a wrong current key", a1, scsipr.Register, 0, scsipr.OutParams{Key: keyB, ServiceActionKey: keyC}, scsipr.ErrReservationConflict},
		{"first register with a non-zero key", c1, scsipr.Register, 0, scsipr.OutParams{Key: keyC, ServiceActionKey: keyC}, scsipr.ErrReservationConflict},
		{"reserve while another holds it", a2, scsipr.Reserve, 6, scsipr.OutParams{Key: keyA}, scsipr.ErrReservationConflict},
		{"release of another type", a1, scsipr.Release, 6, scsipr.OutParams{Key: keyA}, scsipr.ErrIllegalRequest},
		{"preempt of a key nobody has", a1, scsipr.Preempt, 5, scsipr.OutParams{Key: keyA, ServiceActionKey: keyC}, scsipr.ErrReservationConflict},
		{"APTPL is refused (not supported)", a1, scsipr.Register, 0, scsipr.OutParams{Key: keyA, ServiceActionKey: keyA, APTPL: true}, scsipr.ErrIllegalRequest},
	}
	for _, c := range cases {
		if err := prout(t, d, c.n, c.a, c.typ, c.p); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// Reserving again with the same type is fine; releasing from a
	// non-holder is a no-op; the holder's release frees the disk.
	mustOK(t, prout(t, d, a1, scsipr.Reserve, 5, scsipr.OutParams{Key: keyA}))
	mustOK(t, prout(t, d, a2, scsipr.Release, 5, scsipr.OutParams{Key: keyA}))
	if !readReservation(t, d, a1).Held {
		t.Fatal("a non-holder's release released")
	}
	mustOK(t, prout(t, d, a1, scsipr.Release, 5, scsipr.OutParams{Key: keyA}))
	if readReservation(t, d, a1).Held {
		t.Fatal("the holder's release did not release")
	}
}

func TestUnregisteringTheHolderReleases(t *testing.T) {
	d := newDisk(t)
	activeA(t, d)
	gen := readKeys(t, d, a1).Generation
	mustOK(t, prout(t, d, a1, scsipr.Register, 0, scsipr.OutParams{Key: keyA, ServiceActionKey: 0}))
	if readReservation(t, d, b1).Held {
		t.Fatal("the reservation survived its holder's unregistration")
	}
	if k := readKeys(t, d, b1); k.Generation != gen+1 || len(k.Keys) != 1 {
		t.Fatalf("keys %+v", k)
	}
}

func TestClearRemovesEverything(t *testing.T) {
	d := newDisk(t)
	activeA(t, d)
	mustOK(t, prout(t, d, b1, scsipr.RegisterAndIgnoreExisting, 0, scsipr.OutParams{ServiceActionKey: keyB}))
	mustOK(t, prout(t, d, b1, scsipr.Clear, 0, scsipr.OutParams{Key: keyB}))
	if k := readKeys(t, d, c1); len(k.Keys) != 0 || readReservation(t, d, c1).Held {
		t.Fatalf("after clear: %+v", k)
	}
}

func TestThreeHosts_PreemptingTheHolderLeavesTheThirdAlone(t *testing.T) {
	d := newDisk(t)
	activeA(t, d)
	mustOK(t, prout(t, d, c1, scsipr.RegisterAndIgnoreExisting, 0, scsipr.OutParams{ServiceActionKey: keyC}))
	mustOK(t, prout(t, d, b1, scsipr.RegisterAndIgnoreExisting, 0, scsipr.OutParams{ServiceActionKey: keyB}))
	mustOK(t, prout(t, d, b1, scsipr.PreemptAndAbort, 5, scsipr.OutParams{Key: keyB, ServiceActionKey: keyA}))
	k := readKeys(t, d, c1)
	if len(k.Keys) != 2 {
		t.Fatalf("keys %v", k.Keys)
	}
	// Under type 5 a registered standby could write: hamon keeps standbys
	// unregistered for exactly this reason.
	mustOK(t, write(t, d, c1, 0, 'c'))
}

func TestFailedPathIsATransportError(t *testing.T) {
	d := newDisk(t)
	activeA(t, d)
	mustOK(t, d.FailPath(a1, true))
	if err := write(t, d, a1, 0, 'a'); !errors.Is(err, scsipr.ErrTransport) {
		t.Fatalf("failed path: %v", err)
	}
	mustOK(t, write(t, d, a2, 0, 'a'))
	if err := run(t, d, a1, scsipr.TestUnitReadyCDB(), nil).Err(); !errors.Is(err, scsipr.ErrTransport) {
		t.Fatalf("TEST UNIT READY on a failed path: %v", err)
	}
	mustOK(t, d.FailPath(a1, false))
	mustOK(t, write(t, d, a1, 0, 'a'))
}

// Several processes share one disk: each registers and unregisters many
// times; the generation counts every registration change exactly once.
func TestSharedByProcesses(t *testing.T) {
	if dir := os.Getenv("HAMON_SIMDISK_HELPER_DIR"); dir != "" {
		return
	}
	dir := t.TempDir()
	if _, err := Open(dir, 8); err != nil {
		t.Fatal(err)
	}
	const procs, rounds = 3, 40
	var wg sync.WaitGroup
	errs := make(chan error, procs)
	for i := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run", "^TestHelperProcess$")
			cmd.Env = append(os.Environ(), "HAMON_SIMDISK_HELPER_DIR="+dir, "HAMON_SIMDISK_HELPER_ID="+strconv.Itoa(i),
				"HAMON_SIMDISK_HELPER_ROUNDS="+strconv.Itoa(rounds))
			if out, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Errorf("helper %d: %w\n%s", i, err, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	d, _ := Open(dir, 8)
	k := readKeys(t, d, Nexus{"observer", "p"})
	if k.Generation != procs*rounds*2 || len(k.Keys) != 0 {
		t.Fatalf("generation %d keys %v, want %d and none", k.Generation, k.Keys, procs*rounds*2)
	}
}

func TestHelperProcess(t *testing.T) {
	dir := os.Getenv("HAMON_SIMDISK_HELPER_DIR")
	if dir == "" {
		return // only run as the helper of TestSharedByProcesses
	}
	id, _ := strconv.Atoi(os.Getenv("HAMON_SIMDISK_HELPER_ID"))
	rounds, _ := strconv.Atoi(os.Getenv("HAMON_SIMDISK_HELPER_ROUNDS"))
	d, err := Open(dir, 8)
	if err != nil {
		t.Fatal(err)
	}
	n := Nexus{fmt.Sprintf("host-%d", id), "p"}
	key := scsipr.Key(0x1000 + id)
	for range rounds {
		mustOK(t, prout(t, d, n, scsipr.RegisterAndIgnoreExisting, 0, scsipr.OutParams{ServiceActionKey: key}))
		mustOK(t, prout(t, d, n, scsipr.Register, 0, scsipr.OutParams{Key: key}))
	}
}

// A simulated LUN has one WWID: named by /dev/mapper/<name> or by its
// WWID, it is the same disk (as multipath finds a map by its uuid).
func TestResolver_OneDiskByNameOrWWID(t *testing.T) {
	r := Resolver{Root: t.TempDir(), Initiator: "h", Ports: []string{"p1"}}
	byName, err := r.Resolve("/dev/mapper/mpatha")
	if err != nil {
		t.Fatal(err)
	}
	byWWID, err := r.Resolve(WWIDOf("mpatha"))
	if err != nil {
		t.Fatal(err)
	}
	if byName.WWID != WWIDOf("mpatha") || byWWID.WWID != byName.WWID {
		t.Fatalf("WWIDs %q and %q", byName.WWID, byWWID.WWID)
	}
	const key scsipr.Key = 0x68000000000000aa
	if _, err := scsipr.DefaultClient.Acquire([]scsipr.Disk{byName}, key, scsipr.TypeWriteExclusiveRegistrantsOnly); err != nil {
		t.Fatal(err)
	}
	if held, err := scsipr.DefaultClient.Holds([]scsipr.Disk{byWWID}, key); err != nil || !held {
		t.Fatalf("reserved by its name, the disk named by its WWID is not held (%v): two disks", err)
	}
}
