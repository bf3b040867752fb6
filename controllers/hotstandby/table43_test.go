package hotstandby

import (
	"testing"
	"time"
)

// Table 4-3: events that result in server termination, and what follows
// (server mode). One test per row and footnote; A is the active host, B the
// standby (C a second standby where multi-standby matters).

func serverModeHarness(t *testing.T, mutate ...func(*Config)) *harness {
	t.Helper()
	cfg := cfgOf(ModeServer, "a", "b")
	for _, m := range mutate {
		m(&cfg)
	}
	return newHarness(t, cfg)
}

func TestTable43Row1_NormalTerminationOfActive_TerminatesStandby(t *testing.T) {
	h := serverModeHarness(t)
	h.do(ServerExited{Node: "a", Normal: true})
	h.wantCmds(StopServer{Node: "b"})
	h.wantState("a", Stopped)
	h.wantState("b", Stopping)
	h.do(ServerExited{Node: "b", Normal: true})
	h.wantCmds()
	h.wantState("b", Stopped)
	h.wantPhase(PhaseStopped)
	// "--": nothing follows, not even a restart of the standby.
	h.advance(time.Hour)
	h.wantCmds()
	h.wantPhase(PhaseStopped)
}

func TestTable43Row1Footnote1_PlannedOrForcedTerminationIsNormal(t *testing.T) {
	// #1: planned and forced termination by the program's own command end
	// with a normal exit; with shared disks hamon releases the reservation.
	h := serverModeHarness(t, func(c *Config) { c.SharedDisks = true })
	h.do(ServerExited{Node: "a", Normal: true})
	h.wantCmds(Release{Node: "a"}, StopServer{Node: "b"})
}

func TestTable43Row2_AbnormalTerminationOfActive_AutomaticHotStandby(t *testing.T) {
	h := serverModeHarness(t)
	h.do(ServerExited{Node: "a", Normal: false})
	h.wantEmit("HAMN103-E")
	// Nothing to terminate (#2: the server detected its own failure); the
	// running standby copy is promoted.
	h.wantCmds(Promote{Node: "b"})
	h.wantPhase(PhaseSwitchingOver)
	h.do(ServerStarted{Node: "b"})
	h.wantState("b", Online)
	h.wantState("a", Failed)
	h.wantPhase(PhaseOnline)
	if got := h.st.History[len(h.st.History)-1]; got.Cause != CauseServerFailure || got.From != "a" || got.To != "b" || got.Result != ResultSucceeded {
		t.Fatalf("history %+v", got)
	}
}

func TestTable43Row2Footnote3_NoStandby_DoesNothing(t *testing.T) {
	h := serverModeHarness(t)
	h.do(Request{ID: "r1", Action: ActionStopStandby})
	h.do(ServerExited{Node: "b", Normal: true})
	h.do(ServerExited{Node: "a", Normal: false})
	h.wantEmit("HAMN124-E")
	h.wantCmds()
	h.wantState("a", Failed)
	h.wantPhase(PhaseFailed)
}

func TestTable43Row2Footnote3_SwitchTypeRestart_RestartWaitThenRestartHere(t *testing.T) {
	h := serverModeHarness(t, func(c *Config) { c.SwitchType = SwitchTypeRestart })
	h.do(ServerExited{Node: "a", Normal: false})
	h.wantState("a", RestartWait)
	h.wantCmds(StartServer{Node: "a", Role: RoleActive})
	// No hot standby while waiting: the standby is left alone.
	h.wantState("b", Standby)
	h.do(ServerStarted{Node: "a"})
	h.wantState("a", Online)
	h.wantPhase(PhaseOnline)
}

func TestTable43Row2Footnote3_SwitchTypeRestart_SwitchesOnlyIfRestartFails(t *testing.T) {
	h := serverModeHarness(t, func(c *Config) { c.SwitchType = SwitchTypeRestart })
	h.do(ServerExited{Node: "a", Normal: false})
	h.do(StartFailed{Node: "a", Reason: "CrashLoop"})
	h.wantEmit("HAMN131-E")
	h.wantCmds(Promote{Node: "b"})
	h.do(ServerStarted{Node: "b"})
	h.wantState("b", Online)
	if c := h.st.History[len(h.st.History)-1].Cause; c != CauseRestartFailed {
		t.Fatalf("cause %s", c)
	}
}

