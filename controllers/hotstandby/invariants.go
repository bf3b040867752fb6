package hotstandby

import (
	"errors"
	"fmt"
)

// CheckInvariants checks the safety and liveness rules that must hold of
// every state the machine produces. Tests call it after every step; the
// controller may call it to refuse to persist a state that breaks one.
//
//  1. At most one host is Online, and at most one plays the active role;
//     while one is Online no other host waits to become active.
//  2. An Online host is alive and, with shared disks, holds the reservation.
//  3. Nothing is stuck: a switchover in progress, and every host that is
//     starting or stopping, has a timer that ends the wait; the rest wait
//     for an operator (a wait state) or are settled.
//  4. A request in progress has work under way that will answer it.
func CheckInvariants(cfg Config, st *State) error {
	var errs []error
	online, active := 0, 0
	for _, h := range st.Hosts {
		if h.State == Online {
			online++
			if !h.Alive {
				errs = append(errs, fmt.Errorf("host %s is Online but not alive", h.Node))
			}
			if cfg.SharedDisks && st.ReservationHolder != h.Node {
				errs = append(errs, fmt.Errorf("host %s is Online but the reservation holder is %q", h.Node, st.ReservationHolder))
			}
		}
		if h.Role == RoleActive {
			active++
		}
		inSwitch := st.Switch != nil && (st.Switch.To == h.Node || st.Switch.From == h.Node || st.Switch.Clearing == h.Node)
		if h.TermCommand && h.State != Stopping {
			errs = append(errs, fmt.Errorf("host %s runs the termCommand while %s", h.Node, h.State))
		}
		if (h.State == Starting || h.State == Stopping) && h.Deadline.IsZero() && !inSwitch {
			errs = append(errs, fmt.Errorf("host %s is %s with no timer", h.Node, h.State))
		}
	}
	if online == 1 {
		for _, h := range st.Hosts {
			if h.State.IsWait() {
				errs = append(errs, fmt.Errorf("host %s is in %s while another host is Online", h.Node, h.State))
			}
		}
	}
	if online > 1 {
		errs = append(errs, fmt.Errorf("%d hosts are Online", online))
	}
	if active > 1 {
		errs = append(errs, fmt.Errorf("%d hosts play the active role", active))
	}
	if sw := st.Switch; sw != nil {
		if st.Deadline.IsZero() {
			errs = append(errs, fmt.Errorf("switchover %s->%s in stage %s has no timer", sw.From, sw.To, sw.Stage))
		}
		if t := st.Host(sw.To); t == nil || t.Role != RoleActive {
			errs = append(errs, fmt.Errorf("switchover target %s does not play the active role", sw.To))
		}
	}
	if r := st.LastRequest; r != nil && r.Outcome == RequestInProgress {
		// A clear waits for the agent's answer (onReservationCleared).
		pending := st.Switch != nil || r.Action == ActionClearReservation
		for _, h := range st.Hosts {
			pending = pending || h.State == Stopping
		}
		if !pending {
			errs = append(errs, fmt.Errorf("request %s is in progress with nothing under way", r.ID))
		}
	}
	return errors.Join(errs...)
}

// ActsActive says the copy of the server on node, if one runs, may act as
// the active server: the host plays the active role, and no switchover to
// it is still terminating or fencing the other hosts or taking the
// reservation. The pod's role label (and the role file the server reads)
// follows it, not the role alone: a running standby copy is promoted only
// at activation, never while the old active copy may still run.
func (st *State) ActsActive(node string) bool {
	h := st.Host(node)
	if h == nil || h.Role != RoleActive {
		return false
	}
	sw := st.Switch
	return sw == nil || sw.To != node || sw.Stage == StageActivating || sw.Stage == StageAwaitingMembers
}
