package controllers

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
)

func inGroup(name string, exchange bool) func(*hav1alpha1.HAServerSpec) {
	return func(s *hav1alpha1.HAServerSpec) {
		withPatrol(s)
		s.Group = &hav1alpha1.GroupMembership{Name: name, Exchange: ptr(exchange)}
	}
}

func (f *fakeCluster) newGroup(name string, spec hav1alpha1.HAServerGroupSpec) {
	f.t.Helper()
	g := &hav1alpha1.HAServerGroup{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns}, Spec: spec}
	if err := env.Client.Create(context.Background(), g); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fakeCluster) getGroup(name string) *hav1alpha1.HAServerGroup {
	f.t.Helper()
	var g hav1alpha1.HAServerGroup
	if err := env.Client.Get(context.Background(), keyOf(f.ns, name), &g); err != nil {
		f.t.Fatal(err)
	}
	return &g
}

// 3.2.3: a failure of one member (exchange) switches the whole group; the
// others get a planned switchover to the same host.
func TestGroupExchange_OneFailureSwitchesTheGroup(t *testing.T) {
	withManager(t)
	f := newFakeCluster(t, "t-gx", "gx-a", "gx-b")
	f.newGroup("g", hav1alpha1.HAServerGroupSpec{})
	f.newServer("db", inGroup("g", true), "gx-a", "gx-b")
	f.newServer("tp", inGroup("g", true), "gx-a", "gx-b")
	f.waitActive("db", "gx-a")
	f.waitActive("tp", "gx-a")
	eventually(t, "the group is Online on gx-a", func() bool {
		g := f.getGroup("g")
		return g.Status.ActiveNode == "gx-a" && len(g.Status.Members) == 2
	})
	f.exit("db", "gx-a", 1)
	f.waitActive("db", "gx-b")
	s := f.waitActive("tp", "gx-b")
	if c := s.Status.Switchovers[len(s.Status.Switchovers)-1].Cause; c != "GroupSwitch" {
		t.Fatalf("tp switched for %s, want GroupSwitch", c)
	}
	eventually(t, "the group is Online on gx-b", func() bool { return f.getGroup("g").Status.ActiveNode == "gx-b" })
}

// 4.4.1: no_exchange: only the failed member is terminated; its standby
// waits in GroupSwitchWait until monswap -g switches the group.
// 3.2.7: a member's start retries are canceled only by another member's
// switchover that succeeded after they began (before, the other member's
// first activation canceled them at once), and a canceled member that
// cannot follow the group is a hot-standby error, said as such (before:
// Stopped, no host active, no error).
func TestGroup_StartRetriesCanceledOnlyByALaterSwitchover(t *testing.T) {
	withManager(t)
	f := newFakeCluster(t, "t-grr", "gr-a", "gr-b", "gr-c")
	f.newGroup("g", hav1alpha1.HAServerGroupSpec{})
	f.newServer("db", inGroup("g", true), "gr-a", "gr-b")
	f.newServer("tp", both(inGroup("g", true), withStartRetries), "gr-a", "gr-c")
	f.waitActive("db", "gr-a")
	f.waitActive("tp", "gr-a")
	f.failStarts("gr-c", "CreateContainerError")
	f.exit("tp", "gr-a", 1)
	f.waitEvent("tp", "HAMN126-W")
	// db's first activation is older than tp's retries: they go on.
	eventually(t, "tp retries twice on gr-c", func() bool { return strings.Count(f.eventReasons("tp"), "HAMN136-I") >= 2 })
	for _, h := range f.get("tp").Status.Hosts {
		if h.Node == "gr-c" && h.State != hav1alpha1.HostStartRetry {
			t.Fatalf("tp on gr-c is %s, want StartRetry", h.State)
		}
	}
	// db now switches over to gr-b, which tp cannot run on.
	f.exit("db", "gr-a", 1)
	f.waitActive("db", "gr-b")
	eventually(t, "tp's retries are canceled with a hot-standby error", func() bool {
		r := f.eventReasons("tp")
		return strings.Contains(r, "HAMN127-W") && strings.Contains(r, "HAMN129-E") && f.get("tp").Status.Phase == hav1alpha1.PhaseFailed
	})
}

