// Package lease holds the node agent's heartbeat timing and the
// self-fencing rule: an agent that cannot renew its Lease stops its
// active servers that no disk reservation protects, before the Lease
// expires and the controller lets another host take over.
package lease

import (
	"fmt"
	"time"
)

// Timing is the heartbeat's timing.
type Timing struct {
	// Duration is the Lease's duration: after it, the controller treats the
	// host as lost.
	Duration time.Duration
	// Renew is how often the agent renews.
	Renew time.Duration
	// SelfFence is how long after its last successful renewal the agent
	// stops its unprotected active servers. Shorter than Duration.
	SelfFence time.Duration
	// Watchdog is the host watchdog's timeout; 0: no watchdog. The
	// controller starts a server without shared disks elsewhere no sooner
	// than the lease plus twice this (SBD's msgwait rule).
	Watchdog time.Duration
}

// DefaultTiming is the chart's default: renew every 2 s, a 10 s lease,
// self-fence after 7 s without a renewal.
var DefaultTiming = Timing{Duration: 10 * time.Second, Renew: 2 * time.Second, SelfFence: 7 * time.Second, Watchdog: 10 * time.Second}

// Validate checks the ordering that makes self-fencing safe: the agent
// gives up before the controller takes over, and renews often enough not
// to give up by accident.
func (t Timing) Validate() error {
	switch {
	case t.Renew <= 0 || t.SelfFence <= 0 || t.Duration <= 0:
		return fmt.Errorf("lease timing %+v: every value must be positive", t)
	case t.SelfFence >= t.Duration:
		return fmt.Errorf("self-fence deadline %s must be shorter than the lease duration %s", t.SelfFence, t.Duration)
	case t.Renew*2 > t.SelfFence:
		return fmt.Errorf("renew interval %s must be at most half the self-fence deadline %s", t.Renew, t.SelfFence)
	case t.Watchdog < 0:
		return fmt.Errorf("watchdog timeout %s must not be negative (0: no watchdog)", t.Watchdog)
	case t.Watchdog > 0 && t.Watchdog < t.Renew+t.ConfirmationLife():
		// A peer's last confirmation may come just before its first
		// renewal; the agent feeds on it for ConfirmationLife more, and the
		// watchdog must still fire within the two watchdog timeouts the
		// controller waits after that renewal.
		return fmt.Errorf("watchdog timeout %s must be at least three renew intervals (%s)", t.Watchdog, 3*t.Renew)
	}
	return nil
}

// MustSelfFence says whether, at now, an agent whose last successful
// renewal was at lastRenew must stop its unprotected active servers.
func (t Timing) MustSelfFence(now, lastRenew time.Time) bool {
	return !now.Before(lastRenew.Add(t.SelfFence))
}

// Margin is the time between the agent's self-fencing and the earliest
// moment the controller may act on the expired Lease: the lease duration
// counts from the renewal the API server recorded, which is no earlier
// than the agent's own last successful renewal.
func (t Timing) Margin() time.Duration { return t.Duration - t.SelfFence }
