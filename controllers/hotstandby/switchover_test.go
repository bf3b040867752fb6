package hotstandby

import (
	"fmt"
	"testing"
	"time"
)

// 3.2.7 start retries, 3.2.5 multi-standby, 4.5.2 fencing failure, host
// failure with and without shared disks, rejoin after fencing, 7.5.1.

func threeHosts(mode Mode, mutate ...func(*Config)) Config {
	cfg := cfgOf(mode, "a", "b", "c")
	cfg.HasPatrol = true
	for _, m := range mutate {
		m(&cfg)
	}
	return cfg
}

func withDisks(c *Config) { c.SharedDisks = true }
func withRetry(n int) func(*Config) {
	return func(c *Config) { c.SwitchError = SwitchErrorRetry; c.SwitchRetry = n }
}

func TestMultiStandby_SwitchesToHighestPriority(t *testing.T) {
	h := newHarness(t, threeHosts(ModeMonitor))
	h.do(ServerExited{Node: "a"})
	h.wantCmds(StartServer{Node: "b", Role: RoleActive})
}

func TestMultiStandby_SkipsDeadStandby(t *testing.T) {
	h := newHarness(t, threeHosts(ModeMonitor))
	h.do(HostLost{Node: "b"})
	h.do(ServerExited{Node: "a"})
	h.wantCmds(StartServer{Node: "c", Role: RoleActive})
}

func TestMultiStandby_TargetFailsToStart_TriesNextBeforeRetries(t *testing.T) {
	h := newHarness(t, threeHosts(ModeMonitor, withRetry(2)))
	h.do(ServerExited{Node: "a"})
	h.do(StartFailed{Node: "b", Reason: "ImagePullBackOff"})
	h.wantCmds(StartServer{Node: "c", Role: RoleActive})
	h.wantState("b", Failed)
	h.do(ServerStarted{Node: "c"})
	h.wantState("c", Online)
}

func TestMultiStandby_WithDisks_NextTargetTakesReservationAnew(t *testing.T) {
	h := newHarness(t, threeHosts(ModeMonitor, withDisks))
	h.do(ServerExited{Node: "a"})
	h.wantCmds(Reserve{Node: "b", Epoch: 2})
	h.do(ReservationTaken{Node: "b", Epoch: 2})
	h.do(StartFailed{Node: "b"})
	h.wantCmds(Reserve{Node: "c", Epoch: 3})
	// A late report for the old epoch must not count.
	h.do(ReservationTaken{Node: "b", Epoch: 2})
	h.wantCmds()
	h.do(ReservationTaken{Node: "c", Epoch: 3})
	h.wantCmds(StartServer{Node: "c", Role: RoleActive})
}

func TestStartRetry_SwitchErrorStop_HotStandbyError(t *testing.T) {
	h := monitorModeHarness(t, withPatrol)
	h.do(ServerExited{Node: "a"})
	h.do(StartFailed{Node: "b"})
	h.wantEmit("HAMN129-E")
	h.wantState("b", Failed)
	h.wantPhase(PhaseFailed)
	h.advance(time.Hour)
	h.wantCmds()
}

func TestStartRetry_MonitorMode_RetriesUpToSwitchRetry(t *testing.T) {
	h := monitorModeHarness(t, withPatrol, withRetry(2))
	h.do(ServerExited{Node: "a"})
	h.do(StartFailed{Node: "b"})
	h.wantState("b", StartRetry)
	h.wantEmit("HAMN126-W")
	h.wantPhase(PhaseWaiting)
	h.advance(DefaultTiming().RetryInterval)
	h.wantCmds(StartServer{Node: "b", Role: RoleActive})
	h.do(StartFailed{Node: "b"})
	h.advance(DefaultTiming().RetryInterval)
	h.wantCmds(StartServer{Node: "b", Role: RoleActive})
	h.do(StartFailed{Node: "b"})
	h.advance(DefaultTiming().RetryInterval)
	h.wantCmds()
	h.wantState("b", Failed)
	h.wantPhase(PhaseFailed)
}

func TestStartRetry_MonitorMode_RetrySucceeds(t *testing.T) {
	h := monitorModeHarness(t, withPatrol, withRetry(3), withDisks)
	h.do(ServerExited{Node: "a"})
	h.do(ReservationTaken{Node: "b", Epoch: 2})
	h.do(StartFailed{Node: "b"})
	h.advance(DefaultTiming().RetryInterval)
	h.wantCmds(StartServer{Node: "b", Role: RoleActive})
	h.do(ServerStarted{Node: "b"})
	h.wantState("b", Online)
	h.wantPhase(PhaseOnline)
}

