package hotstandby

import (
	"fmt"
	"strings"
	"time"
)

// begin starts a switchover from the host from ("" when no host was
// active) to the host to. Every switchover runs the same pipeline:
//
//	Terminating → Fencing → Reserving → Activating [→ AwaitingMembers]
//
// skipping the steps that do not apply: a stopped or lost old host needs
// no termination; a clean one needs no fencing; a server without shared
// disks takes no reservation. Activation never happens before every other
// host that may run an active copy is known stopped or fenced (safety
// invariant 1): see clearNext.
func (s *step) begin(from, to string, cause Cause, planned, forced bool, requestID string) {
	if g := s.cfg.ManagerGate; g != nil && !g.Allowed && cause != CauseInitial {
		// HiRDB 26.7.9: the system manager unit's switchover fails.
		s.warn("HAMN160-E", "Switchover of the system manager %s refused by the group policy: %s", s.cfg.Group, g.Reason)
		if old := s.st.Host(from); old != nil && (old.State != Online || !old.Alive) {
			s.set(old, Failed, RoleNone, "switchover refused: "+g.Reason)
			s.st.Halted = PhaseFailed
		}
		if requestID != "" {
			s.answer(RequestFailed, "ManagerSwitchRefused", g.Reason)
		}
		return
	}
	sw := &Switchover{From: from, To: to, Cause: cause, Planned: planned, Forced: forced, Started: s.now, RequestID: requestID}
	if isFailureCause(cause) {
		sw.FailedAt = s.failedAt
	}
	s.st.Switch = sw
	target := s.st.Host(to)
	sw.TargetWasRunning = s.cfg.Mode == ModeServer && target.State == Standby && target.Running
	s.set(target, Starting, RoleActive, "switchover target ("+string(cause)+")")
	if from == "" {
		s.info("HAMN120-I", "Activation of the server on %s started (%s)", to, cause)
	} else {
		s.info("HAMN120-I", "Hot standby from %s to %s started (%s)", from, to, cause)
	}
	old := s.st.Host(from)
	switch {
	case old == nil:
	case forced:
		s.fenceForced(old)
		return
	case !old.ActiveCopy && old.State != Stopping && s.cfg.Mode == ModeMonitor && s.cfg.HasTermCommand && old.Alive:
		// The old server ended abnormally. Table 4-4 #1: HA Monitor runs
		// the termination command to terminate what is left of it, and
		// the standby starts after that: until the command ended, what it
		// terminates may still write (clearNext waits for it, bounded by
		// the stop timeout, then fences the host).
		s.set(old, Stopping, RoleNone, "running the termCommand after the abnormal termination")
		old.AfterStop, old.TermCommand, old.ActiveCopy = afterSwitch(sw), true, true
		s.info("HAMN106-I", "Running the termCommand on %s to terminate what the server left before the standby starts", old.Node)
		s.emit(StopServer{Node: old.Node, UseTermCommand: true})
	case !old.ActiveCopy && old.State != Stopping:
		// The old server already ended (abnormal termination, failed
		// restart): nothing to terminate.
		s.set(old, afterSwitch(sw), RoleNone, old.Message)
	default:
		old.AfterStop = afterSwitch(sw)
		old.Role = RoleNone
	}
	s.clearNext()
}

// afterSwitch is the state the old host takes once a switchover moved away
// from it: a planned switchover leaves it a standby; a failure leaves it
// Failed until the operator brings it back (7.4 step 5).
func afterSwitch(sw *Switchover) HostState {
	if sw.Planned {
		return Stopped // then WantStandby makes it a standby again
	}
	return Failed
}

// nextToClear is the next host, other than the target, that may run an
// active copy: the old active first.
func (s *step) nextToClear() *Host {
	sw := s.st.Switch
	if h := s.st.Host(sw.From); h != nil && h.ActiveCopy && h.Node != sw.To {
		return h
	}
	for i := range s.st.Hosts {
		h := &s.st.Hosts[i]
		if h.ActiveCopy && h.Node != sw.To {
			return h
		}
	}
	return nil
}

