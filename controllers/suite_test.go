package controllers

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/controllers/hotstandby"
	"github.com/hamon-ha/hamon/hack/testenv"
)

// The controller's tests run against a real kube-apiserver and etcd. There
// is no kubelet and no node agent: a fakeCluster plays both through the API
// (Leases, HANode status, pod status), as the real ones would.

var env *testenv.Env

const agentNS = "hamon-system"

// testTiming keeps the tests fast while every timer still runs.
var testTiming = hotstandby.Timing{
	StopTimeout: 5 * time.Second, ReserveTimeout: 5 * time.Second, StartTimeout: 5 * time.Second,
	RestartTimeout: 5 * time.Second, SelfFenceWait: time.Second, FenceTimeout: 5 * time.Second,
	RetryInterval: time.Second, PrimaryWait: 5 * time.Second,
}

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true), zap.Level(zapcore.Level(logLevel()))))
	testenv.Main(m, &env, func(e *testenv.Env) error {
		return e.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: agentNS}})
	})
}

// logLevel is the controller's log level in tests: errors only, unless
// HAMON_TEST_LOG=debug.
func logLevel() int {
	if os.Getenv("HAMON_TEST_LOG") == "debug" {
		return -2
	}
	return 2
}

// startManager runs a controller until the returned stop is called.
func startManager(t *testing.T, leaderElect bool) (stop func(), elected <-chan struct{}) {
	t.Helper()
	return startManagerWith(t, leaderElect, nil)
}

// startManagerWith runs a controller whose HAServer reconciler reaches the
// API server through wrap(client), when wrap is not nil.
func startManagerWith(t *testing.T, leaderElect bool, wrap func(client.Client) client.Client) (stop func(), elected <-chan struct{}) {
	t.Helper()
	cacheOpts, err := CacheOptions(agentNS)
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                        scheme.Scheme,
		Metrics:                       metricsserver.Options{BindAddress: "0"},
		LeaderElection:                leaderElect,
		LeaderElectionID:              "hamon-test",
		LeaderElectionNamespace:       agentNS,
		LeaderElectionReleaseOnCancel: true,
		Controller:                    ctrlConfigSkipNameValidation(),
		Cache:                         cacheOpts,
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &HAServerReconciler{
		Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("hamon-controller"),
		Clock: hotstandby.RealClock{}, Timing: testTiming, AgentNamespace: agentNS, AllowedDisks: &testAllowedDisks,
	}
	if wrap != nil {
		r.Client = wrap(r.Client)
	}
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	if err := (&HAServerGroupReconciler{Client: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	return func() { cancel(); <-done }, mgr.Elected()
}

// testAllowedDisks allows the multipath devices, as a cluster admin would.
var testAllowedDisks, _ = hav1alpha1.ParseDiskAllowList("*=/dev/mapper/mpath*,*=36001405*")

// fakeCluster plays the kubelets and node agents of a set of nodes.
type fakeCluster struct {
	t     *testing.T
	ns    string
	mu    sync.Mutex
	alive map[string]bool   // nodes whose agent renews its Lease
	boot  map[string]string // boot ID per node
	hold  map[string]bool   // nodes whose kubelet does not start pods
	// termRuns says the termCommand pods of a node run on (the command
	// hangs) instead of ending, exit 0, a kubelet round after they start.
	termRuns map[string]bool
	quiet    map[string]bool // nodes whose agent skips its renewals for now
	// failStart is, per node, the waiting reason its kubelet gives every
	// new pod instead of starting it (ErrImagePull, CreateContainerError).
	failStart map[string]string
	// termination is how long a deleted pod's container goes on running
	// (its preStop hook and grace period) before it is reported terminated
	// and the pod removed; 0: at once. deleting says since when.
	termination time.Duration
	deleting    map[types.UID]time.Time
	// startedIn is the boot in which the kubelet started each pod: after a
	// reboot its container is gone, and the kubelet says so.
	startedIn map[types.UID]string
	// bootedAt is when each node last rebooted: its kubelet reports the
	// containers lost with the old boot only some time later
	// (lostReportDelay), after it has synced the pods.
	bootedAt map[string]time.Time
	stop     chan struct{}
	done     chan struct{}
	server   string
}

func newFakeCluster(t *testing.T, ns string, nodes ...string) *fakeCluster {
	t.Helper()
	ctx := context.Background()
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	f := &fakeCluster{t: t, ns: ns, alive: map[string]bool{}, boot: map[string]string{}, hold: map[string]bool{}, termRuns: map[string]bool{}, quiet: map[string]bool{}, failStart: map[string]string{},
		deleting: map[types.UID]time.Time{}, startedIn: map[types.UID]string{}, bootedAt: map[string]time.Time{}, stop: make(chan struct{}), done: make(chan struct{})}
	for _, n := range nodes {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}}
		if err := env.Client.Create(ctx, node); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		f.alive[n] = true
		f.boot[n] = "boot-1"
	}
	// The first round (Leases, HANodes, API discovery) before the hosts count as up.
	f.renewLeases()
	f.renewLeases()
	go f.loop()
	t.Cleanup(func() { close(f.stop); <-f.done })
	return f
}

