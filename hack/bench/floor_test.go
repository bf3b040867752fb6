//go:build bench

package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/hack/simcluster"
	"github.com/hamon-ha/hamon/hack/testenv"
)

// LeaderLoss is the controller's leader lost with the active host (two
// replicas, each on a host): from the loss to a new leader, and to the
// new active Online.
type LeaderLoss struct {
	NewLeader Distribution `json:"newLeader"`
	Failover  Failover     `json:"failover"`
}

// leaderLoss runs the server of the main case on three hosts with two
// controller replicas (on the first two), and kills the leader's host with
// the server active there, runs times.
func leaderLoss(t *testing.T, runs int) LeaderLoss {
	t.Helper()
	sc := simcluster.Start(t, env, simcluster.FastTiming)
	nodes := []string{"ll-a", "ll-b", "ll-c"}
	for _, n := range nodes {
		sc.StartHost(n)
	}
	sc.StartControllerOn(nodes[0])
	testenv.Eventually(t, 30*time.Second, "a leader", func() bool { return sc.Leader() != "" })
	sc.StartControllerOn(nodes[1])
	r := newServer(t, sc, "bench-leader", nodes)
	r.settled(2)
	var elect []float64
	var samples []sample
	for i := range runs {
		leader := strings.TrimSuffix(sc.Leader(), "-manager")
		if r.get().Status.ActiveNode != leader {
			r.request(hav1alpha1.ActionSwap, leader)
			r.wait("active on the leader's host", 60*time.Second, func(s *hav1alpha1.HAServer) bool {
				return online(s) && s.Status.ActiveNode == leader
			})
			r.settled(2)
		}
		time.Sleep(2 * time.Second) // a few renewals seen by the other replica
		var lost time.Time
		samples = append(samples, r.timeline(leader, func() { lost = time.Now(); sc.HostDown(leader) }))
		var l coordinationv1.Lease
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: sc.Namespace, Name: "hamon-controller.ha.hamon.io"}, &l); err == nil &&
			l.Spec.AcquireTime != nil {
			elect = append(elect, float64(l.Spec.AcquireTime.Sub(lost).Microseconds())/1000)
		}
		sc.RebootHost(leader)
		sc.StartControllerOn(leader)
		r.settled(2)
		t.Logf("leader loss %d/%d: %.0f ms (new leader after %.0f ms)", i+1, runs, samples[len(samples)-1].total, elect[len(elect)-1])
	}
	sc.StopAll()
	return LeaderLoss{NewLeader: distribution(elect), Failover: failover(samples)}
}

// newServer creates the main case's HAServer db (Server mode, a shared
// disk, a resident patrol) in namespace ns on nodes.
func newServer(t *testing.T, sc *simcluster.Cluster, ns string, nodes []string) *rig {
	t.Helper()
	r := &rig{t: t, sc: sc, ns: ns, key: client.ObjectKey{Namespace: ns, Name: "db"}, flag: filepath.Join(sc.Dir, "patrol-fail-")}
	if err := env.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	s := &hav1alpha1.HAServer{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns}}
	s.Spec.Mode = hav1alpha1.ModeServer
	for _, n := range nodes {
		s.Spec.Hosts = append(s.Spec.Hosts, hav1alpha1.HostSpec{Node: n})
	}
	s.Spec.SharedDisks = []hav1alpha1.SharedDisk{{Device: "/dev/mapper/mpatha"}}
	s.Spec.PatrolCommand = []string{"/bin/sh", "-c", `while [ ! -e "` + r.flag + `$HAMON_SIM_NODE" ]; do sleep 0.05; done; exit 3`}
	s.Spec.Template.Spec.Containers = []corev1.Container{{Name: "server", Image: "demo-server",
		Command: []string{filepath.Join(sc.Bin, "demo-server")},
		Env:     []corev1.EnvVar{{Name: "HAMON_SIM_DISK_ROOT", Value: sc.DiskRoot()}}}}
	if err := env.Client.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return r
}

