package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/controllers/hotstandby"
)

var (
	serverPhase = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "hamon_server_phase",
		Help: "1 for the phase each HAServer is in (Pending, Starting, Online, SwitchingOver, Waiting, Stopped, Failed).",
	}, []string{"namespace", "name", "phase"})
	switchovers = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hamon_switchovers_total",
		Help: "Finished switchovers by cause (ServerFailure, PatrolFailure, HostFailure, PlannedSwap, ...) and result.",
	}, []string{"cause", "result"})
	switchoverSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "hamon_switchover_duration_seconds",
		Help:    "Time from the detection of a failure (or the request) to the new host Online.",
		Buckets: []float64{0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300},
	}, []string{"cause"})
	fencing = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hamon_fencing_total",
		Help: "Fencing outcomes: reservation taken by the new host (succeeded) or fencing failed (HotStandbyWait).",
	}, []string{"result"})
)

func init() {
	metrics.Registry.MustRegister(serverPhase, switchovers, switchoverSeconds, fencing)
}

var allPhases = []hotstandby.Phase{
	hotstandby.PhasePending, hotstandby.PhaseStarting, hotstandby.PhaseOnline, hotstandby.PhaseSwitchingOver,
	hotstandby.PhaseWaiting, hotstandby.PhaseStopped, hotstandby.PhaseFailed,
}

// observeMetrics records one reconcile's outcome: the phase, the
// switchovers that finished and the fencing results.
func observeMetrics(s *hav1alpha1.HAServer, prev, st *hotstandby.State, cmds []hotstandby.Command) {
	for _, p := range allPhases {
		v := 0.0
		if p == st.Phase {
			v = 1
		}
		serverPhase.WithLabelValues(s.Namespace, s.Name, string(p)).Set(v)
	}
	for _, sw := range newlyFinished(prev, st) {
		switchovers.WithLabelValues(string(sw.Cause), sw.Result).Inc()
		if sw.Result == hotstandby.ResultSucceeded {
			switchoverSeconds.WithLabelValues(string(sw.Cause)).Observe(sw.Finished.Sub(sw.Started).Seconds())
		}
	}
	for _, c := range cmds {
		if e, ok := c.(hotstandby.Emit); ok {
			switch e.ID {
			case "HAMN122-I":
				fencing.WithLabelValues("succeeded").Inc()
			case "HAMN128-E":
				fencing.WithLabelValues("failed").Inc()
			}
		}
	}
}

// newlyFinished are the history entries st has that prev did not.
func newlyFinished(prev, st *hotstandby.State) []hotstandby.Switchover {
	var last hotstandby.Switchover
	if n := len(prev.History); n > 0 {
		last = prev.History[n-1]
	}
	var out []hotstandby.Switchover
	for _, sw := range st.History {
		if sw.Finished.After(last.Finished) {
			out = append(out, sw)
		}
	}
	return out
}