const leaseSeconds = 3

func (f *fakeCluster) loop() {
	defer close(f.done)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-tick.C:
		}
		f.renewLeases()
		f.runPods()
	}
}

func (f *fakeCluster) renewLeases() {
	ctx := context.Background()
	f.mu.Lock()
	defer f.mu.Unlock()
	for n, ok := range f.alive {
		if !ok || f.quiet[n] {
			continue
		}
		now := metav1.NewMicroTime(time.Now())
		var l coordinationv1.Lease
		err := env.Client.Get(ctx, client.ObjectKey{Namespace: agentNS, Name: n}, &l)
		if apierrors.IsNotFound(err) {
			l = coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: agentNS, Name: n},
				Spec: coordinationv1.LeaseSpec{HolderIdentity: &n, LeaseDurationSeconds: ptr(int32(leaseSeconds)), RenewTime: &now}}
			_ = env.Client.Create(ctx, &l)
		} else if err == nil {
			l.Spec.RenewTime = &now
			_ = env.Client.Update(ctx, &l)
		}
		hn := hav1alpha1.HANode{ObjectMeta: metav1.ObjectMeta{Name: n}}
		if err := env.Client.Get(ctx, client.ObjectKey{Name: n}, &hn); apierrors.IsNotFound(err) {
			_ = env.Client.Create(ctx, &hn)
		}
		if hn.Status.BootID != f.boot[n] && hn.Name != "" {
			hn.Status.BootID = f.boot[n]
			_ = env.Client.Status().Update(ctx, &hn)
		}
	}
}

// runPods starts new pods (Running and Ready) on live nodes, and finishes
// the deletion of deleted pods, as a kubelet does.
func (f *fakeCluster) runPods() {
	ctx := context.Background()
	var pods corev1.PodList
	if err := env.Client.List(ctx, &pods, client.InNamespace(f.ns)); err != nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range pods.Items {
		p := &pods.Items[i]
		node := p.Spec.NodeName
		switch {
		case !f.alive[node]:
			// No kubelet: nothing starts, nothing is confirmed ended, and
			// a deleted pod stays until the kubelet is back.
		case p.DeletionTimestamp != nil && f.termination > 0 && p.Status.Phase == corev1.PodRunning && !f.lostInReboot(p):
			since, ok := f.deleting[p.UID]
			if !ok {
				f.deleting[p.UID] = time.Now()
				continue
			}
			if time.Since(since) < f.termination {
				continue // the container runs its preStop hook, then gets SIGTERM
			}
			p.Status.Phase = corev1.PodFailed
			p.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 143}}
			p.Status.ContainerStatuses[0].Ready = false
			_ = env.Client.Status().Update(ctx, p)
		case p.DeletionTimestamp != nil:
			_ = env.Client.Delete(ctx, p, client.GracePeriodSeconds(0))
		case f.lostInReboot(p) && p.Status.Phase == corev1.PodRunning && time.Since(f.bootedAt[node]) >= lostReportDelay:
			// Started before the host rebooted: its container went with
			// that boot (a kubelet reports it so, and never restarts it; a
			// pod deleted meanwhile is just removed, as above).
			p.Status.Phase = corev1.PodFailed
			p.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "ContainerStatusUnknown"}}
			p.Status.ContainerStatuses[0].Ready = false
			_ = env.Client.Status().Update(ctx, p)
		case p.Labels[hav1alpha1.LabelRole] == hav1alpha1.RoleTermCommandLabel && p.Status.Phase == corev1.PodRunning && !f.termRuns[node]:
			// The termCommand ran to its end.
			p.Status.Phase = corev1.PodSucceeded
			p.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}
			p.Status.ContainerStatuses[0].Ready = false
			_ = env.Client.Status().Update(ctx, p)
		case (p.Status.Phase == "" || p.Status.Phase == corev1.PodPending) && f.failStart[node] != "":
			if len(p.Status.ContainerStatuses) == 0 {
				p.Status.Phase = corev1.PodPending
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: p.Spec.Containers[0].Name,
					State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: f.failStart[node], Message: "simulated"}}}}
				_ = env.Client.Status().Update(ctx, p)
			}
		case (p.Status.Phase == "" || p.Status.Phase == corev1.PodPending) && !f.hold[node]:
			setPodRunning(p, true)
			if err := env.Client.Status().Update(ctx, p); err == nil {
				f.startedIn[p.UID] = f.boot[node]
			}
		}
	}
}