// clearNext makes the next host that may write safe, one at a time: a live
// one is terminated (and waited for), a lost one is fenced (by the
// reservation preempt, or by waiting out its self-fencing deadline). When
// none is left, the switchover goes on to the reservation.
func (s *step) clearNext() {
	sw := s.st.Switch
	h := s.nextToClear()
	if h == nil {
		sw.Clearing = ""
		sw.Fenced = s.now
		if sw.From != "" {
			s.info("HAMN121-I", "Old active host %s is clean or fenced", sw.From)
		}
		s.reserveOrActivate()
		return
	}
	sw.Clearing = h.Node
	if h.Node != sw.From || h.AfterStop == "" {
		h.AfterStop = Failed
	}
	switch {
	case !h.Alive:
		s.set(h, Fenced, RoleNone, "host lost: fenced; rejoins after a reboot")
		h.WantStandby = false
		s.hostDown()
	case h.State == Stopping:
		// Its termination is already under way: wait for it here.
		h.Deadline = time.Time{}
		h.Role = RoleNone
		sw.Stage = StageTerminating
		s.st.Deadline = s.now.Add(s.t.StopTimeout)
	default:
		after := h.AfterStop
		s.set(h, Stopping, RoleNone, "terminating for "+string(sw.Cause))
		h.AfterStop = after
		sw.Stage = StageTerminating
		s.st.Deadline = s.now.Add(s.t.StopTimeout)
		s.emit(StopServer{Node: h.Node, UseTermCommand: s.cfg.HasTermCommand})
	}
}

// fenceForced: monswap -f, or a host whose server did not stop. The host's
// OS is terminated. With shared disks the preempt fences it at once;
// without, hamon waits for the host to go down.
func (s *step) fenceForced(h *Host) {
	sw := s.st.Switch
	sw.Clearing = h.Node
	s.warn("HAMN150-W", "Terminating the OS of %s (%s)", h.Node, sw.Cause)
	s.emit(FenceHost{Node: h.Node})
	s.set(h, Fenced, RoleNone, "fenced ("+string(sw.Cause)+"): rejoins after a reboot")
	h.WantStandby = false
	if s.cfg.SharedDisks {
		h.ActiveCopy = false
		s.clearNext()
		return
	}
	h.ActiveCopy = true // until it is seen down
	sw.Stage = StageFencing
	sw.AwaitHostDown = h.Alive
	s.st.Deadline = s.now.Add(s.t.FenceTimeout)
	if !h.Alive {
		s.hostDown()
	}
}

// hostDown: the host being cleared is lost. With shared disks the
// reservation preempt fences it; without, wait out its self-fencing
// deadline (its agent stops its servers when it cannot renew its Lease).
func (s *step) hostDown() {
	sw := s.st.Switch
	h := s.st.Host(sw.Clearing)
	if h.State != Fenced {
		s.set(h, Fenced, RoleNone, "host lost: fenced; rejoins after a reboot")
		h.WantStandby = false
	}
	if s.cfg.SharedDisks {
		h.ActiveCopy = false
		s.clearNext()
		return
	}
	sw.Stage = StageFencing
	sw.AwaitHostDown = false
	s.st.Deadline = s.now.Add(s.t.SelfFenceWait)
}

// cleared: the host being cleared is known stopped or fenced.
func (s *step) cleared() {
	sw := s.st.Switch
	if h := s.st.Host(sw.Clearing); h != nil {
		h.ActiveCopy = false
	}
	s.clearNext()
}

func (s *step) reserveOrActivate() {
	sw := s.st.Switch
	if at := s.cfg.Settling[sw.To]; !s.cfg.SharedDisks && at.After(s.now) {
		// Safe only once the peer that may run the server on the target's
		// word has been reset by its watchdog: the fencing wait goes on.
		if sw.Stage != StageFencing || !s.st.Deadline.Equal(at) {
			s.info("HAMN137-I", "%s renewed its Lease again only lately: the server starts there at %s, two watchdog timeouts after, "+
				"when no peer can still run it on that host's word", sw.To, at.UTC().Format(time.RFC3339))
		}
		sw.Stage, sw.AwaitHostDown = StageFencing, false
		s.st.Deadline = at
		return
	}
	s.st.Epoch++
	if s.cfg.SharedDisks {
		sw.Stage = StageReserving
		s.st.Deadline = s.now.Add(s.t.ReserveTimeout)
		s.emit(Reserve{Node: sw.To, Epoch: s.st.Epoch})
		return
	}
	s.activate()
}