// Server mode: HA Monitor waits for such a server to restart itself, but a
// pod's server never restarts itself (hamon decides every start), so hamon
// makes the restarts, at the retry interval, up to switchRetry, as in
// Monitor mode. Before, it started the server once and waited forever.
func TestStartRetry_ServerMode_RetriesAtTheIntervalUpToSwitchRetry(t *testing.T) {
	h := serverModeHarness(t, withRetry(2))
	h.do(ServerExited{Node: "a"})
	h.wantCmds(Promote{Node: "b"})
	h.do(StartFailed{Node: "b"})
	h.wantState("b", StartRetry)
	h.wantCmds()
	for i := range 2 {
		h.advance(DefaultTiming().RetryInterval)
		h.wantCmds(StartServer{Node: "b", Role: RoleActive})
		h.do(StartFailed{Node: "b", Reason: fmt.Sprintf("attempt %d", i+1)})
		h.wantState("b", StartRetry)
	}
	h.advance(DefaultTiming().RetryInterval)
	h.wantState("b", Failed)
	h.wantEmit("HAMN129-E")
}

func TestStartRetry_AnotherHostsActiveStartCancelsRetries(t *testing.T) {
	h := newHarness(t, threeHosts(ModeMonitor, withRetry(5), func(c *Config) { c.SwitchType = SwitchTypeManual }))
	// a fails (Manual: waits); the operator switches to b; c fails on the way.
	h.do(Request{ID: "s", Action: ActionStopStandby, Node: "c"})
	h.do(ServerExited{Node: "a"})
	h.do(Request{ID: "w", Action: ActionSwap})
	h.do(StartFailed{Node: "b"})
	h.wantState("b", StartRetry)
	// Now a's own server is started as active by the operator (monact is
	// for waiting hosts; here another member of a group switches).
	h.do(GroupMemberSwitched{To: "c"})
	h.wantEmit("HAMN127-W")
	h.wantState("b", Standby)
}

func TestStartRetry_ActOnRetryingHostStartsNow(t *testing.T) {
	h := monitorModeHarness(t, withPatrol, withRetry(5))
	h.do(ServerExited{Node: "a"})
	h.do(StartFailed{Node: "b"})
	h.do(Request{ID: "act", Action: ActionAct})
	h.wantCmds(StartServer{Node: "b", Role: RoleActive})
	h.do(ServerStarted{Node: "b"})
	h.wantState("b", Online)
}

func TestHostFailure_WithDisks_PreemptThenActivate(t *testing.T) {
	h := newHarness(t, threeHosts(ModeServer, withDisks))
	h.do(HostLost{Node: "a"})
	h.wantEmit("HAMN110-E")
	h.wantCmds(Reserve{Node: "b", Epoch: 2})
	h.wantState("a", Fenced)
	h.do(ReservationTaken{Node: "b", Epoch: 2})
	h.wantCmds(Promote{Node: "b"})
	h.do(ServerStarted{Node: "b"})
	h.wantState("b", Online)
	if h.st.ReservationHolder != "b" {
		t.Fatalf("holder %q", h.st.ReservationHolder)
	}
}

func TestHostFailure_WithoutDisks_WaitsOutSelfFencing(t *testing.T) {
	cfg := threeHosts(ModeMonitor)
	cfg.Timing.SelfFenceWait = 3 * time.Second
	h := newHarness(t, cfg)
	h.do(HostLost{Node: "a"})
	h.wantCmds()
	h.advance(2 * time.Second)
	h.wantCmds()
	h.advance(2 * time.Second)
	h.wantCmds(StartServer{Node: "b", Role: RoleActive})
}

func TestHostFailure_RestartSwitchTypeStillSwitches(t *testing.T) {
	h := newHarness(t, threeHosts(ModeMonitor, withDisks, func(c *Config) { c.SwitchType = SwitchTypeRestart }))
	h.do(HostLost{Node: "a"})
	h.wantCmds(Reserve{Node: "b", Epoch: 2})
}

