package hotstandby

import (
	"testing"
	"time"
)

// Table 4-4: events that result in server termination, and what follows
// (monitor mode). Only the active host runs the server.

func monitorModeHarness(t *testing.T, mutate ...func(*Config)) *harness {
	t.Helper()
	cfg := cfgOf(ModeMonitor, "a", "b")
	for _, m := range mutate {
		m(&cfg)
	}
	return newHarness(t, cfg)
}

func withTerm(c *Config)   { c.HasTermCommand = true }
func withPatrol(c *Config) { c.HasPatrol = true }

func TestTable44_StandbyRunsNothing(t *testing.T) {
	h := monitorModeHarness(t)
	h.wantState("b", Standby)
	for _, c := range h.cmds {
		if s, ok := c.(StartServer); ok && s.Node == "b" {
			t.Fatalf("monitor mode started a standby copy: %v", c)
		}
	}
}

func TestTable44Row1_NormalTerminationOfActive_Nothing(t *testing.T) {
	h := monitorModeHarness(t)
	h.do(ServerExited{Node: "a", Normal: true})
	h.wantCmds()
	h.wantState("a", Stopped)
	h.wantState("b", Standby)
	h.wantPhase(PhaseStopped)
}

func TestTable44Row2_AbnormalTerminationOfActive_WithoutPatrol_OperatorSwaps(t *testing.T) {
	// #2: without a monitoring command the operator requests the hot
	// standby with monswap; #1: the termination command runs first.
	h := monitorModeHarness(t, withTerm)
	h.do(ServerExited{Node: "a", Normal: false})
	h.wantCmds()
	h.wantEmit("HAMN132-W")
	h.wantPhase(PhaseWaiting)
	h.advance(time.Hour)
	h.wantCmds()
	h.do(Request{ID: "w", Action: ActionSwap})
	h.wantCmds(StopServer{Node: "a", UseTermCommand: true})
	h.do(TermCommandEnded{Node: "a"})
	h.wantCmds(StartServer{Node: "b", Role: RoleActive})
	h.do(ServerStarted{Node: "b"})
	h.wantState("b", Online)
	h.wantRequest("w", RequestDone, "")
}

func TestTable44Row2_AbnormalTerminationOfActive_WithPatrol_AutomaticHotStandby(t *testing.T) {
	h := monitorModeHarness(t, withPatrol, withTerm)
	h.do(ServerExited{Node: "a", Normal: false})
	h.wantCmds(StopServer{Node: "a", UseTermCommand: true})
	h.do(TermCommandEnded{Node: "a", ExitCode: 3})
	h.wantCmds(StartServer{Node: "b", Role: RoleActive})
	h.do(ServerStarted{Node: "b"})
	h.wantState("b", Online)
	h.wantState("a", Failed)
}

// Table 4-4 #1: the termCommand that HA Monitor runs after an abnormal
// termination ends before the standby starts: what it terminates may
// still write until then. A second report of the server's end does not
// stand for it.
func TestTable44Footnote1_TermCommandRunsBeforeTheStandbyStarts(t *testing.T) {
	h := monitorModeHarness(t, withPatrol, withTerm)
	h.do(ServerExited{Node: "a", Normal: false})
	h.wantEmit("HAMN106-I")
	h.wantState("a", Stopping)
	h.do(ServerExited{Node: "a", Normal: false})
	h.wantCmds()
	h.advance(time.Second)
	h.wantCmds()
	h.do(TermCommandEnded{Node: "a", ExitCode: 0})
	h.wantEmit("HAMN107-I")
	h.wantCmds(StartServer{Node: "b", Role: RoleActive})
	h.wantState("a", Failed)
}

// A termCommand that does not end in the stop timeout is a server that
// would not stop: its host is fenced (here, without shared disks, its OS
// terminated) before the standby starts.
func TestTable44Footnote1_TermCommandThatHangs_HostFenced(t *testing.T) {
	h := monitorModeHarness(t, withPatrol, withTerm)
	h.do(ServerExited{Node: "a", Normal: false})
	h.advance(DefaultTiming().StopTimeout)
	h.wantEmitText("HAMN134-W", "termCommand")
	h.wantCmds(FenceHost{Node: "a"})
	h.wantState("a", Fenced)
}

