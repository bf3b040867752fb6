package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
)

func ctrlConfigSkipNameValidation() config.Controller {
	return config.Controller{SkipNameValidation: ptr(true)}
}

// withManager runs one controller for the test.
func withManager(t *testing.T) {
	t.Helper()
	stop, _ := startManager(t, false)
	t.Cleanup(stop)
}

func withPatrol(s *hav1alpha1.HAServerSpec) {
	s.Patrol = &hav1alpha1.PatrolSpec{Command: []string{"true"}, Interval: "10s", Timeout: "5s", Retries: 2}
}

func TestMonitorMode_StartsOnPrimary_AbnormalExitSwitches(t *testing.T) {
	withManager(t)
	f := newFakeCluster(t, "t-monitor", "m-a", "m-b")
	f.newServer("db", func(s *hav1alpha1.HAServerSpec) {
		withPatrol(s)
		s.TermCommand = []string{"/bin/stop"}
	}, "m-a", "m-b")
	s := f.waitActive("db", "m-a")
	if s.Status.StandbyNodes != "m-b" {
		t.Fatalf("standby %q", s.Status.StandbyNodes)
	}
	if c := meta.FindStatusCondition(s.Status.Conditions, hav1alpha1.ConditionAvailable); c == nil || c.Status != "True" {
		t.Fatalf("Available: %+v", c)
	}
	p := f.podOn("db", "m-a")
	if p.Labels[hav1alpha1.LabelRole] != hav1alpha1.RoleActiveLabel || p.Spec.RestartPolicy != "Never" {
		t.Fatalf("pod labels %v restartPolicy %s", p.Labels, p.Spec.RestartPolicy)
	}
	c := p.Spec.Containers[0]
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Exec.Command[0] != "/bin/stop" {
		t.Fatalf("termCommand is not the preStop hook: %+v", c.Lifecycle)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.FailureThreshold != 3 || c.ReadinessProbe.PeriodSeconds != 10 {
		t.Fatalf("patrol is not the readiness probe: %+v", c.ReadinessProbe)
	}
	if f.podOn("db", "m-b") != nil {
		t.Fatal("a monitor-mode standby runs a pod")
	}
	// Table 4-4 row 2 with a patrol: automatic hot standby.
	f.exit("db", "m-a", 1)
	s = f.waitActive("db", "m-b")
	last := s.Status.Switchovers[len(s.Status.Switchovers)-1]
	if last.Cause != "ServerFailure" || last.From != "m-a" || last.To != "m-b" || last.Result != "Succeeded" {
		t.Fatalf("switchover %+v", last)
	}
	// The detection stage: from the container's end (the kubelet's whole
	// seconds) to the decision.
	if last.FailedAt == nil || last.StartedAt == nil || last.StartedAt.Sub(last.FailedAt.Time) < 0 || last.StartedAt.Sub(last.FailedAt.Time) > 5*time.Second {
		t.Fatalf("switchover instants: failed %v started %v", last.FailedAt, last.StartedAt)
	}
	f.waitEvent("db", "HAMN103-E")
	f.waitEvent("db", "HAMN123-I")
}

func TestServerMode_StandbyCopyIsPromotedWithoutRestart(t *testing.T) {
	withManager(t)
	f := newFakeCluster(t, "t-server", "s-a", "s-b")
	f.newServer("tp", func(s *hav1alpha1.HAServerSpec) { s.Mode = hav1alpha1.ModeServer }, "s-a", "s-b")
	f.waitActive("tp", "s-a")
	var standby string
	eventually(t, "the standby copy runs on s-b", func() bool {
		p := f.podOn("tp", "s-b")
		if p != nil && p.Labels[hav1alpha1.LabelRole] == hav1alpha1.RoleStandbyLabel && f.get("tp").Status.StandbyNodes == "s-b" {
			standby = p.Name
			return true
		}
		return false
	})
	// Table 4-3 row 2: abnormal termination of the active: the standby's
	// running copy becomes active (its label changes, the pod stays).
	f.exit("tp", "s-a", 2)
	f.waitActive("tp", "s-b")
	p := f.podOn("tp", "s-b")
	if p.Name != standby || p.Labels[hav1alpha1.LabelRole] != hav1alpha1.RoleActiveLabel {
		t.Fatalf("promoted pod %s labels %v, want %s active", p.Name, p.Labels, standby)
	}
}

func TestServerMode_NormalTerminationOfActiveStopsStandby(t *testing.T) {
	withManager(t)
	f := newFakeCluster(t, "t-normal", "n-a", "n-b")
	f.onlineWithStandby("tp", "n-a", "n-b")
	f.exit("tp", "n-a", 0)
	eventually(t, "server stopped with its standby", func() bool {
		s := f.get("tp")
		return s.Status.Phase == hav1alpha1.PhaseStopped && f.podOn("tp", "n-b") == nil
	})
}

func TestSharedDisks_ActivationWaitsForTheReservation(t *testing.T) {
	withManager(t)
	f := newFakeCluster(t, "t-disk", "d-a", "d-b")
	f.newServer("db", func(s *hav1alpha1.HAServerSpec) {
		s.SharedDisks = []hav1alpha1.SharedDisk{{Device: "/dev/mapper/mpatha"}}
	}, "d-a", "d-b")
	eventually(t, "the reservation is asked of d-a", func() bool {
		s := f.get("db")
		return s.Status.TargetNode == "d-a" && s.Status.FencingEpoch == 1 && s.Status.Switchover != nil &&
			s.Status.Switchover.Stage == "Reserving"
	})
	time.Sleep(500 * time.Millisecond)
	if f.podOn("db", "d-a") != nil {
		t.Fatal("the server started before the reservation was taken")
	}
	f.reserved("d-a", "db", 1)
	s := f.waitActive("db", "d-a")
	if s.Status.ReservationHolder != "d-a" {
		t.Fatalf("holder %q", s.Status.ReservationHolder)
	}
	// Host failure: d-a's Lease runs out; d-b takes the reservation for
	// epoch 2 (preempting d-a's key) before it starts.
	f.kill("d-a")
	eventually(t, "d-b is asked to take the reservation", func() bool {
		s := f.get("db")
		return s.Status.TargetNode == "d-b" && s.Status.FencingEpoch == 2
	})
	if f.podOn("db", "d-b") != nil {
		t.Fatal("d-b started before fencing d-a")
	}
	f.reserved("d-b", "db", 2)
	s = f.waitActive("db", "d-b")
	var fenced bool
	for _, h := range s.Status.Hosts {
		fenced = fenced || (h.Node == "d-a" && h.State == hav1alpha1.HostFenced)
	}
	if !fenced {
		t.Fatalf("d-a is not Fenced: %+v", s.Status.Hosts)
	}
	// d-a rejoins as standby only after a reboot.
	f.reboot("d-a")
	eventually(t, "d-a rejoins as standby", func() bool { return f.get("db").Status.StandbyNodes == "d-a" })
}

func TestHostFailure_WithoutDisks_WaitsOutSelfFencing(t *testing.T) {
	withManager(t)
	f := newFakeCluster(t, "t-hostloss", "h-a", "h-b")
	f.newServer("app", nil, "h-a", "h-b")
	f.waitActive("app", "h-a")
	killed := time.Now()
	f.kill("h-a")
	s := f.waitActive("app", "h-b")
	took := time.Since(killed)
	// Lease (2 s) + self-fence wait (1 s) at least; well under the start timeout.
	if took < time.Duration(leaseSeconds)*time.Second || took > 10*time.Second {
		t.Fatalf("host failure switchover took %s", took)
	}
	if s.Status.Switchovers[len(s.Status.Switchovers)-1].Cause != "HostFailure" {
		t.Fatalf("cause %+v", s.Status.Switchovers)
	}
	f.waitEvent("app", "HAMN110-E")
}

// A host that reboots within its Lease (a watchdog reset, a quick power
// cycle) is never seen lost: its new boot ID is the only news. Whatever ran
// there went with the old boot, so the active copy failed: the standby
// takes over. The old pod is never read as the server's current copy, nor
// its removal (hamon deletes it before the kubelet reports it lost) as a
// normal end.
func TestRebootWithinTheLease_IsAnAbnormalEndOfTheActiveCopy(t *testing.T) {
	withManager(t)
	f := newFakeCluster(t, "t-quickboot", "q-a", "q-b")
	f.newServer("app", func(s *hav1alpha1.HAServerSpec) { s.Mode = hav1alpha1.ModeServer }, "q-a", "q-b")
	f.waitActive("app", "q-a")
	eventually(t, "the standby copy runs on q-b", func() bool { return f.get("app").Status.StandbyNodes == "q-b" })
	old := f.podOn("app", "q-a")
	f.reboot("q-a")
	s := f.waitActive("app", "q-b")
	if c := s.Status.Switchovers[len(s.Status.Switchovers)-1].Cause; c != "ServerFailure" {
		t.Fatalf("cause %s, want ServerFailure", c)
	}
	// As after any failure of the active copy, the failed host waits for
	// the operator (monbegin) to start a standby there again; the old boot's
	// pod is removed and is not recorded as the server's pod there.
	eventually(t, "the old boot's pod is gone and forgotten", func() bool {
		var p corev1.Pod
		err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(old), &p)
		for _, h := range f.get("app").Status.Hosts {
			if h.Node == "q-a" {
				return apierrors.IsNotFound(err) && h.Pod == "" && !h.Running
			}
		}
		return false
	})
}