func TestGroupNoExchange_WaitsForGroupSwap(t *testing.T) {
	withManager(t)
	f := newFakeCluster(t, "t-gn", "gn-a", "gn-b")
	f.newGroup("g", hav1alpha1.HAServerGroupSpec{})
	f.newServer("db", inGroup("g", false), "gn-a", "gn-b")
	f.newServer("tp", inGroup("g", false), "gn-a", "gn-b")
	f.waitActive("db", "gn-a")
	f.waitActive("tp", "gn-a")
	f.exit("db", "gn-a", 1)
	eventually(t, "db's standby waits in GroupSwitchWait", func() bool {
		for _, h := range f.get("db").Status.Hosts {
			if h.Node == "gn-b" && h.State == hav1alpha1.HostGroupSwitchWait {
				return true
			}
		}
		return false
	})
	if f.get("tp").Status.ActiveNode != "gn-a" {
		t.Fatal("tp moved although the group is no_exchange")
	}
	// The group controller writes the group's status meanwhile: a conflict
	// is retried, as kubectl hamon does.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		g := f.getGroup("g")
		g.Spec.Request = &hav1alpha1.OperatorRequest{ID: "gswap", Action: hav1alpha1.ActionSwap}
		return env.Client.Update(context.Background(), g)
	}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			f.dump(t, "db", "tp")
		}
	}()
	f.waitActive("db", "gn-b")
	f.waitActive("tp", "gn-b")
	eventually(t, "the group request is done", func() bool {
		r := f.getGroup("g").Status.LastRequest
		return r != nil && r.ID == "gswap" && r.Outcome == hav1alpha1.RequestDone
	})
}

// HiRDB 26.7.9: with a stopped member and startLevel 0 the manager's
// switchover fails; the group says why.
func TestManagerSwitchover_RefusedWithStoppedMember(t *testing.T) {
	withManager(t)
	f := newFakeCluster(t, "t-gm", "gm-a", "gm-b")
	f.newGroup("g", hav1alpha1.HAServerGroupSpec{Manager: "mgr"})
	f.newServer("mgr", inGroup("g", true), "gm-a", "gm-b")
	f.newServer("unit", inGroup("g", false), "gm-a", "gm-b")
	f.waitActive("mgr", "gm-a")
	f.waitActive("unit", "gm-a")
	f.exit("unit", "gm-a", 0) // the unit is stopped (normal termination)
	eventually(t, "unit stopped", func() bool { return f.get("unit").Status.Phase == hav1alpha1.PhaseStopped })
	defer func() {
		if t.Failed() {
			f.dump(t, "mgr", "unit")
		}
	}()
	f.exit("mgr", "gm-a", 1)
	eventually(t, "the manager's switchover failed", func() bool { return f.get("mgr").Status.Phase == hav1alpha1.PhaseFailed })
	f.waitEvent("mgr", "HAMN160-E")
}

func (f *fakeCluster) dump(t *testing.T, names ...string) {
	t.Helper()
	g := f.getGroup("g")
	t.Logf("group status: %+v request %+v", g.Status, g.Status.LastRequest)
	for _, n := range names {
		s := f.get(n)
		t.Logf("%s: phase=%s active=%s hosts=%+v switch=%+v last=%+v", n, s.Status.Phase, s.Status.ActiveNode, s.Status.Hosts, s.Status.Switchover, s.Status.LastRequest)
	}
}

// eventNotes lists the messages of the server's events with reason id.
func (f *fakeCluster) eventNotes(name, id string) string {
	var list eventsv1.EventList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(f.ns)); err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Name == name && e.Reason == id {
			out = append(out, e.Note)
		}
	}
	return strings.Join(out, "\n")
}

// withStartRetries makes a failed start retried (switch_error Retry) many times.
func withStartRetries(s *hav1alpha1.HAServerSpec) {
	s.SwitchError = hav1alpha1.SwitchErrorRetry
	s.SwitchRetry = ptr(int32(100))
}

func withUnitServers(kinds ...hav1alpha1.UnitServer) func(*hav1alpha1.HAServerSpec) {
	return func(s *hav1alpha1.HAServerSpec) { s.Group.UnitServers = kinds }
}

