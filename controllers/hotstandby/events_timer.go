package hotstandby

import "time"

// The timers: a host's own (start, stop, restart, start retry) and the
// server's (a switchover stage, the wait for the primary host).

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
	case h.State == StartRetry:
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