// Mass is a lost host that carried many active servers.
type Mass struct {
	Servers int `json:"servers"`
	// WithDisk and Diskless are each server's time from the loss to its
	// new active Online; Last is the last server's.
	WithDisk Distribution `json:"withDisk"`
	Diskless Distribution `json:"diskless"`
	LastMs   float64      `json:"lastMs"`
	// Writes and Requests are the API requests for HAServers (haservers,
	// pods, hanodes, events) from the loss to the last Online.
	Writes   float64 `json:"writes"`
	Requests float64 `json:"requests"`
	// CPU is each kind of process's share of a core from the loss to the
	// last Online: what paced it.
	CPU string `json:"cpu"`
	// Stages split each server's switchover as its status records it:
	// detection (the loss to startedAt), fencing (to fencedAt), activation
	// (to finishedAt), for the servers with a disk and without.
	StagesWithDisk Failover `json:"stagesWithDisk"`
	StagesDiskless Failover `json:"stagesDiskless"`
}

// massFailover loses a host that carries n active servers: half Server
// mode with a shared disk each (the standby takes n/2 reservations, one
// per disk), half Monitor mode without (they start elsewhere only after
// the self-fence wait, twice the watchdog: the SBD rule), on no-op hosts.
func massFailover(t *testing.T, n int) Mass {
	t.Helper()
	sc := simcluster.Start(t, env, simcluster.FastTiming)
	sc.HostArgs = []string{"--noop", "--interval=1s"}
	ctlArgs := strings.Fields(os.Getenv("BENCH_CONTROLLER_ARGS"))
	if os.Getenv("BENCH_PROFILE") != "" {
		ctlArgs = append(ctlArgs, "--pprof-bind-address=127.0.0.1:18099")
	}
	sc.StartController(ctlArgs...)
	nodes := []string{"mf-a", "mf-b"}
	for _, node := range nodes {
		sc.StartHost(node)
	}
	ns := "bench-mass"
	ctx := context.Background()
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	disk := map[string]bool{}
	for i := range n {
		s := &hav1alpha1.HAServer{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("m%04d", i), Namespace: ns}}
		s.Spec.Mode = hav1alpha1.ModeMonitor
		if i%2 == 0 {
			s.Spec.Mode = hav1alpha1.ModeServer
			s.Spec.SharedDisks = []hav1alpha1.SharedDisk{{Device: fmt.Sprintf("/dev/mapper/mf%04d", i)}}
			disk[s.Name] = true
		}
		for _, node := range nodes {
			s.Spec.Hosts = append(s.Spec.Hosts, hav1alpha1.HostSpec{Node: node})
		}
		s.Spec.Template.Spec.Containers = []corev1.Container{{Name: "server", Image: "noop", Command: []string{"noop"}}}
		if err := env.Client.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	settled := func(s *hav1alpha1.HAServer) bool {
		return online(s) && s.Status.ActiveNode == nodes[0] && s.Status.Switchover == nil &&
			(!disk[s.Name] || s.Status.StandbyNodes == nodes[1])
	}
	var list hav1alpha1.HAServerList
	testenv.Eventually(t, 10*time.Minute, fmt.Sprintf("%d servers Online on %s", n, nodes[0]), func() bool {
		time.Sleep(time.Second)
		if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return false
		}
		k := 0
		for i := range list.Items {
			if settled(&list.Items[i]) {
				k++
			}
		}
		return k == n
	})
	time.Sleep(5 * time.Second) // the last start-up reports
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	w, err := wc.Watch(wctx, &hav1alpha1.HAServerList{}, client.InNamespace(ns),
		&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	before := apiRequests(t)
	cpu0 := takeCPU()
	profiled := profileAPIServer(t, "mass", 10*time.Second)
	ctlProfiled := profileURL(t, "http://127.0.0.1:18099/debug/pprof/profile?seconds=10", "mass-controller")
	if os.Getenv("BENCH_PROFILE") != "" {
		go func() {
			time.Sleep(4500 * time.Millisecond)
			<-profileURL(t, "http://127.0.0.1:18099/debug/pprof/goroutine?debug=1", "mass-controller-goroutines-4.5s")
		}()
	}
	lost := time.Now()
	sc.HostDown(nodes[0])
	done := map[string]float64{}
	mods := map[string]int{}
	var withDisk, diskless []float64
	for ev := range w.ResultChan() {
		s, ok := ev.Object.(*hav1alpha1.HAServer)
		if ok {
			mods[s.Name]++
		}
		if !ok || ev.Type != watch.Modified || !online(s) || s.Status.ActiveNode != nodes[1] {
			continue
		}
		if _, seen := done[s.Name]; seen {
			continue
		}
		ms := float64(time.Since(lost).Microseconds()) / 1000
		done[s.Name] = ms
		if disk[s.Name] {
			withDisk = append(withDisk, ms)
		} else {
			diskless = append(diskless, ms)
		}
		if len(done) == n {
			break
		}
	}
	<-profiled
	<-ctlProfiled
	window := time.Since(lost)
	hist := map[int]int{}
	for _, k := range mods {
		hist[k]++
	}
	t.Logf("mass failover: HAServer updates per server seen by a watch until the last Online: %v", hist)
	cpu := cpuShares(cpu0, takeCPU(), window)
	if len(done) < n {
		t.Fatalf("%d of %d servers Online on %s within 5 min of the loss", len(done), n, nodes[1])
	}
	out := Mass{Servers: n, WithDisk: distribution(withDisk), Diskless: distribution(diskless), CPU: cpu}
	for _, ms := range done {
		out.LastMs = max(out.LastMs, ms)
	}
	after := apiRequests(t)
	out.Writes, out.Requests = serverRequests(before, after)
	for k, v := range after {
		if d := v[0] - before[k][0]; d > 0 {
			t.Logf("mass failover: %.0f writes to %s", d, k)
		}
	}
	if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var sd, sl []sample
	ms := func(a, b *metav1.MicroTime) float64 {
		if a == nil || b == nil {
			return 0
		}
		return float64(b.Sub(a.Time).Microseconds()) / 1000
	}
	l := metav1.NewMicroTime(lost)
	for _, s := range list.Items {
		sws := s.Status.Switchovers
		if len(sws) == 0 {
			continue
		}
		sw := sws[len(sws)-1]
		x := sample{total: ms(&l, sw.FinishedAt), detect: ms(&l, sw.StartedAt), fence: ms(sw.StartedAt, sw.FencedAt), activate: ms(sw.FencedAt, sw.FinishedAt)}
		if disk[s.Name] {
			sd = append(sd, x)
		} else {
			sl = append(sl, x)
		}
	}
	out.StagesWithDisk, out.StagesDiskless = failover(sd), failover(sl)
	t.Logf("mass failover of %d: last Online %.0f ms; with a disk p50 %.0f p99 %.0f; diskless p50 %.0f p99 %.0f; %.0f writes",
		n, out.LastMs, out.WithDisk.P50ms, out.WithDisk.P99ms, out.Diskless.P50ms, out.Diskless.P99ms, out.Writes)
	sc.StopAll()
	return out
}

