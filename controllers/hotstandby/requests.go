package hotstandby

import (
	"fmt"
	"slices"
)

// Refusal reasons of operator requests.
const (
	ReasonSwitchoverInProgress = "SwitchoverInProgress"
	ReasonNoStandby            = "NoStandby"
	ReasonTargetNotStandby     = "TargetNotStandby"
	ReasonNotAStandby          = "NotAStandby"
	ReasonServerStopped        = "ServerStopped"
	ReasonAlreadyStopped       = "AlreadyStopped"
	ReasonAlreadyRunning       = "AlreadyRunning"
	ReasonNoHostAlive          = "NoHostAlive"
	ReasonNothingWaiting       = "NothingWaiting"
	ReasonNotWaiting           = "NotWaiting"
	ReasonNoSharedDisks        = "NoSharedDisks"
	ReasonServerActive         = "ServerActive"
	ReasonHolderMayBeAlive     = "HolderMayBeAlive"
	ReasonUnknownAction        = "UnknownAction"
	ReasonUnknownNode          = "UnknownNode"
	ReasonHostFenced           = "HostFenced"
	ReasonHostNotAlive         = "HostNotAlive"
	ReasonClearFailed          = "ClearFailed"
)

// onRequest answers an operator request. A request is acted on once per id:
// the same id again is ignored, so the controller may replay it freely.
func (s *step) onRequest(r Request) {
	if r.ID == "" || (s.st.LastRequest != nil && s.st.LastRequest.ID == r.ID) {
		return
	}
	s.st.LastRequest = &RequestResult{ID: r.ID, Action: r.Action, Outcome: RequestInProgress}
	if r.Node != "" && s.st.Host(r.Node) == nil {
		s.refuse(ReasonUnknownNode, fmt.Sprintf("%s is not one of the server's hosts", r.Node))
		return
	}
	if s.st.Switch != nil && r.Action != ActionStopStandby {
		s.refuse(ReasonSwitchoverInProgress, fmt.Sprintf("a switchover to %s is in progress; retry when it ends", s.st.Switch.To))
		return
	}
	s.info("HAMN140-I", "Request %s (%s) accepted", r.ID, r.Action)
	switch r.Action {
	case ActionSwap:
		s.requestSwap(r)
	case ActionStopStandby:
		s.requestStopStandby(r)
	case ActionEnd:
		s.requestEnd()
	case ActionBegin:
		s.requestBegin(r)
	case ActionAct:
		s.requestAct(r)
	case ActionClearReservation:
		s.requestClearReservation()
	default:
		s.refuse(ReasonUnknownAction, fmt.Sprintf("unknown action %q", r.Action))
	}
}

// answer sets the outcome of the current request.
func (s *step) answer(outcome RequestOutcome, reason, msg string) {
	if s.st.LastRequest == nil {
		return
	}
	s.st.LastRequest.Outcome, s.st.LastRequest.Reason, s.st.LastRequest.Message = outcome, reason, msg
	if outcome == RequestRefused {
		s.warn("HAMN141-W", "Request %s (%s) refused: %s", s.st.LastRequest.ID, s.st.LastRequest.Action, msg)
	}
}

func (s *step) refuse(reason, msg string) { s.answer(RequestRefused, reason, msg) }

// requestSwap is monswap (planned) and monswap -f (forced): Table 4-3 and
// 4-4, "Server hot-standby switchover command".
func (s *step) requestSwap(r Request) {
	if s.st.Halted == PhaseStopped || s.st.Phase == PhasePending {
		s.refuse(ReasonServerStopped, "the server is not running; Begin starts it")
		return
	}
	from := ""
	if a := s.activeHost(); a != nil {
		from = a.Node
	}
	var target *Host
	if r.Node != "" {
		target = s.st.Host(r.Node)
		if target.Node == from || target.State != Standby || !target.Alive {
			s.refuse(ReasonTargetNotStandby, fmt.Sprintf("%s is not a live standby (it is %s)", r.Node, target.State))
			return
		}
	} else if target = s.bestStandby(from); target == nil {
		// #5: no standby to switch to: hamon does nothing.
		s.refuse(ReasonNoStandby, "no live standby to switch to")
		return
	}
	cause := CausePlannedSwap
	if r.Force {
		cause = CauseForcedSwap
	}
	s.begin(from, target.Node, cause, !r.Force, r.Force, r.ID)
}

// requestStopStandby is monsbystp: the standby server is terminated.
func (s *step) requestStopStandby(r Request) {
	if r.Node != "" {
		h := s.st.Host(r.Node)
		if h.Role != RoleStandby || (s.st.Switch != nil && s.st.Switch.To == r.Node) {
			s.refuse(ReasonNotAStandby, fmt.Sprintf("%s is not a standby (it is %s)", r.Node, h.State))
			return
		}
	}
	if s.stopStandbys(r.Node) == 0 {
		s.refuse(ReasonNoStandby, "no standby to stop")
	}
}