// 3.2.7: a failed resource connection on the target (its agent could not
// take the shared disks' reservation) is a failed start there: the next
// standby is tried, whose own preempt fences the old host just as well;
// with none left, a hot-standby error (switchError Stop). HotStandbyWait is
// for an old host that could not be fenced (TestForcedSwap_WithoutDisks_
// WaitsForHostDown). Before, b waited in HotStandbyWait and c was never tried.
func TestResourceConnectionFails_NextStandby_ThenHotStandbyError(t *testing.T) {
	h := newHarness(t, threeHosts(ModeMonitor, withDisks))
	h.do(HostLost{Node: "a"})
	h.do(ReservationFailed{Node: "b", Epoch: 2, Reason: "PREEMPT AND ABORT: transport error"})
	h.wantEmit("HAMN125-W")
	h.wantCmds(Reserve{Node: "c", Epoch: 3})
	h.wantState("b", Failed)
	h.do(ReservationFailed{Node: "c", Epoch: 3, Reason: "no path"})
	h.wantEmit("HAMN129-E")
	h.wantState("c", Failed)
	h.wantPhase(PhaseFailed)
	for _, x := range h.st.Hosts {
		if x.State == HotStandbyWait {
			t.Fatalf("%s waits in HotStandbyWait: the old host was fenced", x.Node)
		}
	}
}

// With switchError Retry, a start retry whose host does not hold the
// reservation connects the disks first (a new epoch, through the pipeline
// of any activation, which the agent honours only in stage Reserving),
// then starts. Its messages are those of an activation (cause StartRetry),
// as at a first start, not of a hot standby (3.2.7 (1)).
func TestResourceConnectionFails_StartRetryTakesTheReservationFirst(t *testing.T) {
	h := newHarness(t, threeHosts(ModeMonitor, withDisks, withRetry(2)))
	h.do(HostLost{Node: "a"})
	h.do(ReservationFailed{Node: "b", Epoch: 2, Reason: "transport error"})
	h.do(ReservationFailed{Node: "c", Epoch: 3, Reason: "transport error"})
	h.wantState("c", StartRetry)
	h.wantEmit("HAMN126-W")
	h.advance(DefaultTiming().RetryInterval)
	h.wantCmds(Reserve{Node: "c", Epoch: 4})
	h.do(ReservationFailed{Node: "c", Epoch: 4, Reason: "still no path"})
	h.wantState("c", StartRetry)
	h.advance(DefaultTiming().RetryInterval)
	h.wantCmds(Reserve{Node: "c", Epoch: 5})
	h.do(ReservationTaken{Node: "c", Epoch: 5})
	h.wantCmds(StartServer{Node: "c", Role: RoleActive})
	h.do(ServerStarted{Node: "c"})
	h.wantState("c", Online)
	h.wantEmit("HAMN123-I")
	if last := h.st.History[len(h.st.History)-1]; last.Cause != CauseStartRetry || last.From != "" {
		t.Fatalf("last switchover %+v, want an activation with cause StartRetry", last)
	}
	if h.st.ReservationHolder != "c" {
		t.Fatalf("holder %q", h.st.ReservationHolder)
	}
}

// No report from the target's agent within the reserve timeout is a failed
// resource connection too.
func TestReserveTimeout_IsAFailedResourceConnection(t *testing.T) {
	h := newHarness(t, threeHosts(ModeMonitor, withDisks))
	h.do(HostLost{Node: "a"})
	h.advance(DefaultTiming().ReserveTimeout)
	h.wantState("b", Failed)
	h.wantCmds(Reserve{Node: "c", Epoch: 3})
}

// fencedA is a three-host Server-mode harness where a was lost, b took
// over, and a came back (same boot): a is Fenced.
func fencedA(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t, threeHosts(ModeServer, withDisks))
	h.do(HostLost{Node: "a"})
	h.do(ReservationTaken{Node: "b", Epoch: 2})
	h.do(ServerStarted{Node: "b"})
	h.do(HostBack{Node: "a"})
	h.wantState("a", Fenced)
	return h
}

func TestFencedHost_RejoinsOnlyAfterReboot(t *testing.T) {
	h := fencedA(t)
	h.wantCmds()
	h.do(HostBack{Node: "a", Rebooted: true})
	h.wantEmit("HAMN151-I")
	h.wantCmds(StartServer{Node: "a", Role: RoleStandby})
	h.do(ServerStarted{Node: "a"})
	h.wantState("a", Standby)
}

// Begin cannot bring a fenced host back (only its reboot can), nor a host
// whose agent is silent: each refusal says what to do instead.
func TestBegin_RefusedForFencedOrSilentHost(t *testing.T) {
	h := fencedA(t)
	h.do(Request{ID: "bg", Action: ActionBegin, Node: "a"})
	h.wantRequest("bg", RequestRefused, ReasonHostFenced)
	h.wantCmds()
	h.do(ServerExited{Node: "c", Normal: false})
	h.do(HostLost{Node: "c"})
	h.do(Request{ID: "bg2", Action: ActionBegin, Node: "c"})
	h.wantRequest("bg2", RequestRefused, ReasonHostNotAlive)
}

