//go:build scsivm && linux

package scsivm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/nodeagent/fencing"
	"github.com/hamon-ha/hamon/nodeagent/multipath"
	"github.com/hamon-ha/hamon/nodeagent/pathwatch"
	"github.com/hamon-ha/hamon/nodeagent/scsipr"
)

// One test per scenario of make test-scsi; hack/scsi-vm/run.sh boots the
// guest once for each.

// Scenario 1: A registers on every path of its multipath disk and reserves
// (type 5, Write Exclusive - Registrants Only); B, not registered, gets
// RESERVATION CONFLICT on a write, decoded as the typed error; A writes.
func TestReserve(t *testing.T) {
	f := guest(t)
	disk, err := scsipr.SysfsResolver{}.Resolve(f.Map)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range disk.Paths {
		names = append(names, p.Name())
	}
	t.Logf("SysfsResolver: %s -> disk %q, paths %v", f.Map, disk.Name, names)
	want := slices.Sorted(slices.Values(f.A))
	if disk.Name != f.MapName || !slices.Equal(names, want) {
		t.Fatalf("SysfsResolver gave %q %v, want %q %v", disk.Name, names, f.MapName, want)
	}
	if k := keysOn(t, f); len(k) != 0 {
		t.Fatalf("keys before anything registered: %v", k)
	}
	if r := reservationOn(t, f); r.Held {
		t.Fatalf("a reservation before anything reserved: %+v", r)
	}

	step(t, "A's agent is told to take the reservation: REGISTER AND IGNORE EXISTING KEY on every path of %s, RESERVE type 5", f.Map)
	a := newHost(t, newAPI(t), nodeA, scsipr.SysfsResolver{})
	takeOver(t, a, "db", 1)
	keys, res := keysOn(t, f), reservationOn(t, f)
	t.Logf("READ KEYS %v; READ RESERVATION %+v", keys, res)
	if count(keys, keyA) != len(f.A) || len(keys) != len(f.A) {
		t.Errorf("want A's key %s once per path of A (%d), got %v", keyA, len(f.A), keys)
	}
	if !res.Held || res.Key != keyA || res.Type != scsipr.TypeWriteExclusiveRegistrantsOnly {
		t.Errorf("reservation %+v, want A's key, type 5", res)
	}
	logState(t, f)

	step(t, "B, not registered, writes through each of its paths (SG_IO WRITE(10))")
	for _, p := range f.B {
		ua, err := sgWrite(t, dev(p), 100)
		t.Logf("B write on %s: unit attentions %v, then %v", p, ua, err)
		if !errors.Is(err, scsipr.ErrReservationConflict) {
			t.Errorf("B's write on %s: %v, want the typed reservation conflict (scsipr.ErrReservationConflict)", p, err)
		}
		var e *scsipr.Error
		if errors.As(err, &e) && (e.Kind != scsipr.KindReservationConflict || e.Status != scsipr.StatusReservationConflict) {
			t.Errorf("B's write on %s decoded as %+v", p, e)
		}
	}
	step(t, "B writes through the block layer (O_DIRECT pwrite on /dev/%s)", f.B[0])
	err = directIO(t, dev(f.B[0]), 0, true)
	t.Logf("B block write: %v", err)
	if !errors.Is(err, unix.EBADE) {
		t.Errorf("B's block-layer write: %v, want EBADE (the kernel's errno for a reservation conflict)", err)
	}
	if err := directIO(t, dev(f.B[0]), 0, false); err != nil {
		t.Errorf("B's read under Write Exclusive - Registrants Only: %v, want allowed", err)
	}

	step(t, "A writes through %s and through each path", f.Map)
	if err := directIO(t, f.Map, 0, true); err != nil {
		t.Errorf("A's write through the map: %v", err)
	}
	for _, p := range f.A {
		if ua, err := sgWrite(t, dev(p), 101); err != nil {
			t.Errorf("A's write on %s: %v (unit attentions %v)", p, err, ua)
		}
	}
	t.Logf("kernel log of this scenario:\n%s", indent(kernelLog(t, "scsivm: fabric")))
}

