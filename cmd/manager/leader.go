package main

import (
	"fmt"
	"time"
)

// leaderTiming is the leader election's timing, derived from the agents'
// Lease duration (the host lease).
//
// A controller replica may die with its host. The other replica then waits
// for the leader Lease to run out before it leads; meanwhile it has watched
// the agents' Lease renewals (its caches and sightings are warm), so when it
// leads it already knows the host stopped renewing a host lease ago and
// acts at once. The server's new active is Online about
// max(leader lease + retry, host lease) + the switchover itself after the
// loss: with the leader lease at 0.8 × the host lease the host lease sets
// the pace, and the failover stays within the host lease + 2 s.
//
// Nothing here is a safety margin. Two replicas that both believe they
// lead (a paused ex-leader) cannot both act: every decision is written
// with the HAServer's resourceVersion (optimistic lock) and every
// reservation is gated by the decision's epoch, which the agents check.
// client-go's leader election does not fence, and hamon does not rely on
// it to.
type leaderTiming struct {
	// LeaseDuration is how long a candidate waits after it last saw the
	// leader renew before it takes over.
	LeaseDuration time.Duration
	// RenewDeadline is how long the leader tries to renew before it gives
	// up leading (and the process exits, to start again as a candidate).
	RenewDeadline time.Duration
	// RetryPeriod is how often the leader renews and candidates look.
	RetryPeriod time.Duration
}

// deriveLeaderTiming gives the leader election's timing for agents whose
// Leases last hostLease: 0.8, 0.6 and 0.1 of it (client-go's defaults,
// 15/10/2 s, are the same shape for a 15 s lease but leave a leader that
// died with its host 15 s + 2 s to be replaced, longer than the host).
func deriveLeaderTiming(hostLease time.Duration) leaderTiming {
	return leaderTiming{
		LeaseDuration: hostLease * 8 / 10,
		RenewDeadline: hostLease * 6 / 10,
		RetryPeriod:   hostLease / 10,
	}
}

// validate says what is wrong with t, naming the flag to fix; client-go
// requires lease > renew deadline > retry period × 1.2 (its jitter).
func (t leaderTiming) validate() error {
	switch {
	case t.RetryPeriod <= 0:
		return fmt.Errorf("--leader-elect-retry-period %s must be positive", t.RetryPeriod)
	case t.RenewDeadline <= t.RetryPeriod*12/10:
		return fmt.Errorf("--leader-elect-renew-deadline %s must be longer than 1.2 × --leader-elect-retry-period (%s)",
			t.RenewDeadline, t.RetryPeriod*12/10)
	case t.LeaseDuration <= t.RenewDeadline:
		return fmt.Errorf("--leader-elect-lease-duration %s must be longer than --leader-elect-renew-deadline %s",
			t.LeaseDuration, t.RenewDeadline)
	}
	return nil
}
