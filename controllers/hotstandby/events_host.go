package hotstandby

// The events of a host: its Lease lost or renewed again.

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
	if h.Role != RoleActive && (h.State != StartRetry || sw != nil) {
		// A StartRetry host waiting to connect the disks again plays the
		// standby role, but its retries are the server's only start.
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