// activate starts (Monitor mode) or promotes (Server mode, a running
// standby copy) the server on the target.
func (s *step) activate() {
	sw := s.st.Switch
	sw.Stage = StageActivating
	s.st.Deadline = s.now.Add(s.t.StartTimeout)
	if sw.TargetWasRunning {
		s.st.Host(sw.To).ActiveCopy = true
		s.emit(Promote{Node: sw.To})
		return
	}
	s.startServer(s.st.Host(sw.To), RoleActive)
}

func (s *step) onReservationTaken(node string, epoch int64) {
	sw := s.st.Switch
	if sw == nil || sw.Stage != StageReserving || sw.To != node || epoch != s.st.Epoch {
		return // stale or unrelated: only the current epoch's target counts
	}
	s.st.ReservationHolder = node
	s.info("HAMN122-I", "Reservation of the shared disks taken by %s (epoch %d)", node, epoch)
	s.activate()
}

// onReservationFailed: the target's agent could not connect the shared
// disks (take their reservation). 3.2.7 treats a failed resource
// connection on the target like a failed start: the next standby is tried
// (its own preempt fences the old host just as well), then start retries
// or a hot-standby error. HotStandbyWait is only for an old host that
// could not be fenced (fencingFailed).
func (s *step) onReservationFailed(node string, epoch int64, reason string) {
	sw := s.st.Switch
	if sw == nil || sw.Stage != StageReserving || sw.To != node || epoch != s.st.Epoch {
		return
	}
	s.targetFailed("resource connection failed: " + reason)
}

// fencingFailed: the old host could not be fenced (it did not go down).
// Only the target (the top-priority standby) waits in HotStandbyWait;
// nothing is activated (4.5.2).
func (s *step) fencingFailed(why string) {
	sw := s.st.Switch
	target := s.st.Host(sw.To)
	s.set(target, HotStandbyWait, RoleStandby, why+"; Act after making sure the old host is down")
	s.warn("HAMN128-E", "Hot standby to %s stopped: %s", sw.To, why)
	s.finish(ResultFailed, why)
}

// activated: the target reports the server up as active.
func (s *step) activated() {
	sw := s.st.Switch
	if g := s.cfg.ManagerGate; g != nil && g.WaitForMembers > 0 {
		sw.Stage = StageAwaitingMembers
		s.st.Deadline = s.now.Add(g.WaitForMembers)
		s.info("HAMN161-I", "System manager %s waits up to %s for the group's members (reduced activation)", sw.To, g.WaitForMembers)
		return
	}
	s.complete()
}

// complete: the target is Online.
func (s *step) complete() {
	sw := s.st.Switch
	target := s.st.Host(sw.To)
	s.set(target, Online, RoleActive, "")
	target.StartRetries = 0
	target.WantStandby = true
	s.st.Halted = ""
	if old := s.st.Host(sw.From); old != nil && sw.Planned && old.State == Stopped {
		old.WantStandby = true
	}
	s.info("HAMN123-I", "Server is active on %s; %s took %s", sw.To, sw.Cause, s.now.Sub(sw.Started))
	if g := s.cfg.ManagerGate; g != nil {
		// HiRDB says KFPS05210-I (system started) even when units remain
		// stopped; the message says which, so no one takes it for a whole
		// system (26.7.9 (1)(d): check them with pdls -d svr).
		if len(g.StillStopped) > 0 {
			s.info("HAMN163-I", "System manager of group %s active on %s; members still stopped: %s",
				s.cfg.Group, sw.To, strings.Join(g.StillStopped, ", "))
		} else {
			s.info("HAMN163-I", "System manager of group %s active on %s; every member is running", s.cfg.Group, sw.To)
		}
	}
	s.cancelStartRetries(sw.To, "the server started as active on "+sw.To)
	s.finish(ResultSucceeded, "")
}

