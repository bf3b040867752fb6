// Command bench measures hamon on simulated hosts (started by
// hack/bench.sh): switchover time by cause as distributions, and API
// writes at rest. Figures go to stdout as tables and to bin/bench/latest.json.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
)

type bench struct {
	c     client.WithWatch
	root  string // the repo
	run   string // the run directory (bin/run/bench)
	nodes []string
	ns    string
}

// Distribution is a set of measurements, in milliseconds.
type Distribution struct {
	Runs    int       `json:"runs"`
	P50ms   float64   `json:"p50Ms"`
	P90ms   float64   `json:"p90Ms"`
	P99ms   float64   `json:"p99Ms"`
	MaxMs   float64   `json:"maxMs"`
	Samples []float64 `json:"samplesMs"`
}

func distribution(ms []float64) Distribution {
	s := slices.Clone(ms)
	slices.Sort(s)
	at := func(q float64) float64 {
		if len(s) == 0 {
			return 0
		}
		i := int(q*float64(len(s))+0.999999) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return Distribution{Runs: len(s), P50ms: at(0.5), P90ms: at(0.9), P99ms: at(0.99), MaxMs: at(1), Samples: ms}
}

func main() {
	crashes := flag.Int("crash-runs", 30, "Server-crash switchovers to measure.")
	swaps := flag.Int("swap-runs", 30, "Planned swaps to measure.")
	losses := flag.Int("host-loss-runs", 10, "Host-loss switchovers to measure.")
	rest := flag.Duration("rest", 30*time.Second, "How long to count API writes at rest.")
	flag.Parse()
	root, _ := os.Getwd()
	cfg, err := ctrl.GetConfig()
	if err != nil {
		fail(err)
	}
	if err := hav1alpha1.AddToScheme(clientgoscheme.Scheme); err != nil {
		fail(err)
	}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: clientgoscheme.Scheme})
	if err != nil {
		fail(err)
	}
	b := &bench{c: c, root: root, run: os.Getenv("RUN"), nodes: strings.Fields(os.Getenv("NODES_LIST")), ns: "default"}
	results := map[string]any{}
	ctx := context.Background()
	b.apply(ctx)
	b.waitSettled(ctx, 2)
	results["restWritesPerServerPerMinute"] = b.writesAtRest(ctx, *rest)
	results["serverCrash"] = b.measure(ctx, "server crash", *crashes, b.crash)
	results["plannedSwap"] = b.measure(ctx, "planned swap", *swaps, b.swap)
	results["hostLoss"] = b.measure(ctx, "host loss", *losses, b.hostLoss)
	results["leaseDurationSeconds"] = 4
	report(results)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

func (b *bench) apply(ctx context.Context) {
	s := &hav1alpha1.HAServer{}
	s.Name, s.Namespace = "bench", b.ns
	s.Spec.Mode = hav1alpha1.ModeServer
	for _, n := range b.nodes {
		s.Spec.Hosts = append(s.Spec.Hosts, hav1alpha1.HostSpec{Node: n})
	}
	s.Spec.SharedDisks = []hav1alpha1.SharedDisk{{Device: "/dev/mapper/mpatha"}}
	s.Spec.Template.Spec.Containers = []corev1.Container{{
		Name: "server", Image: "demo-server", Command: []string{filepath.Join(b.root, "bin/demo-server")},
		Env: []corev1.EnvVar{{Name: "HAMON_SIM_DISK_ROOT", Value: filepath.Join(b.run, "disks")}},
	}}
	if err := b.c.Create(ctx, s); err != nil {
		fail(err)
	}
}

func (b *bench) get(ctx context.Context) *hav1alpha1.HAServer {
	var s hav1alpha1.HAServer
	if err := b.c.Get(ctx, client.ObjectKey{Namespace: b.ns, Name: "bench"}, &s); err != nil {
		fail(err)
	}
	return &s
}

// waitFor watches the server until cond holds, and returns when it did.
func (b *bench) waitFor(ctx context.Context, what string, cond func(*hav1alpha1.HAServer) bool) time.Time {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		s := b.get(ctx)
		if cond(s) {
			return time.Now()
		}
		w, err := b.c.Watch(ctx, &hav1alpha1.HAServerList{}, client.InNamespace(b.ns),
			client.MatchingFields{"metadata.name": "bench"}, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: s.ResourceVersion}})
		if err != nil {
			fail(err)
		}
		for ev := range w.ResultChan() {
			if ev.Type == watch.Error {
				break
			}
			if s, ok := ev.Object.(*hav1alpha1.HAServer); ok && cond(s) {
				w.Stop()
				return time.Now()
			}
		}
		w.Stop()
		if ctx.Err() != nil {
			fail(fmt.Errorf("timed out waiting until %s", what))
		}
	}
}

func online(s *hav1alpha1.HAServer) bool { return s.Status.Phase == hav1alpha1.PhaseOnline }

func (b *bench) waitSettled(ctx context.Context, standbys int) {
	b.waitFor(ctx, "Online with standbys", func(s *hav1alpha1.HAServer) bool {
		return online(s) && len(strings.Split(s.Status.StandbyNodes, ",")) == standbys && s.Status.StandbyNodes != ""
	})
}

func (b *bench) measure(ctx context.Context, name string, runs int, one func(context.Context) time.Duration) Distribution {
	var ms []float64
	for i := range runs {
		d := one(ctx)
		ms = append(ms, float64(d.Microseconds())/1000)
		fmt.Fprintf(os.Stderr, "%s %d/%d: %s\n", name, i+1, runs, d.Round(time.Millisecond))
	}
	return distribution(ms)
}

