package controllers

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"
)

type stepClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *stepClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *stepClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// agentLease is node's Lease as its agent last wrote it, renewed at the
// agent's clock time renew.
func agentLease(node string, renew time.Time) *coordinationv1.Lease {
	secs := int32(4)
	rt := metav1.NewMicroTime(renew)
	return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: node, Namespace: "hamon-system"},
		Spec: coordinationv1.LeaseSpec{LeaseDurationSeconds: &secs, RenewTime: &rt}}
}

func newTestSight(clock *stepClock) (*leaseSight, chan event.GenericEvent, *error) {
	ch := make(chan event.GenericEvent, 16)
	var listErr error
	ls := newLeaseSight(clock, func(context.Context) ([]coordinationv1.Lease, error) { return nil, listErr }, ch)
	return ls, ch, &listErr
}

func alive(ls *leaseSight, clock *stepClock, l *coordinationv1.Lease, recorded bool) bool {
	return clock.Now().Before(ls.expiry(l, recorded))
}

// A host whose agent stops renewing runs out one lease after the
// controller last saw a renewal, whatever the agent's clock says.
func TestLeaseSight_SilentAgentRunsOutByTheControllersClock(t *testing.T) {
	clock := &stepClock{now: time.Unix(1000, 0)}
	ls, _, _ := newTestSight(clock)
	// The agent's clock is 3 s behind: by renewTime alone its Lease would
	// look expired one second after each renewal.
	skew := -3 * time.Second
	var a, b *coordinationv1.Lease
	for range 8 {
		a, b = agentLease("a", clock.Now().Add(skew)), agentLease("b", clock.Now())
		ls.saw(a)
		ls.saw(b)
		clock.add(time.Second)
	}
	if !alive(ls, clock, a, true) {
		t.Fatal("a renewing agent with a slow clock was counted out")
	}
	// a goes silent (last seen renewing 1 s ago); b keeps renewing.
	for range 2 {
		ls.saw(agentLease("b", clock.Now()))
		clock.add(time.Second)
	}
	if !alive(ls, clock, a, true) {
		t.Fatal("a counted out before a lease had passed since its last renewal was seen")
	}
	ls.saw(agentLease("b", clock.Now()))
	clock.add(1100 * time.Millisecond)
	ls.saw(agentLease("b", clock.Now()))
	if alive(ls, clock, a, true) {
		t.Fatal("a still alive more than a lease after its last renewal was seen")
	}
}

// The API server is away for longer than a lease: nobody is counted out,
// neither while the controller is blind nor when contact comes back, until
// a full lease has passed since then without a renewal.
func TestLeaseSight_APIServerOutageCountsNobodyOut(t *testing.T) {
	clock := &stepClock{now: time.Unix(1000, 0)}
	ls, expired, listErr := newTestSight(clock)
	for range 4 {
		ls.saw(agentLease("a", clock.Now()))
		ls.saw(agentLease("b", clock.Now()))
		clock.add(time.Second)
	}
	lastA := agentLease("a", clock.Now().Add(-time.Second))
	// Outage: no events; the probe fails.
	*listErr = errors.New("connection refused")
	ls.probe(context.Background(), time.Millisecond)
	clock.add(10 * time.Second)
	if got := ls.tellExpired(context.Background()); !got.IsZero() || len(expired) != 0 {
		t.Fatalf("told %d expiries while blind", len(expired))
	}
	if !alive(ls, clock, lastA, true) {
		t.Fatal("a host recorded alive was counted out while the controller was blind")
	}
	if alive(ls, clock, lastA, false) {
		t.Fatal("a host recorded dead came alive while the controller was blind")
	}
	// Back: b's renewal arrives first; a's has not come yet.
	*listErr = nil
	ls.saw(agentLease("b", clock.Now()))
	clock.add(time.Second)
	if !alive(ls, clock, lastA, true) {
		t.Fatal("a counted out one second after contact came back")
	}
	ls.tellExpired(context.Background())
	if len(expired) != 0 {
		t.Fatal("an expiry was told right after contact came back")
	}
	// a never renews: a full lease after contact came back, it runs out and
	// the sight says so once.
	for range 4 {
		ls.saw(agentLease("b", clock.Now()))
		clock.add(time.Second)
	}
	ls.saw(agentLease("b", clock.Now()))
	if alive(ls, clock, lastA, true) {
		t.Fatal("a still alive a lease after contact came back")
	}
	ls.tellExpired(context.Background())
	ls.tellExpired(context.Background())
	if len(expired) != 1 {
		t.Fatalf("told %d expiries, want 1", len(expired))
	}
	if ev := <-expired; ev.Object.GetName() != "a" {
		t.Fatalf("told expiry of %s, want a", ev.Object.GetName())
	}
	// a's agent comes back: that is a revival (its servers look again).
	if !ls.saw(agentLease("a", clock.Now())) {
		t.Fatal("a renewal after running out was not a revival")
	}
	if ls.saw(agentLease("b", clock.Now().Add(time.Millisecond))) {
		t.Fatal("an ordinary renewal was taken for a revival")
	}
}

