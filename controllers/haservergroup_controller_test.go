package controllers

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

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
	f.newServer("tp", func(s *hav1alpha1.HAServerSpec) {
		inGroup("g", true)(s)
		s.SwitchError = hav1alpha1.SwitchErrorRetry
		s.SwitchRetry = ptr(int32(100))
	}, "gr-a", "gr-c")
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
