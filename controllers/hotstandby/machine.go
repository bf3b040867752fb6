package hotstandby

import (
	"fmt"
	"slices"
	"time"
)

// Clock tells the time. The controller uses the real clock; tests use a
// fake one, so that timers run in microseconds.
type Clock interface{ Now() time.Time }

// RealClock is the wall clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// New returns the state of a server that has just been defined: nothing
// runs yet; the primary host is activated as soon as its agent is alive
// (or, after Timing.PrimaryWait, the best live host waits in
// ActiveStartWait for an operator's Act, as in 7.5.1).
func New(cfg Config, now time.Time) *State {
	st := &State{Phase: PhasePending, Created: now}
	for _, n := range cfg.Hosts {
		st.Hosts = append(st.Hosts, Host{Node: n, State: Stopped, Role: RoleNone, WantStandby: true, Since: now})
	}
	st.Deadline = now.Add(cfg.Timing.withDefaults().PrimaryWait)
	return st
}

// Step applies one event to a copy of st and returns the new state and the
// commands to carry out, in order. It never panics on any event, and
// ignores events that do not fit the state (a stale report, an unknown
// node), so the controller may feed it whatever it observes, repeatedly.
func Step(cfg Config, st *State, ev Event, now time.Time) (*State, []Command) {
	s := &step{cfg: cfg, t: cfg.Timing.withDefaults(), st: st.Clone(), now: now}
	switch e := ev.(type) {
	case ServerExited:
		s.failedAt = e.At
	case PatrolFailed:
		s.failedAt = e.At
	case HostLost:
		s.failedAt = e.LastRenewal
	}
	if s.failedAt.After(now) {
		s.failedAt = time.Time{} // another clock, ahead of this one: no measure
	}
	s.reconcileHosts()
	s.apply(ev)
	s.settle()
	return s.st, s.out
}

// NextDeadline is when the machine next wants a Tick; zero when no timer runs.
func NextDeadline(st *State) time.Time {
	next := st.Deadline
	for _, h := range st.Hosts {
		if !h.Deadline.IsZero() && (next.IsZero() || h.Deadline.Before(next)) {
			next = h.Deadline
		}
	}
	return next
}

// step is one application of an event: the working copy of the state and
// the commands produced so far.
type step struct {
	cfg Config
	t   Timing
	st  *State
	now time.Time
	out []Command
	// failedAt is when the failure the event reports happened (zero: none
	// or unknown): a switchover it begins records it.
	failedAt time.Time
}

func (s *step) emit(c Command) { s.out = append(s.out, c) }

// startServer asks for the server on h in role; from now on a process may
// run there until it is seen to exit.
func (s *step) startServer(h *Host, role Role) {
	h.Running = true
	h.ActiveCopy = h.ActiveCopy || role == RoleActive
	s.emit(StartServer{Node: h.Node, Role: role})
}

func (s *step) info(id, format string, args ...any) {
	s.emit(Emit{ID: id, Message: fmt.Sprintf(format, args...)})
}

func (s *step) warn(id, format string, args ...any) {
	s.emit(Emit{ID: id, Warning: true, Message: fmt.Sprintf(format, args...)})
}

// set moves a host to a state and role, clearing its timer.
func (s *step) set(h *Host, state HostState, role Role, msg string) {
	if h.State != state {
		h.Since = s.now
		h.FailureLeft = false
		h.TermCommand = h.TermCommand && state == Stopping
	}
	h.State, h.Role, h.Message = state, role, msg
	h.Deadline = time.Time{}
	if state != Stopping {
		h.AfterStop = ""
	}
}

// reconcileHosts makes the host list follow the configuration: hosts added
// to the spec appear as idle standbys-to-be, removed ones disappear unless
// they are active or in a switchover (they leave once idle).
func (s *step) reconcileHosts() {
	var kept []Host
	for _, h := range s.st.Hosts {
		inCfg := slices.Contains(s.cfg.Hosts, h.Node)
		sw := s.st.Switch
		busy := h.Role == RoleActive || (sw != nil && (sw.From == h.Node || sw.To == h.Node || sw.Clearing == h.Node))
		if inCfg || busy {
			kept = append(kept, h)
		}
	}
	for _, n := range s.cfg.Hosts {
		if !slices.ContainsFunc(kept, func(h Host) bool { return h.Node == n }) {
			kept = append(kept, Host{Node: n, State: Stopped, Role: RoleNone, WantStandby: s.st.Phase != PhaseStopped, Since: s.now})
		}
	}
	// Keep priority order: configured hosts first, in Config.Hosts order.
	slices.SortStableFunc(kept, func(a, b Host) int { return s.rank(a.Node) - s.rank(b.Node) })
	s.st.Hosts = kept
}

func (s *step) rank(node string) int {
	if i := slices.Index(s.cfg.Hosts, node); i >= 0 {
		return i
	}
	return len(s.cfg.Hosts)
}