// Scenario 2: B takes over with PREEMPT AND ABORT of A's key while A's
// server writes; A's writes fail with the reservation conflict; A sees its
// key gone (Client.Holds) and its agent stops its server.
func TestTakeover(t *testing.T) {
	f := guest(t)
	// Each host has its own view of the API: A still believes it is active
	// (a partition, or a controller that has not told it yet).
	a := newHost(t, newAPI(t), nodeA, scsipr.SysfsResolver{})
	b := newHost(t, newAPI(t), nodeB, bDisks(f))
	takeOver(t, a, "db", 1)
	putServer(t, a.api, "db", nodeA, phaseActive, 1)
	a.reconcile(t, "db")
	if r := a.report(t, "db"); r.KeyPreempted || len(a.runtime.Stopped()) > 0 {
		t.Fatalf("A's agent stopped its server while it holds the disk: %+v", r)
	}

	step(t, "A's server writes through %s every 50 ms", f.Map)
	type failure struct {
		at  time.Time
		err error
	}
	var (
		mu      sync.Mutex
		writes  int
		first   *failure
		stop    = make(chan struct{})
		stopped = make(chan struct{})
	)
	go func() {
		defer close(stopped)
		for i := int64(0); ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			err := directIO(t, f.Map, 4096*(i%64), true)
			mu.Lock()
			writes++
			if err != nil && first == nil {
				first = &failure{time.Now(), err}
			}
			mu.Unlock()
		}
	}()
	time.Sleep(time.Second)
	mu.Lock()
	if first != nil {
		t.Fatalf("A's writes failed before the takeover: %v", first.err)
	}
	t.Logf("%d writes of A done before the takeover", writes)
	mu.Unlock()

	step(t, "B's agent is told to take over (epoch 2): REGISTER on B's paths, PREEMPT AND ABORT of A's key %s", keyA)
	preempt := time.Now()
	r := takeOver(t, b, "db", 2)
	if !strings.Contains(r.Message, "preempted "+keyA.String()) {
		t.Errorf("B's report %q does not name A's key as preempted", r.Message)
	}
	keys, res := keysOn(t, f), reservationOn(t, f)
	t.Logf("READ KEYS %v; READ RESERVATION %+v", keys, res)
	if count(keys, keyA) != 0 || count(keys, keyB) != len(f.B) {
		t.Errorf("after the takeover: keys %v, want only B's %s on its %d paths", keys, keyB, len(f.B))
	}
	if !res.Held || res.Key != keyB || res.Type != scsipr.TypeWriteExclusiveRegistrantsOnly {
		t.Errorf("after the takeover: reservation %+v, want B's, type 5", res)
	}
	waitFor(t, "A's writer sees its first failure", 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return first != nil
	})
	close(stop)
	<-stopped
	t.Logf("A's writer: %d writes; first failure %v after the preempt began: %v", writes, first.at.Sub(preempt).Round(time.Millisecond), first.err)
	if !errors.Is(first.err, unix.EBADE) {
		t.Errorf("A's write after the preempt failed with %v, want EBADE (reservation conflict)", first.err)
	}

	step(t, "A's next writes, through the map and through each path (SG_IO)")
	if err := directIO(t, f.Map, 0, true); !errors.Is(err, unix.EBADE) {
		t.Errorf("A's write through %s: %v, want EBADE", f.Map, err)
	}
	for _, p := range f.A {
		ua, err := sgWrite(t, dev(p), 102)
		t.Logf("A write on %s: unit attentions %v, then %v", p, ua, err)
		for _, u := range ua {
			var e *scsipr.Error
			if errors.As(u, &e) {
				t.Logf("  unit attention on %s: ReservationsPreempted()=%t", p, e.ReservationsPreempted())
			}
		}
		if !errors.Is(err, scsipr.ErrReservationConflict) {
			t.Errorf("A's write on %s: %v, want scsipr.ErrReservationConflict", p, err)
		}
	}
	if err := directIO(t, f.Map, 0, false); err != nil {
		t.Errorf("A's read (allowed under type 5): %v", err)
	}
	if n := pathsUp(t, f); n != len(f.A) {
		t.Errorf("the reservation conflicts failed paths: %d of %d up", n, len(f.A))
	}

	step(t, "A notices its key is gone: scsipr.Client.Holds")
	disk, err := scsipr.SysfsResolver{}.Resolve(f.Map)
	if err != nil {
		t.Fatal(err)
	}
	holds, err := prc.Holds([]scsipr.Disk{disk}, keyA)
	t.Logf("Holds(%s, %s) = %t, %v", f.MapName, keyA, holds, err)
	if err != nil || holds {
		t.Errorf("Holds: %t %v, want false", holds, err)
	}
	step(t, "A's agent, its server active, checks its key (Reconcile -> watchKey)")
	a.reconcile(t, "db")
	ra := a.report(t, "db")
	t.Logf("A's report: %+v; servers stopped through the runtime: %v", ra, a.runtime.Stopped())
	if !ra.KeyPreempted || ra.Reservation != hav1alpha1.ReservationReleased {
		t.Errorf("A's agent did not report the preempted key: %+v", ra)
	}
	if !slices.Equal(a.runtime.Stopped(), []string{ns + "/db-" + nodeA + "/db"}) {
		t.Errorf("A's agent stopped %v, want its server's container", a.runtime.Stopped())
	}

	step(t, "B writes")
	for _, p := range f.B {
		if ua, err := sgWrite(t, dev(p), 103); err != nil {
			t.Errorf("B's write on %s: %v (unit attentions %v)", p, err, ua)
		}
	}
	logState(t, f)
	klog := kernelLog(t, "scsivm: B's agent is told to take over")
	t.Logf("kernel log since the takeover:\n%s", indent(klog))
	if !strings.Contains(klog, "reservation conflict") && !strings.Contains(klog, "critical nexus error") {
		t.Errorf("the kernel logged no reservation conflict for A's writes")
	}
}