// The soak's case (seed 20261208): the active copy fails just as the
// standby chosen to take over reboots within its Lease. Its standby copy
// went with the old boot: the switchover must not wait for that copy to
// be promoted; it goes on to the next standby.
func TestTargetRebootedWithinTheLease_SwitchoverGoesOn(t *testing.T) {
	for _, disks := range []bool{false, true} {
		t.Run(map[bool]string{false: "without disks", true: "with a shared disk"}[disks], func(t *testing.T) {
			withManager(t)
			ns := map[bool]string{false: "t-tgtboot", true: "t-tgtboot-disk"}[disks]
			a, b, c := ns+"-a", ns+"-b", ns+"-c"
			f := newFakeCluster(t, ns, a, b, c)
			f.newServer("db", func(s *hav1alpha1.HAServerSpec) {
				s.Mode = hav1alpha1.ModeServer
				if disks {
					s.SharedDisks = []hav1alpha1.SharedDisk{{Device: "/dev/mapper/mpatha"}}
				}
			}, a, b, c)
			if disks {
				f.firstActivationWithDisk("db", a)
			}
			f.waitActive("db", a)
			eventually(t, "both standbys run", func() bool { return f.get("db").Status.StandbyNodes == b+","+c })
			f.reboot(b)
			f.exit("db", a, 2)
			if disks {
				stop := make(chan struct{})
				done := make(chan struct{})
				t.Cleanup(func() { close(stop); <-done })
				go func() {
					// The agents answer whichever Reserve comes.
					defer close(done)
					for {
						select {
						case <-stop:
							return
						case <-time.After(200 * time.Millisecond):
						}
						s := f.get("db")
						if sw := s.Status.Switchover; sw != nil && sw.Stage == "Reserving" {
							f.reserved(sw.To, "db", s.Status.FencingEpoch)
						}
					}
				}()
			}
			eventually(t, "db Online on "+c+" or "+b, func() bool {
				s := f.get("db")
				return s.Status.Phase == hav1alpha1.PhaseOnline && (s.Status.ActiveNode == c || s.Status.ActiveNode == b)
			})
			// Not by a start timeout: the lost copy is news as soon as the
			// kubelet reports it (or the pod is gone). Reported before the
			// promotion, the server is started there (HAMN138-W); after it
			// (the reservation came first), the start failed there and the
			// next standby takes over (HAMN125-W, "exited while starting"):
			// either is the manual's, the order is the kubelet's.
			if notes := f.eventNotes("db", "HAMN125-W"); strings.Contains(notes, "not started in") {
				t.Fatalf("a target timed out: events %s: %s", f.eventReasons("db"), notes)
			}
		})
	}
}

