//go:build e2e

// Package e2e is hamon's end-to-end suite (make test-e2e): the controller,
// simulated hosts and node agents as processes against a real
// kube-apiserver and etcd, with simulated shared disks whose write log
// shows whether two hosts ever wrote at once. Faults are injected with
// hack/simcluster, the Go side of cmd/hamon-sim.
package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/hack/simcluster"
	"github.com/hamon-ha/hamon/hack/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env, nil) }

// world is one test's cluster: a controller and hosts named <prefix>-a, -b, ...
type world struct {
	t  *testing.T
	sc *simcluster.Cluster
	ns string
	s  *hav1alpha1.HAServer
	// pods remembers pod names by server/node (podNamed).
	pods map[string]string
	// rebooted is when the soak last rebooted each host.
	rebooted map[string]time.Time
}

func newWorld(t *testing.T, prefix string, hosts int) *world {
	t.Helper()
	w := &world{t: t, sc: simcluster.Start(t, env, simcluster.FastTiming), ns: "e2e-" + prefix}
	if err := env.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: w.ns}}); err != nil {
		t.Fatal(err)
	}
	w.sc.StartController()
	for i := range hosts {
		w.sc.StartHost(w.node(i))
	}
	t.Cleanup(func() {
		if t.Failed() {
			w.dump()
		}
	})
	return w
}

// dump logs, for a failed test, what the HAServers and their events say.
func (w *world) dump() {
	ctx := context.Background()
	var list hav1alpha1.HAServerList
	if err := env.Client.List(ctx, &list, client.InNamespace(w.ns)); err != nil {
		return
	}
	for _, s := range list.Items {
		w.t.Logf("HAServer %s: phase %s, active %q, switchover %+v, request %+v, last request %+v",
			s.Name, s.Status.Phase, s.Status.ActiveNode, s.Status.Switchover, s.Spec.Request, s.Status.LastRequest)
		for _, h := range s.Status.Hosts {
			w.t.Logf("  host %s: role %s, state %s, alive %v, pod %s, boot %s: %s", h.Node, h.Role, h.State, h.Alive, h.Pod, h.BootID, h.Message)
		}
		for _, c := range s.Status.Conditions {
			w.t.Logf("  condition %s=%s %s: %s", c.Type, c.Status, c.Reason, c.Message)
		}
	}
	var pods corev1.PodList
	if err := env.Client.List(ctx, &pods, client.InNamespace(w.ns)); err == nil {
		for _, p := range pods.Items {
			var state string
			for _, c := range p.Status.ContainerStatuses {
				state = fmt.Sprintf("%+v", c.State)
			}
			w.t.Logf("  pod %s on %s: %s, role %s, deleting %v, %s", p.Name, p.Spec.NodeName, p.Status.Phase,
				p.Labels["ha.hamon.io/role"], p.DeletionTimestamp != nil, state)
		}
	}
	var events corev1.EventList
	if err := env.Client.List(ctx, &events, client.InNamespace(w.ns)); err != nil {
		return
	}
	sort.Slice(events.Items, func(i, j int) bool { return eventTime(&events.Items[i]).Before(eventTime(&events.Items[j])) })
	for _, e := range events.Items[max(0, len(events.Items)-30):] {
		w.t.Logf("  event %s %s %s: %s", eventTime(&e).Format("15:04:05.000"), e.InvolvedObject.Name, e.Reason, e.Message)
	}
}

