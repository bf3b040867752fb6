// Package metricscheck scrapes hamon's processes as Prometheus would: the
// controller and the node agents run as processes (hack/simcluster) against
// a real kube-apiserver, with simulated hosts, and their /metrics pages must
// hold every metric of issue 21 with its labels. Part of make test.
package metricscheck

import (
	"bufio"
	"context"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/hack/simcluster"
	"github.com/hamon-ha/hamon/hack/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env, nil) }

// The controller and the node agents, running as processes, serve every
// metric of issue 21 with its labels: a server with a shared disk and a
// resident patrolCommand Online on host 0, its standby on host 1, scraped
// over HTTP as Prometheus would.
func TestMetrics_ScrapedFromTheControllerAndTheAgents(t *testing.T) {
	ctx := context.Background()
	sc := simcluster.Start(t, env, simcluster.FastTiming)
	const ns = "metrics"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	sc.Metrics = true
	sc.StartController()
	nodes := []string{"mc-a", "mc-b"}
	for _, n := range nodes {
		sc.StartHost(n)
	}
	s := &hav1alpha1.HAServer{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns}}
	s.Spec.Mode = hav1alpha1.ModeServer
	s.Spec.Hosts = []hav1alpha1.HostSpec{{Node: nodes[0]}, {Node: nodes[1]}}
	s.Spec.SharedDisks = []hav1alpha1.SharedDisk{{Device: "/dev/mapper/mpatha"}}
	s.Spec.PatrolCommand = []string{"/bin/sleep", "3600"}
	s.Spec.Template.Spec.Containers = []corev1.Container{{Name: "server", Image: "demo-server",
		Command: []string{filepath.Join(sc.Bin, "demo-server"), "--disk=mpatha"},
		Env:     []corev1.EnvVar{{Name: "HAMON_SIM_DISK_ROOT", Value: sc.DiskRoot()}}}}
	if err := env.Client.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 60*time.Second, "db Online on "+nodes[0], func() bool {
		var cur hav1alpha1.HAServer
		return env.Client.Get(ctx, client.ObjectKeyFromObject(s), &cur) == nil &&
			cur.Status.Phase == hav1alpha1.PhaseOnline && cur.Status.ActiveNode == nodes[0]
	})

	want := map[string]map[string][]string{
		"manager": {
			"hamon_server_phase":                             {"name", "namespace", "phase"},
			"hamon_server_active_host":                       {"name", "namespace", "node"},
			"hamon_server_host_state":                        {"name", "namespace", "node", "state"},
			"hamon_server_standbys_available":                {"name", "namespace"},
			"hamon_switchovers_total":                        {"cause", "result"},
			"hamon_switchover_duration_seconds_bucket":       {"cause", "le"},
			"hamon_switchover_stage_duration_seconds_bucket": {"cause", "le", "stage"},
			"hamon_fencing_total":                            {"result"},
			"hamon_requests_total":                           {"action", "outcome"},
			"hamon_lease_sightings_total":                    {"node"},
			"hamon_lease_last_sighting_timestamp_seconds":    {"node"},
		},
		nodes[0] + "-agent": {
			"hamon_agent_lease_renew_duration_seconds_bucket": {"le", "node"},
			"hamon_agent_lease_renew_failures_total":          {"node"},
			"hamon_agent_lease_last_renew_timestamp_seconds":  {"node"},
			"hamon_agent_self_fence_deadline_seconds":         {"node"},
			"hamon_agent_disk_paths":                          {"disk", "node", "state"},
			"hamon_agent_reservation_held":                    {"namespace", "node", "server"},
			"hamon_agent_key_checks_total":                    {"node", "result"},
			"hamon_agent_patrol_runs_total":                   {"namespace", "node", "result", "server"},
			"hamon_agent_os_terminations_total":               {"node", "reason"},
			"hamon_agent_self_fence_stops_total":              {"node"},
			"hamon_agent_cri_call_duration_seconds_bucket":    {"call", "le", "node", "result"},
		},
	}
	for process, metrics := range want {
		addr := sc.MetricsAddress(process)
		if addr == "" {
			t.Fatalf("%s serves no metrics", process)
		}
		var missing []string
		testenv.Eventually(t, 30*time.Second, process+" serves every metric", func() bool {
			got := scrape(t, addr)
			missing = nil
			for name, labels := range metrics {
				if !slices.ContainsFunc(got[name], func(l []string) bool { return slices.Equal(l, labels) }) {
					missing = append(missing, name)
				}
			}
			return len(missing) == 0
		})
		if len(missing) > 0 {
			t.Fatalf("%s lacks %v", process, missing)
		}
	}
	// The switchover's stages were measured for the first activation.
	got := scrape(t, sc.MetricsAddress("manager"))
	if len(got["hamon_switchover_stage_duration_seconds_count"]) == 0 {
		t.Fatal("no switchover stage was measured")
	}
}

var sample = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? `)
var labelName = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="`)

// scrape reads a /metrics page: each metric's label-name sets.
func scrape(t *testing.T, addr string) map[string][][]string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	out := map[string][][]string{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		m := sample.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		var labels []string
		for _, l := range labelName.FindAllStringSubmatch(m[2], -1) {
			labels = append(labels, l[1])
		}
		sort.Strings(labels)
		out[m[1]] = append(out[m[1]], labels)
	}
	return out
}