// lostReportDelay is how long a kubelet back from a reboot takes to report
// the containers that went with the old boot.
const lostReportDelay = time.Second

// lostInReboot says p's container was started in an earlier boot of its
// node, so it is gone.
func (f *fakeCluster) lostInReboot(p *corev1.Pod) bool {
	b := f.startedIn[p.UID]
	return b != "" && b != f.boot[p.Spec.NodeName]
}

func setPodRunning(p *corev1.Pod, ready bool) {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: p.Spec.Containers[0].Name, Ready: ready,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}},
	}}
}

// kill stops a node's agent and kubelet: its Lease is no longer renewed.
func (f *fakeCluster) kill(node string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.alive[node] = false
}

// reboot brings a node back with a new boot ID.
func (f *fakeCluster) reboot(node string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.alive[node] = true
	f.boot[node] += "+"
	f.bootedAt[node] = time.Now()
}

// failStarts makes node's kubelet fail to start every new pod with reason
// (or start them again, reason "").
func (f *fakeCluster) failStarts(node, reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failStart[node] = reason
}

func (f *fakeCluster) holdPods(node string, hold bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hold[node] = hold
}

// podOn returns the live server pod on node, or nil.
func (f *fakeCluster) podOn(server, node string) *corev1.Pod {
	var pods corev1.PodList
	if err := env.Client.List(context.Background(), &pods, client.InNamespace(f.ns), client.MatchingLabels{hav1alpha1.LabelServer: server}); err != nil {
		f.t.Fatal(err)
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Spec.NodeName == node && p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodFailed && p.Status.Phase != corev1.PodSucceeded {
			return p
		}
	}
	return nil
}

// exit makes the server's container on node end with code.
func (f *fakeCluster) exit(server, node string, code int32) {
	f.t.Helper()
	p := f.podOn(server, node)
	if p == nil {
		f.t.Fatalf("no pod of %s on %s", server, node)
	}
	phase := corev1.PodSucceeded
	if code != 0 {
		phase = corev1.PodFailed
	}
	p.Status.Phase = phase
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name:  p.Spec.Containers[0].Name,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: "Exited", FinishedAt: metav1.Now()}},
	}}
	if err := env.Client.Status().Update(context.Background(), p); err != nil {
		f.t.Fatal(err)
	}
}

// setReady flips the pod's readiness (the patrol readiness probe).
func (f *fakeCluster) setReady(server, node string, ready bool) {
	f.t.Helper()
	p := f.podOn(server, node)
	if p == nil {
		f.t.Fatalf("no pod of %s on %s", server, node)
	}
	setPodRunning(p, ready)
	if err := env.Client.Status().Update(context.Background(), p); err != nil {
		f.t.Fatal(err)
	}
}

// report writes an agent's report on a server into its node's HANode.
func (f *fakeCluster) report(node, server string, mutate func(*hav1alpha1.NodeServerStatus)) {
	f.t.Helper()
	ctx := context.Background()
	for range 20 {
		var hn hav1alpha1.HANode
		if err := env.Client.Get(ctx, client.ObjectKey{Name: node}, &hn); err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		key := hav1alpha1.ReportKey(f.ns, server)
		entry := hn.Status.Report(key)
		if entry == nil {
			hn.Status.Servers = append(hn.Status.Servers, hav1alpha1.NodeServerStatus{Key: key})
			entry = &hn.Status.Servers[len(hn.Status.Servers)-1]
		}
		mutate(entry)
		if err := env.Client.Status().Update(ctx, &hn); err == nil {
			return
		}
	}
	f.t.Fatalf("could not write the report of %s", node)
}

// reserved answers, as node's agent would, the server's Reserve request for
// node and epoch: Done, the node holding the disks for the epoch.
func (f *fakeCluster) reserved(node, server string, epoch int64) {
	f.t.Helper()
	f.answerReserve(node, server, epoch, hav1alpha1.AnswerDone, hav1alpha1.ReservationHeld, "")
}

// firstActivationWithDisk answers, as node's agent would, the Reserve of a
// new server's first activation (epoch 1) and waits until it is Online there.
func (f *fakeCluster) firstActivationWithDisk(server, node string) {
	f.t.Helper()
	eventually(f.t, "the reservation is asked of "+node, func() bool { return f.get(server).Status.FencingEpoch == 1 })
	f.reserved(node, server, 1)
	f.waitActive(server, node)
}

