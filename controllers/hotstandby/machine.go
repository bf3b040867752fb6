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
	case Tick:
		s.onTick()
	case Request:
		s.onRequest(e)
	case GroupSwitch:
		s.onGroupSwitch(e.To, e.Cause)
	case GroupMemberSwitched:
		s.cancelStartRetries(e.To, "a member of group "+s.cfg.Group+" switched to "+e.To)
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

// onStarted: the server on a host reports up.
func (s *step) onStarted(node string) {
	h := s.st.Host(node)
	if h == nil {
		return
	}
	h.Running = true
	if h.Role == RoleActive {
		h.ActiveCopy = true // a copy that restarts by itself as active writes too
	}
	sw := s.st.Switch
	switch {
	case sw != nil && sw.To == node && sw.Stage == StageActivating:
		s.activated()
	case h.State == Starting && h.Role == RoleStandby:
		s.set(h, Standby, RoleStandby, "")
		s.info("HAMN101-I", "Server started as standby on %s", node)
	case h.Role == RoleActive && sw == nil && (h.State == Starting || h.State == RestartWait || h.State == StartRetry):
		// Restart in place (switchtype restart, monact) or a start retry
		// succeeded. The host already holds the reservation: restarts in
		// place only happen on the holder (see restartInPlace).
		if s.cfg.SharedDisks && s.st.ReservationHolder != node {
			return
		}
		s.goOnline(h, "restarted in place")
	}
}

// goOnline makes h the Online host outside a switchover, and cancels the
// start retries of every other host (3.2.7).
func (s *step) goOnline(h *Host, why string) {
	s.set(h, Online, RoleActive, "")
	s.st.Halted = ""
	s.info("HAMN100-I", "Server started as active on %s (%s)", h.Node, why)
	s.cancelStartRetries(h.Node, "the server started as active on "+h.Node)
}

// onExited: the server process on a host ended.
func (s *step) onExited(node string, normal bool) {
	h := s.st.Host(node)
	if h == nil {
		return
	}
	h.Running = false
	sw := s.st.Switch
	if sw != nil && sw.To == node {
		// Before the Activating stage nothing was started there: a stale
		// report of an earlier copy, which is now known gone.
		h.ActiveCopy = false
		if sw.Stage == StageActivating || sw.Stage == StageAwaitingMembers {
			s.targetFailed(fmt.Sprintf("the server exited on %s while starting", node))
		}
		return
	}
	if sw != nil && sw.Clearing == node && sw.Stage == StageTerminating {
		s.set(h, h.AfterStop, RoleNone, "terminated for "+string(sw.Cause))
		s.info("HAMN102-I", "Server terminated on %s", node)
		s.cleared()
		return
	}
	h.ActiveCopy = false
	switch h.State {
	case Stopping:
		after := h.AfterStop
		s.set(h, after, roleAfterStop(after), "")
		s.info("HAMN102-I", "Server terminated on %s", node)
		if after == RestartWait {
			s.restartInPlace(h)
		}
		if after == Stopped && s.st.Halted == PhaseStopped && s.st.Switch == nil {
			// monend: the server stopped everywhere leaves no reservation
			// behind, as a normal termination does (HAMN102-I).
			s.releaseReservation(node)
		}
	case Online:
		s.activeExited(h, normal)
	case Starting, RestartWait, StartRetry:
		if h.Role == RoleActive {
			s.restartFailed(h, "the server exited while restarting")
			return
		}
		s.standbyExited(h, normal)
	case Standby:
		s.standbyExited(h, normal)
	}
}

func roleAfterStop(st HostState) Role {
	switch st {
	case RestartWait:
		return RoleActive
	case Standby:
		return RoleStandby
	}
	return RoleNone
}

