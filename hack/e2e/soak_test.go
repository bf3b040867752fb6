//go:build e2e && soak

package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/controllers/hotstandby"
	"github.com/hamon-ha/hamon/hack/testenv"
)

// TestSoak injects random faults into three hosts running one server with a
// shared disk and checks, after each, the two invariants: the server
// converges to one active host, and from the first write of the new active
// on, nobody else writes the disk. HAMON_SOAK_SEED replays a run;
// HAMON_SOAK_STEPS sets its length (default 40).
func TestSoak(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("HAMON_SOAK_SEED"), 10, 64); err == nil {
		seed = s
	}
	steps := 40
	if n, err := strconv.Atoi(os.Getenv("HAMON_SOAK_STEPS")); err == nil {
		steps = n
	}
	t.Logf("soak seed %d (HAMON_SOAK_SEED=%d replays it), %d steps", seed, seed, steps)
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	w := newWorld(t, "soak", 3)
	w.server(nil)
	w.waitOnline(w.node(0), 60*time.Second)
	for step := range steps {
		s := w.get()
		active := s.Status.ActiveNode
		before, err := w.sc.Disk("mpatha").Writes()
		if err != nil {
			t.Fatal(err)
		}
		fault := rng.IntN(7)
		pause := time.Duration(1000+rng.IntN(5000)) * time.Millisecond
		var what string
		switch fault {
		case 0:
			what = "crash the active server on " + active
			w.sc.KillServer(active, w.ns, w.pod(active), syscall.SIGKILL)
		case 1:
			what = "host loss of " + active + ", then its reboot"
			w.sc.HostDown(active)
			w.waitNewActive(active)
			w.sc.RebootHost(active)
		case 2:
			what = fmt.Sprintf("pause the agent of %s for %s", active, pause)
			w.sc.PauseAgent(active)
			time.Sleep(pause)
			w.sc.ResumeAgent(active)
		case 3:
			what = fmt.Sprintf("partition %s for %s, then its reboot", active, pause)
			w.sc.Partition(active)
			time.Sleep(pause)
			w.sc.Heal(active)
			w.sc.RebootHost(active)
		case 4:
			what = "planned swap"
			id := fmt.Sprintf("soak-%d", step)
			w.request(hav1alpha1.ActionSwap, id)
			testenv.Eventually(t, 30*time.Second, id+" answered", func() bool {
				last := w.get().Status.LastRequest
				return last != nil && last.ID == id
			})
		case 5:
			what = "kill and restart the controller"
			w.sc.Kill("manager")
			time.Sleep(pause / 2)
			w.sc.StartController()
		case 6:
			what = "fail then reinstate a path of " + active
			w.sc.FailPath(active, "mpatha", "p2", true)
			time.Sleep(pause)
			w.sc.FailPath(active, "mpatha", "p2", false)
		}
		t.Logf("step %d: %s", step, what)
		// Converge: one Online active, the other live hosts standby again.
		testenv.Eventually(t, 90*time.Second, fmt.Sprintf("step %d (%s): one active again", step, what), func() bool {
			c := w.get()
			if c.Status.Phase == hav1alpha1.PhaseWaiting {
				// A wait state needs an operator: monact, as one would give.
				w.requestNode(hav1alpha1.ActionAct, fmt.Sprintf("soak-act-%d-%d", step, time.Now().UnixNano()), "")
			}
			return c.Status.Phase == hav1alpha1.PhaseOnline && c.Status.Switchover == nil
		})
		w.bringBackStandbys(step)
		time.Sleep(time.Second)
		w.noOverlapSince(len(before), what)
	}
}

// waitNewActive waits until a host other than old is Online.
func (w *world) waitNewActive(old string) {
	w.t.Helper()
	testenv.Eventually(w.t, 60*time.Second, "a new active after "+old, func() bool {
		c := w.get()
		return c.Status.Phase == hav1alpha1.PhaseOnline && c.Status.ActiveNode != old && c.Status.ActiveNode != ""
	})
}

// bringBackStandbys puts every live host that is not a standby back in
// service, as an operator would: a fenced host is rebooted (it then rejoins
// by itself), a failed or stopped one is asked back with monbegin.
func (w *world) bringBackStandbys(step int) {
	w.t.Helper()
	c := w.get()
	for _, h := range c.Status.Hosts {
		if h.Node == c.Status.ActiveNode || h.State == hav1alpha1.HostStandby || !h.Alive {
			continue
		}
		id := fmt.Sprintf("soak-begin-%d-%s", step, h.Node)
		if h.State == hav1alpha1.HostFenced {
			w.t.Logf("step %d: %s is fenced: rebooting it", step, h.Node)
			w.sc.RebootHost(h.Node)
		} else {
			w.requestNode(hav1alpha1.ActionBegin, id, h.Node)
		}
		tries := 0
		asked := time.Now()
		testenv.Eventually(w.t, 60*time.Second, "step "+strconv.Itoa(step)+": "+h.Node+" back as standby", func() bool {
			c := w.get()
			if last := c.Status.LastRequest; last != nil && last.ID == id && last.Outcome == hav1alpha1.RequestRefused {
				// Any other refusal (AlreadyRunning: a swapped-out active
				// is on its way back as standby) leaves the wait to tell.
				if last.Reason == hotstandby.ReasonSwitchoverInProgress && time.Since(asked) > time.Second {
					// Refused while a switchover ran: ask again, as an operator would.
					tries++
					id = fmt.Sprintf("soak-begin-%d-%s-%d", step, h.Node, tries)
					w.requestNode(hav1alpha1.ActionBegin, id, h.Node)
					asked = time.Now()
				}
			}
			for _, x := range c.Status.Hosts {
				if x.Node == h.Node {
					// Back in service: as a standby, or already the active
					// again if a late-noticed fault moved the server to it.
					return x.State == hav1alpha1.HostStandby || (x.Node == c.Status.ActiveNode && c.Status.Phase == hav1alpha1.PhaseOnline)
				}
			}
			return false
		})
	}
}

// noOverlapSince checks the writes since index from: once the current
// active wrote, nobody else did.
func (w *world) noOverlapSince(from int, what string) {
	w.t.Helper()
	writes, err := w.sc.Disk("mpatha").Writes()
	if err != nil {
		w.t.Fatal(err)
	}
	active := w.get().Status.ActiveNode
	seen := false
	for _, x := range writes[from:] {
		if x.Nexus.Initiator == active {
			seen = true
			continue
		}
		if seen {
			w.t.Fatalf("after %s: %s wrote at %s after the active %s had started writing: two writers",
				what, x.Nexus.Initiator, x.Time.Format("15:04:05.000"), active)
		}
	}
}
