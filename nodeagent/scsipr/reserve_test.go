package scsipr_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/hamon-ha/hamon/nodeagent/scsipr"
	"github.com/hamon-ha/hamon/nodeagent/simdisk"
)

// A lab of simulated shared disks, each seen by hosts through their paths.
type lab struct {
	t     *testing.T
	disks map[string]*simdisk.Disk
}

func newLab(t *testing.T, names ...string) *lab {
	t.Helper()
	l := &lab{t: t, disks: map[string]*simdisk.Disk{}}
	for _, n := range names {
		d, err := simdisk.Open(t.TempDir(), 16)
		if err != nil {
			t.Fatal(err)
		}
		l.disks[n] = d
	}
	return l
}

// view is what host sees of every disk: ports paths each.
func (l *lab) view(host string, ports ...string) []scsipr.Disk {
	var out []scsipr.Disk
	for _, name := range []string{"mpatha", "mpathb"} {
		d, ok := l.disks[name]
		if !ok {
			continue
		}
		sd := scsipr.Disk{Name: name}
		for _, p := range ports {
			sd.Paths = append(sd.Paths, d.Path(simdisk.Nexus{Initiator: host, Port: p}))
		}
		out = append(out, sd)
	}
	return out
}

const (
	keyA scsipr.Key = 0x68616d6f6e000a01
	keyB scsipr.Key = 0x68616d6f6e000b02
	keyC scsipr.Key = 0x68616d6f6e000c03
	we              = scsipr.TypeWriteExclusiveRegistrantsOnly
)

var client = scsipr.Client{Retries: 3}

func mustHold(t *testing.T, disks []scsipr.Disk, key scsipr.Key, want bool) {
	t.Helper()
	got, err := client.Holds(disks, key)
	if err != nil || got != want {
		t.Fatalf("holds %s: %t %v, want %t", key, got, err, want)
	}
}

func TestAcquire_TakesEveryDiskOnEveryPath(t *testing.T) {
	l := newLab(t, "mpatha", "mpathb")
	a := l.view("host-a", "p1", "p2")
	if _, err := client.Acquire(a, keyA, we); err != nil {
		t.Fatal(err)
	}
	for _, d := range a {
		k, err := client.ReadKeys(d)
		if err != nil || len(k.Keys) != 2 || k.Keys[0] != keyA || k.Keys[1] != keyA {
			t.Fatalf("%s keys %v %v (one registration per path)", d.Name, k.Keys, err)
		}
		r, _ := client.ReadReservation(d)
		if r.Key != keyA || r.Type != we {
			t.Fatalf("%s reservation %+v", d.Name, r)
		}
	}
	// Idempotent: taking it again changes nothing.
	if _, err := client.Acquire(a, keyA, we); err != nil {
		t.Fatal(err)
	}
	mustHold(t, a, keyA, true)
}

