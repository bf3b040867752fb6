package agent

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/nodeagent/fencing"
	"github.com/hamon-ha/hamon/nodeagent/lease"
	"github.com/hamon-ha/hamon/nodeagent/scsipr"
	"github.com/hamon-ha/hamon/nodeagent/simdisk"
)

// Every metric the agent exports (issue 21) appears, labelled with its node
// and bounded labels, once the agent has done the work it measures:
// renewals, a path check, a reservation report, a key check, a resident
// patrol that failed, a self-fence stop, an OS termination and runtime
// calls.
func TestMetrics_EveryAgentMetricIsExported(t *testing.T) {
	ctx := context.Background()
	const node = "mt-a"
	dir := t.TempDir()
	rt := &containerStates{running: map[string]bool{"db-mt-a": true}}
	a := &Agent{
		Client: env.Client, Node: node, Namespace: agentNS, BootID: "boot-1", Key: KeyFor("test", node),
		Disks:   simdisk.Resolver{Root: dir, Initiator: node, Ports: []string{"p1", "p2"}},
		SCSI:    scsipr.Client{Retries: 1},
		OS:      fencing.Recorder{File: filepath.Join(dir, "os-terminated")},
		Runtime: timedRuntime{Runtime: rt, node: node},
		Timing:  lease.Timing{Duration: 3 * time.Second, Renew: 500 * time.Millisecond, SelfFence: 2 * time.Second},
	}
	for _, ns := range []string{"mt", agentNS} {
		if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	s := &hav1alpha1.HAServer{ObjectMeta: metav1.ObjectMeta{Namespace: "mt", Name: "db"}}
	s.Spec.Hosts = []hav1alpha1.HostSpec{{Node: node}, {Node: "mt-b"}}
	s.Spec.SharedDisks = []hav1alpha1.SharedDisk{{Device: "/dev/mapper/mpathm"}}
	s.Spec.Template.Spec.Containers = []corev1.Container{{Name: "server", Image: "busybox"}}
	if err := env.Client.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	s.Status.ActiveNode = node
	s.Status.Hosts = []hav1alpha1.HostStatus{{Node: node, State: hav1alpha1.HostOnline, Role: hav1alpha1.RoleActive, Running: true, Pod: "db-mt-a"}}

	a.initMetrics() // as Heartbeat does at start
	if err := a.heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.devices(ctx); err != nil {
		t.Fatal(err)
	}
	r := a.report(ctx, s.ReportKey(), s.UID)
	r.Reservation = hav1alpha1.ReservationHeld
	if err := a.writeReport(ctx, r); err != nil {
		t.Fatal(err)
	}
	a.watchKey(ctx, s, &r) // no key registered on the simulated disk: preempted
	a.runPatrol(ctx, types.NamespacedName{Namespace: "mt", Name: "db"}, serverContainer(s, node), []string{"patrol"})
	a.selfStop(ctx, s)
	_ = a.terminateOS(ctx, terminationAllPaths, "test")

	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"hamon_agent_lease_renew_duration_seconds":       {"node"},
		"hamon_agent_lease_renew_failures_total":         nil, // only on a failure: checked below
		"hamon_agent_lease_last_renew_timestamp_seconds": {"node"},
		"hamon_agent_self_fence_deadline_seconds":        {"node"},
		"hamon_agent_disk_paths":                         {"disk", "node", "state"},
		"hamon_agent_reservation_held":                   {"namespace", "node", "server"},
		"hamon_agent_key_checks_total":                   {"node", "result"},
		"hamon_agent_patrol_runs_total":                  {"namespace", "node", "result", "server"},
		"hamon_agent_patrol_duration_seconds":            {"node"},
		"hamon_agent_os_terminations_total":              {"node", "reason"},
		"hamon_agent_self_fence_stops_total":             {"node"},
		"hamon_agent_cri_call_duration_seconds":          {"call", "node", "result"},
	}
	found := map[string]*dto.MetricFamily{}
	for _, f := range families {
		found[f.GetName()] = f
	}
	for name, labels := range want {
		if labels == nil {
			continue
		}
		f := found[name]
		if f == nil {
			t.Errorf("%s is not exported", name)
			continue
		}
		ours := false
		for _, m := range f.GetMetric() {
			var got []string
			isOurs := false
			for _, l := range m.GetLabel() {
				got = append(got, l.GetName())
				isOurs = isOurs || (l.GetName() == "node" && l.GetValue() == node)
			}
			slices.Sort(got)
			if isOurs {
				ours = true
				if !slices.Equal(got, labels) {
					t.Errorf("%s labels %v, want %v", name, got, labels)
				}
			}
		}
		if !ours {
			t.Errorf("%s has no series of node %s", name, node)
		}
	}
	// The path gauges count the simulated disk's two paths as ok.
	if v := gaugeValue(found["hamon_agent_disk_paths"], map[string]string{"node": node, "disk": "mpathm", "state": "ok"}); v != 2 {
		t.Errorf("ok paths of mpathm: %v, want 2", v)
	}
	if v := gaugeValue(found["hamon_agent_reservation_held"], map[string]string{"node": node, "namespace": "mt", "server": "db"}); v != 1 {
		t.Errorf("reservation held: %v, want 1", v)
	}
	// A failed renewal counts (the API server refuses an agent with no
	// such namespace).
	b := &Agent{Client: env.Client, Node: "mt-b", Namespace: "no-such-namespace", Timing: a.Timing}
	if err := b.heartbeat(ctx); err == nil {
		t.Fatal("a renewal into a missing namespace succeeded")
	}
	families, _ = metrics.Registry.Gather()
	for _, f := range families {
		if f.GetName() == "hamon_agent_lease_renew_failures_total" {
			if v := counterValue(f, map[string]string{"node": "mt-b"}); v != 1 {
				t.Errorf("renew failures of mt-b: %v, want 1", v)
			}
		}
	}
}

func matches(m *dto.Metric, labels map[string]string) bool {
	n := 0
	for _, l := range m.GetLabel() {
		if v, ok := labels[l.GetName()]; ok {
			if v != l.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(labels)
}

func gaugeValue(f *dto.MetricFamily, labels map[string]string) float64 {
	for _, m := range f.GetMetric() {
		if matches(m, labels) {
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

func counterValue(f *dto.MetricFamily, labels map[string]string) float64 {
	for _, m := range f.GetMetric() {
		if matches(m, labels) {
			return m.GetCounter().GetValue()
		}
	}
	return -1
}
