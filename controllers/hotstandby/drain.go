package hotstandby

import "slices"

// Draining a node (kubectl drain: cordon, then evict every pod) is planned
// maintenance, as HA Monitor's monswap before a host is taken down: the
// active server is moved off the node with a planned switchover before its
// pod may go (a PodDisruptionBudget keeps the active pod from being evicted
// meanwhile), and a standby on the node is stopped, to start again when the
// node is uncordoned. When no standby on an uncordoned node can take over,
// the server stays where it is and the drain waits; the host's message and
// HAMN172-W say why.
//
// It runs in settle, on the state: a controller that restarts mid-drain
// carries on.

// cordoned says node is being drained.
func (s *step) cordoned(node string) bool { return slices.Contains(s.cfg.Cordoned, node) }

// drainWaitMessage is the active host's message while a drain waits.
const drainWaitMessage = "the node is being drained, but no standby on an uncordoned node can take over: " +
	"the drain waits (uncordon the node, or bring a standby up elsewhere)"

func (s *step) drain() {
	if len(s.cfg.Cordoned) == 0 {
		return
	}
	for i := range s.st.Hosts {
		h := &s.st.Hosts[i]
		busy := s.st.Switch != nil && (s.st.Switch.To == h.Node || s.st.Switch.From == h.Node || s.st.Switch.Clearing == h.Node)
		if !s.cordoned(h.Node) || busy || h.Role != RoleStandby {
			continue
		}
		switch {
		case h.Running && (h.State == Standby || h.State == Starting):
			s.stopHost(h, Stopped)
			h.Role = RoleNone
		case h.State == Standby: // Monitor mode: a standby runs nothing
			s.set(h, Stopped, RoleNone, "")
		default:
			continue
		}
		h.Message = "the node is being drained: the standby starts again when it is uncordoned"
		h.WantStandby = true
		s.info("HAMN173-I", "Standby on %s stopped: the node is being drained; it starts again when the node is uncordoned", h.Node)
	}
	a := s.activeHost()
	if s.st.Switch != nil || a == nil || a.State != Online || !s.cordoned(a.Node) {
		return
	}
	target := s.bestStandby(a.Node)
	if target == nil {
		if a.Message != drainWaitMessage {
			a.Message = drainWaitMessage
			s.warn("HAMN172-W", "Drain of %s waits: no standby on an uncordoned node can take over", a.Node)
		}
		return
	}
	s.info("HAMN171-I", "The node %s is being drained: planned switchover to %s", a.Node, target.Node)
	s.begin(a.Node, target.Node, CauseDrain, true, false, "")
}
