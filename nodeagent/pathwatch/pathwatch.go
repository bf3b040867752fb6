// Package pathwatch checks every path of a shared disk and decides, by the
// server's phase, what an I/O error means (HA Monitor 7.5.8 - 7.5.10,
// REFERENCE.md 1.8): KAMN725-W for a failed path, KAMN726-E when every
// path of a disk failed, and OS termination only when that happens while
// the active server is terminating.
package pathwatch

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hamon-ha/hamon/nodeagent/scsipr"
)

// Phase is where the server stands on this host when the error hits.
type Phase int

// The phases of REFERENCE.md 1.8.
const (
	// ActiveRunning: the active server runs (7.5.7).
	ActiveRunning Phase = iota
	// ActiveTerminating: the active server is terminating (7.5.8).
	ActiveTerminating
	// Standby: a standby is starting, on standby or terminating (7.5.9).
	Standby
	// Switching: this host is taking over (hot standby in progress, 7.5.10).
	Switching
)

func (p Phase) String() string {
	return [...]string{"active running", "active terminating", "standby", "switching"}[p]
}

// PathResult is the outcome of checking one path.
type PathResult struct {
	Path string
	Err  error
}

// Failed says the path's I/O failed. A reservation conflict is not a path
// failure (the path works; the host is fenced) and neither is a unit
// attention that a retry clears.
func (r PathResult) Failed() bool {
	if r.Err == nil {
		return false
	}
	var e *scsipr.Error
	if errors.As(r.Err, &e) {
		return e.Kind != scsipr.KindReservationConflict && !e.Retryable()
	}
	return true
}

// Decision is what to do about one disk's paths.
type Decision struct {
	// Warn is KAMN725-W: some path failed.
	Warn bool
	// AllFailed is KAMN726-E: every path of the disk failed.
	AllFailed bool
	// TerminateOS: terminate the OS now (7.5.8, only while the active
	// server terminates).
	TerminateOS bool
	// FailSwitchover: the hot standby to this host fails (7.5.10).
	FailSwitchover bool
	// Message says it for events and logs.
	Message string
}

// Decide applies the table of REFERENCE.md 1.8 to one disk.
//
//	phase               some paths failed          every path failed
//	active running      KAMN725-W, go on           KAMN725-W, KAMN726-E, report (7.5.7 not in our excerpts)
//	active terminating  KAMN725-W, go on           KAMN725-W, KAMN726-E, terminate the OS
//	standby             KAMN725-W, go on           KAMN725-W, KAMN726-E, go on
//	switching           KAMN725-W, as running      KAMN725-W, KAMN726-E, the hot standby fails
func Decide(phase Phase, disk string, paths []PathResult) Decision {
	var failed []string
	for _, p := range paths {
		if p.Failed() {
			failed = append(failed, fmt.Sprintf("%s (%v)", p.Path, p.Err))
		}
	}
	if len(failed) == 0 {
		return Decision{}
	}
	d := Decision{Warn: true, AllFailed: len(failed) == len(paths)}
	d.Message = fmt.Sprintf("KAMN725-W I/O error on %d of %d paths of %s: %s", len(failed), len(paths), disk, strings.Join(failed, ", "))
	if !d.AllFailed {
		return d
	}
	d.Message += fmt.Sprintf("; KAMN726-E every path of %s failed while %s", disk, phase)
	switch phase {
	case ActiveTerminating:
		d.TerminateOS = true
		d.Message += ": terminating the OS"
	case Switching:
		d.FailSwitchover = true
		d.Message += ": the hot standby to this host fails"
	case Standby:
		d.Message += ": the standby goes on"
	case ActiveRunning:
		d.Message += ": reported to the controller"
	}
	return d
}

// Check sends TEST UNIT READY down every path at once, each bounded by
// timeout. A path whose command has not come back by then counts as
// failed: I/O that blocks (no_path_retry queue) must not hang the agent.
// Its goroutine is left to finish on its own.
func Check(paths []scsipr.Path, timeout time.Duration) []PathResult {
	type answer struct {
		i   int
		err error
	}
	results := make([]PathResult, len(paths))
	answered := make([]bool, len(paths))
	done := make(chan answer, len(paths)) // buffered: a late answer never blocks
	for i, p := range paths {
		results[i].Path = p.Name()
		// The key tells paths apart across disks: two disks' paths can
		// share a name (a simulated nexus), never a type and value.
		key := fmt.Sprintf("%T %v", p, p)
		if since, busy := startProbe(key); busy {
			// The last probe of this path has not come back: no second
			// goroutine, thread and fd stuck on the same transport.
			results[i].Err = &scsipr.Error{Kind: scsipr.KindTransport,
				Detail: "the previous check has not answered for " + time.Since(since).Round(time.Millisecond).String()}
			answered[i] = true
			done <- answer{i, results[i].Err}
			continue
		}
		go func() {
			defer endProbe(key)
			r, err := p.Do(scsipr.TestUnitReadyCDB(), nil, 0, timeout)
			if err == nil {
				err = r.Err()
			}
			done <- answer{i, err}
		}()
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for range paths {
		select {
		case a := <-done:
			results[a.i].Err, answered[a.i] = a.err, true
		case <-deadline.C:
			for i := range results {
				if !answered[i] {
					results[i].Err = &scsipr.Error{Kind: scsipr.KindTransport, Detail: "no answer in " + timeout.String()}
				}
			}
			return results
		}
	}
	return results
}

// pending holds the paths whose probe has not come back, with its start.
var (
	pendingMu sync.Mutex
	pending   = map[string]time.Time{}
)

func startProbe(path string) (since time.Time, busy bool) {
	pendingMu.Lock()
	defer pendingMu.Unlock()
	if t, ok := pending[path]; ok {
		return t, true
	}
	pending[path] = time.Now()
	return time.Time{}, false
}

func endProbe(path string) {
	pendingMu.Lock()
	defer pendingMu.Unlock()
	delete(pending, path)
}