func TestAcquire_TakeoverPreemptsTheOldHostAndStaleStandbys(t *testing.T) {
	l := newLab(t, "mpatha", "mpathb")
	a, b, c := l.view("host-a", "p1", "p2"), l.view("host-b", "p1"), l.view("host-c", "p1")
	if _, err := client.Acquire(a, keyA, we); err != nil {
		t.Fatal(err)
	}
	// A stale registration of C (a standby must hold none).
	for _, d := range c {
		if _, err := d.Paths[0].Do(scsipr.OutCDB(scsipr.RegisterAndIgnoreExisting, 0), scsipr.OutParams{ServiceActionKey: keyC}.Encode(), 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := client.Acquire(b, keyB, we)
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.Preempted["mpatha"]; len(got) != 2 || got[0] != keyA || got[1] != keyC {
		t.Fatalf("preempted %v", rep.Preempted)
	}
	mustHold(t, b, keyB, true)
	// The old host sees its key gone: it must stop its server.
	mustHold(t, a, keyA, false)
}

func TestAcquire_GoesOnWithoutAFailedPath(t *testing.T) {
	l := newLab(t, "mpatha")
	if err := l.disks["mpatha"].FailPath(simdisk.Nexus{Initiator: "host-a", Port: "p2"}, true); err != nil {
		t.Fatal(err)
	}
	rep, err := client.Acquire(l.view("host-a", "p1", "p2"), keyA, we)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.FailedPaths) != 1 || rep.FailedPaths[0].Path != "host-a@p2" || !errors.Is(rep.FailedPaths[0].Err, scsipr.ErrTransport) {
		t.Fatalf("failed paths %+v", rep.FailedPaths)
	}
}

// A takeover that fails on its second disk keeps the first: the old host,
// preempted there, must stay fenced (a rollback that released the disk
// would let it write again).
func TestAcquire_PartialTakeoverNeverUnfences(t *testing.T) {
	l := newLab(t, "mpatha", "mpathb")
	a := l.view("host-a", "p1")
	if _, err := client.Acquire(a, keyA, we); err != nil {
		t.Fatal(err)
	}
	if err := l.disks["mpathb"].FailPath(simdisk.Nexus{Initiator: "host-b", Port: "p1"}, true); err != nil {
		t.Fatal(err)
	}
	b := l.view("host-b", "p1")
	_, err := client.Acquire(b, keyB, we)
	if err == nil || !strings.Contains(err.Error(), "mpatha stay held by this host") {
		t.Fatalf("acquired with every path of mpathb failed, or did not say mpatha stays held: %v", err)
	}
	k, _ := client.ReadKeys(b[0])
	r, _ := client.ReadReservation(b[0])
	if len(k.Keys) != 1 || k.Keys[0] != keyB || !r.Held || r.Key != keyB {
		t.Fatalf("mpatha after the failed takeover: keys %v reservation %+v; want B alone holding it (A fenced)", k.Keys, r)
	}
	if err := writeThrough(l, "mpatha", "host-a", "p1"); !errors.Is(err, scsipr.ErrReservationConflict) {
		t.Fatalf("the old host A writes mpatha again after the failed takeover: %v", err)
	}
}

func TestRaceOfTwoHosts_OneWinsEveryDisk(t *testing.T) {
	l := newLab(t, "mpatha", "mpathb")
	a, b := l.view("host-a", "p1"), l.view("host-b", "p1")
	// Interleaved takeovers (each in name order): the last one holds all.
	if _, err := client.Acquire(a, keyA, we); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Acquire(b, keyB, we); err != nil {
		t.Fatal(err)
	}
	mustHold(t, b, keyB, true)
	mustHold(t, a, keyA, false)
}

func TestReleaseAndClear(t *testing.T) {
	l := newLab(t, "mpatha")
	a := l.view("host-a", "p1", "p2")
	if _, err := client.Acquire(a, keyA, we); err != nil {
		t.Fatal(err)
	}
	if err := client.Release(a, keyA, we); err != nil {
		t.Fatal(err)
	}
	k, _ := client.ReadKeys(a[0])
	r, _ := client.ReadReservation(a[0])
	if len(k.Keys) != 0 || r.Held {
		t.Fatalf("after release: %v %+v", k.Keys, r)
	}
	if _, err := client.Acquire(a, keyA, we); err != nil {
		t.Fatal(err)
	}
	b := l.view("host-b", "p1")
	if err := client.Clear(b, keyB); err != nil {
		t.Fatal(err)
	}
	k, _ = client.ReadKeys(a[0])
	r, _ = client.ReadReservation(a[0])
	if len(k.Keys) != 0 || r.Held {
		t.Fatalf("after clear: %v %+v", k.Keys, r)
	}
}

func TestAcquireRefusesKeyZero(t *testing.T) {
	l := newLab(t, "mpatha")
	if _, err := client.Acquire(l.view("host-a", "p1"), 0, we); err == nil {
		t.Fatal("key 0 accepted")
	}
}

// writeThrough writes one block of disk as host through port; a unit
// attention (the preemption's) is read and the write tried again.
func writeThrough(l *lab, disk, host, port string) error {
	cdb := make([]byte, 10)
	cdb[0] = simdisk.OpWrite10
	cdb[8] = 1
	var err error
	for range 2 {
		var r simdisk.Result
		r, err = l.disks[disk].Execute(simdisk.Nexus{Initiator: host, Port: port}, cdb, make([]byte, simdisk.BlockSize))
		if err == nil {
			err = r.Err()
		}
		if !errors.Is(err, scsipr.ErrUnitAttention) {
			return err
		}
	}
	return err
}
