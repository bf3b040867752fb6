package lease

import (
	"slices"
	"time"
)

// Unprotected is a server active on this host that no disk reservation
// protects: only its stop here (or the host's reset) keeps a second copy
// from running once the controller starts it elsewhere.
type Unprotected struct {
	// Key names the server (namespace/name).
	Key string
	// Takers are the server's other hosts: the ones the controller could
	// start it on.
	Takers []string
	// Stopped says the agent stopped the server here and the runtime
	// confirmed it ended.
	Stopped bool
}

// Verdict is what an agent that cannot renew does.
type Verdict struct {
	// Stop are the servers to stop here now: not every one of their takers
	// confirmed that it cannot renew either.
	Stop []string
	// Feed says the watchdog may be fed: the agent renews, or every
	// unprotected server still running here is covered by its takers'
	// confirmations.
	Feed bool
}

// ConfirmationLife is how long a peer's confirmation that it cannot renew
// counts: two renew intervals (the agent asks every interval).
func (t Timing) ConfirmationLife() time.Duration { return 2 * t.Renew }

// Decide is the isolation rule. Until the self-fence deadline after the
// last successful renewal, all is well. Past it, a server stays running
// only while every one of its takers confirmed, within ConfirmationLife,
// that it cannot renew either: then no host the controller could start it
// on reaches the API server, and that host will not take part in a
// takeover before it has renewed for twice the watchdog timeout (the
// controller checks its Lease). Any taker that renews, or does not answer,
// and the server is stopped here: this host is isolated, or cannot tell.
//
// With two hosts, the one peer decides: it confirms (outage: keep), it
// renews (isolated: stop), it is silent (cannot tell: stop). With no peer
// reachable every unprotected server stops. A partition that splits the
// peers keeps a server only if all its takers are on this side and none
// of them reaches the API server.
func (t Timing) Decide(now, lastRenew time.Time, confirmed map[string]time.Time, servers []Unprotected) Verdict {
	if !t.MustSelfFence(now, lastRenew) {
		return Verdict{Feed: true}
	}
	v := Verdict{Feed: true}
	for _, s := range servers {
		if s.Stopped {
			continue
		}
		covered := !slices.ContainsFunc(s.Takers, func(n string) bool {
			at, ok := confirmed[n]
			return !ok || now.Sub(at) >= t.ConfirmationLife() || at.After(now)
		})
		if !covered {
			v.Stop = append(v.Stop, s.Key)
			v.Feed = false
		}
	}
	return v
}