func both(fs ...func(*hav1alpha1.HAServerSpec)) func(*hav1alpha1.HAServerSpec) {
	return func(s *hav1alpha1.HAServerSpec) {
		for _, f := range fs {
			f(s)
		}
	}
}

// HiRDB 26.7.9: a stopped unit of only recovery-unnecessary front-end
// servers does not make the manager's switchover fail (wait, start level
// 0), and the manager's completion (KFPS05210-I) names it as still stopped.
func TestHiRDB2679_StoppedRecoveryUnnecessaryFrontEnd_ManagerSwitches(t *testing.T) {
	withManager(t)
	f := newFakeCluster(t, "t-hru", "hr-a", "hr-b")
	f.newGroup("g", hav1alpha1.HAServerGroupSpec{Manager: "mgr"})
	f.newServer("mgr", both(inGroup("g", true), withUnitServers(hav1alpha1.UnitDictionary, hav1alpha1.UnitBackEnd)), "hr-a", "hr-b")
	f.newServer("fes", both(inGroup("g", false), withUnitServers(hav1alpha1.UnitRecoveryUnnecessaryFrontEnd)), "hr-a", "hr-b")
	f.waitActive("mgr", "hr-a")
	f.waitActive("fes", "hr-a")
	f.exit("fes", "hr-a", 0)
	eventually(t, "fes stopped", func() bool { return f.get("fes").Status.Phase == hav1alpha1.PhaseStopped })
	f.exit("mgr", "hr-a", 1)
	f.waitActive("mgr", "hr-b")
	f.waitEvent("mgr", "HAMN163-I")
	if n := f.eventNotes("mgr", "HAMN163-I"); !strings.Contains(n, "members still stopped: fes") {
		t.Fatalf("the manager's completion does not name the stopped unit: %q", n)
	}
	if strings.Contains(f.eventReasons("mgr"), "HAMN160-E") {
		t.Fatal("the switchover was refused")
	}
}

// HiRDB 26.7.9: reduced activation waits until each unit has started
// (Online), not until it begins starting; and a member in start retries
// counts as stopped.
func TestHiRDB2679_ReducedActivation_WaitsUntilTheUnitIsOnline(t *testing.T) {
	withManager(t)
	f := newFakeCluster(t, "t-hra", "ra-a", "ra-b", "ra-c")
	f.newGroup("g", hav1alpha1.HAServerGroupSpec{Manager: "mgr", StartLevel: 1, ReducedCheckTime: "10m"})
	f.newServer("mgr", inGroup("g", true), "ra-a", "ra-b")
	f.newServer("bes", inGroup("g", false), "ra-c", "ra-b")
	f.waitActive("mgr", "ra-a")
	f.waitActive("bes", "ra-c")
	f.exit("bes", "ra-c", 0)
	eventually(t, "bes stopped", func() bool { return f.get("bes").Status.Phase == hav1alpha1.PhaseStopped })
	f.exit("mgr", "ra-a", 1)
	f.waitEvent("mgr", "HAMN161-I")
	f.holdPods("ra-c", true)
	f.request("bes", hav1alpha1.OperatorRequest{ID: "b1", Action: hav1alpha1.ActionBegin})
	eventually(t, "bes is starting", func() bool { return f.get("bes").Status.Phase == hav1alpha1.PhaseStarting })
	// The manager sees bes starting (its reconcile follows the member's
	// status): it must keep waiting.
	time.Sleep(time.Second)
	if m := f.get("mgr"); m.Status.Phase != hav1alpha1.PhaseSwitchingOver || m.Status.Switchover == nil ||
		m.Status.Switchover.Stage != hav1alpha1.StageAwaitingMembers {
		t.Fatalf("the manager stopped waiting when bes began starting: phase %s switchover %+v", m.Status.Phase, m.Status.Switchover)
	}
	f.holdPods("ra-c", false)
	defer func() {
		if t.Failed() {
			f.dump(t, "mgr", "bes")
		}
	}()
	f.waitActive("mgr", "ra-b")
	if n := f.eventNotes("mgr", "HAMN163-I"); !strings.Contains(n, "every member is running") {
		t.Fatalf("HAMN163-I: %q", n)
	}
}

