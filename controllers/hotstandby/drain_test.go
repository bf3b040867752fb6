package hotstandby

import "testing"

// cordon marks nodes cordoned (kubectl cordon, the first step of a drain),
// or none, and lets the machine look.
func (h *harness) cordon(nodes ...string) {
	h.t.Helper()
	h.cfg.Cordoned = nodes
	h.do(Tick{})
}

// Drain of the active host: a planned switchover (monswap) to the best
// standby on an uncordoned node; the old active stays stopped while its
// node is cordoned and comes back as standby when it is uncordoned.
func TestDrain_ActiveHost_PlannedSwitchoverThenBackOnUncordon(t *testing.T) {
	h := newHarness(t, cfgOf(ModeServer, "a", "b", "c"))
	h.cordon("a")
	h.wantEmit("HAMN171-I")
	if sw := h.st.Switch; sw == nil || sw.From != "a" || sw.To != "b" || sw.Cause != CauseDrain || !sw.Planned {
		t.Fatalf("switchover %+v, want a planned NodeDrain switchover a -> b\n%s", sw, Describe(h.st))
	}
	h.do(ServerExited{Node: "a", Normal: true})
	h.wantCmds(Promote{Node: "b"})
	h.do(ServerStarted{Node: "b"})
	h.wantState("b", Online)
	h.wantState("a", Stopped)
	h.do(Tick{})
	h.wantState("a", Stopped) // not restarted on a cordoned node
	h.cordon()
	h.wantCmds(StartServer{Node: "a", Role: RoleStandby})
}

// A standby on a node being drained is stopped, and starts again once the
// node is uncordoned; the active server is not touched.
func TestDrain_StandbyHost_StoppedThenBack(t *testing.T) {
	h := newHarness(t, cfgOf(ModeServer, "a", "b"))
	h.cordon("b")
	h.wantEmit("HAMN173-I")
	h.wantCmds(StopServer{Node: "b"})
	h.do(ServerExited{Node: "b", Normal: true})
	h.wantState("b", Stopped)
	h.wantState("a", Online)
	if h.st.Switch != nil {
		t.Fatalf("draining a standby's node switched over: %s", Describe(h.st))
	}
	h.cordon()
	h.wantCmds(StartServer{Node: "b", Role: RoleStandby})
}

// No standby on an uncordoned node: the server stays active where it is,
// the drain waits (the PodDisruptionBudget keeps the pod), and the host's
// message and one HAMN172-W say why.
func TestDrain_NoStandbyElsewhere_Waits(t *testing.T) {
	h := newHarness(t, cfgOf(ModeServer, "a", "b"))
	h.cordon("a", "b")
	h.wantEmit("HAMN172-W")
	h.wantState("a", Online)
	if h.st.Switch != nil || h.host("a").Message != drainWaitMessage {
		t.Fatalf("%s", Describe(h.st))
	}
	h.do(Tick{})
	for _, c := range h.cmds {
		if e, ok := c.(Emit); ok && e.ID == "HAMN172-W" {
			t.Fatal("the wait is told again on every look")
		}
	}
	// b is uncordoned: its standby starts again, and then the drain of a
	// goes on.
	h.do(ServerExited{Node: "b", Normal: true})
	h.cordon("a")
	h.wantCmds(StartServer{Node: "b", Role: RoleStandby})
	h.do(ServerStarted{Node: "b"})
	if sw := h.st.Switch; sw == nil || sw.To != "b" || sw.Cause != CauseDrain {
		t.Fatalf("want the drain's switchover to b once b is a standby\n%s", Describe(h.st))
	}
}

// Monitor mode: the drain of the active host starts the server on the
// standby after the old one stopped; a failure switchover never picks a
// standby on a cordoned node.
func TestDrain_MonitorMode_AndFailuresAvoidCordonedNodes(t *testing.T) {
	cfg := cfgOf(ModeMonitor, "a", "b", "c")
	cfg.HasPatrol = true
	h := newHarness(t, cfg)
	h.cordon("b")
	h.wantState("b", Stopped)
	h.do(ServerExited{Node: "a"}) // abnormal: automatic hot standby
	h.wantCmds(StartServer{Node: "c", Role: RoleActive})
}
