package controllers

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/controllers/hotstandby"
)

var (
	serverPhase = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "hamon_server_phase",
		Help: "1 for the phase each HAServer is in (Pending, Starting, Online, SwitchingOver, Waiting, Stopped, Failed); " +
			"no series for the others.",
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
	activeHost = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "hamon_server_active_host",
		Help: "1 for the node each HAServer is active (Online) on; no series while none is.",
	}, []string{"namespace", "name", "node"})
	hostStateGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "hamon_server_host_state",
		Help: "1 for the state of each host of each HAServer (Online, Standby, Starting, Stopping, StartRetry, RestartWait, ...).",
	}, []string{"namespace", "name", "node", "state"})
	waitingSince = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "hamon_server_waiting_since_timestamp_seconds",
		Help: "When a host of the HAServer entered a wait state that needs a restart or an operator (Unix time); no series while none waits.",
	}, []string{"namespace", "name"})
	standbysAvailable = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "hamon_server_standbys_available",
		Help: "Live standby hosts ready to take the HAServer over.",
	}, []string{"namespace", "name"})
	requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hamon_requests_total",
		Help: "Operator requests answered, by action (Swap, StopStandby, End, Begin, Act, ClearReservation) and outcome (Done, Refused, Failed).",
	}, []string{"action", "outcome"})
	stageSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "hamon_switchover_stage_duration_seconds",
		Help: "Stages of finished switchovers: detection (the failure, as its source tells, to its detection), " +
			"fencing (to the old host known stopped or fenced), activation (then to Online).",
		Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300},
	}, []string{"cause", "stage"})
	leaseSightings = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hamon_lease_sightings_total",
		Help: "Renewals of each node agent's Lease that the controller saw.",
	}, []string{"node"})
	leaseLastSighting = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "hamon_lease_last_sighting_timestamp_seconds",
		Help: "When the controller last saw each node agent's Lease renewed (Unix time, the controller's clock).",
	}, []string{"node"})
)

func init() {
	metrics.Registry.MustRegister(serverPhase, switchovers, switchoverSeconds, fencing, activeHost, hostStateGauge, waitingSince,
		standbysAvailable, requests, stageSeconds, leaseSightings, leaseLastSighting)
}

// initMetrics gives the request counters their series at 0, so that an
// alert on a failed request sees the first one.
func initMetrics() {
	for _, a := range []hotstandby.Action{hotstandby.ActionSwap, hotstandby.ActionStopStandby, hotstandby.ActionEnd,
		hotstandby.ActionBegin, hotstandby.ActionAct, hotstandby.ActionClearReservation} {
		for _, o := range []hotstandby.RequestOutcome{hotstandby.RequestDone, hotstandby.RequestRefused, hotstandby.RequestFailed} {
			requests.WithLabelValues(string(a), string(o))
		}
	}
}

// forgetServer removes a deleted HAServer's series.
func forgetServer(namespace, name string) {
	l := prometheus.Labels{"namespace": namespace, "name": name}
	for _, v := range []*prometheus.GaugeVec{serverPhase, activeHost, hostStateGauge, waitingSince, standbysAvailable} {
		v.DeletePartialMatch(l)
	}
}

// observeMetrics records one reconcile's outcome: the phase, the
// switchovers that finished and the fencing results.
func observeMetrics(s *hav1alpha1.HAServer, prev, st *hotstandby.State, cmds []hotstandby.Command) {
	// One series per server, its phase's: a series at 0 for each other
	// phase was six more per server (60,000 at 10,000 servers), the larger
	// part of the controller's memory for metrics. The alerts ask "== 1".
	if prev.Phase != st.Phase {
		serverPhase.DeleteLabelValues(s.Namespace, s.Name, string(prev.Phase))
	}
	serverPhase.WithLabelValues(s.Namespace, s.Name, string(st.Phase)).Set(1)
	for _, sw := range newlyFinished(prev, st) {
		switchovers.WithLabelValues(string(sw.Cause), sw.Result).Inc()
		if sw.Result == hotstandby.ResultSucceeded {
			switchoverSeconds.WithLabelValues(string(sw.Cause)).Observe(sw.Finished.Sub(sw.Started).Seconds())
			if !sw.FailedAt.IsZero() {
				stageSeconds.WithLabelValues(string(sw.Cause), "detection").Observe(sw.Started.Sub(sw.FailedAt).Seconds())
			}
			if !sw.Fenced.IsZero() {
				stageSeconds.WithLabelValues(string(sw.Cause), "fencing").Observe(sw.Fenced.Sub(sw.Started).Seconds())
				stageSeconds.WithLabelValues(string(sw.Cause), "activation").Observe(sw.Finished.Sub(sw.Fenced).Seconds())
			}
		}
	}
	// Only the series that changed since the last stored decision (prev)
	// are removed: a scan of every series at each reconcile would cost as
	// much as the servers times their hosts.
	if n := prev.ActiveNode(); n != "" && n != st.ActiveNode() {
		activeHost.DeleteLabelValues(s.Namespace, s.Name, n)
	}
	if n := st.ActiveNode(); n != "" {
		activeHost.WithLabelValues(s.Namespace, s.Name, n).Set(1)
	}
	for _, h := range prev.Hosts {
		if now := st.Host(h.Node); now == nil || now.State != h.State {
			hostStateGauge.DeleteLabelValues(s.Namespace, s.Name, h.Node, string(h.State))
		}
	}
	var waiting time.Time
	for _, h := range st.Hosts {
		hostStateGauge.WithLabelValues(s.Namespace, s.Name, h.Node, string(h.State)).Set(1)
		if h.State.IsWait() && (waiting.IsZero() || h.Since.Before(waiting)) {
			waiting = h.Since
		}
	}
	since := 0.0
	if !waiting.IsZero() {
		since = float64(waiting.UnixNano()) / 1e9
	}
	if since > 0 {
		waitingSince.WithLabelValues(s.Namespace, s.Name).Set(since)
	} else {
		waitingSince.DeleteLabelValues(s.Namespace, s.Name) // no series while none waits
	}
	standbysAvailable.WithLabelValues(s.Namespace, s.Name).Set(float64(len(st.StandbyNodes())))
	if r := st.LastRequest; r != nil && r.Outcome != hotstandby.RequestInProgress &&
		(prev.LastRequest == nil || prev.LastRequest.ID != r.ID || prev.LastRequest.Outcome != r.Outcome) {
		requests.WithLabelValues(string(r.Action), string(r.Outcome)).Inc()
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