func TestStopTimeout_WithoutDisks_FencesHost(t *testing.T) {
	h := newHarness(t, threeHosts(ModeMonitor))
	h.do(PatrolFailed{Node: "a"})
	h.wantCmds(StopServer{Node: "a"})
	h.advance(DefaultTiming().StopTimeout)
	h.wantCmds(FenceHost{Node: "a"})
	h.do(HostLost{Node: "a"})
	h.wantCmds()
	h.advance(DefaultTiming().SelfFenceWait)
	h.wantCmds(StartServer{Node: "b", Role: RoleActive})
}

func TestStopTimeout_WithDisks_PreemptFences(t *testing.T) {
	h := newHarness(t, threeHosts(ModeMonitor, withDisks))
	h.do(PatrolFailed{Node: "a"})
	h.advance(DefaultTiming().StopTimeout)
	h.wantCmds(Reserve{Node: "b", Epoch: 2})
	h.wantState("a", Fenced)
}

func TestForcedSwap_FencesOldHostFirst(t *testing.T) {
	h := newHarness(t, threeHosts(ModeMonitor, withDisks))
	h.do(Request{ID: "f", Action: ActionSwap, Force: true})
	h.wantCmds(FenceHost{Node: "a"}, Reserve{Node: "b", Epoch: 2})
	h.wantState("a", Fenced)
	h.do(ReservationTaken{Node: "b", Epoch: 2})
	h.do(ServerStarted{Node: "b"})
	h.wantRequest("f", RequestDone, "")
}

func TestForcedSwap_WithoutDisks_WaitsForHostDown(t *testing.T) {
	h := newHarness(t, threeHosts(ModeMonitor))
	h.do(Request{ID: "f", Action: ActionSwap, Force: true})
	h.wantCmds(FenceHost{Node: "a"})
	h.advance(DefaultTiming().FenceTimeout)
	h.wantState("b", HotStandbyWait)
	h.wantRequest("f", RequestFailed, "SwitchoverFailed")
}

func TestPrimaryNotUp_ActiveStartWait(t *testing.T) {
	cfg := threeHosts(ModeServer)
	h := &harness{t: t, cfg: cfg, st: New(cfg, t0), now: t0}
	h.do(HostBack{Node: "b"})
	h.do(HostBack{Node: "c"})
	h.do(ServerStarted{Node: "b"})
	h.do(ServerStarted{Node: "c"})
	h.wantPhase(PhasePending)
	h.advance(DefaultTiming().PrimaryWait)
	h.wantState("b", ActiveStartWait)
	h.wantPhase(PhaseWaiting)
	h.do(Request{ID: "act", Action: ActionAct})
	h.wantCmds(Promote{Node: "b"})
	h.do(ServerStarted{Node: "b"})
	h.wantState("b", Online)
	// The primary coming up later joins as standby.
	h.do(HostBack{Node: "a"})
	h.wantCmds(StartServer{Node: "a", Role: RoleStandby})
}

func TestHostsAddedAndRemoved(t *testing.T) {
	h := newHarness(t, threeHosts(ModeMonitor))
	h.cfg.Hosts = []string{"a", "c", "d"}
	h.do(HostBack{Node: "d"})
	if h.st.Host("b") != nil {
		t.Fatal("removed standby b is still there")
	}
	h.wantState("d", Standby)
	h.cfg.Hosts = []string{"c", "d"}
	h.do(Tick{})
	if h.st.Host("a") == nil {
		t.Fatal("the active host was dropped while active")
	}
}

// Server mode: the standby copy the switchover was to promote ends before
// its activation (its host rebooted within its Lease, or it crashed). There
// is nothing left to promote: activation starts the server on the target,
// instead of waiting for a promotion that cannot come.
func TestServerMode_TargetCopyEndsBeforePromotion_ActivationStartsTheServer(t *testing.T) {
	h := newHarness(t, threeHosts(ModeServer, withDisks))
	h.do(ServerExited{Node: "a"})
	h.wantCmds(Reserve{Node: "b", Epoch: 2})
	h.do(ServerExited{Node: "b"})
	h.wantEmit("HAMN138-W")
	h.do(ReservationTaken{Node: "b", Epoch: 2})
	h.wantCmds(StartServer{Node: "b", Role: RoleActive})
	h.do(ServerStarted{Node: "b"})
	h.wantState("b", Online)
}
