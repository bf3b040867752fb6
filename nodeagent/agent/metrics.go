package agent

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/hamon-ha/hamon/nodeagent/cri"
	"github.com/hamon-ha/hamon/nodeagent/pathwatch"
)

// The node agent's metrics, served on its own /metrics (the manager's
// metrics server, --metrics-bind-address). Every series carries the node;
// the other labels are bounded: a server's namespace and name, a disk's
// name, a fixed set of states, results and reasons, never a free-text
// message.
var (
	leaseRenewSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "hamon_agent_lease_renew_duration_seconds",
		Help:    "Time one renewal of the node's Lease took (successful or not).",
		Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4},
	}, []string{"node"})
	leaseRenewFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hamon_agent_lease_renew_failures_total",
		Help: "Renewals of the node's Lease that failed (or were held back by an unreported stop).",
	}, []string{"node"})
	leaseLastRenew = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "hamon_agent_lease_last_renew_timestamp_seconds",
		Help: "When the node's Lease was last renewed (Unix time): time() minus this, against " +
			"hamon_agent_self_fence_deadline_seconds, is how close the agent is to self-fencing.",
	}, []string{"node"})
	selfFenceDeadline = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "hamon_agent_self_fence_deadline_seconds",
		Help: "The self-fence deadline: how long after its last renewal the agent stops the servers no reservation protects.",
	}, []string{"node"})
	diskPaths = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "hamon_agent_disk_paths",
		Help: "Paths of each shared disk of this node by state (ok, failed), as the last path check found them.",
	}, []string{"node", "disk", "state"})
	reservationHeld = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "hamon_agent_reservation_held",
		Help: "1 while this node holds the shared disks' reservation for the server, 0 otherwise.",
	}, []string{"node", "namespace", "server"})
	keyChecks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hamon_agent_key_checks_total",
		Help: "Checks of this node's reservation key on the active server's disks, by result (held, preempted, error).",
	}, []string{"node", "result"})
	patrolRuns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hamon_agent_patrol_runs_total",
		Help: "Starts of a resident patrolCommand, and its ends by result " +
			"(failed: the server failure it reports; container-ended: its container ended first).",
	}, []string{"node", "namespace", "server", "result"})
	patrolSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "hamon_agent_patrol_duration_seconds",
		Help:    "How long a resident patrolCommand ran before it ended.",
		Buckets: prometheus.ExponentialBuckets(1, 4, 10),
	}, []string{"node"})
	osTerminations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hamon_agent_os_terminations_total",
		Help: "OS terminations this agent began, by reason (all-paths-failed: KAMN726-E; fence-host: the controller asked).",
	}, []string{"node", "reason"})
	selfFences = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hamon_agent_self_fence_stops_total",
		Help: "Servers this agent stopped on its own because it could not renew its Lease (self-fencing).",
	}, []string{"node"})
	criSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "hamon_agent_cri_call_duration_seconds",
		Help:    "Time the container runtime took to answer, by call (exec, stop, running) and result (ok, error).",
		Buckets: []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30},
	}, []string{"node", "call", "result"})
	containerExits = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hamon_agent_container_exits_total",
		Help: "Ends of servers' containers the container runtime told the agent of, and the agent reported to the controller.",
	}, []string{"node"})
)

func init() {
	metrics.Registry.MustRegister(leaseRenewSeconds, leaseRenewFailures, leaseLastRenew, selfFenceDeadline,
		diskPaths, reservationHeld, keyChecks, patrolRuns, patrolSeconds, osTerminations, selfFences, criSeconds,
		containerExits)
}

// The reasons of hamon_agent_os_terminations_total.
const (
	terminationAllPaths  = "all-paths-failed"
	terminationFenceHost = "fence-host"
)

// initMetrics gives this node's counters their series at 0, so that a
// rate or an alert sees them before their first event.
func (a *Agent) initMetrics() {
	selfFenceDeadline.WithLabelValues(a.Node).Set(a.Timing.SelfFence.Seconds())
	leaseRenewFailures.WithLabelValues(a.Node)
	selfFences.WithLabelValues(a.Node)
	containerExits.WithLabelValues(a.Node)
	for _, r := range []string{"held", "preempted", "error"} {
		keyChecks.WithLabelValues(a.Node, r)
	}
	for _, r := range []string{terminationAllPaths, terminationFenceHost} {
		osTerminations.WithLabelValues(a.Node, r)
	}
}

// observePaths sets the path gauges of this node's disks from one round of
// path checks; disks no longer checked lose their series.
func (a *Agent) observePaths(probes map[string][]pathwatch.PathResult) {
	diskPaths.DeletePartialMatch(prometheus.Labels{"node": a.Node})
	for disk, results := range probes {
		ok, failed := 0, 0
		for _, r := range results {
			if r.Err == nil {
				ok++
			} else {
				failed++
			}
		}
		diskPaths.WithLabelValues(a.Node, disk, "ok").Set(float64(ok))
		diskPaths.WithLabelValues(a.Node, disk, "failed").Set(float64(failed))
	}
}

// timedRuntime measures every call to the container runtime.
type timedRuntime struct {
	cri.Runtime
	node string
}

func (t timedRuntime) observe(call string, start time.Time, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	criSeconds.WithLabelValues(t.node, call, result).Observe(time.Since(start).Seconds())
}

func (t timedRuntime) Exec(ctx context.Context, c cri.Container, cmd []string, timeout time.Duration) (cri.ExecResult, error) {
	start := time.Now()
	res, err := t.Runtime.Exec(ctx, c, cmd, timeout)
	if timeout > 0 { // a resident patrol's exec runs as long as the patrol: not a latency
		t.observe("exec", start, err)
	}
	return res, err
}

func (t timedRuntime) Stop(ctx context.Context, c cri.Container, grace time.Duration) error {
	start := time.Now()
	err := t.Runtime.Stop(ctx, c, grace)
	t.observe("stop", start, err)
	return err
}

func (t timedRuntime) Running(ctx context.Context, c cri.Container) (bool, error) {
	start := time.Now()
	ok, err := t.Runtime.Running(ctx, c)
	t.observe("running", start, err)
	return ok, err
}