// finish closes the switchover and records it in the history.
func (s *step) finish(result, why string) {
	sw := s.st.Switch
	sw.Finished = s.now
	sw.Result = result
	s.st.History = append(s.st.History, *sw)
	if len(s.st.History) > MaxHistory {
		s.st.History = s.st.History[len(s.st.History)-MaxHistory:]
	}
	s.st.Switch = nil
	s.st.Deadline = time.Time{}
	if sw.RequestID != "" && s.st.LastRequest != nil && s.st.LastRequest.ID == sw.RequestID {
		if result == ResultSucceeded {
			s.answer(RequestDone, "", fmt.Sprintf("server active on %s", sw.To))
		} else {
			s.answer(RequestFailed, "SwitchoverFailed", why)
		}
	}
}

// targetFailed: the target could not start. Try the next standby
// (multi-standby, 3.2.5); when none is left, start retries or a hot-standby
// error (3.2.7).
func (s *step) targetFailed(why string) {
	sw := s.st.Switch
	target := s.st.Host(sw.To)
	s.warn("HAMN125-W", "Server could not start on %s: %s", sw.To, why)
	sw.Tried = append(sw.Tried, sw.To)
	if sw.Cause == CauseStartRetry && target.Alive {
		// One start retry failed (it had to connect the disks again):
		// the next one follows, on the same host.
		retries := target.StartRetries
		target.ActiveCopy = target.ActiveCopy && target.Running
		s.set(target, StartRetry, s.retryRole(target), why+"; start retry")
		target.StartRetries = retries
		s.finish(ResultFailed, why+"; start retry on "+target.Node)
		s.scheduleRetry(target)
		return
	}
	if next := s.bestStandby(""); next != nil && next.Node != sw.From {
		sw.To = next.Node
		sw.TargetWasRunning = s.cfg.Mode == ModeServer && next.State == Standby
		s.set(next, Starting, RoleActive, "switchover target ("+string(sw.Cause)+")")
		s.info("HAMN120-I", "Hot standby goes on to the next standby, %s", next.Node)
		s.clearFailedTarget(target, why)
		return
	}
	if s.cfg.SwitchError == SwitchErrorRetry && target.Alive {
		s.set(target, StartRetry, s.retryRole(target), why+"; start retry")
		target.StartRetries = 0
		s.warn("HAMN126-W", "Server enters start retry (>ONL) on %s", target.Node)
		s.finish(ResultFailed, why+"; start retry on "+target.Node)
		s.scheduleRetry(target)
		return
	}
	target.WantStandby = false
	if target.ActiveCopy && target.Alive {
		s.stopHost(target, Failed)
		target.Role = RoleNone
	} else {
		s.set(target, Failed, RoleNone, why)
	}
	s.warn("HAMN129-E", "Hot standby error: the server could not start on any host")
	s.st.Halted = PhaseFailed
	s.finish(ResultFailed, why)
}

// clearFailedTarget: a target that failed to start may still run an
// active copy; clearNext stops or fences it before the next target.
func (s *step) clearFailedTarget(target *Host, why string) {
	target.WantStandby = false
	after := Failed
	if !target.Alive {
		after = Fenced
	}
	if target.ActiveCopy {
		target.AfterStop = after
		if target.State != Stopping {
			target.State = Failed
		}
		target.Role = RoleNone
		target.Message = why
	} else {
		s.set(target, after, RoleNone, why)
	}
	s.clearNext()
}

// scheduleRetry arms the next start retry, switchRetry times at the retry
// interval. In Server mode too: HA Monitor waits for such a server to
// restart itself, but a pod's server never does (restartPolicy Never:
// hamon decides every start), so hamon makes the restart the manual
// expects of it, as in Monitor mode.
func (s *step) scheduleRetry(h *Host) {
	h.Deadline = s.now.Add(s.t.RetryInterval)
}

