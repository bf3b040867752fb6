package hotstandby

import (
	"fmt"
	"slices"
	"time"
)

// ManagerRerun is HiRDB's pd_ha_mgr_rerun.
type ManagerRerun string

// The pd_ha_mgr_rerun values.
const (
	RerunWait   ManagerRerun = "Wait"
	RerunNoWait ManagerRerun = "NoWait"
)

// ManagerPolicy is the system-manager switchover policy of a group (HiRDB
// 26.7.9): pd_ha_mgr_rerun, pd_start_level, pd_start_skip_unit and
// pd_reduced_check_time.
type ManagerPolicy struct {
	Rerun            ManagerRerun
	StartLevel       int
	SkipUnits        []string
	ReducedCheckTime time.Duration
}

// Member is what the group policies need to know of one member (a unit).
type Member struct {
	Name    string
	Stopped bool   // the member runs nowhere (STOP)
	Image   string // the member's server image (its version)
}

// ManagerDecision says whether the system manager may switch over now, and
// for how long its activation then waits for the members.
type ManagerDecision struct {
	// Allowed is false when the switchover must fail.
	Allowed bool
	// Reason says why, for events and conditions.
	Reason string
	// WaitForMembers is how long the activated manager waits for the
	// members' startup notices (0: no wait).
	WaitForMembers time.Duration
	// WaitsFor names the members it waits for.
	WaitsFor []string
}

// DecideManagerSwitchover applies Tables 26-41 and 26-42 to the group's
// members (the manager excluded):
//
//   - Table 26-41, wait (default): units are version-checked; a stopped
//     unit makes the switchover fail, unless reduced activation applies.
//   - Table 26-41, notwait: no version check, no wait; the switchover goes
//     ahead with stopped units. hamon checks the version beforehand: members
//     on different images make the policy invalid, so it fails.
//   - Table 26-42, pd_start_level 0: a stopped unit makes it fail.
//   - pd_start_level 1 without pd_start_skip_unit: it goes ahead, then waits
//     up to pd_reduced_check_time for the units' startup.
//   - pd_start_level 1 with the stopped units in pd_start_skip_unit: it goes
//     ahead with no wait. A stopped unit not in the list is waited for.
func DecideManagerSwitchover(p ManagerPolicy, members []Member) ManagerDecision {
	var stopped []string
	images := map[string]bool{}
	for _, m := range members {
		if m.Stopped {
			stopped = append(stopped, m.Name)
		}
		if m.Image != "" {
			images[m.Image] = true
		}
	}
	if len(images) > 1 {
		if p.Rerun == RerunNoWait {
			return ManagerDecision{Reason: "managerRerun NoWait skips the version check, so every member must run the same image; they do not"}
		}
		return ManagerDecision{Reason: "version check failed: the members run different images"}
	}
	if p.Rerun == RerunNoWait {
		return ManagerDecision{Allowed: true, Reason: "managerRerun NoWait: no wait for the members"}
	}
	if len(stopped) == 0 {
		return ManagerDecision{Allowed: true, Reason: "every member is running"}
	}
	if p.StartLevel != 1 {
		return ManagerDecision{Reason: fmt.Sprintf("members %v are stopped and startLevel is 0 (no reduced activation)", stopped)}
	}
	var waitFor []string
	for _, m := range stopped {
		if !slices.Contains(p.SkipUnits, m) {
			waitFor = append(waitFor, m)
		}
	}
	if len(waitFor) == 0 {
		return ManagerDecision{Allowed: true, Reason: fmt.Sprintf("reduced activation: stopped members %v are in skipUnits", stopped)}
	}
	wait := p.ReducedCheckTime
	if wait <= 0 {
		wait = 20 * time.Minute
	}
	return ManagerDecision{
		Allowed: true, WaitForMembers: wait, WaitsFor: waitFor,
		Reason: fmt.Sprintf("reduced activation: waiting up to %s for members %v", wait, waitFor),
	}
}

// onGroupMemberSwitched: another member of the group switched over to the
// node to, after this member's start retries began (PlanGroup checks
// that). 3.2.7: the retries are canceled. The group's members run on one
// host, so this member follows the others there: it is activated on to
// when to is one of its live hosts; otherwise it is a hot-standby error,
// the outcome the retries were to avoid, said as such (never a silent
// Stopped with no host active).
func (s *step) onGroupMemberSwitched(to string) {
	retrying := false
	for _, h := range s.st.Hosts {
		retrying = retrying || (h.State == StartRetry && h.Node != to)
	}
	if !retrying {
		return
	}
	why := "a member of group " + s.cfg.Group + " switched to " + to
	t := s.st.Host(to)
	follow := t != nil && t.Alive && (t.State == Standby || t.State == Stopped) && slices.Contains(s.cfg.Hosts, to)
	if !follow {
		for i := range s.st.Hosts {
			if h := &s.st.Hosts[i]; h.State == StartRetry {
				s.set(h, Failed, RoleNone, "start retries canceled: "+why)
				h.WantStandby, h.StartRetries = false, 0
				s.warn("HAMN127-W", "Start retries on %s canceled: %s", h.Node, why)
			}
		}
		if s.st.Switch == nil && s.activeHost() == nil {
			s.warn("HAMN129-E", "Hot standby error: the start retries were canceled (%s), and %s cannot run the server", why, to)
			s.st.Halted = PhaseFailed
		}
		return
	}
	s.cancelStartRetries(to, why)
	if s.st.Switch == nil && s.activeHost() == nil {
		s.begin("", to, CauseGroupSwitch, false, false, "")
	}
}

