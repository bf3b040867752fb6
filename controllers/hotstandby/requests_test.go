package hotstandby

import (
	"testing"
	"time"
)

// Operator requests: each has an id, is acted on once, and is refused with
// a reason when the state does not allow it.

func TestRequest_SameIDIsActedOnOnce(t *testing.T) {
	h := monitorModeHarness(t)
	h.do(Request{ID: "w", Action: ActionSwap})
	h.wantCmds(StopServer{Node: "a"})
	h.do(Request{ID: "w", Action: ActionSwap})
	h.wantCmds()
	h.do(ServerExited{Node: "a", Normal: true})
	h.do(ServerStarted{Node: "b"})
	h.do(Request{ID: "w", Action: ActionSwap})
	h.wantCmds()
	h.wantState("b", Online)
}

func TestRequest_Refusals(t *testing.T) {
	cases := []struct {
		name   string
		setup  []Event
		req    Request
		reason string
	}{
		{"swap during a switchover", []Event{Request{ID: "x", Action: ActionSwap}}, Request{Action: ActionSwap}, ReasonSwitchoverInProgress},
		{"swap to a node that is not a standby", nil, Request{Action: ActionSwap, Node: "a"}, ReasonTargetNotStandby},
		{"swap to an unknown node", nil, Request{Action: ActionSwap, Node: "zz"}, ReasonUnknownNode},
		{"swap an ended server", []Event{Request{ID: "x", Action: ActionEnd}, ServerExited{Node: "a", Normal: true}}, Request{Action: ActionSwap}, ReasonServerStopped},
		{"stop standby of the active node", nil, Request{Action: ActionStopStandby, Node: "a"}, ReasonNotAStandby},
		{"end an ended server", []Event{Request{ID: "x", Action: ActionEnd}, ServerExited{Node: "a", Normal: true}}, Request{Action: ActionEnd}, ReasonAlreadyStopped},
		{"begin a running server", nil, Request{Action: ActionBegin}, ReasonAlreadyRunning},
		{"act with nothing waiting", nil, Request{Action: ActionAct}, ReasonNothingWaiting},
		{"act on a node that does not wait", nil, Request{Action: ActionAct, Node: "b"}, ReasonNotWaiting},
		{"clear without shared disks", nil, Request{Action: ActionClearReservation}, ReasonNoSharedDisks},
		{"unknown action", nil, Request{Action: "Reboot"}, ReasonUnknownAction},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := monitorModeHarness(t)
			for _, e := range c.setup {
				h.do(e)
			}
			c.req.ID = "req"
			h.do(c.req)
			h.wantRequest("req", RequestRefused, c.reason)
			if h.st.LastRequest.Message == "" {
				t.Fatal("a refusal must say why")
			}
		})
	}
}

func TestRequest_ClearReservation_RefusedWhileHolderMayBeAlive(t *testing.T) {
	h := newHarness(t, threeHosts(ModeMonitor, withDisks))
	h.do(Request{ID: "c1", Action: ActionClearReservation})
	h.wantRequest("c1", RequestRefused, ReasonServerActive)
	// The server ends normally on a (which keeps no reservation), then
	// fails elsewhere with the holder alive.
	h.do(HostLost{Node: "a"})
	h.do(ReservationFailed{Node: "b", Epoch: 2})
	h.do(ReservationFailed{Node: "c", Epoch: 3})
	// A hot-standby error: no switchover; the holder a is lost: clearing is allowed.
	h.do(Request{ID: "c2", Action: ActionClearReservation})
	h.wantCmds(ClearReservation{By: "b"})
	h.wantEmit("KAMN107-I")
	h.wantRequest("c2", RequestInProgress, "")
	h.do(ReservationCleared{By: "b", OK: true})
	h.wantRequest("c2", RequestDone, "")
}