func (b *bench) request(ctx context.Context, rq hav1alpha1.OperatorRequest) {
	for {
		s := b.get(ctx)
		s.Spec.Request = &rq
		if err := b.c.Update(ctx, s); err == nil {
			return
		}
	}
}

var reqID int

func nextID(kind string) string {
	reqID++
	return fmt.Sprintf("bench-%s-%d-%d", kind, time.Now().Unix(), reqID)
}

// crash kills the active server; measured to the new host Online.
func (b *bench) crash(ctx context.Context) time.Duration {
	old := b.get(ctx).Status.ActiveNode
	t0 := time.Now()
	kill := exec.Command(filepath.Join(b.root, "bin/hamon-sim"), "kill", "--node", old, "--state", filepath.Join(b.run, "sim"))
	if out, err := kill.CombinedOutput(); err != nil {
		fail(fmt.Errorf("kill: %w: %s", err, out))
	}
	t1 := b.waitFor(ctx, "a new active", func(s *hav1alpha1.HAServer) bool {
		return online(s) && s.Status.ActiveNode != old && s.Status.ActiveNode != ""
	})
	b.request(ctx, hav1alpha1.OperatorRequest{ID: nextID("begin"), Action: hav1alpha1.ActionBegin, Node: old})
	b.waitSettled(ctx, 2)
	return t1.Sub(t0)
}

// swap asks for a planned switchover; measured from the request.
func (b *bench) swap(ctx context.Context) time.Duration {
	old := b.get(ctx).Status.ActiveNode
	t0 := time.Now()
	b.request(ctx, hav1alpha1.OperatorRequest{ID: nextID("swap"), Action: hav1alpha1.ActionSwap})
	t1 := b.waitFor(ctx, "swapped", func(s *hav1alpha1.HAServer) bool { return online(s) && s.Status.ActiveNode != old })
	b.waitSettled(ctx, 2)
	return t1.Sub(t0)
}

// hostLoss kills the active host's agent (its Lease stops), then brings
// it back as a rebooted host.
func (b *bench) hostLoss(ctx context.Context) time.Duration {
	old := b.get(ctx).Status.ActiveNode
	pidFile := filepath.Join(b.run, "sim", old+".agent.pid")
	data, err := os.ReadFile(pidFile)
	if err != nil {
		fail(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	t0 := time.Now()
	_ = syscall.Kill(pid, syscall.SIGKILL)
	t1 := b.waitFor(ctx, "a new active", func(s *hav1alpha1.HAServer) bool {
		return online(s) && s.Status.ActiveNode != old && s.Status.ActiveNode != ""
	})
	// The host "reboots": a new boot ID, a new agent.
	bootFile := filepath.Join(b.run, "sim", old+".boot_id")
	_ = os.WriteFile(bootFile, []byte(fmt.Sprintf("boot-%s-%d", old, time.Now().UnixNano())), 0o600)
	cmd := exec.Command("bash", "-c", `source hack/sim-env.sh; start_agent "$0"; disown`, old)
	cmd.Env = os.Environ()
	if out, err := cmd.CombinedOutput(); err != nil {
		fail(fmt.Errorf("restarting the agent of %s: %w: %s", old, err, out))
	}
	b.waitSettled(ctx, 2)
	return t1.Sub(t0)
}

// writesAtRest counts changes to the HAServer while nothing happens.
func (b *bench) writesAtRest(ctx context.Context, d time.Duration) float64 {
	s := b.get(ctx)
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	w, err := b.c.Watch(ctx, &hav1alpha1.HAServerList{}, client.InNamespace(b.ns),
		&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: s.ResourceVersion}})
	if err != nil {
		fail(err)
	}
	defer w.Stop()
	n := 0
	for range w.ResultChan() {
		n++
	}
	return float64(n) / d.Minutes()
}

func report(results map[string]any) {
	fmt.Println()
	fmt.Println("hamon bench: 3 simulated hosts, one Server-mode HAServer with a shared disk, lease 4 s")
	fmt.Println()
	fmt.Printf("%-14s %5s %9s %9s %9s %9s   %s\n", "switchover", "runs", "p50 ms", "p90 ms", "p99 ms", "max ms", "reference (REFERENCE.md §3)")
	refs := map[string]string{
		"serverCrash": "Pacemaker: monitor interval + restart (tens of s); CNPG pod failure: seconds to tens of s",
		"plannedSwap": "CNPG switchover / pcs move: seconds",
		"hostLoss":    "CNPG node kill 40-80 s; medik8s SNR defaults 6-9 min; plain k8s 5-6+ min",
	}
	for _, k := range []string{"serverCrash", "plannedSwap", "hostLoss"} {
		d := results[k].(Distribution)
		fmt.Printf("%-14s %5d %9.0f %9.0f %9.0f %9.0f   %s\n", k, d.Runs, d.P50ms, d.P90ms, d.P99ms, d.MaxMs, refs[k])
	}
	fmt.Printf("\nAPI writes to the HAServer at rest: %.1f per minute (target 0)\n", results["restWritesPerServerPerMinute"])
	if err := os.MkdirAll("bin/bench", 0o750); err == nil {
		data, _ := json.MarshalIndent(results, "", "  ")
		_ = os.WriteFile("bin/bench/latest.json", data, 0o600)
		fmt.Println("figures: bin/bench/latest.json")
	}
}
