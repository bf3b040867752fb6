//go:build bench

// Package bench is make bench: hamon measured on simulated hosts run as
// processes (hack/simcluster) against a real kube-apiserver and etcd.
// Nothing here asserts a time: it prints tables (and writes the same
// figures to bin/bench/latest.json) with the reference figures of other
// systems beside them, REFERENCE.md §3.
//
// Settings (environment): BENCH_RUNS (switchovers per cause, default 30;
// host loss and partition use a third of it, at least 5), BENCH_REST
// (seconds at rest, default 30), BENCH_SCALE (HAServer counts, default
// "1000,5000"; "0" skips the scale runs).
package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/hack/simcluster"
	"github.com/hamon-ha/hamon/hack/testenv"
)

var (
	env *testenv.Env
	wc  client.WithWatch
)

func TestMain(m *testing.M) {
	testenv.Main(m, &env, func(e *testenv.Env) (err error) {
		wc, err = client.NewWithWatch(e.Config, client.Options{Scheme: e.Client.Scheme()})
		return err
	})
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

// Distribution is a set of measurements in milliseconds.
type Distribution struct {
	Runs  int     `json:"runs"`
	P50ms float64 `json:"p50Ms"`
	P90ms float64 `json:"p90Ms"`
	P99ms float64 `json:"p99Ms"`
	MaxMs float64 `json:"maxMs"`
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
	return Distribution{Runs: len(s), P50ms: at(0.5), P90ms: at(0.9), P99ms: at(0.99), MaxMs: at(1)}
}

// Failover is one cause's figures: total from the fault to the new active
// Online, and its parts: detection (fault to the switchover seen in the
// status), fencing (to the new host holding the reservation) and
// activation (to Online).
type Failover struct {
	Total      Distribution `json:"total"`
	Detection  Distribution `json:"detection"`
	Fencing    Distribution `json:"fencing"`
	Activation Distribution `json:"activation"`
}

type sample struct{ total, detect, fence, activate float64 }

func failover(samples []sample) Failover {
	pick := func(f func(sample) float64) Distribution {
		var out []float64
		for _, s := range samples {
			out = append(out, f(s))
		}
		return distribution(out)
	}
	return Failover{
		Total:      pick(func(s sample) float64 { return s.total }),
		Detection:  pick(func(s sample) float64 { return s.detect }),
		Fencing:    pick(func(s sample) float64 { return s.fence }),
		Activation: pick(func(s sample) float64 { return s.activate }),
	}
}

type rig struct {
	t   *testing.T
	sc  *simcluster.Cluster
	ns  string
	key client.ObjectKey
	// flag is the prefix of the files that make a host's patrolCommand exit.
	flag string
}

func (r *rig) get() *hav1alpha1.HAServer {
	r.t.Helper()
	var s hav1alpha1.HAServer
	if err := env.Client.Get(context.Background(), r.key, &s); err != nil {
		r.t.Fatal(err)
	}
	return &s
}

func online(s *hav1alpha1.HAServer) bool { return s.Status.Phase == hav1alpha1.PhaseOnline }

func (r *rig) wait(what string, limit time.Duration, cond func(*hav1alpha1.HAServer) bool) {
	r.t.Helper()
	testenv.Eventually(r.t, limit, what, func() bool { return cond(r.get()) })
}

// settled: Online with the other hosts Standby.
func (r *rig) settled(standbys int) {
	r.t.Helper()
	r.wait("settled", 90*time.Second, func(s *hav1alpha1.HAServer) bool {
		return online(s) && s.Status.StandbyNodes != "" && len(strings.Split(s.Status.StandbyNodes, ",")) == standbys &&
			s.Status.Switchover == nil
	})
}

var reqN int

func (r *rig) request(action hav1alpha1.RequestAction, node string) {
	r.t.Helper()
	reqN++
	for range 10 {
		s := r.get()
		s.Spec.Request = &hav1alpha1.OperatorRequest{ID: fmt.Sprintf("bench-%d-%d", time.Now().Unix(), reqN), Action: action, Node: node}
		if err := env.Client.Update(context.Background(), s); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.t.Fatalf("could not write the %s request", action)
}

// timeline watches the server from a fault until a new host is Online,
// and splits the time.
func (r *rig) timeline(old string, fault func()) sample {
	r.t.Helper()
	s := r.get()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	w, err := wc.Watch(ctx, &hav1alpha1.HAServerList{}, client.InNamespace(r.ns),
		&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: s.ResourceVersion}})
	if err != nil {
		r.t.Fatal(err)
	}
	defer w.Stop()
	t0 := time.Now()
	fault()
	var tDetect, tFence time.Time
	for ev := range w.ResultChan() {
		if ev.Type != watch.Modified {
			continue
		}
		cur, ok := ev.Object.(*hav1alpha1.HAServer)
		if !ok || cur.Name != r.key.Name {
			continue
		}
		now := time.Now()
		if tDetect.IsZero() && (cur.Status.Switchover != nil || cur.Status.ActiveNode != old) {
			tDetect = now
		}
		if tFence.IsZero() && cur.Status.ReservationHolder != "" && cur.Status.ReservationHolder != old {
			tFence = now
		}
		if online(cur) && cur.Status.ActiveNode != old && cur.Status.ActiveNode != "" {
			if tDetect.IsZero() {
				tDetect = now
			}
			if tFence.IsZero() {
				tFence = now
			}
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			return sample{total: ms(now.Sub(t0)), detect: ms(tDetect.Sub(t0)), fence: ms(tFence.Sub(tDetect)), activate: ms(now.Sub(tFence))}
		}
	}
	cur := r.get()
	r.t.Fatalf("no new active within 90 s of the fault on %s: phase %s active %q switchover %+v hosts %+v", old,
		cur.Status.Phase, cur.Status.ActiveNode, cur.Status.Switchover, cur.Status.Hosts)
	return sample{}
}