// 3.2.7: a failed resource connection on the target (its agent could not
// take the reservation) is a failed start: the next standby takes over,
// and no host waits in HotStandbyWait.
func TestResourceConnectionFailure_NextStandbyTakesOver(t *testing.T) {
	withManager(t)
	f := newFakeCluster(t, "t-rcfail", "rc-a", "rc-b", "rc-c")
	f.newServer("db", func(s *hav1alpha1.HAServerSpec) {
		s.SharedDisks = []hav1alpha1.SharedDisk{{Device: "/dev/mapper/mpatha"}}
		s.Patrol = &hav1alpha1.PatrolSpec{Command: []string{"/bin/true"}}
	}, "rc-a", "rc-b", "rc-c")
	f.firstActivationWithDisk("db", "rc-a")
	f.exit("db", "rc-a", 3)
	eventually(t, "rc-b is asked to take the reservation", func() bool {
		s := f.get("db")
		return s.Status.TargetNode == "rc-b" && s.Status.FencingEpoch == 2
	})
	f.reserveFailed("rc-b", "db", 2, "PREEMPT AND ABORT: transport error on every path")
	eventually(t, "rc-c is asked to take the reservation", func() bool {
		s := f.get("db")
		return s.Status.TargetNode == "rc-c" && s.Status.FencingEpoch == 3
	})
	f.reserved("rc-c", "db", 3)
	s := f.waitActive("db", "rc-c")
	for _, h := range s.Status.Hosts {
		if h.State == hav1alpha1.HostHotStandbyWait {
			t.Fatalf("%s waits in HotStandbyWait", h.Node)
		}
		if h.Node == "rc-b" && h.State != hav1alpha1.HostFailed {
			t.Fatalf("rc-b is %s, want Failed", h.State)
		}
	}
	f.waitEvent("db", "HAMN125-W")
}

// 3.2.7 in Server mode: hamon makes the restarts itself, at the retry
// interval, up to switchRetry, then a hot-standby error (before, it started
// the server once and waited for ever). Here the target's resource
// connection keeps failing: each retry takes the reservation anew (a new
// epoch) before it would start, and its standby copy is never told it is
// active meanwhile.
func TestStartRetry_ServerMode_RetriedUpToSwitchRetry(t *testing.T) {
	withManager(t)
	f := newFakeCluster(t, "t-srvretry", "sr-a", "sr-b")
	f.newServer("tp", func(s *hav1alpha1.HAServerSpec) {
		s.Mode = hav1alpha1.ModeServer
		s.SwitchError = hav1alpha1.SwitchErrorRetry
		s.SwitchRetry = ptr(int32(2))
		s.SharedDisks = []hav1alpha1.SharedDisk{{Device: "/dev/mapper/mpatha"}}
	}, "sr-a", "sr-b")
	f.firstActivationWithDisk("tp", "sr-a")
	eventually(t, "the standby runs on sr-b", func() bool { return f.get("tp").Status.StandbyNodes == "sr-b" })
	f.exit("tp", "sr-a", 2)
	for epoch := int64(2); epoch <= 4; epoch++ {
		eventually(t, fmt.Sprintf("sr-b is asked to take the reservation (epoch %d)", epoch), func() bool {
			return f.get("tp").Status.FencingEpoch == epoch
		})
		if p := f.podOn("tp", "sr-b"); p != nil && p.Labels[hav1alpha1.LabelRole] == hav1alpha1.RoleActiveLabel {
			t.Fatalf("epoch %d: sr-b's copy is labelled active without the reservation", epoch)
		}
		f.reserveFailed("sr-b", "tp", epoch, "no path")
	}
	eventually(t, "a hot-standby error after two retries", func() bool {
		return strings.Contains(f.eventReasons("tp"), "HAMN129-E") && f.get("tp").Status.Phase == hav1alpha1.PhaseFailed
	})
	reasons := f.eventReasons("tp")
	if n := strings.Count(reasons, "HAMN136-I"); n != 2 || !strings.Contains(reasons, "HAMN126-W") {
		t.Fatalf("%d start retries told (HAMN136-I), want 2, after HAMN126-W: %s", n, reasons)
	}
}

// monscsiclr (ClearReservation) is Done only once the agent reports the
// clear, and Failed when the agent could not clear.
func TestClearReservation_DoneOnlyOnTheAgentsWord(t *testing.T) {
	withManager(t)
	f := newFakeCluster(t, "t-clr", "cl-a", "cl-b")
	f.newServer("db", func(s *hav1alpha1.HAServerSpec) {
		s.SharedDisks = []hav1alpha1.SharedDisk{{Device: "/dev/mapper/mpatha"}}
	}, "cl-a", "cl-b")
	f.firstActivationWithDisk("db", "cl-a")
	f.request("db", hav1alpha1.OperatorRequest{ID: "end", Action: hav1alpha1.ActionEnd})
	eventually(t, "db ended", func() bool { return f.get("db").Status.Phase == hav1alpha1.PhaseStopped })
	for i, want := range []hav1alpha1.AnswerResult{hav1alpha1.AnswerFailed, hav1alpha1.AnswerDone} {
		id := fmt.Sprintf("clr-%d", i)
		f.request("db", hav1alpha1.OperatorRequest{ID: id, Action: hav1alpha1.ActionClearReservation})
		var by string
		var rqID int64
		eventually(t, "the clear is asked of an agent", func() bool {
			s := f.get("db")
			for _, rq := range s.Status.AgentRequests {
				if rq.Action == hav1alpha1.AgentClearReservation && rq.ID > rqID {
					by, rqID = rq.Node, rq.ID
				}
			}
			return by != "" && s.Status.LastRequest != nil && s.Status.LastRequest.ID == id
		})
		time.Sleep(500 * time.Millisecond)
		if r := f.get("db").Status.LastRequest; r.Outcome != hav1alpha1.RequestInProgress {
			t.Fatalf("%s is %s before the agent answered", id, r.Outcome)
		}
		f.report(by, "db", func(r *hav1alpha1.NodeServerStatus) {
			r.AddAnswer(hav1alpha1.AgentAnswer{ID: rqID, Action: hav1alpha1.AgentClearReservation, Result: want, Message: "sim"})
		})
		outcome := map[hav1alpha1.AnswerResult]hav1alpha1.RequestOutcome{
			hav1alpha1.AnswerFailed: hav1alpha1.RequestFailed, hav1alpha1.AnswerDone: hav1alpha1.RequestDone}[want]
		eventually(t, id+" "+string(outcome), func() bool {
			r := f.get("db").Status.LastRequest
			return r != nil && r.ID == id && r.Outcome == outcome
		})
	}
}

