package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/controllers/hotstandby"
)

func TestMetricsCountFinishedSwitchoversOnce(t *testing.T) {
	s := &hav1alpha1.HAServer{ObjectMeta: metav1.ObjectMeta{Namespace: "m", Name: "db"}}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	done := hotstandby.Switchover{Cause: hotstandby.CauseHostFailure, Result: hotstandby.ResultSucceeded, Started: t0, Finished: t0.Add(3 * time.Second)}
	prev := &hotstandby.State{Phase: hotstandby.PhaseSwitchingOver}
	next := &hotstandby.State{Phase: hotstandby.PhaseOnline, History: []hotstandby.Switchover{done}}
	before := testutil.ToFloat64(switchovers.WithLabelValues("HostFailure", "Succeeded"))
	observeMetrics(s, prev, next, []hotstandby.Command{hotstandby.Emit{ID: "HAMN122-I"}})
	observeMetrics(s, next, next, nil) // nothing new: nothing counted
	if got := testutil.ToFloat64(switchovers.WithLabelValues("HostFailure", "Succeeded")) - before; got != 1 {
		t.Fatalf("switchovers counted %v times", got)
	}
	if got := testutil.ToFloat64(serverPhase.WithLabelValues("m", "db", "Online")); got != 1 {
		t.Fatalf("phase gauge %v", got)
	}
	// One series per server: the old phase's is gone, not kept at 0.
	if serverPhase.DeleteLabelValues("m", "db", "SwitchingOver") {
		t.Fatal("the old phase's series stayed")
	}
	if waitingSince.DeleteLabelValues("m", "db") {
		t.Fatal("a waiting-since series while no host waits")
	}
	if testutil.ToFloat64(fencing.WithLabelValues("succeeded")) < 1 {
		t.Fatal("fencing not counted")
	}
}

// The per-server series follow the server (issue 21): its active host,
// each host's state, its standbys, a request's outcome and a switchover's
// stages; the Lease sightings follow the agents; a deleted server's series
// go with it.
func TestMetrics_ServerSeriesFollowTheServer(t *testing.T) {
	withManager(t)
	f := newFakeCluster(t, "t-metrics", "mx-a", "mx-b")
	f.newServer("db", withPatrol, "mx-a", "mx-b")
	f.waitActive("db", "mx-a")
	gauge := func(v *prometheus.GaugeVec, labels ...string) float64 {
		return testutil.ToFloat64(v.WithLabelValues(labels...))
	}
	eventually(t, "the gauges say db is Online on mx-a with one standby", func() bool {
		return gauge(activeHost, "t-metrics", "db", "mx-a") == 1 && gauge(hostStateGauge, "t-metrics", "db", "mx-a", "Online") == 1 &&
			gauge(hostStateGauge, "t-metrics", "db", "mx-b", "Standby") == 1 && gauge(standbysAvailable, "t-metrics", "db") == 1 &&
			gauge(waitingSince, "t-metrics", "db") == 0
	})
	swaps := testutil.ToFloat64(requests.WithLabelValues("Swap", "Done"))
	f.request("db", hav1alpha1.OperatorRequest{ID: "m1", Action: hav1alpha1.ActionSwap})
	s := f.waitRequest("db", "m1", hav1alpha1.RequestDone)
	// The status keeps the switchover's instants to the microsecond too
	// (kubectl hamon show --history, the stage metrics).
	if sw := s.Status.Switchovers[len(s.Status.Switchovers)-1]; sw.StartedAt == nil || sw.FencedAt == nil || sw.FinishedAt == nil ||
		sw.FinishedAt.Before(sw.FencedAt) || sw.FencedAt.Before(sw.StartedAt) ||
		!sw.StartedAt.Truncate(time.Second).Equal(sw.Started.Time) {
		t.Fatalf("switchover instants %+v", sw)
	}
	eventually(t, "the request and the switchover's stages are counted", func() bool {
		return testutil.ToFloat64(requests.WithLabelValues("Swap", "Done")) == swaps+1 && gauge(activeHost, "t-metrics", "db", "mx-b") == 1 &&
			testutil.CollectAndCount(activeHost, "hamon_server_active_host") >= 1 && histogramCount(t, "PlannedSwap", "activation") > 0
	})
	// The old active host's series went, and each host has one state.
	if n := countSeries(t, activeHost, "t-metrics"); n != 1 {
		t.Fatalf("%d active-host series of db, want 1", n)
	}
	if n := countSeries(t, hostStateGauge, "t-metrics"); n != 2 {
		t.Fatalf("%d host-state series of db, want one per host", n)
	}
	if testutil.ToFloat64(leaseSightings.WithLabelValues("mx-a")) == 0 {
		t.Fatal("no Lease renewal of mx-a was counted")
	}
	if err := env.Client.Delete(context.Background(), f.get("db")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deleted server's series are gone", func() bool {
		for _, v := range []*prometheus.GaugeVec{serverPhase, activeHost, hostStateGauge, waitingSince, standbysAvailable} {
			if n := countSeries(t, v, "t-metrics"); n != 0 {
				return false
			}
		}
		return true
	})
}

