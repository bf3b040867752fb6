package controllers

import (
	"fmt"
	"testing"
	"time"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
)

// The rows of Tables 4-3 and 4-4 not covered by the scenario tests, driven
// through the API as a kubelet and an agent would. Each row gets its own
// namespace and nodes.

func hostState(s *hav1alpha1.HAServer, node string) hav1alpha1.HostState {
	for _, h := range s.Status.Hosts {
		if h.Node == node {
			return h.State
		}
	}
	return ""
}

func TestTableRowsThroughTheAPI(t *testing.T) {
	withManager(t)
	type row struct {
		name string
		mode hav1alpha1.ServerMode
		run  func(f *fakeCluster, a, b string)
	}
	rows := []row{
		{"4-3 row 3: normal termination of the standby: nothing", hav1alpha1.ModeServer, func(f *fakeCluster, a, b string) {
			t := f.t
			eventually(t, "standby ready", func() bool { return f.get("srv").Status.StandbyNodes == b })
			f.exit("srv", b, 0)
			eventually(t, b+" Stopped", func() bool { return hostState(f.get("srv"), b) == hav1alpha1.HostStopped })
			time.Sleep(time.Second)
			if s := f.get("srv"); s.Status.ActiveNode != a || f.podOn("srv", b) != nil {
				t.Fatalf("something was done: active %q", s.Status.ActiveNode)
			}
		}},
		{"4-3 row 4: abnormal termination of the standby: nothing", hav1alpha1.ModeServer, func(f *fakeCluster, a, b string) {
			t := f.t
			eventually(t, "standby ready", func() bool { return f.get("srv").Status.StandbyNodes == b })
			f.exit("srv", b, 9)
			eventually(t, b+" Failed", func() bool { return hostState(f.get("srv"), b) == hav1alpha1.HostFailed })
			f.waitEvent("srv", "HAMN104-W")
			if f.get("srv").Status.ActiveNode != a {
				t.Fatal("the active moved")
			}
		}},
		{"4-3 row 6: monsbystp terminates the standby", hav1alpha1.ModeServer, func(f *fakeCluster, a, b string) {
			t := f.t
			eventually(t, "standby ready", func() bool { return f.get("srv").Status.StandbyNodes == b })
			f.request("srv", hav1alpha1.OperatorRequest{ID: "sbystp", Action: hav1alpha1.ActionStopStandby, Node: b})
			f.waitRequest("srv", "sbystp", hav1alpha1.RequestDone)
			eventually(t, "the standby pod is gone", func() bool { return f.podOn("srv", b) == nil })
		}},
		{"4-3 row 5: failure detected (patrol): the active is terminated, the standby promoted", hav1alpha1.ModeServer, func(f *fakeCluster, a, b string) {
			t := f.t
			eventually(t, "standby ready", func() bool { return f.get("srv").Status.StandbyNodes == b })
			standby := f.podOn("srv", b).Name
			f.setReady("srv", a, false)
			s := f.waitActive("srv", b)
			if p := f.podOn("srv", b); p.Name != standby || s.Status.Switchovers[len(s.Status.Switchovers)-1].Cause != "PatrolFailure" {
				t.Fatalf("not a promotion of %s after a patrol failure: %+v", standby, s.Status.Switchovers)
			}
			if f.podOn("srv", a) != nil {
				t.Fatal("the failed active still runs")
			}
		}},
		{"4-3 row 7: monswap terminates the active, planned hot standby", hav1alpha1.ModeServer, func(f *fakeCluster, a, b string) {
			t := f.t
			eventually(t, "standby ready", func() bool { return f.get("srv").Status.StandbyNodes == b })
			f.request("srv", hav1alpha1.OperatorRequest{ID: "swap", Action: hav1alpha1.ActionSwap})
			f.waitRequest("srv", "swap", hav1alpha1.RequestDone)
			f.waitActive("srv", b)
			eventually(t, "the old active is a standby again", func() bool { return f.get("srv").Status.StandbyNodes == a })
		}},
		{"4-4 row 1: normal termination of the active: nothing", hav1alpha1.ModeMonitor, func(f *fakeCluster, a, b string) {
			t := f.t
			f.exit("srv", a, 0)
			eventually(t, "Stopped", func() bool { return f.get("srv").Status.Phase == hav1alpha1.PhaseStopped })
			time.Sleep(time.Second)
			if f.podOn("srv", b) != nil || hostState(f.get("srv"), b) != hav1alpha1.HostStandby {
				t.Fatal("hamon acted on a normal termination in Monitor mode")
			}
		}},
		{"4-4 row 2 without patrol: the operator swaps", hav1alpha1.ModeMonitor, func(f *fakeCluster, a, b string) {
			t := f.t
			f.exit("srv", a, 1)
			eventually(t, "Waiting", func() bool { return f.get("srv").Status.Phase == hav1alpha1.PhaseWaiting })
			f.request("srv", hav1alpha1.OperatorRequest{ID: "swap", Action: hav1alpha1.ActionSwap})
			f.waitActive("srv", b)
		}},
		{"4-4 row 5: monend ends the active and the standby", hav1alpha1.ModeMonitor, func(f *fakeCluster, a, b string) {
			t := f.t
			f.request("srv", hav1alpha1.OperatorRequest{ID: "end", Action: hav1alpha1.ActionEnd})
			f.waitRequest("srv", "end", hav1alpha1.RequestDone)
			s := f.get("srv")
			if s.Status.Phase != hav1alpha1.PhaseStopped || hostState(s, b) != hav1alpha1.HostStopped || f.podOn("srv", a) != nil {
				t.Fatalf("after monend: phase %s, %s %s", s.Status.Phase, b, hostState(s, b))
			}
			f.request("srv", hav1alpha1.OperatorRequest{ID: "begin", Action: hav1alpha1.ActionBegin})
			f.waitActive("srv", a)
		}},
		{"4-4 row 6: monsbystp marks the standby stopped", hav1alpha1.ModeMonitor, func(f *fakeCluster, a, b string) {
			t := f.t
			f.request("srv", hav1alpha1.OperatorRequest{ID: "sbystp", Action: hav1alpha1.ActionStopStandby})
			f.waitRequest("srv", "sbystp", hav1alpha1.RequestDone)
			if hostState(f.get("srv"), b) != hav1alpha1.HostStopped {
				t.Fatal("standby not stopped")
			}
		}},
		{"4-4 row 7 #3: monswap with no standby is refused", hav1alpha1.ModeMonitor, func(f *fakeCluster, a, b string) {
			t := f.t
			f.kill(b)
			eventually(t, "no standby", func() bool { return f.get("srv").Status.StandbyNodes == "" })
			f.request("srv", hav1alpha1.OperatorRequest{ID: "swap", Action: hav1alpha1.ActionSwap})
			s := f.waitRequest("srv", "swap", hav1alpha1.RequestRefused)
			if s.Status.LastRequest.Reason != "NoStandby" || s.Status.ActiveNode != a {
				t.Fatalf("refusal %+v", s.Status.LastRequest)
			}
		}},
	}
	for i, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			a, b := fmt.Sprintf("row%d-a", i), fmt.Sprintf("row%d-b", i)
			f := newFakeCluster(t, fmt.Sprintf("t-row%d", i), a, b)
			f.newServer("srv", func(s *hav1alpha1.HAServerSpec) {
				s.Mode = r.mode
				if r.mode == hav1alpha1.ModeServer {
					withPatrol(s) // row 5 detects the failure through the patrol
				}
			}, a, b)
			f.waitActive("srv", a)
			r.run(f, a, b)
		})
	}
}