// Table 4-3 footnote 3: with switchType Restart a detected failure puts
// the active server in RestartWait "without terminating it", and hamon
// waits for it without a hot standby: its pod stays, and when its patrol
// passes again it is Online where it was. Before, hamon deleted the pod,
// started a new one, and switched over after --restart-timeout.
func TestSwitchTypeRestart_PatrolFailure_WaitsWithoutTerminating(t *testing.T) {
	withManager(t)
	f := newFakeCluster(t, "t-rswait", "rw-a", "rw-b")
	f.newServer("db", func(s *hav1alpha1.HAServerSpec) {
		withPatrol(s)
		s.SwitchType = hav1alpha1.SwitchTypeRestart
	}, "rw-a", "rw-b")
	f.waitActive("db", "rw-a")
	pod := f.podOn("db", "rw-a")
	f.setReady("db", "rw-a", false)
	eventually(t, "db waits in RestartWait on rw-a", func() bool {
		for _, h := range f.get("db").Status.Hosts {
			if h.Node == "rw-a" && h.State == hav1alpha1.HostRestartWait {
				return true
			}
		}
		return false
	})
	f.waitEvent("db", "HAMN130-W")
	// Longer than the controller's --restart-timeout (testTiming: 5 s).
	time.Sleep(testTiming.RestartTimeout + 2*time.Second)
	s := f.get("db")
	if p := f.podOn("db", "rw-a"); p == nil || p.UID != pod.UID {
		t.Fatal("the failed server was terminated")
	}
	if len(s.Status.Switchovers) != 1 || s.Status.ActiveNode != "" && s.Status.ActiveNode != "rw-a" {
		t.Fatalf("switched over: %+v", s.Status.Switchovers)
	}
	f.setReady("db", "rw-a", true)
	f.waitActive("db", "rw-a")
	if n := len(f.get("db").Status.Switchovers); n != 1 {
		t.Fatalf("%d switchovers, want only the first activation", n)
	}
}

// Table 4-3 footnote 3: a failure detected while no standby can take over
// is left alone, and not remembered: the standby that comes later does not
// turn the same failure into a switchover.
func TestPatrolFailure_NoStandby_NotActedOnWhenAStandbyComes(t *testing.T) {
	withManager(t)
	f := newFakeCluster(t, "t-nosby", "ns-a", "ns-b")
	f.failStarts("ns-b", "CreateContainerError")
	f.newServer("db", func(s *hav1alpha1.HAServerSpec) {
		withPatrol(s)
		s.Mode = hav1alpha1.ModeServer
	}, "ns-a", "ns-b")
	f.waitActive("db", "ns-a")
	eventually(t, "the standby on ns-b failed to start", func() bool {
		for _, h := range f.get("db").Status.Hosts {
			if h.Node == "ns-b" && h.State == hav1alpha1.HostFailed {
				return true
			}
		}
		return false
	})
	f.setReady("db", "ns-a", false)
	f.waitEvent("db", "HAMN124-E")
	f.failStarts("ns-b", "")
	f.request("db", hav1alpha1.OperatorRequest{ID: "bg", Action: hav1alpha1.ActionBegin, Node: "ns-b"})
	eventually(t, "the standby runs on ns-b", func() bool { return f.get("db").Status.StandbyNodes == "ns-b" })
	time.Sleep(2 * time.Second)
	s := f.get("db")
	if s.Status.ActiveNode != "ns-a" || len(s.Status.Switchovers) != 1 {
		t.Fatalf("the failure left alone was acted on later: active %q, switchovers %+v", s.Status.ActiveNode, s.Status.Switchovers)
	}
	f.setReady("db", "ns-a", true)
	eventually(t, "healthy again, nothing left", func() bool {
		for _, h := range f.get("db").Status.Hosts {
			if h.Node == "ns-a" {
				return !h.FailureLeft && h.State == hav1alpha1.HostOnline
			}
		}
		return false
	})
}

func TestPatrolFailure_SwitchesAfterTerminating(t *testing.T) {
	withManager(t)
	f := newFakeCluster(t, "t-patrol", "p-a", "p-b")
	f.newServer("app", withPatrol, "p-a", "p-b")
	f.waitActive("app", "p-a")
	f.setReady("app", "p-a", false)
	s := f.waitActive("app", "p-b")
	if c := s.Status.Switchovers[len(s.Status.Switchovers)-1].Cause; c != "PatrolFailure" {
		t.Fatalf("cause %s", c)
	}
	if f.podOn("app", "p-a") != nil {
		t.Fatal("the failed server still runs on p-a")
	}
	f.waitEvent("app", "HAMN105-E")
}

func TestSwapRequest_PlannedSwitchoverAndBack(t *testing.T) {
	withManager(t)
	f := newFakeCluster(t, "t-swap", "w-a", "w-b")
	f.newServer("app", nil, "w-a", "w-b")
	f.waitActive("app", "w-a")
	f.request("app", hav1alpha1.OperatorRequest{ID: "swap-1", Action: hav1alpha1.ActionSwap})
	f.waitRequest("app", "swap-1", hav1alpha1.RequestDone)
	s := f.waitActive("app", "w-b")
	if s.Status.StandbyNodes != "w-a" {
		t.Fatalf("after a planned swap the old host is a standby again: %q", s.Status.StandbyNodes)
	}
	f.request("app", hav1alpha1.OperatorRequest{ID: "swap-2", Action: hav1alpha1.ActionSwap})
	f.waitRequest("app", "swap-2", hav1alpha1.RequestDone)
	f.waitActive("app", "w-a")
	// Refused requests say why.
	f.request("app", hav1alpha1.OperatorRequest{ID: "act-1", Action: hav1alpha1.ActionAct})
	s = f.waitRequest("app", "act-1", hav1alpha1.RequestRefused)
	if s.Status.LastRequest.Reason != "NothingWaiting" {
		t.Fatalf("reason %q", s.Status.LastRequest.Reason)
	}
	f.waitEvent("app", "HAMN141-W")
}