// activeExited applies rows 1 and 2 of Table 4-3 (Server mode) and of
// Table 4-4 (Monitor mode) to the Online host h.
func (s *step) activeExited(h *Host, normal bool) {
	if normal {
		// Table 4-3 #1 (normal, planned or forced termination by the
		// program): hamon terminates the standbys, then nothing.
		// Table 4-4 row 1: hamon does nothing; the standbys stay ready.
		s.set(h, Stopped, RoleNone, "normal termination")
		h.WantStandby = false
		s.info("HAMN102-I", "Active server terminated normally on %s", h.Node)
		s.releaseReservation(h.Node)
		if s.cfg.Mode == ModeServer {
			s.stopStandbys("")
		}
		s.st.Halted = PhaseStopped
		return
	}
	s.warn("HAMN103-E", "Abnormal termination of the active server on %s", h.Node)
	if s.cfg.Mode == ModeMonitor && !s.cfg.HasPatrol {
		// Table 4-4 #2: without a monitoring command, hot standby of a
		// monitor-mode server is the operator's decision (Swap or Act).
		s.set(h, RestartWait, RoleActive, "abnormal termination; waiting for an operator (Act restarts here, Swap switches)")
		s.warn("HAMN132-W", "Server waits on %s for an operator: Monitor mode without patrol does not switch by itself", h.Node)
		return
	}
	s.set(h, Failed, RoleActive, "abnormal termination")
	s.serverFailure(h, CauseServerFailure, false)
}

func (s *step) standbyExited(h *Host, normal bool) {
	// Table 4-3 rows 3 and 4, Table 4-4 rows 3 and 4: hamon does nothing.
	h.WantStandby = false
	if normal {
		s.set(h, Stopped, RoleNone, "normal termination")
		s.info("HAMN102-I", "Standby server terminated on %s", h.Node)
		return
	}
	s.set(h, Failed, RoleNone, "abnormal termination")
	s.warn("HAMN104-W", "Abnormal termination of the standby server on %s", h.Node)
}

// onPatrolFailed: "Detection of an active server failure" (Table 4-3).
func (s *step) onPatrolFailed(node, reason string) {
	h := s.st.Host(node)
	if h == nil || h.State != Online || s.st.Switch != nil {
		return
	}
	s.warn("HAMN105-E", "Server failure detected on %s: %s", node, reason)
	s.serverFailure(h, CausePatrolFailure, true)
}

// StopsFailedActive says whether a failure of the running active server is
// answered by stopping it: yes for Switch and Restart, no for Manual, which
// leaves the server as it is for an operator. The node agent asks it when
// it must act on a failure without the controller.
func StopsFailedActive(t SwitchType) bool { return t != SwitchTypeManual }

// serverFailure handles a failure of the active server on h, running
// (patrol failure) or not (abnormal termination), by switchType (Table 4-3
// #3, REFERENCE.md 1.3).
func (s *step) serverFailure(h *Host, cause Cause, running bool) {
	switch s.cfg.SwitchType {
	case SwitchTypeRestart:
		// #3: restart wait, without terminating; hamon restarts it here
		// and switches only if that restart fails.
		s.set(h, RestartWait, RoleActive, "restarting in place after "+string(cause))
		s.warn("HAMN130-W", "Server on %s waits for restart (switchtype Restart)", h.Node)
		if running {
			s.stopHost(h, RestartWait)
			return
		}
		s.restartInPlace(h)
		return
	case SwitchTypeManual:
		s.set(h, RestartWait, RoleActive, "waiting for an operator after "+string(cause))
		s.warn("HAMN132-W", "Server on %s waits for an operator (switchtype Manual): Act restarts it, Swap switches", h.Node)
		return
	}
	s.switchFrom(h, cause, running)
}