func eventTime(e *corev1.Event) time.Time {
	if !e.EventTime.IsZero() {
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

func (w *world) node(i int) string {
	return fmt.Sprintf("%s-%c", strings.TrimPrefix(w.ns, "e2e-"), 'a'+i)
}

// server creates the HAServer "db" on the world's hosts, running the demo
// server (it writes mpatha while active) unless mutate says otherwise.
func (w *world) server(mutate func(*hav1alpha1.HAServerSpec)) {
	w.t.Helper()
	w.s = w.serverNamed("db", "mpatha", mutate)
}

// serverNamed creates an HAServer on the world's hosts running the demo
// server, which writes disk while active.
func (w *world) serverNamed(name, disk string, mutate func(*hav1alpha1.HAServerSpec)) *hav1alpha1.HAServer {
	w.t.Helper()
	s := &hav1alpha1.HAServer{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: w.ns}}
	s.Spec.Mode = hav1alpha1.ModeServer
	for i := 0; ; i++ {
		if _, err := os.Stat(filepath.Join(w.sc.Dir, "sim", w.node(i)+".boot_id")); err != nil {
			break
		}
		s.Spec.Hosts = append(s.Spec.Hosts, hav1alpha1.HostSpec{Node: w.node(i)})
	}
	s.Spec.SharedDisks = []hav1alpha1.SharedDisk{{Device: "/dev/mapper/" + disk}}
	s.Spec.Template.Spec.Containers = []corev1.Container{{Name: "server", Image: "demo-server",
		Command: []string{filepath.Join(w.sc.Bin, "demo-server"), "--disk=" + disk},
		Env:     []corev1.EnvVar{{Name: "HAMON_SIM_DISK_ROOT", Value: w.sc.DiskRoot()}}}}
	if mutate != nil {
		mutate(&s.Spec)
	}
	if err := env.Client.Create(context.Background(), s); err != nil {
		w.t.Fatal(err)
	}
	return s
}

func (w *world) get() *hav1alpha1.HAServer {
	w.t.Helper()
	return w.getNamed(w.s.Name)
}

func (w *world) getNamed(name string) *hav1alpha1.HAServer {
	w.t.Helper()
	var cur hav1alpha1.HAServer
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: w.ns, Name: name}, &cur); err != nil {
		w.t.Fatal(err)
	}
	return &cur
}

// waitOnline waits until node is the Online active host and says how long it took.
func (w *world) waitOnline(node string, limit time.Duration) time.Duration {
	w.t.Helper()
	start := time.Now()
	testenv.Eventually(w.t, limit, "db Online on "+node, func() bool {
		c := w.get()
		return c.Status.ActiveNode == node && c.Status.Phase == hav1alpha1.PhaseOnline
	})
	return time.Since(start)
}

func (w *world) pod(node string) string {
	w.t.Helper()
	for _, h := range w.get().Status.Hosts {
		if h.Node == node {
			return h.Pod
		}
	}
	return ""
}

func (w *world) lastSwitchover() hav1alpha1.Switchover {
	w.t.Helper()
	sw := w.get().Status.Switchovers
	if len(sw) == 0 {
		w.t.Fatal("no switchover recorded")
	}
	return sw[len(sw)-1]
}

// writers checks the write log of mpatha shows writers in the order given,
// never two at once.
func (w *world) writers(want ...string) {
	w.t.Helper()
	w.writersOf("mpatha", want...)
}

func (w *world) writersOf(disk string, want ...string) {
	w.t.Helper()
	time.Sleep(time.Second) // a few writes of the last writer
	order, err := w.sc.WritersInOrder(disk)
	if err != nil {
		w.t.Fatal(err)
	}
	if strings.Join(order, ",") != strings.Join(want, ",") {
		w.t.Fatalf("writers %v, want %v", order, want)
	}
}

func (w *world) request(action hav1alpha1.RequestAction, id string) {
	w.t.Helper()
	w.requestNode(action, id, "")
}

// requestNode writes an operator request for node ("" for none), unless
// the same one is already waiting for its answer.
func (w *world) requestNode(action hav1alpha1.RequestAction, id, node string) {
	w.t.Helper()
	// The controller writes the status meanwhile: retry on a conflict, or
	// the request is lost and the wait for its outcome times out.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		c := w.get()
		if c.Spec.Request != nil && c.Spec.Request.Action == action && c.Spec.Request.Node == node &&
			(c.Status.LastRequest == nil || c.Status.LastRequest.ID != c.Spec.Request.ID) {
			return nil // asked already, not answered yet
		}
		c.Spec.Request = &hav1alpha1.OperatorRequest{ID: id, Action: action, Node: node}
		return env.Client.Update(context.Background(), c)
	})
	if err != nil {
		w.t.Fatal(err)
	}
}

// Table 4-3 row 2: the active server terminates abnormally; the standby
// with the highest priority takes over; the disk's writers follow each other.
func TestServerCrash_Switchover(t *testing.T) {
	w := newWorld(t, "crash", 3)
	w.server(nil)
	w.waitOnline(w.node(0), 60*time.Second)
	time.Sleep(500 * time.Millisecond)
	w.sc.KillServer(w.node(0), w.ns, w.pod(w.node(0)), syscall.SIGKILL)
	d := w.waitOnline(w.node(1), 30*time.Second)
	if sw := w.lastSwitchover(); sw.Cause != "ServerFailure" || sw.To != w.node(1) {
		t.Fatalf("switchover %+v", sw)
	}
	t.Logf("crash → new active Online: %s", d.Round(time.Millisecond))
	w.writers(w.node(0), w.node(1))
}