// monscsiclr is Done only once the agent reports the clear: asked is not
// done. A failed clear fails the request and keeps the holder on record.
func TestClearReservation_DoneOnlyWhenTheAgentReportsTheClear(t *testing.T) {
	h := newHarness(t, threeHosts(ModeMonitor, withDisks))
	h.do(HostLost{Node: "a"})
	h.do(ReservationFailed{Node: "b", Epoch: 2})
	h.do(ReservationFailed{Node: "c", Epoch: 3})
	h.do(Request{ID: "c1", Action: ActionClearReservation})
	h.wantCmds(ClearReservation{By: "b"})
	h.advance(time.Hour) // nothing else answers it
	h.wantRequest("c1", RequestInProgress, "")
	h.do(ReservationCleared{By: "b", Reason: "transport error on every path"})
	h.wantRequest("c1", RequestFailed, ReasonClearFailed)
	h.wantEmit("HAMN153-W")
	if h.st.ReservationHolder != "a" {
		t.Fatalf("holder %q after a failed clear, want a", h.st.ReservationHolder)
	}
	h.do(Request{ID: "c2", Action: ActionClearReservation})
	h.do(ReservationCleared{By: "b", OK: true})
	h.wantRequest("c2", RequestDone, "")
	if h.st.ReservationHolder != "" {
		t.Fatalf("holder %q after the clear", h.st.ReservationHolder)
	}
}

// 7.5.8 step 4: after a KAMN726-E during End (every path failed while the
// active server terminated, and its host terminated its OS), the operator
// cancels the reservation with monscsiclr once the host is back. The
// holder is back, rebooted, with nothing running: that must not block it.
func TestClearReservation_HolderBackAfterKAMN726E_DoesNotBlock(t *testing.T) {
	h := newHarness(t, threeHosts(ModeMonitor, withDisks))
	h.do(Request{ID: "end", Action: ActionEnd})
	h.wantCmds(StopServer{Node: "a"})
	// The agent terminated the OS of a during the End: a is lost, then
	// back with a new boot.
	h.do(HostLost{Node: "a"})
	h.do(HostBack{Node: "a", Rebooted: true})
	// The controller reads the reboot as the end of what ran there, once
	// the old boot's pods are ended or gone.
	h.do(ServerExited{Node: "a"})
	if h.st.ReservationHolder != "a" {
		t.Fatalf("holder %q, want a (the release never ran)", h.st.ReservationHolder)
	}
	h.do(Request{ID: "clr", Action: ActionClearReservation})
	h.wantCmds(ClearReservation{By: "a"})
	h.do(ReservationCleared{By: "a", OK: true})
	h.wantRequest("clr", RequestDone, "")
}

func TestRequest_ClearReservation_RefusedWhenHolderAlive(t *testing.T) {
	h := newHarness(t, threeHosts(ModeMonitor, withDisks, func(c *Config) { c.SwitchType = SwitchTypeManual }))
	h.do(PatrolFailed{Node: "a"}) // Manual: a waits, still the holder
	h.do(Request{ID: "e", Action: ActionStopStandby})
	h.st.Hosts[0].Role = RoleNone // pretend the active role was given up
	h.do(Request{ID: "c", Action: ActionClearReservation})
	h.wantRequest("c", RequestRefused, ReasonHolderMayBeAlive)
}

func TestRequest_BeginWithNodeBringsFailedHostBackAsStandby(t *testing.T) {
	h := serverModeHarness(t)
	h.do(ServerExited{Node: "b", Normal: false})
	h.wantState("b", Failed)
	h.do(Request{ID: "bg", Action: ActionBegin, Node: "b"})
	h.wantCmds(StartServer{Node: "b", Role: RoleStandby})
	h.wantRequest("bg", RequestDone, "")
}

func TestRequest_StopStandbyWithoutNodeStopsAll(t *testing.T) {
	h := newHarness(t, threeHosts(ModeServer))
	h.do(Request{ID: "s", Action: ActionStopStandby})
	h.wantCmds(StopServer{Node: "b"}, StopServer{Node: "c"})
}

// monend leaves no reservation behind: once the active copy has stopped,
// its host is asked to release the disks.
func TestEnd_ReleasesTheReservation(t *testing.T) {
	cfg := cfgOf(ModeServer, "a", "b")
	cfg.SharedDisks = true
	h := newHarness(t, cfg)
	h.do(Request{ID: "end-1", Action: ActionEnd})
	cmds := h.do(ServerExited{Node: "a", Normal: true})
	released := false
	for _, c := range cmds {
		if r, ok := c.(Release); ok && r.Node == "a" {
			released = true
		}
	}
	if !released || h.st.ReservationHolder != "" {
		t.Fatalf("after monend and the stop: commands %v, holder %q", cmds, h.st.ReservationHolder)
	}
}