// switchFrom starts an automatic hot standby away from the failed h.
func (s *step) switchFrom(h *Host, cause Cause, running bool) {
	target := s.bestStandby(h.Node)
	if target == nil {
		// #3, #5: no standby to switch to: hamon does nothing.
		s.warn("HAMN124-E", "No standby to switch %s to; hot standby not performed", h.Node)
		if running {
			h.Message = string(cause) + "; no standby to switch to"
			return
		}
		s.set(h, Failed, RoleNone, string(cause)+"; no standby to switch to")
		s.st.Halted = PhaseFailed
		return
	}
	if s.cfg.Group != "" && !s.cfg.Exchange && cause != CauseHostFailure {
		// no_exchange (4.4.1): only this member is terminated; its standby
		// waits for the group to switch.
		if running {
			s.stopHost(h, Failed)
		} else {
			s.set(h, Failed, RoleNone, string(cause))
		}
		s.set(target, GroupSwitchWait, RoleStandby, "group "+s.cfg.Group+" is no_exchange: waiting for a group switch (Swap on the group)")
		s.warn("HAMN133-W", "Standby on %s waits for group %s to switch", target.Node, s.cfg.Group)
		return
	}
	s.begin(h.Node, target.Node, cause, false, false, "")
}

// stopHost terminates the server on h, which then goes to after.
func (s *step) stopHost(h *Host, after HostState) {
	role := h.Role
	s.set(h, Stopping, role, "terminating")
	h.AfterStop = after
	h.Deadline = s.now.Add(s.t.StopTimeout)
	s.emit(StopServer{Node: h.Node, UseTermCommand: s.cfg.HasTermCommand})
}

// restartInPlace starts the server again as active on h (switchtype
// restart, monact of a RestartWait or StartRetry host).
func (s *step) restartInPlace(h *Host) {
	if s.cfg.SharedDisks && s.st.ReservationHolder != h.Node {
		// The reservation moved (or was cleared): take it again first.
		s.begin("", h.Node, CauseOperatorAct, true, false, "")
		return
	}
	state := h.State
	if state != StartRetry {
		state = RestartWait
	}
	s.set(h, state, RoleActive, "restarting in place")
	h.Deadline = s.now.Add(s.t.RestartTimeout)
	s.startServer(h, RoleActive)
}

// restartFailed: a restart in place did not bring the server up.
func (s *step) restartFailed(h *Host, why string) {
	if h.State == StartRetry {
		s.retryFailed(h, why)
		return
	}
	s.set(h, Failed, RoleActive, why)
	if s.cfg.SwitchType == SwitchTypeManual || (s.cfg.Mode == ModeMonitor && !s.cfg.HasPatrol) {
		s.set(h, RestartWait, RoleActive, why+"; waiting for an operator")
		return
	}
	s.warn("HAMN131-E", "Restart of the server on %s failed: %s", h.Node, why)
	s.switchFrom(h, CauseRestartFailed, false)
}

// onHostLost: the host's Lease expired (host failure).
func (s *step) onHostLost(node string) {
	h := s.st.Host(node)
	if h == nil || !h.Alive {
		if h != nil && s.st.Switch != nil && s.st.Switch.Clearing == node && s.st.Switch.AwaitHostDown {
			s.hostDown()
		}
		return
	}
	h.Alive = false
	s.warn("HAMN110-E", "Host failure: lost contact with %s", node)
	sw := s.st.Switch
	switch {
	case sw != nil && sw.Clearing == node && (sw.Stage == StageTerminating || sw.AwaitHostDown):
		s.hostDown()
		return
	case sw != nil && sw.To == node:
		s.targetFailed("host " + node + " was lost")
		return
	}
	if h.Role != RoleActive {
		return
	}
	if h.State == Stopping && h.AfterStop != RestartWait {
		// It was being stopped (End); the host is gone, so is the server.
		s.set(h, h.AfterStop, RoleNone, "host lost while stopping")
		return
	}
	target := s.bestStandby(node)
	if target == nil {
		s.warn("HAMN124-E", "No standby to switch %s to; hot standby not performed", node)
		s.set(h, Failed, RoleNone, "host lost; no standby to switch to")
		s.st.Halted = PhaseFailed
		return
	}
	// Host failures switch whatever the switchtype: nothing can restart here.
	s.begin(node, target.Node, CauseHostFailure, false, false, "")
}