// Scenario 3a: path faults while A is standby, taking over, running or
// terminating, by the table of REFERENCE.md 1.8. The OS terminator is the
// real reboot(2): if the rule were wrong, the guest would be gone.
func TestPathFaultsByPhase(t *testing.T) {
	f := guest(t)
	a := newHost(t, newAPI(t), nodeA, scsipr.SysfsResolver{})
	takeOver(t, a, "db", 1)
	deleteServer(t, a.api, "db")
	phases := map[string]phase{
		"db-standby": phaseStandby, "db-switching": phaseTakeover, "db-running": phaseActive, "db-terminating": phaseTerminating,
	}
	for name, p := range phases {
		putServer(t, a.api, name, nodeA, p, 5)
	}
	msgs := func(names ...string) map[string]string {
		m := map[string]string{}
		for _, n := range names {
			m[n] = a.report(t, n).Message
		}
		return m
	}
	names := []string{"db-standby", "db-switching", "db-running", "db-terminating"}

	step(t, "one path of A (%s) fails while A is standby, switching, running and terminating", f.A[0])
	setPathState(t, f.A[0], "offline")
	took := a.deviceReport(t, 30*time.Second, func() bool {
		for _, m := range msgs(names...) {
			if !strings.Contains(m, "KAMN725-W") {
				return false
			}
		}
		return true
	})
	t.Logf("the path watch decided in %v", took)
	for n, m := range msgs(names...) {
		t.Logf("%s: %s", n, m)
		if strings.Contains(m, "KAMN726-E") {
			t.Errorf("%s: KAMN726-E with a path left: %q", n, m)
		}
	}
	if c := a.os.Calls(); len(c) > 0 {
		t.Fatalf("the OS termination was asked for with one path left: %v", c)
	}
	step(t, "the termination goes on: I/O continues on %s", f.A[1])
	if err := directIO(t, f.Map, 0, true); err != nil {
		t.Errorf("write through the remaining path: %v", err)
	}
	logDevices(t, a)
	waitFor(t, "multipathd fails "+f.A[0], 30*time.Second, func() bool { return pathsUp(t, f) == len(f.A)-1 })
	setPathState(t, f.A[0], "running")
	waitFor(t, "multipathd reinstates "+f.A[0], 30*time.Second, func() bool { return pathsUp(t, f) == len(f.A) })

	step(t, "every path of A fails while A is standby, switching or running (not terminating)")
	deleteServer(t, a.api, "db-terminating")
	names = names[:3]
	for _, p := range f.A {
		setPathState(t, p, "offline")
	}
	took = a.deviceReport(t, 30*time.Second, func() bool {
		for _, m := range msgs(names...) {
			if !strings.Contains(m, "KAMN726-E") {
				return false
			}
		}
		return true
	})
	t.Logf("the path watch decided in %v", took)
	want := map[string]string{
		"db-standby":   "the standby goes on",
		"db-switching": "the hot standby to this host fails",
		"db-running":   "reported to the controller",
	}
	for n, m := range msgs(names...) {
		t.Logf("%s: %s", n, m)
		if !contains(m, "KAMN725-W", "KAMN726-E", want[n]) {
			t.Errorf("%s: %q, want KAMN725-W, KAMN726-E and %q", n, m, want[n])
		}
	}
	if c := a.os.Calls(); len(c) > 0 {
		t.Fatalf("the OS termination was asked for outside the terminating phase: %v", c)
	}
	if err := directIO(t, f.Map, 0, true); !errors.Is(err, unix.EIO) {
		t.Errorf("write with no path (no_path_retry fail): %v, want EIO", err)
	}
	step(t, "the switching host's agent tries to take the reservation with no path (7.5.10: the hot standby fails)")
	a.reconcile(t, "db-switching")
	r := a.report(t, "db-switching")
	t.Logf("db-switching: %s %q", r.Reservation, r.Message)
	if r.Reservation != hav1alpha1.ReservationFailed {
		t.Errorf("taking the reservation with every path failed: %+v, want Failed", r)
	}
	logDevices(t, a)
	waitFor(t, "multipathd fails every path", 30*time.Second, func() bool { return pathsUp(t, f) == 0 })
	for _, p := range f.A {
		setPathState(t, p, "running")
	}
	waitFor(t, "multipathd reinstates every path", 30*time.Second, func() bool { return pathsUp(t, f) == len(f.A) })
	if err := directIO(t, f.Map, 0, true); err != nil {
		t.Errorf("write after the paths came back: %v", err)
	}
}