// HiRDB 26.7.9: a member in start retries is a stopped unit: with start
// level 0 the manager's switchover fails.
func TestHiRDB2679_MemberInStartRetries_CountsAsStopped(t *testing.T) {
	withManager(t)
	f := newFakeCluster(t, "t-hsr", "hs-a", "hs-b", "hs-c")
	f.newGroup("g", hav1alpha1.HAServerGroupSpec{Manager: "mgr"})
	f.newServer("mgr", inGroup("g", true), "hs-a", "hs-b")
	f.newServer("tp", both(inGroup("g", true), withStartRetries), "hs-a", "hs-c")
	f.waitActive("mgr", "hs-a")
	f.waitActive("tp", "hs-a")
	f.failStarts("hs-c", "CreateContainerError")
	f.exit("tp", "hs-a", 1)
	f.waitEvent("tp", "HAMN126-W")
	f.exit("mgr", "hs-a", 1)
	f.waitEvent("mgr", "HAMN160-E")
	if n := f.eventNotes("mgr", "HAMN160-E"); !strings.Contains(n, "tp") {
		t.Fatalf("HAMN160-E does not name tp: %q", n)
	}
}

// HiRDB 26.7.9: a change of skipUnits takes effect only while the whole
// system is stopped; until then the group says so and the old list holds.
func TestHiRDB2679_SkipUnitsChangeWaitsForTheSystemToStop(t *testing.T) {
	withManager(t)
	f := newFakeCluster(t, "t-hsk", "hk-a", "hk-b")
	f.newGroup("g", hav1alpha1.HAServerGroupSpec{Manager: "mgr", StartLevel: 1})
	f.newServer("mgr", inGroup("g", true), "hk-a", "hk-b")
	f.newServer("old", inGroup("g", false), "hk-a", "hk-b")
	f.waitActive("mgr", "hk-a")
	f.waitActive("old", "hk-a")
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		g := f.getGroup("g")
		g.Spec.SkipUnits = []string{"old"}
		return env.Client.Update(context.Background(), g)
	}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the group says the change waits", func() bool {
		c := meta.FindStatusCondition(f.getGroup("g").Status.Conditions, hav1alpha1.ConditionValid)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == "SkipUnitsPending" && strings.Contains(c.Message, "kubectl hamon end")
	})
	if g := f.getGroup("g"); len(g.Status.SkipUnits) != 0 {
		t.Fatalf("the skip list took effect while the system ran: %v", g.Status.SkipUnits)
	}
	f.request("mgr", hav1alpha1.OperatorRequest{ID: "e1", Action: hav1alpha1.ActionEnd})
	f.request("old", hav1alpha1.OperatorRequest{ID: "e2", Action: hav1alpha1.ActionEnd})
	eventually(t, "the skip list takes effect once every member is stopped", func() bool {
		g := f.getGroup("g")
		c := meta.FindStatusCondition(g.Status.Conditions, hav1alpha1.ConditionValid)
		return slices.Equal(g.Status.SkipUnits, []string{"old"}) && c != nil && c.Status == metav1.ConditionTrue
	})
}

// HiRDB 26.7.9 Table 26-41 #1: notwait does no version check; the group
// says the images differ, and the manager switches anyway.
func TestHiRDB2679_NoWait_NoVersionCheck(t *testing.T) {
	withManager(t)
	f := newFakeCluster(t, "t-hnw", "hn-a", "hn-b")
	f.newGroup("g", hav1alpha1.HAServerGroupSpec{Manager: "mgr", ManagerRerun: hav1alpha1.ManagerRerunNoWait})
	f.newServer("mgr", inGroup("g", true), "hn-a", "hn-b")
	f.newServer("unit", func(s *hav1alpha1.HAServerSpec) {
		inGroup("g", false)(s)
		s.Template.Spec.Containers[0].Image = "example.com/unit:v2"
	}, "hn-a", "hn-b")
	f.waitActive("mgr", "hn-a")
	f.waitActive("unit", "hn-a")
	eventually(t, "the group notes the images differ", func() bool {
		c := meta.FindStatusCondition(f.getGroup("g").Status.Conditions, hav1alpha1.ConditionValid)
		return c != nil && c.Status == metav1.ConditionTrue && c.Reason == "ImagesDiffer"
	})
	f.exit("mgr", "hn-a", 1)
	f.waitActive("mgr", "hn-b")
}