func histogramCount(t *testing.T, cause, stage string) uint64 {
	t.Helper()
	m := &dto.Metric{}
	if err := stageSeconds.WithLabelValues(cause, stage).(prometheus.Histogram).Write(m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// countSeries counts v's series of namespace ns.
func countSeries(t *testing.T, v *prometheus.GaugeVec, ns string) int {
	t.Helper()
	ch := make(chan prometheus.Metric, 1024)
	v.Collect(ch)
	close(ch)
	n := 0
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			t.Fatal(err)
		}
		for _, l := range d.GetLabel() {
			if l.GetName() == "namespace" && l.GetValue() == ns {
				n++
			}
		}
	}
	return n
}

// At rest the controller writes nothing: a reconcile of a server whose
// world has not changed (here: one an annotation wakes) stores no status,
// with its switchovers' microsecond instants read back from the API
// server as they were written.
func TestNoStatusWriteAtRest(t *testing.T) {
	withManager(t)
	f := newFakeCluster(t, "t-rest", "rs-a", "rs-b")
	f.newServer("db", withPatrol, "rs-a", "rs-b")
	f.waitActive("db", "rs-a")
	f.exit("db", "rs-a", 1)
	f.waitActive("db", "rs-b")
	eventually(t, "rs-a is back as a standby", func() bool {
		f.request("db", hav1alpha1.OperatorRequest{ID: fmt.Sprint("b", time.Now().UnixNano()), Action: hav1alpha1.ActionBegin, Node: "rs-a"})
		return f.get("db").Status.StandbyNodes == "rs-a"
	})
	time.Sleep(2 * time.Second) // let it settle
	for i := range 3 {
		before := f.get("db")
		touchAsAnotherWriter(before, fmt.Sprint("rest-", i))
		woken := f.get("db").ResourceVersion
		time.Sleep(time.Second)
		if after := f.get("db"); after.ResourceVersion != woken {
			t.Fatalf("a reconcile at rest wrote the status: %+v", after.Status.Switchovers)
		}
	}
}

// A status that differs from the stored one only where the API keeps no
// trace (a time's nanoseconds) is the stored one: no patch is sent for it.
func TestSameStored_NanosecondsAreNoChange(t *testing.T) {
	at := time.Date(2026, 12, 7, 22, 0, 0, 0, time.UTC)
	a := &hav1alpha1.HAServerStatus{Phase: hav1alpha1.PhaseOnline, Hosts: []hav1alpha1.HostStatus{{Node: "n1", Since: ptrTime(at)}}}
	b := a.DeepCopy()
	b.Hosts[0].Since = ptrTime(at.Add(123 * time.Nanosecond))
	if !sameStored(a, b) {
		t.Fatal("a status that differs in nanoseconds only counts as a change")
	}
	b.Hosts[0].Since = ptrTime(at.Add(time.Second))
	if sameStored(a, b) {
		t.Fatal("a second's change is no change")
	}
}

func ptrTime(t time.Time) *metav1.Time { mt := metav1.NewTime(t); return &mt }

// The waiting-since series exists while a host waits, and only then.
func TestMetrics_WaitingSinceOnlyWhileAHostWaits(t *testing.T) {
	s := &hav1alpha1.HAServer{ObjectMeta: metav1.ObjectMeta{Namespace: "m", Name: "waits"}}
	since := time.Date(2026, 12, 7, 22, 0, 0, 0, time.UTC)
	online := &hotstandby.State{Phase: hotstandby.PhaseOnline, Hosts: []hotstandby.Host{{Node: "a", State: hotstandby.Online}}}
	waiting := &hotstandby.State{Phase: hotstandby.PhaseWaiting, Hosts: []hotstandby.Host{{Node: "a", State: hotstandby.RestartWait, Since: since}}}
	observeMetrics(s, online, waiting, nil)
	if got := testutil.ToFloat64(waitingSince.WithLabelValues("m", "waits")); got != float64(since.Unix()) {
		t.Fatalf("waiting since %v, want %d", got, since.Unix())
	}
	observeMetrics(s, waiting, online, nil)
	if waitingSince.DeleteLabelValues("m", "waits") {
		t.Fatal("the series stayed once no host waits")
	}
	if serverPhase.DeleteLabelValues("m", "waits", "Waiting") || !serverPhase.DeleteLabelValues("m", "waits", "Online") {
		t.Fatal("the phase series do not follow the phase")
	}
}