func TestSwitchTypeManual_WaitsThenAct(t *testing.T) {
	withManager(t)
	f := newFakeCluster(t, "t-manual", "x-a", "x-b")
	f.newServer("app", func(s *hav1alpha1.HAServerSpec) { withPatrol(s); s.SwitchType = hav1alpha1.SwitchTypeManual }, "x-a", "x-b")
	f.waitActive("app", "x-a")
	f.exit("app", "x-a", 3)
	eventually(t, "Waiting with x-a in RestartWait", func() bool {
		s := f.get("app")
		c := meta.FindStatusCondition(s.Status.Conditions, hav1alpha1.ConditionDegraded)
		return s.Status.Phase == hav1alpha1.PhaseWaiting && c != nil && c.Reason == hav1alpha1.ReasonWaitingForOperator
	})
	f.request("app", hav1alpha1.OperatorRequest{ID: "act", Action: hav1alpha1.ActionAct})
	f.waitRequest("app", "act", hav1alpha1.RequestDone)
	f.waitActive("app", "x-a")
}

// A controller killed in the middle of a switchover: the next one resumes
// it from the status and the switchover completes once, with one active.
func TestControllerRestart_ResumesSwitchover(t *testing.T) {
	stop, _ := startManager(t, false)
	f := newFakeCluster(t, "t-restart", "r-a", "r-b")
	f.newServer("app", nil, "r-a", "r-b")
	f.waitActive("app", "r-a")
	f.holdPods("r-b", true) // the new pod will not start until we say so
	f.request("app", hav1alpha1.OperatorRequest{ID: "swap", Action: hav1alpha1.ActionSwap})
	eventually(t, "switchover in Activating", func() bool {
		s := f.get("app")
		return s.Status.Switchover != nil && s.Status.Switchover.Stage == "Activating" && f.podOn("app", "r-b") != nil
	})
	stop()
	f.holdPods("r-b", false)
	time.Sleep(time.Second)
	stop2, _ := startManager(t, false)
	defer stop2()
	s := f.waitActive("app", "r-b")
	f.waitRequest("app", "swap", hav1alpha1.RequestDone)
	n := 0
	for _, sw := range s.Status.Switchovers {
		if sw.Cause == "PlannedSwap" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d planned switchovers recorded, want 1: %+v", n, s.Status.Switchovers)
	}
}

func TestLeaderElection_OnlyOneActs(t *testing.T) {
	stop1, elected1 := startManager(t, true)
	defer stop1()
	stop2, elected2 := startManager(t, true)
	defer stop2()
	var first <-chan struct{}
	select {
	case <-elected1:
		first = elected2
	case <-elected2:
		first = elected1
	case <-time.After(30 * time.Second):
		t.Fatal("no leader elected")
	}
	select {
	case <-first:
		t.Fatal("both managers were elected")
	case <-time.After(3 * time.Second):
	}
}

// A person editing the object during a switchover does not lose the
// request: the request is in spec, the answer in status, and the
// controller's status patch never overwrites a spec edit.
func TestConflictingEdits_DoNotLoseTheRequest(t *testing.T) {
	withManager(t)
	f := newFakeCluster(t, "t-conflict", "c-a", "c-b")
	f.newServer("app", nil, "c-a", "c-b")
	f.waitActive("app", "c-a")
	f.request("app", hav1alpha1.OperatorRequest{ID: "swap", Action: hav1alpha1.ActionSwap})
	ctx := context.Background()
	for i := range 10 {
		s := f.get("app")
		if s.Labels == nil {
			s.Labels = map[string]string{}
		}
		s.Labels["edit"] = string(rune('a' + i))
		_ = env.Client.Update(ctx, s)
		time.Sleep(50 * time.Millisecond)
	}
	f.waitRequest("app", "swap", hav1alpha1.RequestDone)
	f.waitActive("app", "c-b")
}

// Two messages with one id in one decision (standbys started on two hosts)
// both reach the events: the recorder would fold the second into the first
// as a series and lose its message.
func TestEvents_SameIDTwiceInOneDecisionKeepsBothMessages(t *testing.T) {
	withManager(t)
	f := newFakeCluster(t, "t-ev2", "e2-a", "e2-b", "e2-c")
	f.newServer("tp", func(s *hav1alpha1.HAServerSpec) { s.Mode = hav1alpha1.ModeServer }, "e2-a", "e2-b", "e2-c")
	f.waitActive("tp", "e2-a")
	eventually(t, "both standbys named in HAMN101-I events", func() bool {
		var list eventsv1.EventList
		if err := env.Client.List(context.Background(), &list, client.InNamespace(f.ns)); err != nil {
			t.Fatal(err)
		}
		var notes string
		for _, e := range list.Items {
			if e.Regarding.Name == "tp" && e.Reason == "HAMN101-I" {
				notes += e.Note + "\n"
			}
		}
		return strings.Contains(notes, "e2-b") && strings.Contains(notes, "e2-c")
	})
}

// A person deletes the active pod (kubectl delete pod): its container goes
// on running through its preStop hook (the termCommand) and grace period.
// No second copy of the server starts, on that node or anywhere, until it
// is gone; then it is a forced termination, which Table 4-3 #1 counts as a
// normal termination of the active server, whatever the exit code after
// SIGTERM: the standby is terminated and nothing switches over.
func TestActivePodDeleted_NoSecondCopyUntilItEnds_ForcedTermination(t *testing.T) {
	withManager(t)
	f := newFakeCluster(t, "t-podgone", "pg-a", "pg-b")
	f.onlineWithStandby("app", "pg-a", "pg-b")
	f.mu.Lock()
	f.termination = 3 * time.Second
	f.mu.Unlock()
	deleted := f.podOn("app", "pg-a")
	if err := env.Client.Delete(context.Background(), deleted); err != nil {
		t.Fatal(err)
	}
	// mayRun counts the pods of app whose container may run: not finished,
	// not reported terminated.
	mayRun := func() (n int, names []string) {
		var pods corev1.PodList
		if err := env.Client.List(context.Background(), &pods, client.InNamespace(f.ns)); err != nil {
			t.Fatal(err)
		}
		for _, p := range pods.Items {
			terminated := len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].State.Terminated != nil
			if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed && !terminated {
				n++
				names = append(names, p.Spec.NodeName+"/"+p.Name)
			}
		}
		return n, names
	}
	for end := time.Now().Add(2500 * time.Millisecond); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if n, names := mayRun(); n > 2 {
			t.Fatalf("%d copies may run while the deleted active pod terminates: %v", n, names)
		}
		if p := f.podOn("app", "pg-a"); p != nil && p.UID != deleted.UID {
			t.Fatalf("a second copy %s started on pg-a while %s terminates", p.Name, deleted.Name)
		}
		if s := f.get("app"); s.Status.ActiveNode != "pg-a" && s.Status.ActiveNode != "" {
			t.Fatalf("the server became active on %s while its copy on pg-a still runs", s.Status.ActiveNode)
		}
	}
	eventually(t, "app Stopped after the forced termination", func() bool {
		s := f.get("app")
		return s.Status.Phase == hav1alpha1.PhaseStopped && s.Status.ActiveNode == ""
	})
	f.waitEvent("app", "HAMN102-I")
	// The standby is terminated too (it takes its own termination time).
	eventually(t, "no copy of app runs (Table 4-3 #1: the standby is terminated)", func() bool { n, _ := mayRun(); return n == 0 })
	for _, sw := range f.get("app").Status.Switchovers {
		if sw.From == "pg-a" {
			t.Fatalf("a forced termination switched over: %+v", sw)
		}
	}
}