// cpuSnapshot is every process's CPU time (user+system), by pid, with its
// name: what paced a window is read from two snapshots.
type cpuSnapshot map[int]struct {
	name string
	cpu  time.Duration
}

func takeCPU() cpuSnapshot {
	out := cpuSnapshot{}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		args := strings.Split(strings.TrimRight(string(cmd), "\x00"), "\x00")
		name := filepath.Base(args[0])
		// A simulated host or agent says which it is in its flags.
		for i, a := range args {
			if a == "--node" && i+1 < len(args) {
				name += " " + args[i+1]
			}
		}
		cpu, _ := usage(pid)
		out[pid] = struct {
			name string
			cpu  time.Duration
		}{name, cpu}
	}
	return out
}

// cpuShares says, for the window between two snapshots, how much of a
// core each kind of process used (processes of one name summed), the
// busiest first.
func cpuShares(before, after cpuSnapshot, window time.Duration) string {
	by := map[string]time.Duration{}
	for pid, a := range after {
		by[a.name] += a.cpu - before[pid].cpu
	}
	names := make([]string, 0, len(by))
	for n, d := range by {
		if d > window/100 { // 1% of a core and more
			names = append(names, n)
		}
	}
	slices.SortFunc(names, func(a, b string) int { return int(by[b] - by[a]) })
	var parts []string
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %.0f%%", n, 100*float64(by[n])/float64(window)))
	}
	return strings.Join(parts, ", ")
}

