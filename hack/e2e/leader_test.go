//go:build e2e

package e2e

import (
	"context"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hamon-ha/hamon/hack/simcluster"
	"github.com/hamon-ha/hamon/hack/testenv"
)

// leaderLease is the controller's leader election Lease.
const leaderLease = "hamon-controller.ha.hamon.io"

// The controller's leader dies with the active host. The other replica,
// which watched the agents' renewals while it did not lead, leads once the
// leader Lease runs out and switches the server over at once: it knows the
// host stopped renewing a host lease ago. (A replica that counted hosts
// only from when it led would give the lost host a whole lease more.)
func TestLeaderOnTheLostHost_NewLeaderActsAtOnce(t *testing.T) {
	w := &world{t: t, sc: simcluster.Start(t, env, simcluster.FastTiming), ns: "e2e-leaderloss"}
	if err := env.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: w.ns}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			w.dump()
		}
	})
	for i := range 3 {
		w.sc.StartHost(w.node(i))
	}
	w.sc.StartControllerOn(w.node(0))
	testenv.Eventually(t, 30*time.Second, "the replica on "+w.node(0)+" leads", func() bool {
		return w.sc.Leader() == w.node(0)+"-manager"
	})
	w.sc.StartControllerOn(w.node(1))
	w.server(nil)
	w.waitOnline(w.node(0), 60*time.Second)
	time.Sleep(3 * time.Second) // the other replica sees a few renewals

	lost := time.Now()
	w.sc.HostDown(w.node(0))
	d := w.waitOnline(w.node(1), 60*time.Second)
	if got := w.sc.Leader(); got != w.node(1)+"-manager" {
		t.Fatalf("leader %q after the loss, want %s-manager", got, w.node(1))
	}
	var l coordinationv1.Lease
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: w.sc.Namespace, Name: leaderLease}, &l); err != nil {
		t.Fatal(err)
	}
	sw := w.lastSwitchover()
	if sw.Cause != "HostFailure" || sw.StartedAt == nil || l.Spec.AcquireTime == nil {
		t.Fatalf("switchover %+v, leader Lease %+v", sw, l.Spec)
	}
	acquired, started := l.Spec.AcquireTime.Time, sw.StartedAt.Time
	lease := simcluster.FastTiming.LeaseDuration
	t.Logf("host and leader lost → new leader %.2f s, switchover started %.2f s, new active Online %.2f s (host lease %s)",
		acquired.Sub(lost).Seconds(), started.Sub(lost).Seconds(), d.Seconds(), lease)
	// Warm, the switchover starts as soon as the new replica leads (the
	// host lease has run out by then, or does soon after: the leader
	// Lease is shorter). Cold, it would start a whole host lease after.
	if late := started.Sub(acquired); late > lease/2 {
		t.Fatalf("the switchover started %s after the new leader acquired its Lease: it gave the lost host a fresh lease", late)
	}
	w.writers(w.node(0), w.node(1))
}