// Without a termCommand nothing runs and nothing is waited for.
func TestTable44Row2_NoTermCommand_StandbyStartsAtOnce(t *testing.T) {
	h := monitorModeHarness(t, withPatrol)
	h.do(ServerExited{Node: "a", Normal: false})
	h.wantCmds(StartServer{Node: "b", Role: RoleActive})
}

func TestTable44Row2Footnote2_WithPatrol_Restart(t *testing.T) {
	h := monitorModeHarness(t, withPatrol, func(c *Config) { c.SwitchType = SwitchTypeRestart })
	h.do(ServerExited{Node: "a", Normal: false})
	h.wantCmds(StartServer{Node: "a", Role: RoleActive})
	h.wantState("a", RestartWait)
	h.do(ServerStarted{Node: "a"})
	h.wantState("a", Online)
}

func TestTable44Row2Footnote2_NoStandby_DoesNothing(t *testing.T) {
	h := monitorModeHarness(t, withPatrol)
	h.do(Request{ID: "s", Action: ActionStopStandby})
	h.do(ServerExited{Node: "a", Normal: false})
	h.wantCmds()
	h.wantEmit("HAMN124-E")
	h.wantPhase(PhaseFailed)
}

func TestTable44Row3_NormalTerminationOfStandby_Nothing(t *testing.T) {
	h := monitorModeHarness(t)
	h.do(ServerExited{Node: "b", Normal: true})
	h.wantCmds()
	h.wantState("b", Stopped)
	h.wantState("a", Online)
}

func TestTable44Row4_AbnormalTerminationOfStandby_Nothing(t *testing.T) {
	h := monitorModeHarness(t)
	h.do(ServerExited{Node: "b", Normal: false})
	h.wantCmds()
	h.wantState("b", Failed)
	h.wantState("a", Online)
}

func TestTable44Row5_EndCommand_TerminatesActiveWithTermCommandAndStandby(t *testing.T) {
	h := monitorModeHarness(t, withTerm, func(c *Config) { c.SharedDisks = true })
	h.do(Request{ID: "e", Action: ActionEnd})
	h.wantCmds(StopServer{Node: "a", UseTermCommand: true})
	h.wantState("b", Stopped)
	h.wantRequest("e", RequestInProgress, "")
	h.do(ServerExited{Node: "a", Normal: true})
	h.wantState("a", Stopped)
	h.wantPhase(PhaseStopped)
	h.wantRequest("e", RequestDone, "")
	// "--": nothing follows.
	h.advance(time.Hour)
	h.wantCmds()
	// monbegin starts it again on the primary, taking the reservation anew.
	h.do(Request{ID: "b", Action: ActionBegin})
	h.wantCmds(Reserve{Node: "a", Epoch: 2})
	h.do(ReservationTaken{Node: "a", Epoch: 2})
	h.do(ServerStarted{Node: "a"})
	h.wantState("a", Online)
	h.wantState("b", Standby)
	h.wantRequest("b", RequestDone, "")
}

func TestTable44Row5_EndWithoutTermCommand_DeletesThePod(t *testing.T) {
	h := monitorModeHarness(t)
	h.do(Request{ID: "e", Action: ActionEnd})
	h.wantCmds(StopServer{Node: "a"})
}

func TestTable44Row6_StopStandbyCommand_TerminatesStandby(t *testing.T) {
	h := monitorModeHarness(t)
	h.do(Request{ID: "s", Action: ActionStopStandby, Node: "b"})
	h.wantCmds() // nothing runs on a monitor-mode standby
	h.wantState("b", Stopped)
	h.wantRequest("s", RequestDone, "")
}

func TestTable44Row7_SwapCommand_TerminatesActiveThenPlannedHotStandby(t *testing.T) {
	h := monitorModeHarness(t, withTerm)
	h.do(Request{ID: "w", Action: ActionSwap})
	h.wantCmds(StopServer{Node: "a", UseTermCommand: true})
	h.do(ServerExited{Node: "a", Normal: true})
	h.wantCmds(StartServer{Node: "b", Role: RoleActive})
	h.do(ServerStarted{Node: "b"})
	h.wantState("b", Online)
	h.wantState("a", Standby)
	h.wantRequest("w", RequestDone, "")
}

func TestTable44Row7Footnote3_NoStandby_Refused(t *testing.T) {
	h := monitorModeHarness(t)
	h.do(Request{ID: "s", Action: ActionStopStandby})
	h.do(Request{ID: "w", Action: ActionSwap})
	h.wantCmds()
	h.wantRequest("w", RequestRefused, ReasonNoStandby)
}
