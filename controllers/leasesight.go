package controllers

import (
	"context"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/hamon-ha/hamon/controllers/hotstandby"
)

// leaseSight decides when a node agent's Lease has run out, by the
// controller's own clock and only while the controller can see the agents'
// renewals. A Lease's renewTime alone is not enough: it is the agent's clock,
// and after an API-server outage every Lease looks expired at once although
// no host failed: a controller that believed them would switch every server
// over, preempting the reservations of healthy active hosts.
//
// So, as the node lifecycle controller does with kubelets' Leases:
//   - a renewal counts from when the controller saw it, not from its renewTime;
//   - the controller is in contact while agents' renewals reach it (at rest
//     they do every few seconds, so this costs no request). When none has
//     come for half a lease, it lists the Leases from the API server itself:
//     if that fails, it is blind; when contact comes back, every host gets
//     a full lease duration from then to renew;
//   - while blind, and for a Lease not seen renewing since the controller
//     started, a host keeps the liveness its HAServer's status records.
type leaseSight struct {
	clock hotstandby.Clock
	// list reads the agents' Leases from the API server, bypassing the cache.
	list func(ctx context.Context) ([]coordinationv1.Lease, error)
	// expired is told of each Lease that runs out, once (the event's
	// object names the node).
	expired chan<- event.GenericEvent

	mu   sync.Mutex
	seen map[string]*leaseSeen
	// lastContact is when a renewal event or a live list last came in;
	// sightSince is when contact last resumed after it was lost.
	lastContact, sightSince time.Time
	lost                    bool
	// gap is how long without news means contact may be lost: half the
	// shortest lease duration seen (agents renew at least twice a lease).
	gap time.Duration
}

type leaseSeen struct {
	renew time.Time
	dur   time.Duration
	// at is when the controller first saw this renewTime; changed says it
	// has seen the renewTime change since it started; told says expired
	// was told of this renewal running out.
	at            time.Time
	changed, told bool
}

// defaultSightGap is the gap before any Lease has been seen.
const defaultSightGap = 2 * time.Second

func newLeaseSight(clock hotstandby.Clock, list func(context.Context) ([]coordinationv1.Lease, error),
	expired chan<- event.GenericEvent) *leaseSight {
	return &leaseSight{clock: clock, list: list, expired: expired, seen: map[string]*leaseSeen{}, gap: defaultSightGap}
}

// saw records a Lease delivered by the API server (a watch event or a live
// list): it is contact, and maybe a renewal. It says whether the Lease was
// renewed after the controller had counted it out, or is new: then the
// servers of its node must look again.
func (ls *leaseSight) saw(l *coordinationv1.Lease) (revived bool) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	now := ls.clock.Now()
	prev, known := ls.seen[l.Name]
	var stale bool
	if known {
		stale = prev.told || now.After(prev.at.Add(prev.dur))
	}
	cur := ls.record(l, now)
	ls.contact(now)
	return !known || (stale && cur != prev)
}

// contact notes that the API server answered at now, under ls.mu: if the
// controller was blind, sight starts again from now.
func (ls *leaseSight) contact(now time.Time) {
	if ls.blind(now) {
		ls.sightSince = now
	}
	ls.lost, ls.lastContact = false, now
}

// record notes l's renewTime, under ls.mu.
func (ls *leaseSight) record(l *coordinationv1.Lease, now time.Time) *leaseSeen {
	cur := ls.peek(l, now)
	if prev := ls.seen[l.Name]; cur != prev {
		leaseSightings.WithLabelValues(l.Name).Inc()
		leaseLastSighting.WithLabelValues(l.Name).Set(float64(now.UnixNano()) / 1e9)
	}
	if cur.dur > 0 && (len(ls.seen) == 0 || cur.dur/2 < ls.gap) {
		ls.gap = cur.dur / 2
	}
	ls.seen[l.Name] = cur
	return cur
}

// peek is what record would note of l, without noting it: a cached Lease
// the event handler has not seen yet is news, but saw must be the one to
// record it, so that it notices a revival. Under ls.mu.
func (ls *leaseSight) peek(l *coordinationv1.Lease, now time.Time) *leaseSeen {
	var renew time.Time
	if l.Spec.RenewTime != nil {
		renew = l.Spec.RenewTime.Time
	}
	var dur time.Duration
	if l.Spec.LeaseDurationSeconds != nil && *l.Spec.LeaseDurationSeconds > 0 {
		dur = time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
	}
	prev, ok := ls.seen[l.Name]
	if ok && (prev.renew.Equal(renew) || renew.Before(prev.renew)) && prev.dur == dur {
		// The same renewal, or an older copy (a cache whose watch has not
		// caught up after an API-server outage, while the live list
		// already showed a later one): no news. Taken as news, a stale
		// copy would make a dead host look freshly renewed at every look.
		// (An agent whose clock is stepped back renews with an older
		// renewTime: its renewals count again once its clock passes the
		// last one; until then it may be counted out, a needless but safe
		// switchover.)
		return prev
	}
	return &leaseSeen{renew: renew, dur: dur, at: now, changed: ok}
}