// Every agent falls silent while the API server answers: the live list
// keeps the controller in contact, so the hosts do run out.
func TestLeaseSight_AllAgentsSilentApiUp(t *testing.T) {
	clock := &stepClock{now: time.Unix(1000, 0)}
	ls, expired, _ := newTestSight(clock)
	a := agentLease("a", clock.Now())
	ls.saw(a)
	stale := *a
	ls.list = func(context.Context) ([]coordinationv1.Lease, error) { return []coordinationv1.Lease{stale}, nil }
	for range 10 {
		clock.add(500 * time.Millisecond)
		ls.probe(context.Background(), time.Millisecond)
		ls.tellExpired(context.Background())
	}
	if alive(ls, clock, a, true) {
		t.Fatal("a silent agent stayed alive although the API server answered")
	}
	if len(expired) != 1 {
		t.Fatalf("told %d expiries, want 1", len(expired))
	}
}

// After a controller restart, a Lease not seen renewing keeps what the
// status recorded for one lease, then runs out; a host recorded dead stays
// dead.
func TestLeaseSight_FirstSightAfterRestart(t *testing.T) {
	clock := &stepClock{now: time.Unix(1000, 0)}
	ls, _, _ := newTestSight(clock)
	old := agentLease("gone", clock.Now().Add(-time.Minute))
	ls.saw(old)
	ls.saw(agentLease("live", clock.Now()))
	if !alive(ls, clock, old, true) {
		t.Fatal("a host recorded alive was counted out at the controller's start")
	}
	if alive(ls, clock, old, false) {
		t.Fatal("a host recorded dead came alive at the controller's start")
	}
	for range 5 {
		clock.add(time.Second)
		ls.saw(agentLease("live", clock.Now()))
	}
	if alive(ls, clock, old, true) {
		t.Fatal("a silent host still alive a lease after the controller's start")
	}
}

// After an API-server outage the controller's cache may serve a Lease older
// than the one its live list already saw (the watch reconnects with a
// backoff): that older copy is no renewal. Before, each look at it counted
// as a renewal seen now, and a host lost just after the outage stayed
// alive until the cache caught up (30 s in the demo).
func TestLeaseSight_StaleCachedCopyIsNoRenewal(t *testing.T) {
	clock := &stepClock{now: time.Unix(1000, 0)}
	ls, _, _ := newTestSight(clock)
	old := agentLease("a", clock.Now())
	ls.saw(old)
	clock.add(time.Second)
	ls.saw(agentLease("a", clock.Now())) // the live list: a later renewal, then silence
	for range 5 {
		clock.add(time.Second)
		ls.saw(agentLease("b", clock.Now())) // another agent keeps the controller in contact
	}
	if alive(ls, clock, old, true) {
		t.Fatal("a stale cached copy of a's Lease kept a alive 5 s after its last renewal (lease 4 s)")
	}
}