// A normal termination (exit 0) of the active server is not a failure: no switchover.
func TestNormalExit_NoSwitchover(t *testing.T) {
	w := newWorld(t, "normal", 2)
	w.server(nil)
	w.waitOnline(w.node(0), 60*time.Second)
	before := len(w.get().Status.Switchovers)
	w.sc.KillServer(w.node(0), w.ns, w.pod(w.node(0)), syscall.SIGTERM) // demo-server exits 0 on SIGTERM
	testenv.Eventually(t, 20*time.Second, "the server no longer Online", func() bool {
		return w.get().Status.Phase != hav1alpha1.PhaseOnline
	})
	time.Sleep(3 * time.Second)
	if c := w.get(); len(c.Status.Switchovers) != before || c.Status.ActiveNode == w.node(1) {
		t.Fatalf("a normal exit switched over: phase %s active %q switchovers %+v", c.Status.Phase, c.Status.ActiveNode, c.Status.Switchovers)
	}
}

// kubectl delete pod of the active server, whose termCommand takes 15 s:
// the old copy runs its termCommand (the preStop hook) to the end, no
// second copy starts anywhere meanwhile, and the deletion ends the server
// as a forced termination (Table 4-3 #1: a normal termination; the standby
// is terminated, nothing switches over). Shown from the pods' container
// states, polled throughout, and from the disk's write log.
func TestActivePodDeleted_NoSecondCopy(t *testing.T) {
	w := newWorld(t, "poddel", 2)
	w.server(func(s *hav1alpha1.HAServerSpec) { s.TermCommand = []string{"/bin/sh", "-c", "sleep 15"} })
	w.waitOnline(w.node(0), 60*time.Second)
	testenv.Eventually(t, 30*time.Second, "a standby on "+w.node(1), func() bool { return w.get().Status.StandbyNodes == w.node(1) })
	ctx := context.Background()
	var active corev1.Pod
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: w.pod(w.node(0))}, &active); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Delete(ctx, &active); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	maxOnA, sawDeletedRun, lastRan := 0, false, time.Duration(0)
	for time.Since(deleted) < 40*time.Second {
		var pods corev1.PodList
		if err := env.Client.List(ctx, &pods, client.InNamespace(w.ns)); err != nil {
			t.Fatal(err)
		}
		onA, anyRuns := 0, false
		for _, p := range pods.Items {
			cs := p.Status.ContainerStatuses
			runs := p.Status.Phase == corev1.PodRunning && len(cs) > 0 && cs[0].State.Running != nil
			anyRuns = anyRuns || runs
			if runs && p.Spec.NodeName == w.node(0) {
				onA++
				if p.UID == active.UID {
					lastRan = time.Since(deleted)
					sawDeletedRun = sawDeletedRun || lastRan > 10*time.Second
				}
			}
			if runs && p.UID != active.UID && p.Labels[hav1alpha1.LabelRole] == hav1alpha1.RoleActiveLabel {
				t.Fatalf("%s (%s) runs as active while the deleted %s may still run", p.Name, p.Spec.NodeName, active.Name)
			}
		}
		maxOnA = max(maxOnA, onA)
		if !anyRuns && time.Since(deleted) > 15*time.Second {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if maxOnA != 1 || !sawDeletedRun {
		t.Fatalf("copies running at once on %s: %d (want 1); the deleted copy ran its 15 s termCommand: %t", w.node(0), maxOnA, sawDeletedRun)
	}
	testenv.Eventually(t, 20*time.Second, "db Stopped", func() bool { return w.get().Status.Phase == hav1alpha1.PhaseStopped })
	if c := w.get(); len(c.Status.Switchovers) != 1 { // the first activation only
		t.Fatalf("a forced termination switched over: %+v", c.Status.Switchovers)
	}
	w.writers(w.node(0))
	t.Logf("the deleted active copy ran %s more (its termCommand), alone", lastRan.Round(100*time.Millisecond))
}

// Host loss with a shared disk: the new host fences the old one
// (PREEMPT AND ABORT) and takes over after the lease runs out.
func TestHostLoss_WithDisk(t *testing.T) {
	w := newWorld(t, "hostloss", 2)
	w.server(nil)
	w.waitOnline(w.node(0), 60*time.Second)
	time.Sleep(500 * time.Millisecond)
	w.sc.HostDown(w.node(0))
	d := w.waitOnline(w.node(1), 30*time.Second)
	if sw := w.lastSwitchover(); sw.Cause != "HostFailure" {
		t.Fatalf("switchover %+v", sw)
	}
	t.Logf("host loss → new active Online: %s (lease %s)", d.Round(time.Millisecond), simcluster.FastTiming.LeaseDuration)
	w.writers(w.node(0), w.node(1))
}

// Host loss without a shared disk: the controller waits for the lost
// host's self-fence deadline before starting the server elsewhere.
func TestHostLoss_WithoutDisk(t *testing.T) {
	w := newWorld(t, "hostnodisk", 2)
	w.server(func(s *hav1alpha1.HAServerSpec) {
		s.SharedDisks = nil
		s.Template.Spec.Containers[0].Command = []string{"/bin/sleep", "3600"}
	})
	w.waitOnline(w.node(0), 60*time.Second)
	w.sc.HostDown(w.node(0))
	w.waitOnline(w.node(1), 30*time.Second)
	if sw := w.lastSwitchover(); sw.Cause != "HostFailure" {
		t.Fatalf("switchover %+v", sw)
	}
}

// A hung host (its agent stopped with SIGSTOP past the lease) is fenced by
// the reservation and replaced; its server, still running, cannot write;
// the watchdog the agent no longer feeds resets the host, which rejoins
// after its reboot.
func TestSlowHost_FencedThenRejoins(t *testing.T) {
	w := newWorld(t, "slow", 2)
	w.server(nil)
	w.waitOnline(w.node(0), 60*time.Second)
	time.Sleep(500 * time.Millisecond)
	w.sc.PauseAgent(w.node(0))
	w.waitOnline(w.node(1), 30*time.Second)
	testenv.Eventually(t, 30*time.Second, "the hung host reset by its watchdog", func() bool {
		_, reset := w.sc.WatchdogReset(w.node(0))
		return reset
	})
	w.writers(w.node(0), w.node(1))
	w.sc.RebootHost(w.node(0))
	testenv.Eventually(t, 60*time.Second, "the reset host back as standby", func() bool {
		return w.get().Status.StandbyNodes == w.node(0)
	})
}

// A partition of the active host from the API server: the other host
// fences it and takes over; the partitioned host's server keeps trying to
// write and is refused; when the partition heals, its copy is stopped.
func TestPartition_ActiveHost(t *testing.T) {
	w := newWorld(t, "part", 2)
	w.server(nil)
	w.waitOnline(w.node(0), 60*time.Second)
	time.Sleep(500 * time.Millisecond)
	oldPod := w.pod(w.node(0))
	w.sc.Partition(w.node(0))
	d := w.waitOnline(w.node(1), 30*time.Second)
	t.Logf("partition → new active Online: %s", d.Round(time.Millisecond))
	if w.sc.ServerPID(w.node(0), w.ns, oldPod) == 0 {
		t.Log("the partitioned host's server had already stopped")
	}
	w.writers(w.node(0), w.node(1)) // the partitioned server's writes were refused
	w.sc.Heal(w.node(0))
	testenv.Eventually(t, 30*time.Second, "the old copy stopped after the partition healed", func() bool {
		return w.sc.ServerPID(w.node(0), w.ns, oldPod) == 0
	})
	w.writers(w.node(0), w.node(1))
}

// Multi-standby (4.4.1): the first standby fails to start; the next one takes over.
func TestMultiStandby_FirstStandbyFailsToStart(t *testing.T) {
	w := newWorld(t, "multi", 3)
	bad := w.node(1)
	w.server(func(s *hav1alpha1.HAServerSpec) {
		s.Mode = hav1alpha1.ModeMonitor
		// The patrol is the readiness probe: a server is started once it passes.
		s.Patrol = &hav1alpha1.PatrolSpec{Command: []string{"/bin/true"}, Interval: "1s", Timeout: "500ms"}
		c := &s.Template.Spec.Containers[0]
		c.Command = []string{"/bin/sh", "-c", `[ "$HAMON_SIM_NODE" = "` + bad + `" ] && exit 1; exec "$0"`, filepath.Join(w.sc.Bin, "demo-server")}
	})
	w.waitOnline(w.node(0), 60*time.Second)
	time.Sleep(500 * time.Millisecond)
	// Monitor mode: a host failure switches (a crash without a patrol waits for the operator).
	w.sc.HostDown(w.node(0))
	defer func() {
		if t.Failed() {
			c := w.get()
			t.Logf("phase %s active %q hosts %+v switchovers %+v", c.Status.Phase, c.Status.ActiveNode, c.Status.Hosts, c.Status.Switchovers)
		}
	}()
	w.waitOnline(w.node(2), 30*time.Second)
	w.writers(w.node(0), w.node(2))
}

// The controller killed in the middle of a (planned) switchover: a new one
// finishes it, once.
func TestControllerKilledMidSwitchover(t *testing.T) {
	w := newWorld(t, "ctlkill", 2)
	// A slow termination keeps the switchover under way long enough to
	// kill the controller in the middle of it.
	w.server(func(s *hav1alpha1.HAServerSpec) { s.TermCommand = []string{"/bin/sleep", "3"} })
	w.waitOnline(w.node(0), 60*time.Second)
	before := len(w.get().Status.Switchovers)
	time.Sleep(500 * time.Millisecond)
	w.request(hav1alpha1.ActionSwap, "swap-1")
	testenv.Eventually(t, 20*time.Second, "a switchover under way", func() bool { return w.get().Status.Switchover != nil })
	w.sc.Kill("manager")
	time.Sleep(time.Second)
	w.sc.StartController()
	w.waitOnline(w.node(1), 60*time.Second)
	if n := len(w.get().Status.Switchovers); n != before+1 {
		t.Fatalf("%d switchovers recorded, want %d", n, before+1)
	}
	w.writers(w.node(0), w.node(1))
}

// 7.5.8: a path of the active host fails while it terminates (a planned
// swap): KAMN725-W, the termination goes on, the OS stays up.
func TestPathFailure_OnePathDuringTermination(t *testing.T) {
	w := newWorld(t, "onepath", 2)
	w.server(func(s *hav1alpha1.HAServerSpec) {
		// A slow termination, so that the path watch sees the terminating phase.
		s.TermCommand = []string{"/bin/sleep", "3"}
	})
	w.waitOnline(w.node(0), 60*time.Second)
	w.sc.FailPath(w.node(0), "mpatha", "p2", true)
	w.request(hav1alpha1.ActionSwap, "swap-1")
	w.waitOnline(w.node(1), 60*time.Second)
	if why, ok := w.sc.OSTerminated(w.node(0)); ok {
		t.Fatalf("the OS was terminated with one path left: %s", why)
	}
	logs, _ := os.ReadFile(filepath.Join(w.sc.Dir, "logs", w.node(0)+"-agent.log"))
	if !strings.Contains(string(logs), "KAMN725-W") {
		t.Fatal("no KAMN725-W in the agent's log")
	}
}

// 7.5.8: every path of the active host fails while it terminates:
// KAMN725-W, KAMN726-E, then the OS is terminated; the standby takes over.
func TestPathFailure_AllPathsDuringTermination(t *testing.T) {
	w := newWorld(t, "allpaths", 2)
	w.server(func(s *hav1alpha1.HAServerSpec) { s.TermCommand = []string{"/bin/sleep", "3"} })
	w.waitOnline(w.node(0), 60*time.Second)
	w.sc.FailPath(w.node(0), "mpatha", "p1", true)
	w.sc.FailPath(w.node(0), "mpatha", "p2", true)
	w.request(hav1alpha1.ActionSwap, "swap-1")
	testenv.Eventually(t, 30*time.Second, "the OS of the old active terminated", func() bool {
		_, ok := w.sc.OSTerminated(w.node(0))
		return ok
	})
	why, _ := w.sc.OSTerminated(w.node(0))
	if !strings.Contains(why, "KAMN726-E") {
		t.Fatalf("OS terminated for %q, want KAMN726-E", why)
	}
	w.waitOnline(w.node(1), 60*time.Second)
}

// Grouped-system switchover (3.2.3, exchange): two servers of one group,
// each writing its own shared disk. The first fails on the active host:
// the whole group moves to the other host, the second by a planned
// switchover (cause GroupSwitch), and on each disk the writers follow each
// other without overlap.
func TestGroupSwitchover_OneFailureMovesTheGroup(t *testing.T) {
	w := newWorld(t, "group", 2)
	g := &hav1alpha1.HAServerGroup{ObjectMeta: metav1.ObjectMeta{Name: "g", Namespace: w.ns}}
	if err := env.Client.Create(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	inGroup := func(s *hav1alpha1.HAServerSpec) { s.Group = &hav1alpha1.GroupMembership{Name: "g"} }
	w.server(inGroup)
	w.serverNamed("tp", "mpathb", inGroup)
	online := func(name, node string) bool {
		c := w.getNamed(name)
		return c.Status.ActiveNode == node && c.Status.Phase == hav1alpha1.PhaseOnline && c.Status.Switchover == nil
	}
	testenv.Eventually(t, 60*time.Second, "db and tp Online on "+w.node(0), func() bool {
		return online("db", w.node(0)) && online("tp", w.node(0))
	})
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	w.sc.KillServer(w.node(0), w.ns, w.pod(w.node(0)), syscall.SIGKILL)
	testenv.Eventually(t, 60*time.Second, "db and tp Online on "+w.node(1), func() bool {
		return online("db", w.node(1)) && online("tp", w.node(1))
	})
	t.Logf("member failure → whole group Online on the other host: %s", time.Since(start).Round(time.Millisecond))
	if sw := w.lastSwitchover(); sw.Cause != "ServerFailure" {
		t.Fatalf("db switched for %s, want ServerFailure", sw.Cause)
	}
	tp := w.getNamed("tp").Status.Switchovers
	if len(tp) == 0 || tp[len(tp)-1].Cause != "GroupSwitch" {
		t.Fatalf("tp's switchovers %+v, want the last for GroupSwitch", tp)
	}
	testenv.Eventually(t, 30*time.Second, "the group Online on "+w.node(1), func() bool {
		var cur hav1alpha1.HAServerGroup
		return env.Client.Get(context.Background(), client.ObjectKeyFromObject(g), &cur) == nil && cur.Status.ActiveNode == w.node(1)
	})
	w.writersOf("mpatha", w.node(0), w.node(1))
	w.writersOf("mpathb", w.node(0), w.node(1))
}

// 3.2.7 (switchError Retry): the server fails its first start on the
// switchover target; the target enters start retry (>ONL, HAMN126-W),
// retries (HAMN136-I) and the server comes Online there.
func TestStartRetry_TargetFailsOnceThenStarts(t *testing.T) {
	w := newWorld(t, "retry", 2)
	target := w.node(1)
	flag := filepath.Join(w.sc.Dir, "failed-once")
	w.server(func(s *hav1alpha1.HAServerSpec) {
		s.Mode = hav1alpha1.ModeMonitor
		s.SwitchError = hav1alpha1.SwitchErrorRetry
		s.SwitchRetry = ptr(int32(3))
		// The patrol is the readiness probe: a server is started once it passes.
		s.Patrol = &hav1alpha1.PatrolSpec{Command: []string{"/bin/true"}, Interval: "1s", Timeout: "500ms"}
		c := &s.Template.Spec.Containers[0]
		c.Command = []string{"/bin/sh", "-c",
			`if [ "$HAMON_SIM_NODE" = "` + target + `" ] && [ ! -e "` + flag + `" ]; then touch "` + flag + `"; exit 1; fi; exec "$0"`,
			filepath.Join(w.sc.Bin, "demo-server")}
	})
	w.waitOnline(w.node(0), 60*time.Second)
	time.Sleep(500 * time.Millisecond)
	w.sc.HostDown(w.node(0))
	d := w.waitOnline(target, 60*time.Second)
	if _, err := os.Stat(flag); err != nil {
		t.Fatal("the first start on the target did not fail: the scenario tested nothing")
	}
	var ids []string
	var events corev1.EventList
	if err := env.Client.List(context.Background(), &events, client.InNamespace(w.ns)); err != nil {
		t.Fatal(err)
	}
	for _, e := range events.Items {
		ids = append(ids, e.Reason)
	}
	for _, want := range []string{"HAMN126-W", "HAMN136-I"} {
		if !strings.Contains(strings.Join(ids, " "), want) {
			t.Fatalf("no %s event; events: %v", want, ids)
		}
	}
	t.Logf("host loss → first start failed → retry → Online on %s in %s", target, d.Round(time.Millisecond))
	w.writers(w.node(0), target)
}

func ptr[T any](v T) *T { return &v }