// Footnote 3: hamon waits for the server to be restarted "without
// performing the hot standby operation": no time limit (a database's crash
// recovery may take long). Before, a fixed --restart-timeout (120 s)
// switched it over.
func TestTable43Row2Footnote3_SwitchTypeRestart_WaitsWithoutATimeLimit(t *testing.T) {
	h := serverModeHarness(t, func(c *Config) { c.SwitchType = SwitchTypeRestart })
	h.do(ServerExited{Node: "a", Normal: false})
	h.wantCmds(StartServer{Node: "a", Role: RoleActive})
	h.advance(24 * time.Hour)
	h.wantCmds()
	h.wantState("a", RestartWait)
	h.do(ServerStarted{Node: "a"})
	h.wantState("a", Online)
}

// spec.restartWaitLimit, the user's choice, bounds the wait: then the
// restarted copy is removed and the standby takes over.
func TestTable43Row2Footnote3_SwitchTypeRestart_RestartWaitLimitSwitches(t *testing.T) {
	h := serverModeHarness(t, func(c *Config) { c.SwitchType = SwitchTypeRestart; c.RestartWaitLimit = 5 * time.Minute })
	h.do(ServerExited{Node: "a", Normal: false})
	h.advance(5*time.Minute - time.Second)
	h.wantState("a", RestartWait)
	h.advance(2 * time.Second)
	h.wantCmds(StopServer{Node: "a"})
	h.do(ServerExited{Node: "a"})
	h.wantCmds(Promote{Node: "b"})
}

func TestTable43Row2Footnote3_SwitchTypeManual_WaitsForOperator(t *testing.T) {
	h := serverModeHarness(t, func(c *Config) { c.SwitchType = SwitchTypeManual })
	h.do(ServerExited{Node: "a", Normal: false})
	h.wantState("a", RestartWait)
	h.wantCmds()
	h.wantPhase(PhaseWaiting)
	h.advance(24 * time.Hour)
	h.wantCmds()
	h.wantState("a", RestartWait)
	// monact restarts it in place.
	h.do(Request{ID: "act1", Action: ActionAct})
	h.wantCmds(StartServer{Node: "a", Role: RoleActive})
	h.do(ServerStarted{Node: "a"})
	h.wantState("a", Online)
	h.wantRequest("act1", RequestDone, "")
}

func TestTable43Row2Footnote3_SwitchTypeManual_SwapSwitches(t *testing.T) {
	h := serverModeHarness(t, func(c *Config) { c.SwitchType = SwitchTypeManual })
	h.do(ServerExited{Node: "a", Normal: false})
	h.do(Request{ID: "swap1", Action: ActionSwap})
	h.wantCmds(Promote{Node: "b"})
	h.do(ServerStarted{Node: "b"})
	h.wantState("b", Online)
	h.wantRequest("swap1", RequestDone, "")
}

func TestTable43Row3_NormalTerminationOfStandby_Nothing(t *testing.T) {
	h := serverModeHarness(t)
	h.do(ServerExited{Node: "b", Normal: true})
	h.wantCmds()
	h.wantState("b", Stopped)
	h.wantState("a", Online)
	h.advance(time.Hour)
	h.wantCmds()
}

func TestTable43Row4_AbnormalTerminationOfStandby_Nothing(t *testing.T) {
	h := serverModeHarness(t)
	h.do(ServerExited{Node: "b", Normal: false})
	h.wantEmit("HAMN104-W")
	h.wantCmds()
	h.wantState("b", Failed)
	h.wantState("a", Online)
}

func TestTable43Row5_FailureDetected_TerminatesActiveThenHotStandby(t *testing.T) {
	h := serverModeHarness(t, func(c *Config) { c.HasPatrol = true })
	h.do(PatrolFailed{Node: "a", Reason: "patrol exit 1"})
	h.wantEmit("HAMN105-E")
	h.wantCmds(StopServer{Node: "a"})
	h.wantState("a", Stopping)
	h.do(ServerExited{Node: "a", Normal: false})
	h.wantCmds(Promote{Node: "b"})
	h.do(ServerStarted{Node: "b"})
	h.wantState("b", Online)
	h.wantState("a", Failed)
}

func TestTable43Row5Footnote3_NoStandby_DoesNotTerminate(t *testing.T) {
	h := serverModeHarness(t, func(c *Config) { c.HasPatrol = true })
	h.do(ServerExited{Node: "b", Normal: false})
	h.do(PatrolFailed{Node: "a", Reason: "patrol exit 1"})
	h.wantCmds()
	h.wantState("a", Online)
}

