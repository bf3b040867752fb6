package controllers

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/controllers/hotstandby"
	"github.com/hamon-ha/hamon/controllers/machinestate"
)

// groupIndex indexes HAServers by spec.group.name.
const groupIndex = "spec.group.name"

// groupOf reads a member's group: the HAServerGroup (nil when there is
// none) and every member, the server itself included.
func groupOf(ctx context.Context, c client.Client, s *hav1alpha1.HAServer) (*hav1alpha1.HAServerGroup, []hav1alpha1.HAServer, error) {
	if s.Spec.Group == nil {
		return nil, nil, nil
	}
	var list hav1alpha1.HAServerList
	if err := c.List(ctx, &list, client.InNamespace(s.Namespace), client.MatchingFields{groupIndex: s.Spec.Group.Name}); err != nil {
		return nil, nil, fmt.Errorf("listing the members of group %s: %w", s.Spec.Group.Name, err)
	}
	var g hav1alpha1.HAServerGroup
	err := c.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: s.Spec.Group.Name}, &g)
	if apierrors.IsNotFound(err) {
		return nil, list.Items, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading group %s: %w", s.Spec.Group.Name, err)
	}
	return &g, list.Items, nil
}

// memberView is what the group coordinator sees of one member, from its status.
func memberView(m *hav1alpha1.HAServer) hotstandby.MemberView {
	v := hotstandby.MemberView{Name: m.Name, Exchange: m.Spec.GroupExchange(), Active: m.Status.ActiveNode}
	if m.Status.Switchover != nil {
		sw := machinestate.SwitchoverFromStatus(*m.Status.Switchover)
		v.Switch = &sw
	}
	if n := len(m.Status.Switchovers); n > 0 {
		sw := machinestate.SwitchoverFromStatus(m.Status.Switchovers[n-1])
		v.LastSwitch = &sw
	}
	for _, h := range m.Status.Hosts {
		switch h.State {
		case hav1alpha1.HostStartRetry:
			v.StartRetryOn = h.Node
			if h.Since != nil {
				v.StartRetrySince = h.Since.Time
			}
		case hav1alpha1.HostGroupSwitchWait:
			v.GroupSwitchWaitOn = h.Node
		}
	}
	return v
}

// managerGate applies the system-manager policy when s is its group's
// manager; nil otherwise.
func managerGate(s *hav1alpha1.HAServer, g *hav1alpha1.HAServerGroup, members []hav1alpha1.HAServer) *hotstandby.ManagerDecision {
	if g == nil || g.Spec.Manager != s.Name {
		return nil
	}
	var units []hotstandby.Member
	for i := range members {
		if members[i].Name != s.Name {
			units = append(units, unitOf(&members[i]))
		}
	}
	d := hotstandby.DecideManagerSwitchover(managerPolicy(g), unitOf(s), units)
	return &d
}

// unitOf is a member as the system-manager policy sees it.
func unitOf(m *hav1alpha1.HAServer) hotstandby.Member {
	u := hotstandby.Member{Name: m.Name, Stopped: memberStopped(m), Image: serverImage(m)}
	if m.Spec.Group != nil {
		for _, k := range m.Spec.Group.UnitServers {
			u.Servers = append(u.Servers, hotstandby.UnitServer(k))
		}
	}
	return u
}

// memberStopped: the member runs in no form (26.7.9's "stopped unit"): not
// Online, starting or switching over; or its copies are in start retries.
// A member waiting (RestartWait, HotStandbyWait, ...) or still pending is
// stopped too: no startup notice will come from it by itself.
func memberStopped(m *hav1alpha1.HAServer) bool {
	for _, h := range m.Status.Hosts {
		if h.State == hav1alpha1.HostStartRetry {
			return true
		}
	}
	if sw := m.Status.Switchover; sw != nil && sw.Cause == hav1alpha1.SwitchoverCause(hotstandby.CauseStartRetry) {
		return true
	}
	switch m.Status.Phase {
	case hav1alpha1.PhaseOnline, hav1alpha1.PhaseStarting, hav1alpha1.PhaseSwitchingOver:
		return false
	}
	return true
}

func managerPolicy(g *hav1alpha1.HAServerGroup) hotstandby.ManagerPolicy {
	wait, err := time.ParseDuration(g.Spec.ReducedCheckTime)
	if err != nil {
		wait = 20 * time.Minute
	}
	rerun := hotstandby.RerunWait
	if g.Spec.ManagerRerun == hav1alpha1.ManagerRerunNoWait {
		rerun = hotstandby.RerunNoWait
	}
	// The skip list in effect, not the one asked for: HiRDB reads
	// pd_start_skip_unit only when the system starts.
	return hotstandby.ManagerPolicy{Rerun: rerun, StartLevel: int(g.Spec.StartLevel), SkipUnits: g.Status.SkipUnits, ReducedCheckTime: wait}
}

func serverImage(m *hav1alpha1.HAServer) string {
	if len(m.Spec.Template.Spec.Containers) == 0 {
		return ""
	}
	return m.Spec.Template.Spec.Containers[0].Image
}

// groupEvents are the events the group sends this member: follow a member
// that switched away from a failure (exchange), cancel start retries when
// another member switched, a group switchover in progress (monswap -g),
// and, for a manager waiting for its members, their readiness.
func groupEvents(s *hav1alpha1.HAServer, g *hav1alpha1.HAServerGroup, members []hav1alpha1.HAServer,
	gate *hotstandby.ManagerDecision) []hotstandby.Event {
	if s.Spec.Group == nil {
		return nil
	}
	var views []hotstandby.MemberView
	for i := range members {
		views = append(views, memberView(&members[i]))
	}
	var evs []hotstandby.Event
	for _, c := range hotstandby.PlanGroup(views) {
		if c.Member == s.Name {
			evs = append(evs, c.Event)
		}
	}
	if g != nil && g.Status.TargetNode != "" && g.Status.LastRequest != nil && g.Status.LastRequest.Outcome == hav1alpha1.RequestInProgress {
		evs = append(evs, hotstandby.GroupSwitch{To: g.Status.TargetNode, Cause: hotstandby.CauseGroupSwitch})
	}
	if s.Status.Switchover != nil && s.Status.Switchover.Stage == hav1alpha1.StageAwaitingMembers {
		ready := true
		var waitsFor []string
		if gate != nil {
			waitsFor = gate.WaitsFor
		}
		for _, name := range waitsFor {
			for i := range members {
				if members[i].Name == name && members[i].Status.Phase != hav1alpha1.PhaseOnline {
					ready = false
				}
			}
		}
		if ready {
			evs = append(evs, hotstandby.MembersReady{})
		}
	}
	return evs
}