// MemberView is what the group coordinator sees of one member.
type MemberView struct {
	Name string
	// Exchange is the member's exchange setting.
	Exchange bool
	// Active is the member's Online node, "" when none.
	Active string
	// Switch is the member's switchover in progress, nil when none.
	Switch *Switchover
	// LastSwitch is the member's newest finished switchover, nil when none.
	LastSwitch *Switchover
	// StartRetryOn is the node where the member is in StartRetry, "".
	StartRetryOn string
	// StartRetrySince is when the member entered StartRetry there.
	StartRetrySince time.Time
	// GroupSwitchWaitOn is the node where the member waits in GroupSwitchWait, "".
	GroupSwitchWaitOn string
}

// GroupCommand is an event the coordinator sends to one member.
type GroupCommand struct {
	Member string
	Event  Event
}

// PlanGroup is the grouped-system switchover (3.2.3, 4.4.1): when a member
// with exchange switches away from a failure, the other members follow it
// to the same host (a planned switchover for them); when any member has
// switched, the start retries of the others elsewhere are canceled (3.2.7).
// It is level-based: the controller calls it on every reconcile and feeds
// the commands to the members, which ignore what no longer applies.
func PlanGroup(members []MemberView) []GroupCommand {
	var out []GroupCommand
	// The leader is an exchange member's switchover for a failure: under
	// way, or else the newest one that finished and succeeded (a fast
	// switchover may be over before another member looks).
	var leader *Switchover
	finished := false
	for i := range members {
		m := &members[i]
		if m.Switch != nil && m.Exchange && isFailureCause(m.Switch.Cause) {
			leader = m.Switch
			break
		}
	}
	if leader == nil {
		finished = true
		for i := range members {
			m := &members[i]
			if last := m.LastSwitch; m.Switch == nil && m.Exchange && last != nil && isFailureCause(last.Cause) &&
				last.Result == ResultSucceeded && m.Active == last.To && (leader == nil || last.Started.After(leader.Started)) {
				leader = last
			}
		}
	}
	if leader != nil {
		for _, m := range members {
			// A member that switched since a finished leader (by itself, or
			// already with the group) follows its own history. The status
			// keeps whole seconds: a switch in the same second is not "since".
			movedSince := finished && m.LastSwitch != nil && m.LastSwitch.Started.After(leader.Started)
			if m.Switch == nil && m.Active != "" && m.Active != leader.To && !movedSince {
				out = append(out, GroupCommand{Member: m.Name, Event: GroupSwitch{To: leader.To, Cause: CauseGroupSwitch}})
			}
		}
	}
	for _, m := range members {
		// 3.2.7: another member that successfully switched over to another
		// host cancels the start retries; only a switchover (not a first
		// activation) that ended after they began counts. The status keeps
		// whole seconds: one in the same second is not "after".
		last := m.LastSwitch
		if last == nil || last.Result != ResultSucceeded || last.From == "" {
			continue
		}
		for _, o := range members {
			if o.Name != m.Name && o.StartRetryOn != "" && o.StartRetryOn != last.To && last.Finished.After(o.StartRetrySince) {
				out = append(out, GroupCommand{Member: o.Name, Event: GroupMemberSwitched{To: last.To}})
			}
		}
	}
	return out
}

// PlanGroupSwap is monswap -g: every member switches to node (or, when
// node is "", to the node where a member waits in GroupSwitchWait, else
// the first member's best standby given by fallback).
func PlanGroupSwap(members []MemberView, node, fallback string) (string, []GroupCommand) {
	if node == "" {
		for _, m := range members {
			if m.GroupSwitchWaitOn != "" {
				node = m.GroupSwitchWaitOn
				break
			}
		}
	}
	if node == "" {
		node = fallback
	}
	if node == "" {
		return "", nil
	}
	var out []GroupCommand
	for _, m := range members {
		if m.Active != node {
			out = append(out, GroupCommand{Member: m.Name, Event: GroupSwitch{To: node, Cause: CauseGroupSwitch}})
		}
	}
	return node, out
}

func isFailureCause(c Cause) bool {
	switch c {
	case CauseServerFailure, CausePatrolFailure, CauseHostFailure, CauseRestartFailed:
		return true
	}
	return false
}