func (r *rig) pod(node string) string {
	for _, h := range r.get().Status.Hosts {
		if h.Node == node {
			return h.Pod
		}
	}
	return ""
}

// apiRequests reads kube-apiserver's request counters by resource: the
// mutating requests and all of them.
func apiRequests(t *testing.T) map[string][2]float64 {
	t.Helper()
	raw, err := restGet("/metrics")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][2]float64{}
	sc := bufio.NewScanner(strings.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		res, verb := label(line, "resource"), label(line, "verb")
		v, err := strconv.ParseFloat(line[strings.LastIndex(line, " ")+1:], 64)
		if err != nil {
			continue
		}
		if sub := label(line, "subresource"); sub != "" {
			res += "/" + sub
		}
		if code := label(line, "code"); code != "" && code[0] != '2' {
			res += " (" + code + ")" // refused: conflicts and the like
		}
		c := out[res]
		c[1] += v
		if verb == "POST" || verb == "PUT" || verb == "PATCH" || verb == "DELETE" || verb == "APPLY" {
			c[0] += v
		}
		out[res] = c
	}
	return out
}

// eventVersions maps every event to its resourceVersion.
func eventVersions() map[types.UID]string {
	var events corev1.EventList
	_ = env.Client.List(context.Background(), &events)
	out := map[types.UID]string{}
	for _, e := range events.Items {
		out[e.UID] = e.ResourceVersion
	}
	return out
}

func label(line, name string) string {
	i := strings.Index(line, name+`="`)
	if i < 0 {
		return ""
	}
	rest := line[i+len(name)+2:]
	return rest[:strings.Index(rest, `"`)]
}

func restGet(path string) (string, error) {
	rc, err := restClient()
	if err != nil {
		return "", err
	}
	data, err := rc.Get().AbsPath(path).DoRaw(context.Background())
	return string(data), err
}