// The name of a pod just created is recorded in a second status write; when
// that write is lost, the record still names the pod that ended. A restart
// in place (switchType Restart) whose name write is lost must still be
// read as running: before, the ended pod was read as the current copy, the
// restart "failed" while the new copy ran, and the standby was activated
// beside it.
func TestLostPodNameWrite_TheRunningCopyIsStillSeen(t *testing.T) {
	var interfere atomic.Bool
	var lost atomic.Int32
	ns := "t-names"
	stop, _ := startManagerWith(t, false, func(c client.Client) client.Client {
		return interferingClient{Client: c, before: func(o client.Object) {
			s, ok := o.(*hav1alpha1.HAServer)
			if !interfere.Load() || o.GetNamespace() != ns || !ok {
				return
			}
			var cur hav1alpha1.HAServer
			if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(o), &cur); err != nil {
				return
			}
			recorded := map[string]string{}
			for _, h := range cur.Status.Hosts {
				recorded[h.Node] = h.Pod
			}
			names := false
			for _, h := range s.Status.Hosts {
				names = names || (h.Pod != "" && h.Pod != recorded[h.Node])
			}
			if !names {
				return // only the write that records a new pod's name is lost
			}
			touchAsAnotherWriter(&cur, fmt.Sprint(lost.Add(1)))
		}}
	})
	t.Cleanup(stop)
	f := newFakeCluster(t, ns, "nm-a", "nm-b")
	f.newServer("db", func(s *hav1alpha1.HAServerSpec) {
		withPatrol(s)
		s.SwitchType = hav1alpha1.SwitchTypeRestart
	}, "nm-a", "nm-b")
	f.waitActive("db", "nm-a")
	interfere.Store(true)
	f.exit("db", "nm-a", 2)
	eventually(t, "the restarted copy runs on nm-a (its name write lost)", func() bool {
		p := f.podOn("db", "nm-a")
		return lost.Load() > 0 && p != nil && p.Status.Phase == corev1.PodRunning
	})
	interfere.Store(false)
	s := f.waitActive("db", "nm-a")
	if len(s.Status.Switchovers) != 1 || f.podOn("db", "nm-b") != nil {
		t.Fatalf("switched over while the restarted copy ran: %+v", s.Status.Switchovers)
	}
}

// touchAsAnotherWriter updates cur as another writer would, so that a write
// made from an older copy meets a real conflict.
func touchAsAnotherWriter(cur *hav1alpha1.HAServer, mark string) {
	if cur.Annotations == nil {
		cur.Annotations = map[string]string{}
	}
	cur.Annotations["test/other-writer"] = mark
	_ = env.Client.Update(context.Background(), cur)
}

// interferingClient lets another writer change an object just before each
// status patch the reconciler makes (before decides which): the API server
// then refuses the patch with a real conflict.
type interferingClient struct {
	client.Client
	before func(client.Object)
}

func (c interferingClient) Status() client.SubResourceWriter {
	return interferingStatus{SubResourceWriter: c.Client.Status(), before: c.before}
}

type interferingStatus struct {
	client.SubResourceWriter
	before func(client.Object)
}

func (s interferingStatus) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	s.before(obj)
	return s.SubResourceWriter.Patch(ctx, obj, patch, opts...)
}

// Decide, store, then act: a decision whose status write loses to another
// writer (a paused ex-leader's, one taken from a stale cache) is not acted
// on. Here every status write of app meets a concurrent write: no pod is
// ever created; once the interference stops, the server starts.
func TestActionsFollowOnlyAStoredDecision(t *testing.T) {
	var interfere atomic.Bool
	var lost atomic.Int32
	ns := "t-stored"
	stop, _ := startManagerWith(t, false, func(c client.Client) client.Client {
		return interferingClient{Client: c, before: func(o client.Object) {
			if !interfere.Load() || o.GetNamespace() != ns || o.GetName() != "app" {
				return
			}
			var cur hav1alpha1.HAServer
			if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(o), &cur); err != nil {
				return
			}
			touchAsAnotherWriter(&cur, fmt.Sprint(lost.Add(1)))
		}}
	})
	t.Cleanup(stop)
	f := newFakeCluster(t, ns, "st-a", "st-b")
	interfere.Store(true)
	f.newServer("app", nil, "st-a", "st-b")
	eventually(t, "three decisions lost to another writer", func() bool { return lost.Load() >= 3 })
	var pods corev1.PodList
	if err := env.Client.List(context.Background(), &pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 0 || f.get("app").Status.Phase != "" {
		t.Fatalf("acted on decisions that were never stored: %d pods, phase %q", len(pods.Items), f.get("app").Status.Phase)
	}
	interfere.Store(false)
	f.waitActive("app", "st-a")
}

// setCordoned cordons or uncordons a node, as kubectl cordon does.
func setCordoned(t *testing.T, node string, cordoned bool) {
	t.Helper()
	var n corev1.Node
	if err := env.Client.Get(context.Background(), client.ObjectKey{Name: node}, &n); err != nil {
		t.Fatal(err)
	}
	n.Spec.Unschedulable = cordoned
	if err := env.Client.Update(context.Background(), &n); err != nil {
		t.Fatal(err)
	}
}

