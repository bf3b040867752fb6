package hotstandby

import (
	"fmt"
	"maps"
	"slices"
	"strings"
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

// UnitServer is a kind of HiRDB server a unit (a member) runs.
type UnitServer string

// The HiRDB server kinds of 26.7.9.
const (
	FrontEnd UnitServer = "FrontEnd"
	// RecoveryUnnecessaryFrontEnd is a front-end server that needs no
	// recovery: a unit of only such servers, stopped, does not make the
	// manager's switchover fail.
	RecoveryUnnecessaryFrontEnd UnitServer = "RecoveryUnnecessaryFrontEnd"
	BackEnd                     UnitServer = "BackEnd"
	Dictionary                  UnitServer = "Dictionary"
)

// Member is what the group policies need to know of one member (a unit).
type Member struct {
	Name string
	// Stopped: the member runs in no form (stopped, failed, waiting,
	// pending, or in start retries). A member starting or switching over
	// is on its way up and is not stopped.
	Stopped bool
	Image   string       // the member's server image (its version)
	Servers []UnitServer // the HiRDB servers it runs; none when not said
}

// onlyRecoveryUnnecessary: the unit runs nothing but recovery-unnecessary
// front-end servers.
func (m Member) onlyRecoveryUnnecessary() bool {
	return len(m.Servers) > 0 && !slices.ContainsFunc(m.Servers, func(k UnitServer) bool { return k != RecoveryUnnecessaryFrontEnd })
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
	// WaitsFor names the members whose startup it waits for: each
	// recognised unit (Table 26-42 waits for "a startup processing
	// completion notification from each unit"), but for a stopped one of
	// only recovery-unnecessary front-end servers. The wait ends when each
	// is Online, not when it begins starting.
	WaitsFor []string
	// StillStopped names the recognised members that are stopped: what
	// the manager's completion reports (KFPS05210-I is issued even when the
	// system is not complete).
	StillStopped []string
}

// DecideManagerSwitchover applies 26.7.9 (Tables 26-41 and 26-42 and their
// notes) to the group's members, given the manager unit itself:
//
//   - Members in pd_start_skip_unit (with pd_start_level 1) are not
//     recognised at all: neither counted as stopped nor version-checked.
//   - Table 26-41, wait (default): the units, the manager included, are
//     version-checked (members on different images fail the switchover);
//     a stopped unit makes it fail, unless reduced activation applies. A
//     stopped unit of only recovery-unnecessary front-end servers never
//     does.
//   - Table 26-41, notwait: no version check and no wait; the switchover
//     goes ahead with stopped units. Checking the versions beforehand
//     (pdadmvr) is the operator's part.
//   - Table 26-42, pd_start_level 0: a stopped unit makes it fail.
//   - pd_start_level 1: it goes ahead, then waits up to
//     pd_reduced_check_time for the stopped units to start, but fails when
//     no front-end, no back-end or no dictionary server would be active
//     (checked when the members say which servers they run).
func DecideManagerSwitchover(p ManagerPolicy, manager Member, members []Member) ManagerDecision {
	skip := func(m Member) bool { return p.StartLevel == 1 && slices.Contains(p.SkipUnits, m.Name) }
	var stopped, blocking, awaited []string
	images := map[string]bool{}
	if manager.Image != "" {
		images[manager.Image] = true
	}
	active := map[UnitServer]bool{}
	declared := len(manager.Servers) > 0
	for _, k := range manager.Servers {
		active[k] = true
	}
	for _, m := range members {
		if skip(m) {
			continue
		}
		declared = declared || len(m.Servers) > 0
		if m.Image != "" {
			images[m.Image] = true
		}
		if !m.Stopped || !m.onlyRecoveryUnnecessary() {
			awaited = append(awaited, m.Name)
		}
		if !m.Stopped {
			for _, k := range m.Servers {
				active[k] = true
			}
			continue
		}
		stopped = append(stopped, m.Name)
		if !m.onlyRecoveryUnnecessary() {
			blocking = append(blocking, m.Name)
		}
	}
	// WaitsFor in every outcome, not only when the wait begins: the
	// decision is made again at each look, and a unit that has begun
	// starting since is no longer stopped, but is still awaited until it
	// is Online.
	d := ManagerDecision{Allowed: true, StillStopped: stopped, WaitsFor: awaited}
	fail := func(format string, args ...any) ManagerDecision {
		d.Allowed, d.Reason = false, fmt.Sprintf(format, args...)
		return d
	}
	if p.Rerun == RerunNoWait {
		d.WaitsFor = nil
		d.Reason = "managerRerun NoWait: no version check and no wait for the members"
		return d
	}
	if len(images) > 1 {
		return fail("version check failed: the units run different images %v", slices.Sorted(maps.Keys(images)))
	}
	if len(blocking) == 0 {
		d.Reason = "every member is running"
		if len(stopped) > 0 {
			d.Reason = fmt.Sprintf("the only stopped members %v run recovery-unnecessary front-end servers", stopped)
		}
		return d
	}
	if p.StartLevel != 1 {
		return fail("members %v are stopped and startLevel is 0 (no reduced activation)", blocking)
	}
	if declared {
		var missing []string
		if !active[FrontEnd] && !active[RecoveryUnnecessaryFrontEnd] {
			missing = append(missing, "front-end")
		}
		if !active[BackEnd] {
			missing = append(missing, "back-end")
		}
		if !active[Dictionary] {
			missing = append(missing, "dictionary")
		}
		if len(missing) > 0 {
			return fail("reduced activation with members %v stopped would leave no active %s server",
				blocking, strings.Join(missing, ", no active "))
		}
	}
	wait := p.ReducedCheckTime
	if wait <= 0 {
		wait = 20 * time.Minute
	}
	d.WaitForMembers = wait
	d.Reason = fmt.Sprintf("reduced activation: waiting up to %s for members %v", wait, blocking)
	return d
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