// serverRequests sums the requests made for HAServers: on HAServers, their
// pods, HANodes and events (not the Leases, which are per node).
func serverRequests(before, after map[string][2]float64) (writes, all float64) {
	for res, a := range after {
		base, _, _ := strings.Cut(res, "/")
		base, _, _ = strings.Cut(base, " ")
		if base != "haservers" && base != "pods" && base != "hanodes" && base != "events" {
			continue
		}
		b := before[res]
		writes += a[0] - b[0]
		all += a[1] - b[1]
	}
	return writes, all
}

// usage is a process's CPU time (user+system) and RSS.
func usage(pid int) (cpu time.Duration, rssMiB float64) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0
	}
	f := strings.Fields(string(stat)[strings.LastIndex(string(stat), ")")+2:])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	cpu = time.Duration((ut + st) / 100 * float64(time.Second)) // USER_HZ is 100 on Linux
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for l := range strings.SplitSeq(string(status), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			kb, _ := strconv.ParseFloat(strings.Fields(l)[1], 64)
			rssMiB = kb / 1024
		}
	}
	return cpu, rssMiB
}

// Usage is CPU (as a share of one core) and RSS over a window.
type Usage struct {
	CPUPercent float64 `json:"cpuPercentOfOneCore"`
	RSSMiB     float64 `json:"rssMiB"`
}

func measureUsage(pid int, d time.Duration) Usage {
	c0, _ := usage(pid)
	time.Sleep(d)
	c1, rss := usage(pid)
	return Usage{CPUPercent: 100 * float64(c1-c0) / float64(d), RSSMiB: rss}
}

type results struct {
	Failovers          map[string]Failover `json:"failovers"`
	PlannedSwap        Distribution        `json:"plannedSwap"`
	RestWritesPerMin   float64             `json:"restWritesPerServerPerMinute"`
	RestRequestsPerMin float64             `json:"restRequestsPerServerPerMinute"`
	SwitchoverWrites   float64             `json:"writesPerSwitchover"`
	SwitchoverRequests float64             `json:"requestsPerSwitchover"`
	AgentAtRest        Usage               `json:"agentAtRest"`
	ControllerAtRest   Usage               `json:"controllerAtRestOneServer"`
	// CrashSeenByAgent and CrashSeenByKubelet are when each signal of a
	// server crash reached the API server: the agent's report (the
	// runtime's container event) and the pod's status (the kubelet's
	// relist, every second).
	CrashSeenByAgent   Distribution `json:"crashSeenByAgent"`
	CrashSeenByKubelet Distribution `json:"crashSeenByKubelet"`
	LeaderLoss         *LeaderLoss  `json:"leaderLoss,omitempty"`
	Mass               []Mass       `json:"massFailover,omitempty"`
	Scale              []Scale      `json:"scale,omitempty"`
	LeaseSeconds       float64      `json:"leaseDurationSeconds"`
}

// Scale is the controller with many HAServers (3 no-op hosts each).
type Scale struct {
	Servers        int     `json:"servers"`
	AllOnlineS     float64 `json:"allOnlineSeconds"`
	ControllerBusy Usage   `json:"controllerWhileStarting"`
	ControllerRest Usage   `json:"controllerAtRest"`
	// RestWrites is the API writes for HAServers (haservers, pods,
	// hanodes, events) per minute at rest.
	RestWrites float64 `json:"restWritesPerMinute"`
	// StartCPU is each kind of process's share of a core while the
	// servers start: what paces the start-up.
	StartCPU string  `json:"startCPU"`
	ResyncS  float64 `json:"reconcileAllAfterRestartSeconds"`
	// MemLimit is the GOMEMLIMIT of the restarted controller (the chart
	// sets 90% of the container's memory limit); RestartRSSMiB and
	// RestLimitedRSSMiB its RSS after the resync and at rest.
	MemLimit          string  `json:"memLimit"`
	RestartRSSMiB     float64 `json:"rssAfterRestartMiB"`
	RestLimitedRSSMiB float64 `json:"rssAtRestWithLimitMiB"`
}