// Scenario 3b: A's active server terminates; one path fails (KAMN725-W,
// the termination goes on), then the other (KAMN725-W, KAMN726-E): the
// agent terminates the OS through fencing.Linux, reboot(2). The test never
// returns: the harness sees the guest gone, with the marker before it.
func TestAllPathsFailWhileTerminating(t *testing.T) {
	f := guest(t)
	a := newHost(t, newAPI(t), nodeA, scsipr.SysfsResolver{})
	takeOver(t, a, "db", 1)
	putServer(t, a.api, "db", nodeA, phaseTerminating, 1)

	step(t, "A's active server is terminating; path %s fails", f.A[0])
	setPathState(t, f.A[0], "offline")
	took := a.deviceReport(t, 30*time.Second, func() bool { return strings.Contains(a.report(t, "db").Message, "KAMN725-W") })
	m := a.report(t, "db").Message
	t.Logf("after %v: %s", took, m)
	if strings.Contains(m, "KAMN726-E") || len(a.os.Calls()) > 0 {
		t.Fatalf("one path left, and yet: %q, terminations %v", m, a.os.Calls())
	}
	if err := directIO(t, f.Map, 0, true); err != nil {
		t.Fatalf("the termination's I/O on the remaining path: %v", err)
	}

	step(t, "path %s fails too: every path of %s failed while the active server terminates", f.A[1], f.MapName)
	fmt.Println("SCSIVM-EXPECT-OS-TERMINATION")
	kmsg("scsivm: SCSIVM-EXPECT-OS-TERMINATION")
	setPathState(t, f.A[1], "offline")
	start := time.Now()
	a.deviceReport(t, 60*time.Second, func() bool { return len(a.os.Calls()) > 0 })
	// fencing.Linux returned: reboot(2) failed.
	time.Sleep(5 * time.Second)
	t.Fatalf("the OS was not terminated %v after the agent asked (%v): reboot(2) returned", time.Since(start), a.os.Calls())
}

