package hotstandby

import (
	"fmt"
	"time"
)

// The events of a server process: started, exited, failing its patrol
// (Tables 4-3 and 4-4).

// onStarted: the server on a host reports up.
func (s *step) onStarted(node string) {
	h := s.st.Host(node)
	if h == nil {
		return
	}
	h.Running = true
	h.FailureLeft = false // seen healthy again
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
		why := "restarted in place"
		if h.State == StartRetry {
			// 3.2.7: told as a normal active start, not as a hot standby.
			why = fmt.Sprintf("start retry %d of %d", h.StartRetries, s.cfg.SwitchRetry)
		}
		s.goOnline(h, why)
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
	wasRunning := h.Running
	h.Running = false
	if h.TermCommand {
		return // the server ended before; only the termCommand's end is news
	}
	sw := s.st.Switch
	if sw != nil && sw.To == node {
		h.ActiveCopy = false
		switch {
		case sw.Stage == StageActivating || sw.Stage == StageAwaitingMembers:
			s.targetFailed(fmt.Sprintf("the server exited on %s while starting", node))
		case sw.TargetWasRunning && wasRunning:
			// The standby copy this switchover was to promote ended
			// before its activation (its host rebooted, or it crashed):
			// there is nothing to promote, so activation starts the
			// server there, as in Monitor mode. Otherwise it would wait
			// for a promotion that cannot come.
			sw.TargetWasRunning = false
			s.warn("HAMN138-W", "The standby copy on %s ended before its promotion: the switchover starts the server there", node)
		default:
			// Before the Activating stage nothing was started there: a
			// stale report of an earlier copy, which is now known gone.
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
			s.restartInPlace(h, s.cfg.RestartWaitLimit)
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

// onTermCommandEnded: the termCommand run after an abnormal termination
// (Table 4-4 #1) ended: what the server left is terminated, and the
// switchover that waits for it goes on. Its exit code is told, not judged:
// the server had ended already.
func (s *step) onTermCommandEnded(node string, code int32) {
	h := s.st.Host(node)
	if h == nil || !h.TermCommand {
		return
	}
	s.info("HAMN107-I", "The termCommand on %s ended (exit code %d)", node, code)
	after := h.AfterStop
	s.set(h, after, roleAfterStop(after), "abnormal termination; termCommand run")
	if sw := s.st.Switch; sw != nil && sw.Clearing == node && sw.Stage == StageTerminating {
		s.cleared()
	}
}

// onStoppedByAgent: the agent stopped the server on its own (StoppedByAgent):
// told, then handled as the abnormal termination it is.
func (s *step) onStoppedByAgent(node, reason string) {
	h := s.st.Host(node)
	if h == nil || !h.Running {
		return
	}
	s.warn("HAMN180-W", "The node agent of %s stopped the server there on its own: %s", node, reason)
	s.onExited(node, false)
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
	if h == nil || h.State != Online || s.st.Switch != nil || h.FailureLeft {
		return // a failure left alone (no standby then) is not acted on later
	}
	s.warn("HAMN105-E", "Server failure detected on %s: %s", node, reason)
	s.serverFailure(h, CausePatrolFailure, true)
}

// StopsFailedActive says whether a failure of the running active server is
// answered by stopping it: yes for Switch; no for Restart (Table 4-3
// footnote 3: restart wait "without terminating it") and Manual, which
// leave the server as it is. The controller hands the answer to the active
// host's agent (status.localDecisions), which applies it when it must act
// on a failure without the controller.
func StopsFailedActive(t SwitchType) bool { return t == SwitchTypeSwitch }

// serverFailure handles a failure of the active server on h, running
// (patrol failure) or not (abnormal termination), by switchType (Table 4-3
// #3, REFERENCE.md 1.3).
func (s *step) serverFailure(h *Host, cause Cause, running bool) {
	switch s.cfg.SwitchType {
	case SwitchTypeRestart:
		// Table 4-3 #3 and footnote 3: restart wait "without terminating
		// it", waiting for the server to be restarted "without performing
		// the hot standby operation". A running server is left to recover
		// (a database's crash recovery may take long); one that ended is
		// started again here, as the server would restart itself. hamon
		// switches only when spec.restartWaitLimit is set and runs out, or
		// when an operator asks (Act restarts, Swap switches).
		limit := "no time limit"
		if l := s.cfg.RestartWaitLimit; l > 0 {
			limit = "switching after " + l.String()
		}
		if running {
			s.set(h, RestartWait, RoleActive, "waiting to recover after "+string(cause)+" (not terminated)")
			s.warn("HAMN130-W", "Server on %s waits in RestartWait to recover, not terminated (switchtype Restart; %s)", h.Node, limit)
			if l := s.cfg.RestartWaitLimit; l > 0 {
				h.Deadline = s.now.Add(l)
			}
			return
		}
		s.set(h, RestartWait, RoleActive, "restarting in place after "+string(cause))
		s.warn("HAMN130-W", "Server on %s waits in RestartWait and is restarted in place (switchtype Restart; %s)", h.Node, limit)
		s.restartInPlace(h, s.cfg.RestartWaitLimit)
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
		// #3, #5: no standby to switch to: hamon does nothing, and does
		// not act on this failure later either.
		s.warn("HAMN124-E", "No standby to switch %s to; hot standby not performed", h.Node)
		if running {
			h.Message = string(cause) + "; no standby to switch to"
			h.FailureLeft = true
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
// restart, monact of a RestartWait or StartRetry host), bounded by limit
// (0: no bound).
func (s *step) restartInPlace(h *Host, limit time.Duration) {
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
	if limit > 0 {
		h.Deadline = s.now.Add(limit)
	}
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