// kubectl drain of the active host: the active pod cannot be evicted (its
// PodDisruptionBudget), the cordon moves the server off the node with a
// planned switchover (NodeDrain), the old copy stops and stays stopped
// while the node is cordoned, and comes back as standby on uncordon.
func TestDrain_ActiveHostMovedOffBeforeItsPodMayGo(t *testing.T) {
	withManager(t)
	f := newFakeCluster(t, "t-drain", "dr-a", "dr-b")
	f.onlineWithStandby("app", "dr-a", "dr-b")
	ctx := context.Background()
	var pdb policyv1.PodDisruptionBudget
	eventually(t, "app's PodDisruptionBudget", func() bool {
		return env.Client.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "app-active"}, &pdb) == nil
	})
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 ||
		pdb.Spec.Selector.MatchLabels[hav1alpha1.LabelRole] != hav1alpha1.RoleActiveLabel || !metav1IsOwnedBy(&pdb, f.get("app")) {
		t.Fatalf("PodDisruptionBudget %+v", pdb.Spec)
	}
	evict := func(p *corev1.Pod) error {
		return env.Client.SubResource("eviction").Create(ctx, p, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace}})
	}
	// The disruption controller (kube-controller-manager, not run here)
	// would find the one active pod healthy: no disruption allowed.
	pdb.Status = policyv1.PodDisruptionBudgetStatus{ObservedGeneration: pdb.Generation, CurrentHealthy: 1, DesiredHealthy: 1, ExpectedPods: 1}
	if err := env.Client.Status().Update(ctx, &pdb); err != nil {
		t.Fatal(err)
	}
	active := f.podOn("app", "dr-a")
	if err := evict(active); !apierrors.IsTooManyRequests(err) {
		t.Fatalf("evicting the active pod: %v, want 429 (its disruption budget)", err)
	}
	setCordoned(t, "dr-a", true)
	t.Cleanup(func() { setCordoned(t, "dr-a", false) })
	s := f.waitActive("app", "dr-b")
	if sw := s.Status.Switchovers[len(s.Status.Switchovers)-1]; sw.Cause != "NodeDrain" || sw.From != "dr-a" {
		t.Fatalf("switchover %+v, want NodeDrain from dr-a", sw)
	}
	f.waitEvent("app", "HAMN171-I")
	eventually(t, "no copy left on dr-a", func() bool { return f.podOn("app", "dr-a") == nil })
	time.Sleep(time.Second)
	if f.podOn("app", "dr-a") != nil {
		t.Fatal("a standby started on a cordoned node")
	}
	setCordoned(t, "dr-a", false)
	eventually(t, "dr-a a standby again after uncordon", func() bool { return f.get("app").Status.StandbyNodes == "dr-a" })
}

func metav1IsOwnedBy(o metav1.Object, s *hav1alpha1.HAServer) bool {
	for _, r := range o.GetOwnerReferences() {
		if r.UID == s.UID && r.Controller != nil && *r.Controller {
			return true
		}
	}
	return false
}

// The agent stopped the active server on its own (it self-fenced while the
// API server was out of reach) and reports it when it can: the server's
// exit 0 that the kubelet then reports is not a normal end (monend), it is
// the abnormal termination that a stop without the controller is, and the
// standby takes over (HAMN180-W). Before, the server was Stopped for good,
// its standby with it.
func TestStoppedByItsAgent_IsNoNormalEnd(t *testing.T) {
	withManager(t)
	f := newFakeCluster(t, "t-localstop", "ls-a", "ls-b")
	s := f.onlineWithStandby("app", "ls-a", "ls-b")
	pod := hostStatus(s, "ls-a").Pod
	// The kubelet's report of the exit comes first; the agent's report of
	// its stop follows, before its next renewal (as the agent orders them).
	f.mu.Lock()
	f.quiet["ls-a"] = true
	f.mu.Unlock()
	time.Sleep(300 * time.Millisecond) // a renewal in flight lands before the exit
	f.exit("app", "ls-a", 0)
	time.Sleep(time.Second)
	f.report("ls-a", "app", func(r *hav1alpha1.NodeServerStatus) {
		r.LocalStop = &hav1alpha1.LocalStop{Pod: pod, Reason: hav1alpha1.LocalStopSelfFence}
	})
	f.mu.Lock()
	f.quiet["ls-a"] = false
	f.mu.Unlock()
	f.waitActive("app", "ls-b")
	f.waitEvent("app", "HAMN180-W")
	if s := f.get("app"); s.Status.Halted != "" {
		t.Fatalf("the server was ended (halted %q): a stop by its agent read as a normal end", s.Status.Halted)
	}
}

func hostStatus(s *hav1alpha1.HAServer, node string) hav1alpha1.HostStatus {
	for _, h := range s.Status.Hosts {
		if h.Node == node {
			return h
		}
	}
	return hav1alpha1.HostStatus{}
}

// The pod cache lags the HAServer cache (two watches in no common order;
// after an API-server outage one may catch up tens of seconds after the
// other): the pod just made on the switchover target, recorded in the
// status, is not cached yet. Its absence is no end of the server: before,
// hamon read it as "the pod is gone", the start as failed, and went on to
// the next host while the copy ran (the soak, seed 1796669769871663582:
// two active copies of a server without a disk).
func TestPodCacheLag_ARecordedPodNotYetCachedIsNotGone(t *testing.T) {
	var lag atomic.Bool
	var known sync.Map // the pods the lagging cache has
	ns := "t-lag"
	stop, _ := startManagerWith(t, false, func(c client.Client) client.Client {
		return laggingPodCache{Client: c, hides: func(p *corev1.Pod) bool {
			if p.Namespace != ns {
				return false
			}
			if !lag.Load() {
				known.Store(p.Name, true)
				return false
			}
			_, ok := known.Load(p.Name)
			return !ok
		}}
	})
	t.Cleanup(stop)
	f := newFakeCluster(t, ns, "lg-a", "lg-b", "lg-c")
	f.newServer("app", withPatrol, "lg-a", "lg-b", "lg-c")
	f.waitActive("app", "lg-a")
	lag.Store(true)
	f.exit("app", "lg-a", 1)
	s := f.waitActive("app", "lg-b")
	if strings.Contains(f.eventReasons("app"), "HAMN125-W") || f.podOn("app", "lg-c") != nil {
		t.Fatalf("a copy on lg-b not yet cached was taken for ended: events %s", f.eventReasons("app"))
	}
	if n := len(s.Status.Switchovers); n != 2 || s.Status.Switchovers[n-1].To != "lg-b" {
		t.Fatalf("switchovers %+v", s.Status.Switchovers)
	}
}