// Scenario 4: a path that lost its registration and is added again (its
// session logs in anew) or reinstated after a failure is registered again
// by multipathd once the agent told it the key (nodeagent/multipath);
// without that, a write through it hits a reservation conflict.
func TestReinstatedPathRegistered(t *testing.T) {
	f := guest(t)
	ctx := context.Background()
	mp := multipath.New()
	a := newHost(t, newAPI(t), nodeA, scsipr.SysfsResolver{})

	step(t, "multipath.conf needs reservation_key file: without it setprkey is refused")
	conf, err := os.ReadFile("/etc/multipath.conf")
	if err != nil {
		t.Fatal(err)
	}
	without := strings.ReplaceAll(string(conf), "reservation_key file", "")
	writeConf(t, without)
	err = mp.SetKey(ctx, f.MapName, keyA)
	t.Logf("SetKey without reservation_key file: %v", err)
	if !errors.Is(err, multipath.ErrRefused) {
		t.Errorf("SetKey without reservation_key file: %v, want refused", err)
	}
	prkeys, _ := os.ReadFile("/etc/multipath/prkeys")
	t.Logf("/etc/multipath/prkeys after the refused setprkey:\n%s", indent(string(prkeys)))
	writeConf(t, string(conf))
	// multipath-tools 0.9.4 writes the key to the prkeys file before it
	// finds that the map does not read keys from there: forget it again.
	if err := mp.ClearKey(ctx, f.MapName); err != nil {
		t.Fatal(err)
	}
	st, err := mp.State(ctx, f.MapName)
	t.Logf("multipathd state for %s: %+v %v", f.MapName, st, err)
	if err != nil || st != (multipath.State{}) {
		t.Fatalf("multipathd knows a key before the agent told it one: %+v %v", st, err)
	}

	takeOver(t, a, "db", 1)
	// Acquire reserves through the first path the resolver lists: sorted.
	sl := slaves(t, f)
	holder, other := sl[0], sl[1]
	iface := ifaceOf(t, f, other)
	t.Logf("A holds the disk through %s; its other path is %s (iface %s); keys %v", holder, other, iface, keysOn(t, f))

	step(t, "without the key in multipathd: path %s loses its registration (REGISTER with service action key 0 through it), "+
		"then is removed and added again (its session logs out and in)", other)
	if err := unregisterNexus(dev(other), keyA); err != nil {
		t.Fatal(err)
	}
	p := relogin(t, f, iface)
	keys := keysOn(t, f)
	t.Logf("keys after the new session: %v (%d registrations of A's key)", keys, count(keys, keyA))
	ua, err := sgWrite(t, dev(p), 110)
	t.Logf("write on the new path %s: unit attentions %v, then %v", p, ua, err)
	if !errors.Is(err, scsipr.ErrReservationConflict) {
		t.Errorf("write on the new, unregistered path %s: %v, want a reservation conflict", p, err)
	}
	writeOver(t, f, holder, unix.EBADE)

	step(t, "A's agent tells multipathd its key: nodeagent/multipath SetKey (setprkey + setprstatus)")
	if err := mp.SetKey(ctx, f.MapName, keyA); err != nil {
		t.Fatal(err)
	}
	st, err = mp.State(ctx, f.MapName)
	t.Logf("multipathd state for %s: %+v %v", f.MapName, st, err)
	if err != nil || st != (multipath.State{Key: keyA, Registered: true}) {
		t.Errorf("multipathd state %+v %v, want key %s registered", st, err, keyA)
	}
	prkeys, _ = os.ReadFile("/etc/multipath/prkeys")
	t.Logf("/etc/multipath/prkeys:\n%s", indent(string(prkeys)))

	step(t, "with the key: the unregistered path %s is removed and added again", p)
	p = relogin(t, f, iface)
	waitFor(t, "multipathd registers the added path "+p, 20*time.Second, func() bool {
		_, err := sgWrite(t, dev(p), 111)
		return err == nil
	})
	if k := keysOn(t, f); count(k, keyA) != 2 {
		t.Errorf("keys %v, want A's twice", k)
	}
	writeOver(t, f, holder, nil)

	step(t, "PR status unset (unsetprstatus, the key kept): path %s loses its registration, fails and is reinstated", p)
	if _, err := (multipath.Socket{}).Command(ctx, "unsetprstatus map "+f.MapName); err != nil {
		t.Fatal(err)
	}
	reinstateUnregistered(t, f, p)
	time.Sleep(3 * time.Second)
	_, err = sgWrite(t, dev(p), 112)
	t.Logf("write on the reinstated path %s: %v", p, err)
	if !errors.Is(err, scsipr.ErrReservationConflict) {
		t.Errorf("multipathd registered a reinstated path without the PR status: %v", err)
	}

	step(t, "with the key and the PR status (SetKey): path %s loses its registration, fails and is reinstated", p)
	if err := mp.SetKey(ctx, f.MapName, keyA); err != nil {
		t.Fatal(err)
	}
	reinstateUnregistered(t, f, p)
	waitFor(t, "multipathd registers the reinstated path "+p, 20*time.Second, func() bool {
		_, err := sgWrite(t, dev(p), 113)
		return err == nil
	})
	writeOver(t, f, holder, nil)
	logState(t, f)
}