// requestEnd is monend: the active server (with its termCommand) and the
// standbys are terminated (Table 4-4).
func (s *step) requestEnd() {
	if s.st.Halted == PhaseStopped && s.activeHost() == nil {
		s.refuse(ReasonAlreadyStopped, "the server is already ended")
		return
	}
	for i := range s.st.Hosts {
		s.st.Hosts[i].WantStandby = false
	}
	if a := s.activeHost(); a != nil {
		switch {
		case a.State == Stopping:
			a.AfterStop = Stopped
		case a.Alive && (a.State == Online || a.State == Starting || a.State == RestartWait || a.State == StartRetry):
			s.stopHost(a, Stopped)
		default:
			s.set(a, Stopped, RoleNone, "ended")
		}
	}
	s.stopStandbys("")
	for i := range s.st.Hosts {
		h := &s.st.Hosts[i]
		if h.State.IsWait() || h.State == Failed {
			s.set(h, Stopped, RoleNone, "ended")
		}
	}
	s.st.Halted = PhaseStopped
	s.info("HAMN142-I", "Server ended (monend)")
}

// requestBegin is monbegin: start an ended (or failed) server; with a node,
// bring that stopped or failed host back as a standby (7.4.3).
func (s *step) requestBegin(r Request) {
	if s.activeHost() == nil && (s.st.Halted != "" || s.st.Phase == PhasePending) {
		for i := range s.st.Hosts {
			h := &s.st.Hosts[i]
			if h.State == Failed || h.State.IsWait() {
				s.set(h, Stopped, RoleNone, "")
			}
			h.WantStandby = true
			h.StartRetries = 0
		}
		target := s.beginTarget(r.Node)
		if target == nil {
			s.refuse(ReasonNoHostAlive, "no live host can run the server")
			return
		}
		s.st.Halted = ""
		s.begin("", target.Node, CauseInitial, true, false, r.ID)
		return
	}
	if r.Node != "" {
		h := s.st.Host(r.Node)
		switch {
		case (h.State == Stopped || h.State == Failed) && h.Alive:
			s.set(h, Stopped, RoleNone, "brought back as standby")
			h.WantStandby = true
			s.answer(RequestDone, "", h.Node+" rejoins as standby")
			return
		case h.State == Fenced:
			// Its old copy may still hold what it held: only a reboot (a
			// new boot ID) proves it gone, as HA Monitor resets the host.
			s.refuse(ReasonHostFenced, h.Node+" is fenced: reboot it, and it rejoins as standby by itself")
			return
		case (h.State == Stopped || h.State == Failed) && !h.Alive:
			s.refuse(ReasonHostNotAlive, h.Node+" is not alive (its node agent does not renew its Lease): start the agent, then Begin again")
			return
		}
	}
	s.refuse(ReasonAlreadyRunning, "the server is running; Begin with a stopped host's node brings it back as standby")
}

// beginTarget picks where Begin activates: the node asked for, else the
// primary, else the best live host.
func (s *step) beginTarget(node string) *Host {
	ok := func(h *Host) bool { return h != nil && h.Alive && h.State != Fenced }
	if node != "" {
		if h := s.st.Host(node); ok(h) {
			return h
		}
		return nil
	}
	if p := s.st.Host(s.cfg.Primary); ok(p) {
		return p
	}
	for i := range s.st.Hosts {
		if ok(&s.st.Hosts[i]) && slices.Contains(s.cfg.Hosts, s.st.Hosts[i].Node) {
			return &s.st.Hosts[i]
		}
	}
	return nil
}