func TestBench(t *testing.T) {
	runs := envInt("BENCH_RUNS", 30)
	slow := max(5, runs/3)
	res := results{Failovers: map[string]Failover{}, LeaseSeconds: simcluster.FastTiming.LeaseDuration.Seconds()}
	cases := os.Getenv("BENCH_CASES")
	if cases == "" {
		cases = "failover,leader,mass,scale"
	}
	want := func(c string) bool { return slices.Contains(strings.Split(cases, ","), c) }
	if want("failover") {
		failovers(t, runs, slow, &res)
	}
	if want("leader") {
		ll := leaderLoss(t, envInt("BENCH_LEADER_RUNS", slow))
		res.LeaderLoss = &ll
	}
	if want("mass") {
		for f := range strings.SplitSeq(envDefault("BENCH_MASS", "200"), ",") {
			if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
				res.Mass = append(res.Mass, massFailover(t, n))
			}
		}
	}
	if want("scale") {
		for f := range strings.SplitSeq(envDefault("BENCH_SCALE", "1000,10000"), ",") {
			if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
				res.Scale = append(res.Scale, scale(t, n))
			}
		}
	}
	report(t, res)
}

func envDefault(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// failovers is the main case: one Server-mode HAServer with a shared disk
// on three hosts, switched over by each cause runs times.
func failovers(t *testing.T, runs, slow int, res *results) {
	t.Helper()
	sc := simcluster.Start(t, env, simcluster.FastTiming)
	sc.StartController()
	nodes := []string{"bn-a", "bn-b", "bn-c"}
	for _, n := range nodes {
		sc.StartHost(n)
	}
	r := newServer(t, sc, "bench", nodes)
	r.settled(2)

	// At rest: requests per HAServer per minute, agent and controller use,
	// after the last start-up reports (HANode devices every 5 renewals).
	time.Sleep(10 * time.Second)
	rest := time.Duration(envInt("BENCH_REST", 30)) * time.Second
	before := apiRequests(t)
	eventsBefore := eventVersions()
	agentUse := make(chan Usage)
	go func() { agentUse <- measureUsage(sc.PID("bn-b-agent"), rest) }()
	res.ControllerAtRest = measureUsage(sc.PID("manager"), rest)
	res.AgentAtRest = <-agentUse
	after := apiRequests(t)
	w, a := serverRequests(before, after)
	res.RestWritesPerMin, res.RestRequestsPerMin = w/rest.Minutes(), a/rest.Minutes()
	for k, v := range after {
		if d := v[0] - before[k][0]; d > 0 {
			t.Logf("at rest: %.0f writes to %s", d, k)
		}
	}
	// Name every event written at rest: who wrote it, about what.
	var events corev1.EventList
	_ = env.Client.List(context.Background(), &events)
	for _, e := range events.Items {
		if eventsBefore[e.UID] != e.ResourceVersion {
			t.Logf("at rest: event %s/%s by %q about %s %s/%s: %s %s (count %d, series %v)", e.Namespace, e.Name,
				e.ReportingController+e.Source.Component, e.InvolvedObject.Kind, e.InvolvedObject.Namespace, e.InvolvedObject.Name,
				e.Reason, e.Message, e.Count, e.Series != nil)
		}
	}

	back := func(old string) {
		r.request(hav1alpha1.ActionBegin, old)
		r.settled(2)
	}
	var crash, patrol, loss, part []sample
	var byAgent, byKubelet []float64
	var swWrites, swAll float64
	for i := range runs {
		old := r.get().Status.ActiveNode
		b0 := apiRequests(t)
		pod := r.pod(old)
		var signals <-chan [2]float64
		crash = append(crash, r.timeline(old, func() { signals = r.exitSignals(old, pod); sc.KillServer(old, r.ns, pod, syscall.SIGKILL) }))
		if sig := <-signals; sig[0] >= 0 {
			byAgent = append(byAgent, sig[0])
		}
		w, a := serverRequests(b0, apiRequests(t))
		swWrites, swAll = swWrites+w, swAll+a
		back(old)
		t.Logf("crash %d/%d: %.0f ms", i+1, runs, crash[len(crash)-1].total)
	}
	res.SwitchoverWrites, res.SwitchoverRequests = swWrites/float64(runs), swAll/float64(runs)
	// The same crashes with the agents' container-exit reports off: the
	// kubelet's word only (its relist, then the pod's status).
	sc.AgentArgs = []string{"--follow-container-exits=false"}
	for _, n := range nodes {
		sc.Kill(n + "-agent")
		sc.StartAgent(n)
	}
	r.settled(2)
	time.Sleep(5 * time.Second)
	var kubeletOnly []sample
	for i := range runs {
		old := r.get().Status.ActiveNode
		pod := r.pod(old)
		var signals <-chan [2]float64
		kubeletOnly = append(kubeletOnly, r.timeline(old, func() { signals = r.exitSignals(old, pod); sc.KillServer(old, r.ns, pod, syscall.SIGKILL) }))
		if sig := <-signals; sig[1] >= 0 {
			byKubelet = append(byKubelet, sig[1])
		}
		back(old)
		t.Logf("crash, kubelet only %d/%d: %.0f ms", i+1, runs, kubeletOnly[len(kubeletOnly)-1].total)
	}
	res.Failovers["serverCrashKubeletOnly"] = failover(kubeletOnly)
	sc.AgentArgs = nil
	for _, n := range nodes {
		sc.Kill(n + "-agent")
		sc.StartAgent(n)
	}
	r.settled(2)
	time.Sleep(5 * time.Second)
	for i := range runs {
		old := r.get().Status.ActiveNode
		patrol = append(patrol, r.timeline(old, func() { _ = os.WriteFile(r.flag+old, nil, 0o600) }))
		_ = os.Remove(r.flag + old)
		back(old)
		t.Logf("patrol %d/%d: %.0f ms", i+1, runs, patrol[len(patrol)-1].total)
	}
	var swaps []float64
	for range runs {
		old := r.get().Status.ActiveNode
		sw := r.timeline(old, func() { r.request(hav1alpha1.ActionSwap, "") })
		swaps = append(swaps, sw.total)
		r.settled(2)
	}
	for i := range slow {
		old := r.get().Status.ActiveNode
		loss = append(loss, r.timeline(old, func() { sc.HostDown(old) }))
		sc.RebootHost(old)
		r.settled(2)
		t.Logf("host loss %d/%d: %.0f ms", i+1, slow, loss[len(loss)-1].total)
	}
	for i := range slow {
		old := r.get().Status.ActiveNode
		part = append(part, r.timeline(old, func() { sc.Partition(old) }))
		sc.Heal(old)
		sc.RebootHost(old) // a fenced host rejoins after a reboot
		r.settled(2)
		t.Logf("partition %d/%d: %.0f ms", i+1, slow, part[len(part)-1].total)
	}
	res.Failovers["serverCrash"] = failover(crash)
	res.CrashSeenByAgent, res.CrashSeenByKubelet = distribution(byAgent), distribution(byKubelet)
	res.Failovers["patrolFailure"] = failover(patrol)
	res.Failovers["hostLoss"] = failover(loss)
	res.Failovers["partition"] = failover(part)
	res.PlannedSwap = distribution(swaps)
	sc.StopAll()
}

// scale runs n Monitor-mode HAServers on three no-op hosts: the time
// until all are Online and what paced it, the controller's CPU and RSS at
// rest without a memory limit, the writes at rest, then a restart with a
// Go memory limit (BENCH_MEMLIMIT, default 270MiB: 90% of 300Mi): the time
// to reconcile them all, and the RSS with the limit.
func scale(t *testing.T, n int) Scale {
	t.Helper()
	sc := simcluster.Start(t, env, simcluster.FastTiming)
	sc.HostArgs = []string{"--noop", "--interval=1s"}
	metrics := fmt.Sprintf("127.0.0.1:%d", 18000+n/1000%1000)
	pprof := fmt.Sprintf("127.0.0.1:%d", 18500+n/1000%1000)
	sc.StartController("--metrics-bind-address="+metrics, "--pprof-bind-address="+pprof)
	nodes := []string{fmt.Sprintf("sc%d-a", n), fmt.Sprintf("sc%d-b", n), fmt.Sprintf("sc%d-c", n)}
	for _, node := range nodes {
		sc.StartHost(node)
	}
	ns := fmt.Sprintf("scale-%d", n)
	ctx := context.Background()
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	out := Scale{Servers: n}
	start := time.Now()
	cpu0 := takeCPU()
	busy := make(chan Usage)
	go func() { busy <- measureUsage(sc.PID("manager"), 20*time.Second) }()
	profiled := profileAPIServer(t, fmt.Sprintf("scale-%d-start", n), 20*time.Second)
	ctlProfiled := profileURL(t, "http://"+pprof+"/debug/pprof/profile?seconds=20", fmt.Sprintf("scale-%d-start-controller", n))
	for i := range n {
		s := &hav1alpha1.HAServer{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("s%05d", i), Namespace: ns}}
		s.Spec.Mode = hav1alpha1.ModeMonitor
		for _, node := range nodes {
			s.Spec.Hosts = append(s.Spec.Hosts, hav1alpha1.HostSpec{Node: node})
		}
		s.Spec.Template.Spec.Containers = []corev1.Container{{Name: "server", Image: "noop", Command: []string{"noop"}}}
		if err := env.Client.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	countOnline := func() int {
		var list hav1alpha1.HAServerList
		if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return 0
		}
		k := 0
		for i := range list.Items {
			if online(&list.Items[i]) {
				k++
			}
		}
		return k
	}
	testenv.Eventually(t, 40*time.Minute, fmt.Sprintf("%d servers Online", n), func() bool {
		time.Sleep(2 * time.Second)
		return countOnline() == n
	})
	out.AllOnlineS = time.Since(start).Seconds()
	out.StartCPU = cpuShares(cpu0, takeCPU(), time.Since(start))
	out.ControllerBusy = <-busy
	<-profiled
	<-ctlProfiled
	time.Sleep(10 * time.Second)
	before := apiRequests(t)
	out.ControllerRest = measureUsage(sc.PID("manager"), 30*time.Second)
	w, _ := serverRequests(before, apiRequests(t))
	out.RestWrites = w * 2 // per minute
	<-profileURL(t, "http://"+pprof+"/debug/pprof/heap", fmt.Sprintf("scale-%d-heap", n))

	// Restart the controller with a memory limit: how long until it has
	// reconciled them all, and its RSS then and at rest.
	sc.Kill("manager")
	out.MemLimit = envDefault("BENCH_MEMLIMIT", "270MiB")
	sc.ControllerEnv = []string{"GOMEMLIMIT=" + out.MemLimit}
	restart := time.Now()
	sc.StartController("--metrics-bind-address=" + metrics)
	testenv.Eventually(t, 30*time.Minute, "every server reconciled after the restart", func() bool {
		time.Sleep(200 * time.Millisecond)
		total, depth, ok := controllerProgress(metrics)
		return ok && total >= float64(n) && depth == 0
	})
	out.ResyncS = time.Since(restart).Seconds()
	_, out.RestartRSSMiB = usage(sc.PID("manager"))
	time.Sleep(20 * time.Second)
	_, out.RestLimitedRSSMiB = usage(sc.PID("manager"))
	t.Logf("scale %d: all Online in %.0f s (CPU: %s); at rest %.0f MiB, %.1f writes/min; reconciled after a restart in %.1f s; "+
		"with GOMEMLIMIT=%s %.0f MiB after it, %.0f MiB at rest", n, out.AllOnlineS, out.StartCPU, out.ControllerRest.RSSMiB, out.RestWrites,
		out.ResyncS, out.MemLimit, out.RestartRSSMiB, out.RestLimitedRSSMiB)
	sc.StopAll()
	return out
}

