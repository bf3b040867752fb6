package hotstandby

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// Grouped-system switchover (3.2.3, 4.4.1) and the system-manager
// switchover of HiRDB 26.7.9 (Tables 26-41 and 26-42).

func TestGroupExchange_FailedMemberLeadsOthersFollow(t *testing.T) {
	members := []MemberView{
		{Name: "db", Exchange: true, Switch: &Switchover{From: "a", To: "b", Cause: CauseServerFailure}},
		{Name: "tp", Exchange: true, Active: "a"},
		{Name: "already", Exchange: true, Active: "b"},
	}
	got := PlanGroup(members)
	want := []GroupCommand{{Member: "tp", Event: GroupSwitch{To: "b", Cause: CauseGroupSwitch}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
}

// A member's failure switchover can be over before the others look: the
// finished one still leads those that have not moved since.
func TestGroupExchange_FinishedFailureSwitchoverStillLeads(t *testing.T) {
	t0 := time.Unix(1000, 0)
	members := []MemberView{
		{Name: "db", Exchange: true, Active: "b",
			LastSwitch: &Switchover{From: "a", To: "b", Cause: CauseServerFailure, Result: ResultSucceeded, Started: t0}},
		{Name: "tp", Exchange: true, Active: "a",
			LastSwitch: &Switchover{To: "a", Cause: CauseInitial, Result: ResultSucceeded, Started: t0.Add(-time.Minute)}},
		{Name: "later", Exchange: true, Active: "a",
			LastSwitch: &Switchover{From: "b", To: "a", Cause: CausePlannedSwap, Result: ResultSucceeded, Started: t0.Add(time.Minute)}},
	}
	got := PlanGroup(members)
	want := []GroupCommand{{Member: "tp", Event: GroupSwitch{To: "b", Cause: CauseGroupSwitch}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
	// Once tp has followed, nothing more is asked.
	members[1].Active = "b"
	members[1].LastSwitch = &Switchover{From: "a", To: "b", Cause: CauseGroupSwitch, Result: ResultSucceeded, Started: t0.Add(time.Second)}
	if got := PlanGroup(members); len(got) != 0 {
		t.Fatalf("after following: got %v", got)
	}
}

func TestGroupExchange_PlannedSwitchOfAMemberDoesNotLead(t *testing.T) {
	members := []MemberView{
		{Name: "db", Exchange: true, Switch: &Switchover{From: "a", To: "b", Cause: CausePlannedSwap}},
		{Name: "tp", Exchange: true, Active: "a"},
	}
	if got := PlanGroup(members); len(got) != 0 {
		t.Fatalf("got %v", got)
	}
}

func TestGroup_MemberSwitchedCancelsOthersStartRetries(t *testing.T) {
	began := t0.Add(time.Minute)
	members := []MemberView{
		{Name: "db", LastSwitch: &Switchover{From: "a", To: "b", Result: ResultSucceeded, Finished: began.Add(time.Second)}},
		{Name: "tp", StartRetryOn: "c", StartRetrySince: began},
		{Name: "same", StartRetryOn: "b", StartRetrySince: began},
	}
	got := PlanGroup(members)
	want := []GroupCommand{{Member: "tp", Event: GroupMemberSwitched{To: "b"}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
}

// 3.2.7: only another member's switchover that succeeded after the retries
// began cancels them; a first activation (no old host) or an older
// switchover does not. Before, any newest finished switchover did, at once.
func TestGroup_OnlyASwitchoverAfterTheRetriesBeganCancelsThem(t *testing.T) {
	began := t0.Add(time.Minute)
	for _, last := range []Switchover{
		{From: "", To: "b", Cause: CauseInitial, Result: ResultSucceeded, Finished: began.Add(time.Second)},
		{From: "a", To: "b", Cause: CauseServerFailure, Result: ResultSucceeded, Finished: began.Add(-time.Second)},
		{From: "a", To: "b", Cause: CauseServerFailure, Result: ResultSucceeded, Finished: began},
		{From: "a", To: "b", Cause: CauseServerFailure, Result: ResultFailed, Finished: began.Add(time.Second)},
	} {
		members := []MemberView{{Name: "db", LastSwitch: &last}, {Name: "tp", StartRetryOn: "c", StartRetrySince: began}}
		if got := PlanGroup(members); len(got) != 0 {
			t.Errorf("%+v canceled tp's retries: %v", last, got)
		}
	}
}

// A member whose retries a group switch canceled follows the group to the
// host it went to: activated there (cause GroupSwitch)...
func TestGroupMember_RetriesCanceled_FollowsTheGroup(t *testing.T) {
	h := newHarness(t, threeHosts(ModeMonitor, withRetry(5), func(c *Config) { c.Group = "g"; c.Exchange = true }))
	h.do(ServerExited{Node: "a"})
	h.do(StartFailed{Node: "b"})
	h.do(StartFailed{Node: "c"})
	h.wantState("c", StartRetry)
	h.do(Request{ID: "bg", Action: ActionBegin, Node: "b"}) // b is a standby again
	h.do(ServerStarted{Node: "b"})
	h.do(GroupMemberSwitched{To: "b"})
	h.wantEmit("HAMN127-W")
	h.wantCmds(StartServer{Node: "b", Role: RoleActive})
	h.do(ServerStarted{Node: "b"})
	h.wantState("b", Online)
}

// ...and where it cannot run there, it is a hot-standby error, said as
// such: never a silent Stopped with no host active.
func TestGroupMember_RetriesCanceled_CannotFollow_HotStandbyError(t *testing.T) {
	h := newHarness(t, threeHosts(ModeMonitor, withRetry(5), func(c *Config) { c.Group = "g"; c.Exchange = true }))
	h.do(ServerExited{Node: "a"})
	h.do(StartFailed{Node: "b"})
	h.do(StartFailed{Node: "c"})
	h.do(GroupMemberSwitched{To: "d"})
	h.wantEmit("HAMN129-E")
	h.wantState("c", Failed)
	h.wantPhase(PhaseFailed)
}

func TestGroupMember_ReceivesGroupSwitch_PlannedSwitchover(t *testing.T) {
	h := monitorModeHarness(t, func(c *Config) { c.Group = "g"; c.Exchange = true })
	h.do(GroupSwitch{To: "b", Cause: CauseGroupSwitch})
	h.wantCmds(StopServer{Node: "a"})
	h.do(ServerExited{Node: "a", Normal: true})
	h.do(ServerStarted{Node: "b"})
	h.wantState("b", Online)
	h.wantState("a", Standby)
	// Idempotent: the coordinator repeats itself every reconcile.
	h.do(GroupSwitch{To: "b", Cause: CauseGroupSwitch})
	h.wantCmds()
}

func TestGroupNoExchange_OnlyFailedMemberTerminated_StandbyWaits(t *testing.T) {
	h := monitorModeHarness(t, withPatrol, func(c *Config) { c.Group = "g"; c.Exchange = false })
	h.do(PatrolFailed{Node: "a"})
	h.wantCmds(StopServer{Node: "a"})
	h.wantState("b", GroupSwitchWait)
	h.wantEmit("HAMN133-W")
	h.do(ServerExited{Node: "a"})
	h.wantState("a", Failed)
	h.wantPhase(PhaseWaiting)
	h.advance(time.Hour)
	h.wantCmds()
	// monswap -g: the group switches; the waiting standby starts.
	_, cmds := PlanGroupSwap([]MemberView{{Name: "m", GroupSwitchWaitOn: "b"}}, "", "")
	h.do(cmds[0].Event)
	h.wantCmds(StartServer{Node: "b", Role: RoleActive})
	h.do(ServerStarted{Node: "b"})
	h.wantState("b", Online)
}

func TestGroupNoExchange_HostFailureStillSwitches(t *testing.T) {
	h := monitorModeHarness(t, withDisks, func(c *Config) { c.Group = "g"; c.Exchange = false })
	h.do(HostLost{Node: "a"})
	h.wantCmds(Reserve{Node: "b", Epoch: 2})
}

func TestPlanGroupSwap_AllMembersToOneNode(t *testing.T) {
	node, cmds := PlanGroupSwap([]MemberView{{Name: "x", Active: "a"}, {Name: "y", Active: "b"}}, "", "b")
	if node != "b" || len(cmds) != 1 || cmds[0].Member != "x" {
		t.Fatalf("node %s cmds %v", node, cmds)
	}
}

func TestTable2641_2642_ManagerSwitchover(t *testing.T) {
	mgr := Member{Name: "mgr", Image: "v1"}
	running := []Member{{Name: "fes", Image: "v1"}, {Name: "bes", Image: "v1"}}
	stoppedBES := []Member{{Name: "fes", Image: "v1"}, {Name: "bes", Image: "v1", Stopped: true}}
	mixed := []Member{{Name: "fes", Image: "v1"}, {Name: "bes", Image: "v2"}}
	mixedStopped := []Member{{Name: "fes", Image: "v1"}, {Name: "bes", Image: "v2", Stopped: true}}
	cases := []struct {
		name    string
		policy  ManagerPolicy
		members []Member
		allowed bool
		wait    time.Duration
	}{
		{"26-41 wait, all running: switches after the version check", ManagerPolicy{Rerun: RerunWait}, running, true, 0},
		{"26-41 wait, a unit stopped: switchover fails", ManagerPolicy{Rerun: RerunWait}, stoppedBES, false, 0},
		{"26-41 wait, versions differ: switchover fails", ManagerPolicy{Rerun: RerunWait}, mixed, false, 0},
		{"26-41 notwait, a unit stopped: switches, no wait", ManagerPolicy{Rerun: RerunNoWait}, stoppedBES, true, 0},
		{"26-41 #1 notwait does no version check", ManagerPolicy{Rerun: RerunNoWait}, mixedStopped, true, 0},
		{"26-42 start level 0, a unit stopped: fails", ManagerPolicy{Rerun: RerunWait, StartLevel: 0}, stoppedBES, false, 0},
		{"26-42 start level 1, no skip units: switches then waits 20m", ManagerPolicy{Rerun: RerunWait, StartLevel: 1}, stoppedBES, true, 20 * time.Minute},
		{"26-42 start level 1, reducedCheckTime 5m", ManagerPolicy{Rerun: RerunWait, StartLevel: 1, ReducedCheckTime: 5 * time.Minute}, stoppedBES, true, 5 * time.Minute},
		{"26-42 start level 1, stopped unit skipped: no wait", ManagerPolicy{Rerun: RerunWait, StartLevel: 1, SkipUnits: []string{"bes"}}, stoppedBES, true, 0},
		{"26-42 start level 1, other unit skipped: waits for the stopped one", ManagerPolicy{Rerun: RerunWait, StartLevel: 1, SkipUnits: []string{"fes"}}, stoppedBES, true, 20 * time.Minute},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := DecideManagerSwitchover(c.policy, mgr, c.members)
			if d.Allowed != c.allowed || d.WaitForMembers != c.wait || d.Reason == "" {
				t.Fatalf("got %+v", d)
			}
		})
	}
}

func TestHiRDB2679_OnlyStoppedUnitRecoveryUnnecessaryFrontEnd_SwitchoverGoesAhead(t *testing.T) {
	mgr := Member{Name: "mgr", Servers: []UnitServer{Dictionary}}
	ruFES := Member{Name: "fes2", Stopped: true, Servers: []UnitServer{RecoveryUnnecessaryFrontEnd}}
	others := []Member{{Name: "fes1", Servers: []UnitServer{FrontEnd}}, {Name: "bes", Servers: []UnitServer{BackEnd}}}
	d := DecideManagerSwitchover(ManagerPolicy{Rerun: RerunWait}, mgr, append(others, ruFES))
	if !d.Allowed || d.WaitForMembers != 0 || !slices.Equal(d.StillStopped, []string{"fes2"}) {
		t.Fatalf("a stopped recovery-unnecessary FES unit failed the switchover: %+v", d)
	}
	// A unit that also runs another server is an ordinary stopped unit.
	mixed := Member{Name: "fes2", Stopped: true, Servers: []UnitServer{RecoveryUnnecessaryFrontEnd, BackEnd}}
	if d := DecideManagerSwitchover(ManagerPolicy{Rerun: RerunWait}, mgr, append(others, mixed)); d.Allowed {
		t.Fatalf("a stopped unit with a back-end server did not fail the switchover: %+v", d)
	}
}

func TestHiRDB2679_ReducedActivation_FailsWithoutAnActiveFrontEndBackEndOrDictionary(t *testing.T) {
	p := ManagerPolicy{Rerun: RerunWait, StartLevel: 1}
	mgr := Member{Name: "mgr", Servers: []UnitServer{Dictionary}}
	fes := Member{Name: "fes", Servers: []UnitServer{FrontEnd}}
	bes1 := Member{Name: "bes1", Servers: []UnitServer{BackEnd}}
	bes2 := Member{Name: "bes2", Servers: []UnitServer{BackEnd}}
	stopped := func(m Member) Member { m.Stopped = true; return m }

	if d := DecideManagerSwitchover(p, mgr, []Member{fes, bes1, stopped(bes2)}); !d.Allowed || d.WaitForMembers == 0 {
		t.Fatalf("one back-end left active: reduced activation must go ahead and wait: %+v", d)
	}
	d := DecideManagerSwitchover(p, mgr, []Member{fes, stopped(bes1), stopped(bes2)})
	if d.Allowed || !strings.Contains(d.Reason, "back-end") {
		t.Fatalf("no back-end would be active: reduced activation must fail: %+v", d)
	}
	if d := DecideManagerSwitchover(p, Member{Name: "mgr"}, []Member{fes, bes1, stopped(bes2)}); d.Allowed {
		t.Fatalf("no dictionary server anywhere: reduced activation must fail: %+v", d)
	}
	// A group that says nothing of its servers (not a HiRDB system) is
	// not checked for them.
	plain := []Member{{Name: "x"}, {Name: "y", Stopped: true}}
	if d := DecideManagerSwitchover(p, Member{Name: "mgr"}, plain); !d.Allowed {
		t.Fatalf("a group without unit servers: %+v", d)
	}
}

func TestHiRDB2679_ReducedActivation_WaitsForEachUnitToStart(t *testing.T) {
	p := ManagerPolicy{Rerun: RerunWait, StartLevel: 1}
	mgr := Member{Name: "mgr", Servers: []UnitServer{FrontEnd, BackEnd, Dictionary}}
	d := DecideManagerSwitchover(p, mgr, []Member{{Name: "a"}, {Name: "b", Stopped: true},
		{Name: "ru", Stopped: true, Servers: []UnitServer{RecoveryUnnecessaryFrontEnd}}})
	// Each unit's startup notice, the running one's too; not the stopped
	// recovery-unnecessary front end's, which does not hold anything up.
	if !slices.Equal(d.WaitsFor, []string{"a", "b"}) {
		t.Fatalf("waits for %v", d.WaitsFor)
	}
}

func TestHiRDB2679_SkipUnitsAreNotRecognised(t *testing.T) {
	p := ManagerPolicy{Rerun: RerunWait, StartLevel: 1, SkipUnits: []string{"old"}}
	members := []Member{{Name: "fes", Image: "v2"}, {Name: "old", Image: "v1", Stopped: true}}
	d := DecideManagerSwitchover(p, Member{Name: "mgr", Image: "v2"}, members)
	if !d.Allowed || d.WaitForMembers != 0 || len(d.StillStopped) != 0 || slices.Contains(d.WaitsFor, "old") {
		t.Fatalf("a skipped unit was counted or version-checked: %+v", d)
	}
	// Without startLevel 1 there is no skipping (pd_start_skip_unit needs it).
	p.StartLevel = 0
	if d := DecideManagerSwitchover(p, Member{Name: "mgr", Image: "v2"}, members); d.Allowed {
		t.Fatalf("skip units applied without reduced activation: %+v", d)
	}
}

func TestHiRDB2679_VersionCheckIncludesTheManager(t *testing.T) {
	d := DecideManagerSwitchover(ManagerPolicy{Rerun: RerunWait}, Member{Name: "mgr", Image: "v2"}, []Member{{Name: "a", Image: "v1"}})
	if d.Allowed {
		t.Fatalf("the manager's own version went unchecked: %+v", d)
	}
}

func TestHiRDB2679_ManagerCompletionNamesTheStoppedUnits(t *testing.T) {
	h := monitorModeHarness(t, withPatrol)
	h.cfg.Group, h.cfg.Exchange = "g", true
	h.cfg.ManagerGate = &ManagerDecision{Allowed: true, StillStopped: []string{"bes2"}}
	h.do(ServerExited{Node: "a"})
	h.do(ServerStarted{Node: "b"})
	h.wantState("b", Online)
	h.wantEmitText("HAMN163-I", "bes2")
}

func TestManagerGate_RefusedSwitchoverFails(t *testing.T) {
	h := monitorModeHarness(t, withPatrol)
	h.cfg.ManagerGate = &ManagerDecision{Allowed: false, Reason: "members [bes] are stopped"}
	h.do(ServerExited{Node: "a"})
	h.wantEmit("HAMN160-E")
	h.wantCmds()
	h.wantPhase(PhaseFailed)
	h.do(Request{ID: "w", Action: ActionSwap})
	h.wantRequest("w", RequestFailed, "ManagerSwitchRefused")
}

func TestManagerGate_ReducedActivationWaitsForMembers(t *testing.T) {
	h := monitorModeHarness(t, withPatrol)
	h.cfg.ManagerGate = &ManagerDecision{Allowed: true, WaitForMembers: 20 * time.Minute}
	h.do(ServerExited{Node: "a"})
	h.do(ServerStarted{Node: "b"})
	h.wantEmit("HAMN161-I")
	h.wantPhase(PhaseSwitchingOver)
	h.do(MembersReady{})
	h.wantState("b", Online)
}

func TestManagerGate_ReducedCheckTimeElapses(t *testing.T) {
	h := monitorModeHarness(t, withPatrol)
	h.cfg.ManagerGate = &ManagerDecision{Allowed: true, WaitForMembers: 20 * time.Minute}
	h.do(ServerExited{Node: "a"})
	h.do(ServerStarted{Node: "b"})
	h.advance(19 * time.Minute)
	h.wantPhase(PhaseSwitchingOver)
	h.advance(time.Minute)
	if e := h.wantEmitText("HAMN162-W", "not every member"); !e.Warning {
		t.Fatal("HAMN162-W is not a warning")
	}
	h.wantState("b", Online)
}