// onHostBack: the host's Lease is renewed again.
func (s *step) onHostBack(node string, rebooted bool) {
	h := s.st.Host(node)
	if h == nil {
		return
	}
	if h.Alive && !rebooted {
		return
	}
	h.Alive = true
	s.info("HAMN111-I", "Host %s is back (rebooted=%t)", node, rebooted)
	if h.State == Fenced {
		if !rebooted {
			h.Message = "fenced: rejoins as standby after a reboot"
			return
		}
		// fence_node(8): storage access comes back only after a reboot.
		s.set(h, Stopped, RoleNone, "rebooted after fencing")
		h.WantStandby = s.st.Halted != PhaseStopped
		s.info("HAMN151-I", "Fenced host %s rebooted and rejoins as standby", node)
	}
}

// onTick fires the timers that are due.
func (s *step) onTick() {
	for i := range s.st.Hosts {
		h := &s.st.Hosts[i]
		if h.Deadline.IsZero() || s.now.Before(h.Deadline) {
			continue
		}
		h.Deadline = time.Time{}
		s.hostTimer(h)
	}
	if s.st.Deadline.IsZero() || s.now.Before(s.st.Deadline) {
		return
	}
	s.st.Deadline = time.Time{}
	if s.st.Switch != nil {
		s.switchTimer()
		return
	}
	if s.st.Phase == PhasePending {
		s.primaryWaitExpired()
	}
}

// hostTimer handles a host's own timer.
func (s *step) hostTimer(h *Host) {
	switch {
	case h.State == Stopping:
		s.warn("HAMN134-W", "Server on %s did not stop in %s", h.Node, s.t.StopTimeout)
		if h.Role == RoleActive && h.AfterStop == RestartWait {
			s.set(h, Failed, RoleActive, "did not stop for a restart")
			s.switchFrom(h, CauseRestartFailed, true)
			return
		}
		s.set(h, Failed, RoleNone, "did not stop in time")
	case h.State == Starting && h.Role == RoleStandby:
		s.set(h, Failed, RoleNone, "standby did not start in time")
		h.WantStandby = false
	case h.State == StartRetry && h.Role == RoleActive:
		s.retryStart(h)
	case h.Role == RoleActive && (h.State == RestartWait || h.State == Starting):
		s.restartFailed(h, "the server did not restart in time")
	}
}

// primaryWaitExpired: the primary host did not come up in time; the best
// live host waits for an operator's Act (7.5.1).
func (s *step) primaryWaitExpired() {
	for i := range s.st.Hosts {
		h := &s.st.Hosts[i]
		if h.Alive && (h.State == Standby || h.State == Stopped) {
			s.set(h, ActiveStartWait, RoleStandby, "the primary host "+s.cfg.Primary+" did not start; Act starts the server here")
			s.warn("HAMN135-W", "Primary host %s is not up; %s waits in ActiveStartWait", s.cfg.Primary, h.Node)
			return
		}
	}
}

// cancelStartRetries turns hosts other than keep that wait to start as
// active into standbys (3.2.7: another host's active server started; the
// same holds for every wait state once a server is Online).
func (s *step) cancelStartRetries(keep, why string) {
	for i := range s.st.Hosts {
		h := &s.st.Hosts[i]
		if h.State.IsWait() && h.Node != keep {
			s.set(h, Stopped, RoleNone, "start retries canceled: "+why)
			h.WantStandby = true
			h.StartRetries = 0
			s.warn("HAMN127-W", "Start retries on %s canceled: %s", h.Node, why)
		}
	}
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
		if !h.WantStandby || !h.Alive || h.State != Stopped || !slices.Contains(s.cfg.Hosts, h.Node) {
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