// Footnote 3: a detected failure with switchtype restart places the active
// server in restart wait "without terminating it" and waits. Before, hamon
// terminated it and started a new copy.
func TestTable43Row5Footnote3_Restart_RestartWaitWithoutTerminating(t *testing.T) {
	h := serverModeHarness(t, func(c *Config) { c.HasPatrol = true; c.SwitchType = SwitchTypeRestart })
	h.do(PatrolFailed{Node: "a", Reason: "patrol timeout"})
	h.wantCmds()
	h.wantEmit("HAMN130-W")
	h.wantState("a", RestartWait)
	h.wantState("b", Standby)
	h.advance(24 * time.Hour)
	h.wantCmds()
	// It recovers (its patrol passes again): Online, no switchover.
	h.do(ServerStarted{Node: "a"})
	h.wantState("a", Online)
	if len(h.st.History) != 1 {
		t.Fatalf("switchovers %+v, want only the first activation", h.st.History)
	}
}

// Footnote 3: with no standby, a detected failure is left alone, and is not
// remembered: a standby added later does not turn it into a switchover (the
// controller derives the failure again at every look while the patrol
// fails). Only a new failure, after the server was seen healthy, counts.
func TestTable43Row5Footnote3_NoStandby_FailureNotActedOnLater(t *testing.T) {
	h := serverModeHarness(t, func(c *Config) { c.HasPatrol = true })
	h.do(ServerExited{Node: "b", Normal: false})
	h.do(PatrolFailed{Node: "a", Reason: "patrol exit 1"})
	h.wantEmit("HAMN124-E")
	h.do(Request{ID: "bg", Action: ActionBegin, Node: "b"})
	h.do(ServerStarted{Node: "b"})
	h.wantState("b", Standby)
	h.do(PatrolFailed{Node: "a", Reason: "patrol exit 1"})
	h.wantCmds()
	h.wantState("a", Online)
	// Healthy again, then a new failure: now there is a standby.
	h.do(ServerStarted{Node: "a"})
	h.do(PatrolFailed{Node: "a", Reason: "patrol exit 1"})
	h.wantEmit("HAMN105-E")
	h.wantCmds(StopServer{Node: "a"})
}

func TestTable43Row5Footnote3_Manual_WaitsWithoutTerminating(t *testing.T) {
	h := serverModeHarness(t, func(c *Config) { c.HasPatrol = true; c.SwitchType = SwitchTypeManual })
	h.do(PatrolFailed{Node: "a", Reason: "patrol timeout"})
	h.wantCmds()
	h.wantState("a", RestartWait)
	h.wantPhase(PhaseWaiting)
}

func TestTable43Row6_StopStandbyCommand_TerminatesStandby(t *testing.T) {
	h := serverModeHarness(t)
	h.do(Request{ID: "s1", Action: ActionStopStandby, Node: "b"})
	h.wantCmds(StopServer{Node: "b"})
	h.wantRequest("s1", RequestInProgress, "")
	h.do(ServerExited{Node: "b", Normal: true})
	h.wantState("b", Stopped)
	h.wantRequest("s1", RequestDone, "")
	h.wantState("a", Online)
}

func TestTable43Row7_SwapCommand_TerminatesActiveThenPlannedHotStandby(t *testing.T) {
	h := serverModeHarness(t)
	h.do(Request{ID: "w1", Action: ActionSwap})
	h.wantCmds(StopServer{Node: "a"})
	h.do(ServerExited{Node: "a", Normal: true})
	h.wantCmds(Promote{Node: "b"})
	h.do(ServerStarted{Node: "b"})
	h.wantState("b", Online)
	h.wantRequest("w1", RequestDone, "")
	// After a planned switchover the old host's copy comes back as standby.
	h.wantCmds(StartServer{Node: "a", Role: RoleStandby})
	h.do(ServerStarted{Node: "a"})
	h.wantState("a", Standby)
	if c := h.st.History[len(h.st.History)-1].Cause; c != CausePlannedSwap {
		t.Fatalf("cause %s", c)
	}
}

func TestTable43Row7Footnote5_SwapWithNoStandby_Refused(t *testing.T) {
	h := serverModeHarness(t)
	h.do(ServerExited{Node: "b", Normal: false})
	h.do(Request{ID: "w1", Action: ActionSwap})
	h.wantCmds()
	h.wantRequest("w1", RequestRefused, ReasonNoStandby)
	h.wantState("a", Online)
}