// profileAPIServer takes a CPU profile of kube-apiserver for d, from now,
// into bin/bench/<name>-apiserver.pprof when BENCH_PROFILE is set; the
// channel closes when it is written.
func profileAPIServer(t *testing.T, name string, d time.Duration) <-chan struct{} {
	t.Helper()
	return saveProfile(t, name+"-apiserver", func() ([]byte, error) {
		rc, err := restClient()
		if err != nil {
			return nil, err
		}
		return rc.Get().AbsPath("/debug/pprof/profile").Param("seconds", strconv.Itoa(int(d.Seconds()))).
			Timeout(d + 30*time.Second).DoRaw(context.Background())
	})
}

// profileURL saves what url answers (a pprof profile) in
// bin/bench/<name>.pprof when BENCH_PROFILE is set.
func profileURL(t *testing.T, url, name string) <-chan struct{} {
	t.Helper()
	return saveProfile(t, name, func() ([]byte, error) {
		c := http.Client{Timeout: time.Minute}
		resp, err := c.Get(url) //nolint:noctx // a local pprof endpoint
		if err != nil {
			return nil, err
		}
		defer func() { _ = resp.Body.Close() }()
		return io.ReadAll(resp.Body)
	})
}

// saveProfile writes what fetch returns in bin/bench/<name>.pprof, in the
// background, when BENCH_PROFILE is set; the channel closes when done.
func saveProfile(t *testing.T, name string, fetch func() ([]byte, error)) <-chan struct{} {
	t.Helper()
	done := make(chan struct{})
	if os.Getenv("BENCH_PROFILE") == "" {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		data, err := fetch()
		if err != nil {
			t.Logf("profiling %s: %v", name, err)
			return
		}
		_ = os.WriteFile(filepath.Join(testenv.RepoRoot(), "bin", "bench", name+".pprof"), data, 0o600)
	}()
	return done
}

// exitSignals measures, from now, when each of the two signals of a crash
// of the rig's server container in pod on node reaches the API server: the
// agent's report (the runtime's event) and the kubelet's pod status (after
// its PLEG relist). Read from watches (polling would be counted in the
// switchover's requests); -1 when not seen within 10 s, or when the pod
// was deleted first (hamon stopping it on the agent's word).
func (r *rig) exitSignals(node, pod string) <-chan [2]float64 {
	out := make(chan [2]float64, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	since := time.Now()
	hw, err1 := wc.Watch(ctx, &hav1alpha1.HANodeList{}, client.MatchingFields{"metadata.name": node})
	pw, err2 := wc.Watch(ctx, &corev1.PodList{}, client.InNamespace(r.ns), client.MatchingFields{"metadata.name": pod})
	if err1 != nil || err2 != nil {
		cancel()
		r.t.Fatalf("watching the crash's signals: %v %v", err1, err2)
	}
	go func() {
		defer cancel()
		defer hw.Stop()
		defer pw.Stop()
		got := [2]float64{-1, -1}
		ms := func() float64 { return float64(time.Since(since).Microseconds()) / 1000 }
		for got[0] < 0 || got[1] < 0 {
			select {
			case <-ctx.Done():
				out <- got
				return
			case ev := <-hw.ResultChan():
				if hn, ok := ev.Object.(*hav1alpha1.HANode); ok && got[0] < 0 {
					if rep := hn.Status.Report(hav1alpha1.ReportKey(r.ns, r.key.Name)); rep != nil && rep.ContainerExit != nil &&
						rep.ContainerExit.Pod == pod {
						got[0] = ms()
					}
				}
			case ev := <-pw.ResultChan():
				p, ok := ev.Object.(*corev1.Pod)
				switch {
				case !ok || got[1] >= 0:
				case ev.Type == watch.Deleted || p.DeletionTimestamp != nil:
					out <- [2]float64{got[0], -1}
					return
				case len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].State.Terminated != nil:
					got[1] = ms()
				}
			}
		}
		out <- got
	}()
	return out
}