// reinstateUnregistered removes the registration of path p's I_T nexus,
// takes p down until multipathd fails it, and brings it back until
// multipathd reinstates it.
func reinstateUnregistered(t *testing.T, f fabric, p string) {
	t.Helper()
	// A REGISTER with A's key from a nexus that is not registered is a
	// reservation conflict: then there is nothing to remove.
	if err := unregisterNexus(dev(p), keyA); err != nil && !errors.Is(err, scsipr.ErrReservationConflict) {
		t.Fatal(err)
	}
	if _, err := sgWrite(t, dev(p), 114); !errors.Is(err, scsipr.ErrReservationConflict) {
		t.Fatalf("the unregistered path %s still writes: %v", p, err)
	}
	setPathState(t, p, "offline")
	waitFor(t, "multipathd fails "+p, 30*time.Second, func() bool { return pathsUp(t, f) == 1 })
	setPathState(t, p, "running")
	waitFor(t, "multipathd reinstates "+p, 30*time.Second, func() bool { return pathsUp(t, f) == 2 })
}

// writeOver writes through the map with the holder's path down, so the
// write goes through the other path, and expects want (nil or an errno).
func writeOver(t *testing.T, f fabric, holder string, want error) {
	t.Helper()
	setPathState(t, holder, "offline")
	err := directIO(t, f.Map, 0, true)
	t.Logf("write through %s with %s down: %v", f.Map, holder, err)
	if (want == nil && err != nil) || (want != nil && !errors.Is(err, want)) {
		t.Errorf("write through %s over the other path: %v, want %v", f.Map, err, want)
	}
	waitFor(t, "multipathd fails "+holder, 30*time.Second, func() bool { return pathsUp(t, f) == 1 })
	setPathState(t, holder, "running")
	waitFor(t, "both paths up", 30*time.Second, func() bool { return pathsUp(t, f) == 2 })
}

