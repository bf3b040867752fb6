package controllers

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
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
	if got := testutil.ToFloat64(serverPhase.WithLabelValues("m", "db", "SwitchingOver")); got != 0 {
		t.Fatalf("old phase gauge %v", got)
	}
	if testutil.ToFloat64(fencing.WithLabelValues("succeeded")) < 1 {
		t.Fatal("fencing not counted")
	}
}