// requestAct is monact: a server in a wait state starts as the active
// server (7.5.1, 4.5.2, 4.4.1, 3.2.7).
func (s *step) requestAct(r Request) {
	var h *Host
	if r.Node != "" {
		h = s.st.Host(r.Node)
		if !h.State.IsWait() {
			s.refuse(ReasonNotWaiting, fmt.Sprintf("%s is not in a wait state (it is %s)", r.Node, h.State))
			return
		}
	} else {
		for i := range s.st.Hosts {
			if s.st.Hosts[i].State.IsWait() {
				h = &s.st.Hosts[i]
				break
			}
		}
		if h == nil {
			s.refuse(ReasonNothingWaiting, "no host waits for Act")
			return
		}
	}
	if !h.Alive {
		s.refuse(ReasonNoHostAlive, h.Node+" is not alive")
		return
	}
	if a := s.st.ActiveNode(); a != "" && a != h.Node {
		s.refuse(ReasonServerActive, fmt.Sprintf("the server is active on %s; Swap moves it", a))
		return
	}
	s.cancelStartRetries(h.Node, "Act on "+h.Node)
	switch h.State {
	case RestartWait, StartRetry:
		s.restartInPlace(h, s.t.RestartTimeout)
		if s.st.Switch != nil {
			s.st.Switch.RequestID = r.ID
			return
		}
		s.answer(RequestDone, "", "restarting the server on "+h.Node)
	default:
		// ActiveStartWait, HotStandbyWait, GroupSwitchWait: the operator
		// vouches that no other copy runs; the reservation is still
		// taken anew, preempting any other key.
		if a := s.activeHost(); a != nil && a.Node != h.Node {
			s.begin(a.Node, h.Node, CauseOperatorAct, true, false, r.ID)
			return
		}
		s.set(h, Standby, RoleStandby, "")
		s.begin("", h.Node, CauseOperatorAct, true, false, r.ID)
	}
}

// requestClearReservation is monscsiclr: only when no host is active and
// the holder is known down.
func (s *step) requestClearReservation() {
	if !s.cfg.SharedDisks {
		s.refuse(ReasonNoSharedDisks, "the server has no shared disks")
		return
	}
	if a := s.activeHost(); a != nil {
		s.refuse(ReasonServerActive, fmt.Sprintf("%s plays the active role (%s); end or switch it first", a.Node, a.State))
		return
	}
	if hold := s.st.Host(s.st.ReservationHolder); hold != nil && hold.Alive && hold.State != Fenced && (hold.ActiveCopy || hold.Running) {
		// A holder whose server may run there may be writing. One that is
		// back with nothing running (7.5.8 step 4: rebooted after a
		// KAMN726-E during End) does not block the clear.
		s.refuse(ReasonHolderMayBeAlive, fmt.Sprintf("the holder %s may be running the server; clear only when no copy runs there", hold.Node))
		return
	}
	var by *Host
	for i := range s.st.Hosts {
		if s.st.Hosts[i].Alive {
			by = &s.st.Hosts[i]
			break
		}
	}
	if by == nil {
		s.refuse(ReasonNoHostAlive, "no live agent can clear the reservation")
		return
	}
	s.info("KAMN107-I", "Clearing the reservation of the shared disks (holder %q) through %s", s.st.ReservationHolder, by.Node)
	s.emit(ClearReservation{By: by.Node})
	// In progress until the agent says it cleared (onReservationCleared).
	s.st.LastRequest.Message = "clearing the reservation through " + by.Node
}

// onReservationCleared: the agent answered the clear of the current
// ClearReservation request. Done only now: the request says what was done,
// not what was asked.
func (s *step) onReservationCleared(e ReservationCleared) {
	r := s.st.LastRequest
	if r == nil || r.Action != ActionClearReservation || r.Outcome != RequestInProgress {
		return
	}
	if !e.OK {
		s.answer(RequestFailed, ReasonClearFailed, fmt.Sprintf("the agent of %s could not clear the reservation: %s", e.By, e.Reason))
		s.warn("HAMN153-W", "The reservation of the shared disks was not cleared through %s: %s", e.By, e.Reason)
		return
	}
	s.st.ReservationHolder = ""
	s.answer(RequestDone, "", "reservation cleared through "+e.By)
}

// completeRequests answers requests whose work has finished: End and
// StopStandby once nothing is stopping any more.
func (s *step) completeRequests() {
	r := s.st.LastRequest
	if r == nil || r.Outcome != RequestInProgress {
		return
	}
	if r.Action == ActionClearReservation {
		return // answered by the agent's report (onReservationCleared)
	}
	if r.Action != ActionEnd && r.Action != ActionStopStandby {
		if s.st.Switch == nil {
			// A switchover that never started (refused by a gate) or one
			// that ended without the request attached.
			s.answer(RequestDone, "", "")
		}
		return
	}
	if slices.ContainsFunc(s.st.Hosts, func(h Host) bool { return h.State == Stopping }) {
		return
	}
	s.answer(RequestDone, "", "stopped")
}

// onGroupSwitch: the group switches to node (exchange, or monswap -g).
func (s *step) onGroupSwitch(to string, cause Cause) {
	h := s.st.Host(to)
	if h == nil || s.st.Switch != nil || h.State == Online {
		return
	}
	from := ""
	if a := s.activeHost(); a != nil {
		from = a.Node
	}
	switch {
	case h.State == GroupSwitchWait && h.Alive:
		s.set(h, Standby, RoleStandby, "")
		s.begin(from, to, cause, true, false, "")
	case h.State == Standby && h.Alive && from != "":
		s.begin(from, to, cause, true, false, "")
	}
}
