package charts

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// promtoolBin is bin/promtool. A missing one fails the test: nothing is
// skipped for want of a binary.
func promtoolBin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(root, "bin", "promtool")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s not found: run `make promtool-bin` (hack/build-promtool.sh builds it from Go module sources)", bin)
	}
	return bin
}

// The alert rules are valid Prometheus rules, and each fires on the sample
// series of files/alerts_test.yaml and only there (promtool's own checker
// and rule unit tests).
func TestAlertRules_PromtoolChecksAndUnitTests(t *testing.T) {
	bin := promtoolBin(t)
	files := filepath.Join(chartDir, "files")
	for _, args := range [][]string{
		{"check", "rules", filepath.Join(files, "alerts.yaml")},
		{"test", "rules", filepath.Join(files, "alerts_test.yaml")},
	} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args[:2], " "), err, out)
		}
	}
}

// Every alert is unit-tested, has a runbook in the chart's README under
// its own heading, and queries only metrics hamon exports.
func TestAlertRules_TestedDocumentedAndOnExportedMetrics(t *testing.T) {
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `json:"alert"`
				Expr        string            `json:"expr"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	}
	data, err := os.ReadFile(filepath.Join(chartDir, "files", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &rules); err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(filepath.Join(chartDir, "files", "alerts_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(chartDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	exported := exportedMetrics(t)
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			if !strings.Contains(string(tests), "alertname: "+r.Alert+"\n") {
				t.Errorf("%s has no promtool unit test in alerts_test.yaml", r.Alert)
			}
			if !strings.Contains(string(readme), "\n### "+r.Alert+"\n") {
				t.Errorf("%s has no runbook (a \"### %s\" section) in the chart's README", r.Alert, r.Alert)
			}
			if want := "README.md#" + strings.ToLower(r.Alert); !strings.HasSuffix(r.Annotations["runbook_url"], want) {
				t.Errorf("%s: runbook_url %q does not end in %s", r.Alert, r.Annotations["runbook_url"], want)
			}
			for _, m := range queriedMetrics(r.Expr) {
				if !slices.Contains(exported, m) {
					t.Errorf("%s queries %s, which hamon does not export", r.Alert, m)
				}
			}
		}
	}
	if n < 8 {
		t.Errorf("%d alerts, want the 8 of issue 21 at least", n)
	}
}

var metricName = regexp.MustCompile(`\bhamon_[a-z_]+\b`)

// queriedMetrics are the hamon metric names an expression reads (a
// histogram's _bucket, _sum and _count series name the histogram).
func queriedMetrics(expr string) []string {
	var out []string
	for _, m := range metricName.FindAllString(expr, -1) {
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			m = strings.TrimSuffix(m, suffix)
		}
		out = append(out, m)
	}
	return out
}

// exportedMetrics are the names the controller and the node agent register
// (their Name fields in metrics.go).
func exportedMetrics(t *testing.T) []string {
	t.Helper()
	var out []string
	name := regexp.MustCompile(`Name:\s+"(hamon_[a-z_]+)"`)
	for _, f := range []string{"controllers/metrics.go", "nodeagent/agent/metrics.go"} {
		src, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range name.FindAllStringSubmatch(string(src), -1) {
			out = append(out, m[1])
		}
	}
	if len(out) < 20 {
		t.Fatalf("found only %d exported metrics: %v", len(out), out)
	}
	return out
}

// The dashboard is valid JSON and queries only metrics hamon exports; its
// rows repeat per server and per host.
func TestDashboard_QueriesExportedMetrics(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(chartDir, "files", "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Repeat  string `json:"repeat"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := yaml.Unmarshal(data, &dash); err != nil {
		t.Fatal(err)
	}
	exported := exportedMetrics(t)
	var exprs []string
	repeats := map[string]bool{}
	for _, p := range dash.Panels {
		if p.Type == "row" {
			repeats[p.Repeat] = true
		}
		for _, q := range p.Targets {
			exprs = append(exprs, q.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		exprs = append(exprs, v.Definition)
	}
	queried := 0
	for _, e := range exprs {
		for _, m := range queriedMetrics(e) {
			queried++
			if !slices.Contains(exported, m) {
				t.Errorf("the dashboard queries %s, which hamon does not export (in %q)", m, e)
			}
		}
	}
	if queried < 20 || !repeats["server"] || !repeats["node"] {
		t.Errorf("%d metric queries, rows repeated per %v: want a row per server and per node", queried, repeats)
	}
}

// The PrometheusRule the chart renders holds exactly the rule file promtool
// checks, and the dashboard ConfigMap exactly the dashboard file.
func TestAlertRulesAndDashboard_AreWhatTheChartRenders(t *testing.T) {
	objs := decodeAll(t, render(t, valueSets[3]))
	rules := find(objs, "PrometheusRule")
	if len(rules) != 1 {
		t.Fatalf("%d PrometheusRules rendered, want 1", len(rules))
	}
	data, err := os.ReadFile(filepath.Join(chartDir, "files", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var file map[string]any
	if err := yaml.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rules[0].Object["spec"].(map[string]any)["groups"], file["groups"]) {
		t.Error("the rendered PrometheusRule's groups differ from files/alerts.yaml")
	}
	cms := find(objs, "ConfigMap")
	dash, err := os.ReadFile(filepath.Join(chartDir, "files", "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, cm := range cms {
		if got, ok := cm.Object["data"].(map[string]any)["hamon.json"]; ok {
			found = true
			if got != strings.TrimRight(string(dash), "\n") {
				t.Error("the dashboard ConfigMap differs from files/dashboard.json")
			}
			if cm.GetLabels()["grafana_dashboard"] != "1" {
				t.Errorf("dashboard ConfigMap labels %v: want the Grafana sidecar's grafana_dashboard", cm.GetLabels())
			}
		}
	}
	if !found {
		t.Error("no dashboard ConfigMap rendered")
	}
}