// controllerProgress reads the controller's metrics: reconciles of
// HAServers so far and the work queue's depth.
func controllerProgress(addr string) (total, depth float64, ok bool) {
	raw, err := httpGet("http://" + addr + "/metrics")
	if err != nil {
		return 0, 0, false
	}
	for l := range strings.SplitSeq(raw, "\n") {
		v := func() float64 { f, _ := strconv.ParseFloat(l[strings.LastIndex(l, " ")+1:], 64); return f }
		switch {
		case strings.HasPrefix(l, "controller_runtime_reconcile_total{") && strings.Contains(l, `controller="haserver"`):
			total += v()
		case strings.HasPrefix(l, "workqueue_depth{") && strings.Contains(l, `name="haserver"`):
			depth += v()
		}
	}
	return total, depth, true
}

func report(t *testing.T, r results) {
	t.Helper()
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	lease := r.LeaseSeconds
	p("\nhamon bench: simulated hosts (processes) against a real API server, lease %.0f s; every figure beside its target and the anchors (REFERENCE.md §3)\n", lease)
	row := func(name, part string, d Distribution, ref string) {
		p("%-22s %-11s %5d %8.0f %8.0f %8.0f %8.0f   %s\n", name, part, d.Runs, d.P50ms, d.P90ms, d.P99ms, d.MaxMs, ref)
	}
	head := func() {
		p("%-22s %-11s %5s %8s %8s %8s %8s   %s\n", "case", "part", "runs", "p50 ms", "p90 ms", "p99 ms", "max ms", "target · anchors")
	}
	if len(r.Failovers) > 0 {
		p("\none Server-mode HAServer with a shared disk on 3 hosts, one controller:\n")
		head()
		refs := map[string]string{
			"serverCrash":   "p50 ≤ 250 ms, p99 ≤ 1 s · Pacemaker: monitor interval + restart, tens of s; CNPG pod failure: seconds to tens of s",
			"patrolFailure": "· Pacemaker: monitor interval (10-60 s) + stop/start",
			"hostLoss":      fmt.Sprintf("≤ lease + 2 s = %.0f ms · CNPG node kill 40-80 s; medik8s SNR defaults 6-9 min; plain k8s 5-6+ min", (lease+2)*1000),
			"partition":     "≤ lease + 2 s · medik8s SNR/FAR: minutes; plain k8s StatefulSet: never without manual action",
		}
		refs["serverCrashKubeletOnly"] = "the same, the agents' container-exit reports off: the kubelet's relist (1 s) and status write"
		for _, k := range []string{"serverCrash", "serverCrashKubeletOnly", "patrolFailure", "hostLoss", "partition"} {
			f := r.Failovers[k]
			for i, part := range []struct {
				name string
				d    Distribution
			}{{"total", f.Total}, {"detection", f.Detection}, {"fencing", f.Fencing}, {"activation", f.Activation}} {
				name, ref := "", ""
				if i == 0 {
					name, ref = k, refs[k]
				}
				row(name, part.name, part.d, ref)
			}
		}
		row("plannedSwap", "total", r.PlannedSwap, "· CNPG switchover / pcs move: seconds")
		p("\na server crash's two signals, from the kill to the API server:\n")
		row("crash seen", "by agent", r.CrashSeenByAgent, "the runtime's container event, reported in the HANode")
		row("", "by kubelet", r.CrashSeenByKubelet, "the pod's status after the kubelet's relist (PLEG, 1 s); agents' reports off")
		p("\nhost loss: p50 %.2f× the lease duration (target ≤ lease + 2 s)\n", r.Failovers["hostLoss"].Total.P50ms/1000/lease)
		p("\nAPI requests for the HAServer (haservers, pods, hanodes, events; not node Leases):\n")
		p("  at rest:         %.1f writes/min, %.1f requests/min (target 0 writes)\n", r.RestWritesPerMin, r.RestRequestsPerMin)
		p("  per switchover:  %.1f writes, %.1f requests (server crash, to the new active Online)\n", r.SwitchoverWrites, r.SwitchoverRequests)
		p("\nat rest: node agent %.2f%% of a core, %.0f MiB RSS; controller (1 server) %.2f%% of a core, %.0f MiB RSS\n",
			r.AgentAtRest.CPUPercent, r.AgentAtRest.RSSMiB, r.ControllerAtRest.CPUPercent, r.ControllerAtRest.RSSMiB)
	}
	if l := r.LeaderLoss; l != nil {
		p("\nthe controller's leader lost with the active host (2 replicas on 3 hosts, the same server):\n")
		head()
		row("leaderLoss", "total", l.Failover.Total, fmt.Sprintf("≤ lease + 2 s = %.0f ms · one controller restarting: leader election 15 s + a lease", (lease+2)*1000))
		row("", "new leader", l.NewLeader, fmt.Sprintf("leader lease 0.8 × lease = %.0f ms (+ up to 2 retry periods)", 0.8*lease*1000))
		row("", "detection", l.Failover.Detection, "")
		row("", "fencing", l.Failover.Fencing, "")
		row("", "activation", l.Failover.Activation, "")
	}
	for _, m := range r.Mass {
		p("\na lost host carrying %d active servers (no-op hosts, one controller), each server from the loss to Online:\n", m.Servers)
		head()
		row("massFailover", "with disk", m.WithDisk, fmt.Sprintf("every one ≤ lease + 3 s = %.0f ms", (lease+3)*1000))
		row("", "diskless", m.Diskless, "after lease + the self-fence wait (2 × watchdog): the SBD rule, by design")
		for _, st := range []struct {
			name string
			f    Failover
		}{{"with disk", m.StagesWithDisk}, {"diskless", m.StagesDiskless}} {
			row("  "+st.name, "detection", st.f.Detection, "as the status records it")
			row("", "fencing", st.f.Fencing, "")
			row("", "activation", st.f.Activation, "")
		}
		p("%-22s CPU from the loss to the last Online (share of one core; 2 cores): %s\n", "", m.CPU)
		p("%-22s last Online %.0f ms; %.0f API writes, %.0f requests (%.1f writes per server)\n", "", m.LastMs, m.Writes, m.Requests, m.Writes/float64(m.Servers))
	}
	if len(r.Scale) > 0 {
		p("\nthe controller with many Monitor-mode HAServers on 3 no-op hosts (target at 10,000: RSS at rest < 300 MiB, resync < 30 s, 0 writes at rest):\n")
		p("%-8s %12s %14s %14s %10s %12s %10s %14s %14s\n", "servers", "all Online s", "ctl CPU% start", "ctl CPU% rest",
			"RSS MiB", "writes/min", "resync s", "GOMEMLIMIT", "RSS MiB, limit")
		for _, s := range r.Scale {
			p("%-8d %12.0f %14.1f %14.2f %10.0f %12.1f %10.1f %14s %14.0f\n", s.Servers, s.AllOnlineS,
				s.ControllerBusy.CPUPercent, s.ControllerRest.CPUPercent, s.ControllerRest.RSSMiB, s.RestWrites, s.ResyncS, s.MemLimit,
				s.RestLimitedRSSMiB)
		}
		for _, s := range r.Scale {
			p("  %d servers starting, CPU by process (share of one core; 2 cores): %s\n", s.Servers, s.StartCPU)
		}
	}
	fmt.Print(b.String())
	root := testenv.RepoRoot()
	if err := os.MkdirAll(filepath.Join(root, "bin", "bench"), 0o750); err == nil {
		data, _ := json.MarshalIndent(r, "", "  ")
		_ = os.WriteFile(filepath.Join(root, "bin", "bench", "latest.json"), data, 0o600)
		_ = os.WriteFile(filepath.Join(root, "bin", "bench", "latest.txt"), []byte(b.String()), 0o600)
	}
}