// blind says whether the controller cannot currently tell a silent agent
// from a silent API server, under ls.mu.
func (ls *leaseSight) blind(now time.Time) bool {
	return ls.lost || ls.lastContact.IsZero() || now.Sub(ls.lastContact) > ls.gap
}

// runsOut is when e runs out counted from what the controller saw, under ls.mu.
func (ls *leaseSight) runsOut(e *leaseSeen) time.Time {
	return later(e.at, ls.sightSince).Add(e.dur)
}

// expiry is when l runs out, seen from the controller; recordedAlive is
// what the HAServer's status says of the host.
func (ls *leaseSight) expiry(l *coordinationv1.Lease, recordedAlive bool) time.Time {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	now := ls.clock.Now()
	byRenewTime := leaseExpiry(l)
	if l.Spec.LeaseDurationSeconds == nil || *l.Spec.LeaseDurationSeconds <= 0 {
		return byRenewTime
	}
	seen := ls.peek(l, now)
	switch {
	case ls.blind(now) && recordedAlive:
		return now.Add(seen.dur)
	case ls.blind(now), !seen.changed && !recordedAlive:
		// Dead stays dead until a renewal is seen; a Lease fresh by its
		// own renewTime (a new host) counts as it says.
		return byRenewTime
	default:
		return ls.runsOut(seen)
	}
}

// seenAt is when the controller first saw l's renewal (now, if it has not).
func (ls *leaseSight) seenAt(l *coordinationv1.Lease) time.Time {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.peek(l, ls.clock.Now()).at
}

// NeedLeaderElection is false: every replica keeps its sight, so that one
// that comes to lead after the leader died with its host already knows
// when that host last renewed (it does not give every host a fresh lease
// from the moment it leads). A replica that does not lead only watches
// and lists; what it tells of expired Leases waits in its work queue until
// it leads.
func (ls *leaseSight) NeedLeaderElection() bool { return false }

// Start probes the API server whenever no renewal has come for a while,
// and tells expired of each Lease that runs out: it is a manager Runnable.
// At rest, renewals keep coming and it sends the API server nothing.
func (ls *leaseSight) Start(ctx context.Context) error {
	for {
		due := ls.tellExpired(ctx)
		ls.mu.Lock()
		every := ls.gap / 2
		quiet := ls.clock.Now().Sub(ls.lastContact) > every
		ls.mu.Unlock()
		if quiet {
			ls.probe(ctx, every)
			continue
		}
		wait := every
		if !due.IsZero() {
			wait = min(wait, max(due.Sub(ls.clock.Now()), 10*time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// tellExpired tells expired of each Lease that ran out and returns when the
// next one will.
func (ls *leaseSight) tellExpired(ctx context.Context) (next time.Time) {
	ls.mu.Lock()
	now := ls.clock.Now()
	var out []string
	if !ls.blind(now) {
		for node, e := range ls.seen {
			if e.told || e.dur == 0 {
				continue
			}
			if at := ls.runsOut(e); !now.Before(at) {
				e.told = true
				out = append(out, node)
			} else if next.IsZero() || at.Before(next) {
				next = at
			}
		}
	}
	ls.mu.Unlock()
	for _, node := range out {
		select {
		case ls.expired <- event.GenericEvent{Object: &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: node}}}:
		case <-ctx.Done():
			return next
		}
	}
	return next
}

// probe lists the Leases from the API server: contact, or blindness.
func (ls *leaseSight) probe(ctx context.Context, timeout time.Duration) {
	pctx, cancel := context.WithTimeout(ctx, timeout)
	leases, err := ls.list(pctx)
	cancel()
	if err != nil {
		ls.mu.Lock()
		ls.lost = true
		ls.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(timeout):
		}
		return
	}
	for i := range leases {
		ls.saw(&leases[i])
	}
	if len(leases) == 0 {
		// In contact, with no agent to hear from.
		ls.mu.Lock()
		ls.contact(ls.clock.Now())
		ls.mu.Unlock()
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// listLeases lists the Leases of ns straight from the API server.
func listLeases(r client.Reader, ns string) func(context.Context) ([]coordinationv1.Lease, error) {
	return func(ctx context.Context) ([]coordinationv1.Lease, error) {
		var list coordinationv1.LeaseList
		if err := r.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return nil, err
		}
		return list.Items, nil
	}
}