func (s *step) apply(ev Event) {
	switch e := ev.(type) {
	case ServerStarted:
		s.onStarted(e.Node)
	case ServerExited:
		s.onExited(e.Node, e.Normal)
	case TermCommandEnded:
		s.onTermCommandEnded(e.Node, e.ExitCode)
	case StoppedByAgent:
		s.onStoppedByAgent(e.Node, e.Reason)
	case StartFailed:
		s.onStartFailed(e.Node, e.Reason)
	case PatrolFailed:
		s.onPatrolFailed(e.Node, e.Reason)
	case HostLost:
		s.onHostLost(e.Node)
	case HostBack:
		s.onHostBack(e.Node, e.Rebooted)
	case ReservationTaken:
		s.onReservationTaken(e.Node, e.Epoch)
	case ReservationFailed:
		s.onReservationFailed(e.Node, e.Epoch, e.Reason)
	case ReservationCleared:
		s.onReservationCleared(e)
	case Tick:
		s.onTick()
	case Request:
		s.onRequest(e)
	case GroupSwitch:
		s.onGroupSwitch(e.To, e.Cause)
	case GroupMemberSwitched:
		s.onGroupMemberSwitched(e.To)
	case MembersReady:
		if sw := s.st.Switch; sw != nil && sw.Stage == StageAwaitingMembers {
			s.complete()
		}
	}
}

// activeHost is the host that plays the active role (Online, starting as
// active, or waiting to restart as active), nil when none does.
func (s *step) activeHost() *Host {
	for i := range s.st.Hosts {
		if s.st.Hosts[i].Role == RoleActive {
			return &s.st.Hosts[i]
		}
	}
	return nil
}

// bestStandby is the highest-priority live standby that may take over,
// skipping exclude and the targets that already failed in this switchover.
func (s *step) bestStandby(exclude string) *Host {
	for i := range s.st.Hosts {
		h := &s.st.Hosts[i]
		if h.Node == exclude || !h.Alive || h.State != Standby || !slices.Contains(s.cfg.Hosts, h.Node) {
			continue
		}
		if s.st.Switch != nil && slices.Contains(s.st.Switch.Tried, h.Node) {
			continue
		}
		return h
	}
	return nil
}

// stopStandbys terminates the standby servers (all, or only node).
func (s *step) stopStandbys(node string) int {
	n := 0
	for i := range s.st.Hosts {
		h := &s.st.Hosts[i]
		if h.Role != RoleStandby || (node != "" && h.Node != node) {
			continue
		}
		if s.st.Switch != nil && s.st.Switch.To == h.Node {
			continue
		}
		h.WantStandby = false
		n++
		if s.cfg.Mode == ModeServer && (h.State == Standby || h.State == Starting) && h.Alive {
			s.stopHost(h, Stopped)
			h.Role = RoleNone
			continue
		}
		s.set(h, Stopped, RoleNone, "standby stopped")
	}
	return n
}

func (s *step) releaseReservation(node string) {
	if s.cfg.SharedDisks && s.st.ReservationHolder == node {
		s.emit(Release{Node: node})
		s.st.ReservationHolder = ""
	}
}

// settle runs after every event: it starts the standbys hamon wants,
// begins the first activation, and derives the phase.
func (s *step) settle() {
	if s.st.Phase == PhasePending && s.st.Switch == nil && s.activeHost() == nil {
		if p := s.st.Host(s.cfg.Primary); p != nil && p.Alive && p.State != Fenced && !s.anyWaiting() {
			s.begin("", p.Node, CauseInitial, true, false, "")
		}
	}
	for i := range s.st.Hosts {
		h := &s.st.Hosts[i]
		if !h.WantStandby || !h.Alive || h.State != Stopped || !slices.Contains(s.cfg.Hosts, h.Node) || s.cordoned(h.Node) {
			continue
		}
		if sw := s.st.Switch; sw != nil && (sw.To == h.Node || sw.From == h.Node || sw.Clearing == h.Node) {
			continue // the old host rejoins once the switchover is over
		}
		if s.cfg.Mode == ModeServer {
			s.set(h, Starting, RoleStandby, "starting as standby")
			h.Deadline = s.now.Add(s.t.StartTimeout)
			s.startServer(h, RoleStandby)
			continue
		}
		s.set(h, Standby, RoleStandby, "")
	}
	s.drain()
	for i := range s.st.Hosts {
		// A stop that no switchover waits for runs on its own timer.
		h := &s.st.Hosts[i]
		if h.State == Stopping && h.Deadline.IsZero() && (s.st.Switch == nil || s.st.Switch.Clearing != h.Node) {
			h.Deadline = s.now.Add(s.t.StopTimeout)
		}
	}
	s.completeRequests()
	s.st.Phase = s.phase()
}

func (s *step) anyWaiting() bool {
	return slices.ContainsFunc(s.st.Hosts, func(h Host) bool { return h.State.IsWait() })
}

// phase derives the summary from the hosts and the switchover.
func (s *step) phase() Phase {
	if sw := s.st.Switch; sw != nil {
		if sw.Cause == CauseInitial {
			return PhaseStarting
		}
		return PhaseSwitchingOver
	}
	if s.st.ActiveNode() != "" {
		return PhaseOnline
	}
	if s.anyWaiting() {
		return PhaseWaiting
	}
	if a := s.activeHost(); a != nil && (a.State == Starting || a.State == Stopping) {
		return PhaseStarting
	}
	if s.st.Halted != "" {
		return s.st.Halted
	}
	if s.st.Phase == PhasePending || s.st.Phase == "" {
		return PhasePending
	}
	return PhaseStopped
}