// retryStart makes the next start retry, or gives up.
func (s *step) retryStart(h *Host) {
	if h.StartRetries >= s.cfg.SwitchRetry {
		s.set(h, Failed, RoleNone, fmt.Sprintf("start retries exhausted (%d)", h.StartRetries))
		h.WantStandby = false
		s.warn("HAMN129-E", "Hot standby error: %d start retries on %s failed", h.StartRetries, h.Node)
		s.st.Halted = PhaseFailed
		return
	}
	if a := s.activeHost(); a != nil && a.Node != h.Node {
		// Another host plays the active role (an operator's Act there):
		// this host's retries end, and it is a standby again (3.2.7).
		s.cancelStartRetries(a.Node, a.Node+" plays the active role")
		return
	}
	h.StartRetries++
	s.info("HAMN136-I", "Start retry %d of %d on %s", h.StartRetries, s.cfg.SwitchRetry, h.Node)
	if s.cfg.SharedDisks && s.st.ReservationHolder != h.Node {
		// Its resource connection failed: the retry connects the disks
		// again through the pipeline of any activation (a Reserve for a
		// new epoch, which the agent takes only while the switchover is
		// in Reserving), then starts the server.
		retries := h.StartRetries
		s.begin("", h.Node, CauseStartRetry, false, false, "")
		h.StartRetries = retries
		return
	}
	h.Deadline = s.now.Add(s.t.StartTimeout)
	s.startServer(h, RoleActive)
}

// retryRole is the role of a host waiting for its next start retry: active
// (its copy restarts as the active server), except when it does not hold
// the shared disks' reservation (its resource connection failed): then a
// standby copy running there (Server mode) is not told it is active before
// a retry has taken the reservation.
func (s *step) retryRole(h *Host) Role {
	if s.cfg.SharedDisks && s.st.ReservationHolder != h.Node {
		return RoleStandby
	}
	return RoleActive
}

// retryFailed: one start retry failed.
func (s *step) retryFailed(h *Host, why string) {
	h.Message = why
	s.scheduleRetry(h)
}

func (s *step) onStartFailed(node, reason string) {
	h := s.st.Host(node)
	if h == nil {
		return
	}
	// The controller deletes a pod that failed to start.
	h.Running, h.ActiveCopy = false, false
	sw := s.st.Switch
	switch {
	case sw != nil && sw.Clearing == node && sw.Stage == StageTerminating:
		s.set(h, h.AfterStop, RoleNone, "terminated for "+string(sw.Cause))
		s.cleared()
	case sw != nil && sw.To == node:
		if sw.Stage == StageActivating {
			s.targetFailed(reason)
		}
	case h.Role == RoleActive && sw == nil && (h.State == RestartWait || h.State == Starting || h.State == StartRetry):
		s.restartFailed(h, reason)
	case h.Role == RoleStandby && h.State == Starting:
		s.set(h, Failed, RoleNone, reason)
		h.WantStandby = false
		s.warn("HAMN104-W", "Standby server could not start on %s: %s", node, reason)
	}
}

// switchTimer handles the deadline of the switchover's current stage.
func (s *step) switchTimer() {
	sw := s.st.Switch
	switch sw.Stage {
	case StageTerminating:
		old := s.st.Host(sw.Clearing)
		if old.TermCommand {
			s.warn("HAMN134-W", "The termCommand on %s did not end in %s", sw.Clearing, s.t.StopTimeout)
		} else {
			s.warn("HAMN134-W", "Server on %s did not stop in %s", sw.Clearing, s.t.StopTimeout)
		}
		if s.cfg.SharedDisks {
			// The preempt of its key aborts its I/O and its agent stops it.
			s.set(old, Fenced, RoleNone, "did not stop: fenced by reservation; rejoins after a reboot")
			old.WantStandby = false
			s.cleared()
			return
		}
		s.fenceForced(old)
	case StageFencing:
		if sw.AwaitHostDown {
			s.fencingFailed(fmt.Sprintf("host %s did not go down in %s", sw.Clearing, s.t.FenceTimeout))
			return
		}
		s.cleared()
	case StageReserving:
		s.targetFailed(fmt.Sprintf("resource connection failed: no reservation report in %s", s.t.ReserveTimeout))
	case StageActivating:
		s.targetFailed(fmt.Sprintf("not started in %s", s.t.StartTimeout))
	case StageAwaitingMembers:
		s.warn("HAMN162-W", "Reduced activation: not every member started in time")
		s.complete()
	}
}