// Scenario 5: with no_path_retry queue, I/O to the map blocks when every
// path is gone, and a path whose transport hangs blocks every command sent
// to it; the path watch must still decide within its deadline.
func TestQueueingDoesNotHangTheWatch(t *testing.T) {
	f := guest(t)
	a := newHost(t, newAPI(t), nodeA, scsipr.SysfsResolver{})
	takeOver(t, a, "db", 1)
	putServer(t, a.api, "db", nodeA, phaseTerminating, 1)
	a.OS = &refuseOS{} // scenario 3b shows the real termination; here it would end the test

	step(t, "no_path_retry queue (and iSCSI recovery_tmo 15 s through fast_io_fail_tmo)")
	if err := os.WriteFile("/etc/multipath/conf.d/queue.conf",
		[]byte("overrides {\n\tno_path_retry queue\n\tfast_io_fail_tmo 15\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mpathd(t, "reconfigure")
	waitFor(t, "the map queues", 30*time.Second, func() bool {
		out, _ := run(t, 5*time.Second, "dmsetup", "table", f.MapName)
		return strings.Contains(out, "queue_if_no_path")
	})
	waitFor(t, "both paths up", 30*time.Second, func() bool { return pathsUp(t, f) == 2 })
	_, _ = run(t, 5*time.Second, "sh", "-c", "grep -H . /sys/class/iscsi_session/session*/recovery_tmo")

	step(t, "every path offline: a write to %s queues", f.Map)
	for _, p := range f.A {
		setPathState(t, p, "offline")
	}
	queued := make(chan error, 1)
	go func() { queued <- directIO(t, f.Map, 8192, true) }()
	select {
	case err := <-queued:
		t.Fatalf("the write did not queue: %v", err)
	case <-time.After(3 * time.Second):
		t.Log("the write to the map is still blocked after 3 s (queue_if_no_path)")
	}
	paths := pathsOf(f)
	start := time.Now()
	res := pathwatch.Check(paths, 3*time.Second)
	took := time.Since(start)
	d := pathwatch.Decide(pathwatch.ActiveTerminating, f.MapName, res)
	t.Logf("pathwatch.Check in %v: %+v\nDecide: %+v", took.Round(time.Millisecond), res, d)
	if took > 4*time.Second || !d.AllFailed || !d.TerminateOS {
		t.Errorf("Check took %v and decided %+v; want within 3 s, every path failed", took, d)
	}
	took = a.deviceReport(t, 60*time.Second, func() bool { return strings.Contains(a.report(t, "db").Message, "KAMN726-E") })
	t.Logf("the agent's path watch reported KAMN726-E in %v: %s", took, a.report(t, "db").Message)
	if took > 10*time.Second {
		t.Errorf("the agent's path watch took %v to decide", took)
	}

	step(t, "a buffered write leaves dirty pages of %s; sync(2), what fencing.Linux does before reboot(2), waits for them", f.Map)
	fd, err := os.OpenFile(f.Map, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Not closed before the paths are back: the last close of a block
	// device writes its dirty pages back, and would block too.
	if _, err := fd.WriteAt(pageBuf(t, 0x61), 16384); err != nil {
		t.Fatalf("buffered write: %v", err)
	}
	synced := make(chan time.Duration, 1)
	syncStart := time.Now()
	go func() {
		unix.Sync()
		synced <- time.Since(syncStart)
	}()
	syncReturned := false
	select {
	case d := <-synced:
		syncReturned = true
		t.Logf("sync(2) returned in %v with every path queued", d)
	case <-time.After(5 * time.Second):
		t.Logf("sync(2) still blocked after 5 s with every path of %s queued", f.Map)
	}
	// What fencing.Linux.Terminate does before reboot(2): a sync bounded
	// in time, so that KAMN726-E's termination never hangs on it.
	boundedStart := time.Now()
	ok := fencing.SyncWithin(2 * time.Second)
	if took := time.Since(boundedStart); took > 4*time.Second {
		t.Errorf("fencing.SyncWithin(2s) took %s with every path queued: the OS termination would hang", took)
	} else {
		t.Logf("fencing.SyncWithin(2s) gave up after %s (synced: %v): Terminate goes on to reboot(2)", took.Round(time.Millisecond), ok)
	}

	for _, p := range f.A {
		setPathState(t, p, "running")
	}
	if !syncReturned {
		select {
		case d := <-synced:
			t.Logf("sync(2) returned %v after it began, once the paths came back", d.Round(time.Millisecond))
		case <-time.After(30 * time.Second):
			t.Error("sync(2) did not return 30 s after the paths came back")
		}
	}
	if err := fd.Close(); err != nil {
		t.Errorf("closing %s: %v", f.Map, err)
	}
	select {
	case err := <-queued:
		t.Logf("the queued write ended once the paths came back: %v", err)
		if err != nil {
			t.Errorf("queued write: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the queued write did not end 30 s after the paths came back")
	}
	waitFor(t, "both paths up", 30*time.Second, func() bool { return pathsUp(t, f) == 2 })

	step(t, "the transport hangs (lo down): the iSCSI sessions block and so does every command to A's paths")
	a.OS = &refuseOS{}
	deleteServer(t, a.api, "db")
	putServer(t, a.api, "db2", nodeA, phaseTerminating, 1)
	must(t, 5*time.Second, "ip", "link", "set", "lo", "down")
	defer func() { _, _ = run(t, 5*time.Second, "ip", "link", "set", "lo", "up") }()
	waitFor(t, "A's paths are blocked", 60*time.Second, func() bool {
		for _, p := range f.A {
			if pathState(p) != "blocked" {
				return false
			}
		}
		return true
	})
	start = time.Now()
	res = pathwatch.Check(paths, 3*time.Second)
	took = time.Since(start)
	d = pathwatch.Decide(pathwatch.ActiveTerminating, f.MapName, res)
	t.Logf("pathwatch.Check in %v: %+v\nDecide: %+v", took.Round(time.Millisecond), res, d)
	if took > 4*time.Second || !d.AllFailed {
		t.Errorf("Check on blocked paths took %v and decided %+v; want within its 3 s deadline, every path failed", took, d)
	}
	took = a.deviceReport(t, 150*time.Second, func() bool { return strings.Contains(a.report(t, "db2").Message, "KAMN726-E") })
	states := map[string]string{}
	for _, p := range f.A {
		states[p] = pathState(p)
	}
	t.Logf("the agent's path watch (DeviceReport: Check with SCSI.Timeout %v, then READ KEYS and READ RESERVATION) reported KAMN726-E after %v; paths now %v",
		a.SCSI.Timeout, took, states)
	if took > a.SCSI.Timeout+5*time.Second {
		t.Errorf("the agent's path watch took %v on blocked paths, more than its %v deadline: "+
			"DeviceReport's probe reads keys and the reservation through the blocked paths, unbounded, before applying the rule", took, a.SCSI.Timeout)
	}
}

// Scenario 6: a fenced host comes back (its sessions and multipathd start
// again, as after a reboot; multipathd's prkeys file still has its key) and
// its agent starts: nothing registers its key until the controller tells it
// to take over.
func TestFencedHostRejoins(t *testing.T) {
	f := guest(t)
	ctx := context.Background()
	mp := multipath.New()
	a := newHost(t, newAPI(t), nodeA, scsipr.SysfsResolver{})
	b := newHost(t, newAPI(t), nodeB, bDisks(f))
	takeOver(t, a, "db", 1)
	if err := mp.SetKey(ctx, f.MapName, keyA); err != nil {
		t.Fatal(err)
	}
	step(t, "B takes over: A is fenced (its key preempted)")
	takeOver(t, b, "db", 2)
	if k := keysOn(t, f); count(k, keyA) != 0 {
		t.Fatalf("A's key left after the takeover: %v", k)
	}

	step(t, "A 'reboots': multipathd stops, A's sessions log out, the map goes; then multipathd starts and the sessions log in again")
	_, _ = run(t, 30*time.Second, "multipathd", "shutdown")
	waitFor(t, "multipathd ends", 30*time.Second, func() bool { return !running("multipathd") })
	for _, iface := range f.AIfaces {
		must(t, 30*time.Second, "iscsiadm", "-m", "node", "-T", f.Target, "-p", f.Portal, "-I", iface, "--logout")
	}
	_, _ = run(t, 10*time.Second, "dmsetup", "remove", "--retry", f.MapName)
	prkeys, _ := os.ReadFile("/etc/multipath/prkeys")
	t.Logf("/etc/multipath/prkeys after the 'reboot':\n%s", indent(string(prkeys)))
	if !strings.Contains(strings.ToLower(string(prkeys)), fmt.Sprintf("%016x", uint64(keyA))) {
		t.Errorf("the prkeys file does not keep A's key: the test would not show multipathd declining it")
	}
	startMultipathd(t)
	for _, iface := range f.AIfaces {
		must(t, 30*time.Second, "iscsiadm", "-m", "node", "-T", f.Target, "-p", f.Portal, "-I", iface, "--login")
	}
	waitFor(t, "mpatha is back with 2 paths", 60*time.Second, func() bool {
		if _, err := os.Stat(f.Map); err != nil {
			return false
		}
		return len(slaves(t, f)) == 2 && pathsUp(t, f) == 2
	})
	f.A = slaves(t, f)
	st, err := mp.State(ctx, f.MapName)
	t.Logf("multipathd state for %s after its start: %+v %v", f.MapName, st, err)
	if st.Registered {
		t.Errorf("multipathd takes %s as registered after the fence", f.MapName)
	}

	step(t, "A's agent starts (heartbeat, path watch, reconcile) with A a standby, for 8 s")
	putServer(t, a.api, "db", nodeA, phaseFenced, 2)
	actx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = a.Heartbeat(actx) })
	wg.Go(func() { _ = a.DeviceReport(time.Second)(actx) })
	for range 8 {
		a.reconcile(t, "db")
		time.Sleep(time.Second)
	}
	cancel()
	wg.Wait()
	keys, res := keysOn(t, f), reservationOn(t, f)
	t.Logf("READ KEYS %v; READ RESERVATION %+v; A's report %+v", keys, res, a.report(t, "db"))
	logDevices(t, a)
	if count(keys, keyA) != 0 {
		t.Errorf("A's key %s was registered again without a takeover: %v", keyA, keys)
	}
	if !res.Held || res.Key != keyB {
		t.Errorf("reservation %+v, want B's", res)
	}
	if err := directIO(t, f.Map, 0, true); !errors.Is(err, unix.EBADE) {
		t.Errorf("the fenced host's write: %v, want EBADE", err)
	}

	step(t, "the controller tells A to take over (epoch 3)")
	r := takeOver(t, a, "db", 3)
	if !strings.Contains(r.Message, "preempted "+keyB.String()) {
		t.Errorf("A's report %q does not name B's key as preempted", r.Message)
	}
	keys = keysOn(t, f)
	t.Logf("READ KEYS %v", keys)
	if count(keys, keyA) != 2 || count(keys, keyB) != 0 {
		t.Errorf("after A's takeover: keys %v, want A's on its 2 paths only", keys)
	}
	if err := directIO(t, f.Map, 0, true); err != nil {
		t.Errorf("A's write after its takeover: %v", err)
	}
	if _, err := sgWrite(t, dev(f.B[0]), 120); !errors.Is(err, scsipr.ErrReservationConflict) {
		t.Errorf("B's write after A's takeover: %v, want a reservation conflict", err)
	}
	logState(t, f)
}
