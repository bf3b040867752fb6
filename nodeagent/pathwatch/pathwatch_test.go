package pathwatch

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hamon-ha/hamon/nodeagent/scsipr"
	"github.com/hamon-ha/hamon/nodeagent/simdisk"
)

var (
	ok       = PathResult{Path: "sdb"}
	down     = PathResult{Path: "sdc", Err: &scsipr.Error{Kind: scsipr.KindTransport}}
	down2    = PathResult{Path: "sdd", Err: &scsipr.Error{Kind: scsipr.KindTransport}}
	conflict = PathResult{Path: "sde", Err: &scsipr.Error{Kind: scsipr.KindReservationConflict}}
)

// The table of REFERENCE.md 1.8 (7.5.8, 7.5.9, 7.5.10), every phase with
// some and with all paths failed.
func TestDecideTable(t *testing.T) {
	cases := []struct {
		name                                 string
		phase                                Phase
		paths                                []PathResult
		warn, all, terminate, failSwitchover bool
	}{
		{"7.5.8 terminating, some paths: KAMN725-W, termination goes on", ActiveTerminating, []PathResult{ok, down}, true, false, false, false},
		{"7.5.8 terminating, all paths: KAMN725-W + KAMN726-E, OS terminated", ActiveTerminating, []PathResult{down, down2}, true, true, true, false},
		{"7.5.9 standby, some paths: KAMN725-W", Standby, []PathResult{ok, down}, true, false, false, false},
		{"7.5.9 standby, all paths: KAMN725-W + KAMN726-E, goes on", Standby, []PathResult{down, down2}, true, true, false, false},
		{"7.5.10 switching, some paths: as running", Switching, []PathResult{down, ok}, true, false, false, false},
		{"7.5.10 switching, all paths: the hot standby fails", Switching, []PathResult{down, down2}, true, true, false, true},
		{"running, all paths: reported, no OS termination", ActiveRunning, []PathResult{down}, true, true, false, false},
		{"no failure: nothing", ActiveTerminating, []PathResult{ok, ok}, false, false, false, false},
		{"a reservation conflict is not a path failure", ActiveTerminating, []PathResult{conflict, ok}, false, false, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Decide(c.phase, "mpatha", c.paths)
			if d.Warn != c.warn || d.AllFailed != c.all || d.TerminateOS != c.terminate || d.FailSwitchover != c.failSwitchover {
				t.Fatalf("%+v", d)
			}
			if c.all && !strings.Contains(d.Message, "KAMN726-E") || c.warn && !strings.Contains(d.Message, "KAMN725-W") {
				t.Fatalf("message %q", d.Message)
			}
		})
	}
}

// A path that never answers (queued I/O) is counted as failed within the
// timeout; the check itself does not hang.
type stuckPath struct{ release chan struct{} }

func (stuckPath) Name() string { return "stuck" }
func (p stuckPath) Do([]byte, []byte, int, time.Duration) (scsipr.Result, error) {
	<-p.release
	return scsipr.Result{}, nil
}

func TestCheckDoesNotHangOnBlockedIO(t *testing.T) {
	d, err := simdisk.Open(t.TempDir(), 8)
	if err != nil {
		t.Fatal(err)
	}
	good := d.Path(simdisk.Nexus{Initiator: "a", Port: "p1"})
	failed := d.Path(simdisk.Nexus{Initiator: "a", Port: "p2"})
	if err := d.FailPath(simdisk.Nexus{Initiator: "a", Port: "p2"}, true); err != nil {
		t.Fatal(err)
	}
	stuck := stuckPath{release: make(chan struct{})}
	defer close(stuck.release)
	start := time.Now()
	res := Check([]scsipr.Path{good, failed, stuck}, 300*time.Millisecond)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Check took %s", took)
	}
	if res[0].Failed() || !res[1].Failed() || !res[2].Failed() {
		t.Fatalf("results %+v", res)
	}
	if !errors.Is(res[2].Err, scsipr.ErrTransport) {
		t.Fatalf("stuck path: %v", res[2].Err)
	}
	if d := Decide(ActiveTerminating, "mpatha", res); !d.Warn || d.AllFailed {
		t.Fatalf("%+v", d)
	}
}

type countingStuckPath struct {
	name    string
	release chan struct{}
	calls   *atomic.Int32
}

func (p countingStuckPath) Name() string { return p.name }
func (p countingStuckPath) Do([]byte, []byte, int, time.Duration) (scsipr.Result, error) {
	p.calls.Add(1)
	<-p.release
	return scsipr.Result{}, nil
}

// A path whose last check never came back is not checked again until it
// does (no goroutine, thread and fd piling up per round on a hung
// transport), and counts as failed meanwhile; once it answers, it is
// checked again.
func TestCheckDoesNotPileUpOnAHungPath(t *testing.T) {
	p := countingStuckPath{name: "hung-once", release: make(chan struct{}), calls: &atomic.Int32{}}
	for range 3 {
		if res := Check([]scsipr.Path{p}, 50*time.Millisecond); !res[0].Failed() {
			t.Fatalf("a hung path counted as alive: %+v", res)
		}
	}
	if n := p.calls.Load(); n != 1 {
		t.Fatalf("%d probes sent down a hung path, want 1", n)
	}
	close(p.release)
	time.Sleep(50 * time.Millisecond)
	if res := Check([]scsipr.Path{p}, time.Second); res[0].Failed() || p.calls.Load() != 2 {
		t.Fatalf("after the hung probe returned: %+v, %d probes", res, p.calls.Load())
	}
}