// laggingPodCache lists pods as a cache that has not yet seen those hides
// names.
type laggingPodCache struct {
	client.Client
	hides func(*corev1.Pod) bool
}

func (c laggingPodCache) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if err := c.Client.List(ctx, list, opts...); err != nil {
		return err
	}
	if pods, ok := list.(*corev1.PodList); ok {
		pods.Items = slices.DeleteFunc(pods.Items, func(p corev1.Pod) bool { return c.hides(&p) })
	}
	return nil
}

// Table 4-4 #1 (Monitor mode, abnormal termination): the termCommand runs
// before the standby starts. A kubelet runs no preStop hook for a
// container that already exited, so hamon runs it in a pod of its own on
// the old host (the server's image and volumes, the termCommand as its
// command), and starts the standby once that pod ended.
func TestMonitorMode_AbnormalEnd_TermCommandRunsBeforeTheStandbyStarts(t *testing.T) {
	withManager(t)
	f := newFakeCluster(t, "t-termcmd", "tc-a", "tc-b")
	f.newServer("db", func(s *hav1alpha1.HAServerSpec) {
		withPatrol(s)
		s.TermCommand = []string{"/bin/stop", "--now"}
	}, "tc-a", "tc-b")
	f.waitActive("db", "tc-a")
	f.mu.Lock()
	f.termRuns["tc-a"] = true // the termCommand takes its time
	f.mu.Unlock()
	f.exit("db", "tc-a", 1)
	defer func() {
		if t.Failed() {
			s := f.get("db")
			t.Logf("status: phase %s hosts %+v switch %+v", s.Status.Phase, s.Status.Hosts, s.Status.Switchover)
			var pods corev1.PodList
			_ = env.Client.List(context.Background(), &pods, client.InNamespace(f.ns))
			for _, p := range pods.Items {
				t.Logf("pod %s on %s labels %v phase %s", p.Name, p.Spec.NodeName, p.Labels, p.Status.Phase)
			}
		}
	}()
	var term *corev1.Pod
	eventually(t, "the termCommand runs on tc-a in a pod of its own", func() bool {
		term = f.termPodOn("db", "tc-a")
		return term != nil && term.Status.Phase == corev1.PodRunning
	})
	c := term.Spec.Containers
	if len(c) != 1 || !slices.Equal(c[0].Command, []string{"/bin/stop", "--now"}) || c[0].Lifecycle != nil || c[0].ReadinessProbe != nil ||
		c[0].Image != "busybox" || term.Spec.NodeName != "tc-a" {
		t.Fatalf("termCommand pod: %+v", term.Spec)
	}
	f.waitEvent("db", "HAMN106-I")
	time.Sleep(500 * time.Millisecond) // reconciles go on meanwhile
	if p := f.podOn("db", "tc-b"); p != nil {
		t.Fatal("the standby started while the termCommand ran")
	}
	if s := f.get("db"); s.Status.Phase != hav1alpha1.PhaseSwitchingOver || !s.Status.Hosts[0].TermCommand {
		t.Fatalf("status while the termCommand runs: phase %s hosts %+v", s.Status.Phase, s.Status.Hosts)
	}
	f.mu.Lock()
	f.termRuns["tc-a"] = false // it ends
	f.mu.Unlock()
	f.waitActive("db", "tc-b")
	f.waitEvent("db", "HAMN107-I")
	eventually(t, "the termCommand pod is removed", func() bool { return f.termPodOn("db", "tc-a") == nil })
}

// termPodOn is the pod that runs the termCommand of server on node, or nil.
func (f *fakeCluster) termPodOn(server, node string) *corev1.Pod {
	var pods corev1.PodList
	if err := env.Client.List(context.Background(), &pods, client.InNamespace(f.ns),
		client.MatchingLabels{hav1alpha1.LabelServer: server, hav1alpha1.LabelRole: hav1alpha1.RoleTermCommandLabel}); err != nil {
		f.t.Fatal(err)
	}
	for i := range pods.Items {
		if p := &pods.Items[i]; p.Spec.NodeName == node && p.DeletionTimestamp == nil {
			return p
		}
	}
	return nil
}

// The host's agent reports the active container's crash (the runtime's
// event) while the pod's status still says Running (the kubelet has not
// relisted): the switchover starts from the agent's word, with the
// failure's own time. An exit 0 and an end of another pod are left to the
// kubelet's word.
func TestContainerExitReportedByTheAgent_SwitchesBeforeTheKubelet(t *testing.T) {
	withManager(t)
	f := newFakeCluster(t, "t-cri-exit", "x-a", "x-b")
	f.newServer("db", withPatrol, "x-a", "x-b")
	f.waitActive("db", "x-a")
	p := f.podOn("db", "x-a")
	f.report("x-a", "db", func(r *hav1alpha1.NodeServerStatus) {
		r.ContainerExit = &hav1alpha1.ContainerExit{Pod: p.Name, PodUID: string(p.UID), ExitCode: 0}
	})
	f.report("x-a", "db", func(r *hav1alpha1.NodeServerStatus) {
		r.ContainerExit = &hav1alpha1.ContainerExit{Pod: p.Name + "-old", ExitCode: 137}
	})
	time.Sleep(2 * time.Second)
	if s := f.get("db"); s.Status.ActiveNode != "x-a" || s.Status.Switchover != nil {
		t.Fatalf("an exit 0, or another pod's end, taken for a crash: active %q switchover %+v", s.Status.ActiveNode, s.Status.Switchover)
	}
	crashed := metav1.NewMicroTime(time.Now().Add(-300 * time.Millisecond).Truncate(time.Microsecond))
	f.report("x-a", "db", func(r *hav1alpha1.NodeServerStatus) {
		r.ContainerExit = &hav1alpha1.ContainerExit{Pod: p.Name, PodUID: string(p.UID), ExitCode: 137, FinishedAt: &crashed}
	})
	s := f.waitActive("db", "x-b")
	last := s.Status.Switchovers[len(s.Status.Switchovers)-1]
	if last.Cause != "ServerFailure" || last.From != "x-a" || last.FailedAt == nil || !last.FailedAt.Time.Equal(crashed.Time) {
		t.Fatalf("switchover %+v, want a server failure on x-a at %s (the agent's word)", last, crashed.Format(time.RFC3339Nano))
	}
	f.waitEvent("db", "HAMN103-E")
}