// reserveFailed answers node's Reserve request for epoch as an agent that
// could not take the reservation.
func (f *fakeCluster) reserveFailed(node, server string, epoch int64, why string) {
	f.t.Helper()
	f.answerReserve(node, server, epoch, hav1alpha1.AnswerFailed, hav1alpha1.ReservationFailed, why)
}

func (f *fakeCluster) answerReserve(node, server string, epoch int64, result hav1alpha1.AnswerResult,
	held hav1alpha1.ReservationResult, why string) {
	f.t.Helper()
	var id int64
	for _, rq := range f.get(server).Status.AgentRequests {
		if rq.Node == node && rq.Action == hav1alpha1.AgentReserve && rq.Epoch == epoch {
			id = rq.ID
		}
	}
	if id == 0 {
		f.t.Fatalf("%s has no Reserve request for %s in epoch %d", server, node, epoch)
	}
	f.report(node, server, func(r *hav1alpha1.NodeServerStatus) {
		r.Epoch, r.Reservation = epoch, held
		r.AddAnswer(hav1alpha1.AgentAnswer{ID: id, Action: hav1alpha1.AgentReserve, Epoch: epoch, Result: result, Message: why})
	})
}

func ptr[T any](v T) *T { return &v }

// onlineWithStandby creates a two-host Server-mode server and waits until it
// is Online on active with its standby ready on standby.
func (f *fakeCluster) onlineWithStandby(name, active, standby string) *hav1alpha1.HAServer {
	f.t.Helper()
	f.newServer(name, func(s *hav1alpha1.HAServerSpec) { s.Mode = hav1alpha1.ModeServer }, active, standby)
	f.waitActive(name, active)
	eventually(f.t, name+"'s standby ready on "+standby, func() bool { return f.get(name).Status.StandbyNodes == standby })
	return f.get(name)
}

// newServer creates an HAServer in the fake cluster's namespace.
func (f *fakeCluster) newServer(name string, mutate func(*hav1alpha1.HAServerSpec), nodes ...string) *hav1alpha1.HAServer {
	f.t.Helper()
	s := &hav1alpha1.HAServer{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns}}
	for _, n := range nodes {
		s.Spec.Hosts = append(s.Spec.Hosts, hav1alpha1.HostSpec{Node: n})
	}
	s.Spec.Template.Spec.Containers = []corev1.Container{{Name: "server", Image: "busybox"}}
	if mutate != nil {
		mutate(&s.Spec)
	}
	if err := env.Client.Create(context.Background(), s); err != nil {
		f.t.Fatal(err)
	}
	f.server = name
	return s
}

// get reads the server.
func (f *fakeCluster) get(name string) *hav1alpha1.HAServer {
	f.t.Helper()
	var s hav1alpha1.HAServer
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: name}, &s); err != nil {
		f.t.Fatal(err)
	}
	return &s
}

// eventually polls cond for up to 20 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, 20*time.Second, what, cond)
}

// waitActive waits until the server is Online on node.
func (f *fakeCluster) waitActive(name, node string) *hav1alpha1.HAServer {
	f.t.Helper()
	var s *hav1alpha1.HAServer
	eventually(f.t, name+" is Online on "+node, func() bool {
		s = f.get(name)
		return s.Status.ActiveNode == node && s.Status.Phase == hav1alpha1.PhaseOnline
	})
	return s
}

func (f *fakeCluster) request(name string, rq hav1alpha1.OperatorRequest) {
	f.t.Helper()
	for range 10 {
		s := f.get(name)
		s.Spec.Request = &rq
		err := env.Client.Update(context.Background(), s)
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) {
			f.t.Fatal(err)
		}
	}
	f.t.Fatal("could not write the request")
}

func (f *fakeCluster) waitRequest(name, id string, outcome hav1alpha1.RequestOutcome) *hav1alpha1.HAServer {
	f.t.Helper()
	var s *hav1alpha1.HAServer
	eventually(f.t, "request "+id+" is "+string(outcome), func() bool {
		s = f.get(name)
		r := s.Status.LastRequest
		return r != nil && r.ID == id && r.Outcome == outcome
	})
	return s
}

// eventReasons lists the reasons (message ids) of the server's events.
func (f *fakeCluster) eventReasons(name string) string {
	var list eventsv1.EventList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(f.ns)); err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Name == name {
			out = append(out, e.Reason)
		}
	}
	return strings.Join(out, " ")
}

func (f *fakeCluster) waitEvent(name, id string) {
	f.t.Helper()
	eventually(f.t, "event "+id, func() bool { return strings.Contains(f.eventReasons(name), id) })
}

func keyOf(ns, name string) client.ObjectKey { return client.ObjectKey{Namespace: ns, Name: name} }
