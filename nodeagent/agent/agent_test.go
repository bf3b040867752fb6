package agent

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/controllers"
	"github.com/hamon-ha/hamon/controllers/hotstandby"
	"github.com/hamon-ha/hamon/hack/testenv"
	"github.com/hamon-ha/hamon/nodeagent/cri"
	"github.com/hamon-ha/hamon/nodeagent/fencing"
	"github.com/hamon-ha/hamon/nodeagent/lease"
	"github.com/hamon-ha/hamon/nodeagent/multipath"
	"github.com/hamon-ha/hamon/nodeagent/scsipr"
	"github.com/hamon-ha/hamon/nodeagent/simdisk"
)

// The agent against a real API server, next to the real controller, on a
// simulated shared disk: the controller↔agent protocol end to end.

var env *testenv.Env

const agentNS = "hamon-system"

func TestMain(m *testing.M) {
	testenv.Main(m, &env, func(e *testenv.Env) error {
		return e.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: agentNS}})
	})
}

func TestKeyFor(t *testing.T) {
	a, b := KeyFor("prod", "node-a"), KeyFor("prod", "node-b")
	if a == b || a == 0 || a != KeyFor("prod", "node-a") || byte(uint64(a)>>56) != 'h' {
		t.Fatalf("keys %s %s", a, b)
	}
	if KeyFor("test", "node-a") == a {
		t.Fatal("the cluster name does not change the key")
	}
}

// terminations records the OS terminations an agent asks for.
type terminations struct{ reasons []string }

func (r *terminations) Terminate(reason string) error {
	r.reasons = append(r.reasons, reason)
	return nil
}

// The agent carries out each request for its node once, in id order, and
// answers it by id; requests for other nodes are not its own, two requests
// made in one second are two requests, and a Reserve that is no longer
// current is refused, not carried out.
func TestHandleRequests_OncePerIDInOrder(t *testing.T) {
	os := &terminations{}
	a := &Agent{Node: "n1", OS: os}
	s := &hav1alpha1.HAServer{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "db", UID: "u1"}}
	s.Status.Hosts = []hav1alpha1.HostStatus{{Node: "n1", Role: hav1alpha1.RoleActive}, {Node: "n2", Role: hav1alpha1.RoleStandby}}
	at := metav1.Now()
	s.Status.AddAgentRequest("n1", hav1alpha1.AgentFenceHost, 1, at)
	s.Status.AddAgentRequest("n2", hav1alpha1.AgentFenceHost, 1, at)
	s.Status.AddAgentRequest("n1", hav1alpha1.AgentRelease, 1, at)
	s.Status.AddAgentRequest("n1", hav1alpha1.AgentFenceHost, 1, at) // same second as the first
	s.Status.FencingEpoch = 2
	s.Status.AddAgentRequest("n1", hav1alpha1.AgentReserve, 2, at) // no switchover is reserving
	r := hav1alpha1.NodeServerStatus{Key: s.ReportKey()}
	a.handleRequests(context.Background(), s, &r)
	var got []string
	for _, ans := range r.Answers {
		got = append(got, fmt.Sprintf("%d %s %s", ans.ID, ans.Action, ans.Result))
	}
	want := []string{"1 FenceHost Done", "3 Release Done", "4 FenceHost Done", "5 Reserve Refused"}
	if !slices.Equal(got, want) {
		t.Fatalf("answers %q, want %q", got, want)
	}
	if len(os.reasons) != 2 || r.Reservation != hav1alpha1.ReservationReleased {
		t.Fatalf("terminations %q, reservation %q", os.reasons, r.Reservation)
	}
	a.handleRequests(context.Background(), s, &r)
	if len(r.Answers) != 4 || len(os.reasons) != 2 {
		t.Fatalf("requests carried out again: answers %+v, terminations %q", r.Answers, os.reasons)
	}
	// A current Reserve of a server without disks needs nothing: refused.
	s.Status.Switchover = &hav1alpha1.Switchover{To: "n1", Stage: hav1alpha1.StageReserving}
	s.Status.TargetNode = "n1"
	s.Status.AddAgentRequest("n1", hav1alpha1.AgentReserve, 2, at)
	a.handleRequests(context.Background(), s, &r)
	if last := r.Answers[len(r.Answers)-1]; last.ID != 6 || last.Result != hav1alpha1.AnswerRefused ||
		r.Reservation != hav1alpha1.ReservationNotRequired || r.Epoch != 2 {
		t.Fatalf("answer %+v, report %+v", last, r)
	}
}

// The agent's own checks, in depth behind the status-writers policy: it
// terminates its OS only for a host the status records as involved, it
// touches no disk the allow-list does not allow, and it does nothing for
// a server whose spec the controller refused.
func TestHandleRequests_RefusesWhatTheStatusDoesNotBackUp(t *testing.T) {
	os := &terminations{}
	allow, err := hav1alpha1.ParseDiskAllowList("ns=/dev/mapper/mpath*")
	if err != nil {
		t.Fatal(err)
	}
	a := &Agent{Node: "n2", OS: os, AllowedDisks: &allow}
	var r hav1alpha1.NodeServerStatus
	answer := func(s *hav1alpha1.HAServer, action hav1alpha1.AgentAction) hav1alpha1.AgentAnswer {
		t.Helper()
		id := s.Status.AddAgentRequest("n2", action, s.Status.FencingEpoch, metav1.Now())
		a.handleRequests(context.Background(), s, &r)
		if r.LastAnswered() != id {
			t.Fatalf("request %d not answered: %+v", id, r.Answers)
		}
		return r.Answers[len(r.Answers)-1]
	}
	s := &hav1alpha1.HAServer{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "db"}}
	s.Status.Hosts = []hav1alpha1.HostStatus{{Node: "n1", Role: hav1alpha1.RoleActive}, {Node: "n2", Role: hav1alpha1.RoleStandby}}
	if ans := answer(s, hav1alpha1.AgentFenceHost); ans.Result != hav1alpha1.AnswerRefused || len(os.reasons) != 0 {
		t.Fatalf("a standby fenced itself: %+v, %q", ans, os.reasons)
	}
	s.Status.Switchovers = []hav1alpha1.Switchover{{From: "n2", To: "n1", Cause: "ForcedSwap"}}
	if ans := answer(s, hav1alpha1.AgentFenceHost); ans.Result != hav1alpha1.AnswerDone || len(os.reasons) != 1 {
		t.Fatalf("the host a forced swap moved from was not fenced: %+v, %q", ans, os.reasons)
	}
	s.Spec.SharedDisks = []hav1alpha1.SharedDisk{{Device: "/dev/mapper/payroll"}}
	if ans := answer(s, hav1alpha1.AgentClearReservation); ans.Result != hav1alpha1.AnswerRefused ||
		!strings.Contains(ans.Message, "/dev/mapper/payroll is not allowed") {
		t.Fatalf("a disk outside the allow-list was cleared: %+v", ans)
	}
	s.Status.Conditions = []metav1.Condition{{Type: hav1alpha1.ConditionValid, Status: metav1.ConditionFalse, Reason: "DiskNotAllowed"}}
	if ans := answer(s, hav1alpha1.AgentFenceHost); ans.Result != hav1alpha1.AnswerRefused || len(os.reasons) != 1 {
		t.Fatalf("a refused server's request was carried out: %+v, %q", ans, os.reasons)
	}
}

func run(t *testing.T, name string, setup func(ctrl.Manager) error) (stop func()) {
	t.Helper()
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme: scheme.Scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: ptr(true)},
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&coordinationv1.Lease{}: {Namespaces: map[string]cache.Config{agentNS: {}}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := setup(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}()
	return func() { cancel(); <-done }
}

func ptr[T any](v T) *T { return &v }

// stoppedPods records the servers the agents stopped through the runtime.
type stoppedPods struct {
	mu   sync.Mutex
	pods []string
}

func (s *stoppedPods) Stop(_ context.Context, c cri.Container, _ time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pods = append(s.pods, c.Namespace+"/"+c.Pod)
	return nil
}

func (s *stoppedPods) Running(context.Context, cri.Container) (bool, error) { return true, nil }

// Exec answers the termCommand; the process tests (process_test.go) run
// commands through a real CRI server.
func (s *stoppedPods) Exec(context.Context, cri.Container, []string, time.Duration) (cri.ExecResult, error) {
	return cri.ExecResult{}, nil
}

// kubelet starts every pending pod of ns (Running, Ready) and finishes deletions.
func kubelet(t *testing.T, ns string) func() {
	t.Helper()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			var pods corev1.PodList
			if err := env.Client.List(context.Background(), &pods, client.InNamespace(ns)); err != nil {
				continue
			}
			for i := range pods.Items {
				p := &pods.Items[i]
				switch {
				case p.DeletionTimestamp != nil:
					_ = env.Client.Delete(context.Background(), p, client.GracePeriodSeconds(0))
				case p.Status.Phase == corev1.PodPending || p.Status.Phase == "":
					p.Status.Phase = corev1.PodRunning
					p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
					p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: p.Spec.Containers[0].Name, Ready: true,
						State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
					_ = env.Client.Status().Update(context.Background(), p)
				}
			}
		}
	}()
	return func() { close(stop); <-done }
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, what, cond)
}

func writeBlock(d *simdisk.Disk, n simdisk.Nexus) error {
	cdb := make([]byte, 10)
	cdb[0] = simdisk.OpWrite10
	binary.BigEndian.PutUint16(cdb[7:9], 1)
	r, err := d.Execute(n, cdb, make([]byte, simdisk.BlockSize))
	if err != nil {
		return err
	}
	return r.Err()
}

func TestSharedDiskSwitchover_ControllerAndAgents(t *testing.T) {
	ctx := context.Background()
	ns := "t-agent"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"ag-a", "ag-b"} {
		if err := env.Client.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}}); err != nil {
			t.Fatal(err)
		}
	}
	root := t.TempDir()
	timing := lease.Timing{Duration: 3 * time.Second, Renew: 500 * time.Millisecond, SelfFence: 2 * time.Second}
	stopped := &stoppedPods{}
	agents := map[string]*Agent{}
	mpath := map[string]*multipath.Recorder{}
	stops := map[string]func(){}
	for _, n := range []string{"ag-a", "ag-b"} {
		a := &Agent{
			Node: n, Namespace: agentNS, BootID: "boot-1", Key: KeyFor("test", n),
			Disks:   simdisk.Resolver{Root: root, Initiator: n, Ports: []string{"p1", "p2"}},
			SCSI:    scsipr.Client{Retries: 3},
			Runtime: stopped, Timing: timing,
			OS: fencing.Recorder{File: filepath.Join(root, n+"-os-terminated")},
		}
		mpath[n] = &multipath.Recorder{}
		a.Multipath = mpath[n]
		agents[n] = a
		stops[n] = run(t, n, func(mgr ctrl.Manager) error { a.Client = mgr.GetClient(); return a.SetupWithManager(mgr) })
	}
	defer func() {
		for _, s := range stops {
			if s != nil {
				s()
			}
		}
	}()
	stopCtrl := run(t, "controller", func(mgr ctrl.Manager) error {
		return (&controllers.HAServerReconciler{
			Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("hamon-controller"), Clock: hotstandby.RealClock{},
			Timing:         hotstandby.Timing{SelfFenceWait: time.Second, PrimaryWait: 5 * time.Second},
			AgentNamespace: agentNS,
		}).SetupWithManager(mgr)
	})
	defer stopCtrl()
	defer kubelet(t, ns)()

	s := &hav1alpha1.HAServer{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns}}
	s.Spec.Hosts = []hav1alpha1.HostSpec{{Node: "ag-a"}, {Node: "ag-b"}}
	s.Spec.SharedDisks = []hav1alpha1.SharedDisk{{Device: "/dev/mapper/mpatha"}}
	s.Spec.Template.Spec.Containers = []corev1.Container{{Name: "server", Image: "busybox"}}
	if err := env.Client.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	get := func() *hav1alpha1.HAServer {
		var cur hav1alpha1.HAServer
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(s), &cur); err != nil {
			t.Fatal(err)
		}
		return &cur
	}
	eventually(t, "db Online on ag-a holding the disk", func() bool {
		c := get()
		return c.Status.ActiveNode == "ag-a" && c.Status.ReservationHolder == "ag-a"
	})
	disk, err := simdisk.Open(filepath.Join(root, "mpatha"), 1024)
	if err != nil {
		t.Fatal(err)
	}
	a1 := simdisk.Nexus{Initiator: "ag-a", Port: "p1"}
	b1 := simdisk.Nexus{Initiator: "ag-b", Port: "p1"}
	if err := writeBlock(disk, a1); err != nil {
		t.Fatalf("the active host cannot write: %v", err)
	}
	if err := writeBlock(disk, b1); !errors.Is(err, scsipr.ErrReservationConflict) {
		t.Fatalf("the standby wrote: %v", err)
	}
	// Host failure: ag-a's agent stops (its Lease is no longer renewed),
	// but its server goes on writing as fast as it can, as a partitioned
	// host's server would.
	stopWriter := make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for {
			select {
			case <-stopWriter:
				return
			default:
			}
			_ = writeBlock(disk, a1)
			time.Sleep(10 * time.Millisecond)
		}
	}()
	stops["ag-a"]()
	stops["ag-a"] = nil
	eventually(t, "db Online on ag-b holding the disk", func() bool {
		c := get()
		return c.Status.ActiveNode == "ag-b" && c.Status.ReservationHolder == "ag-b" && c.Status.FencingEpoch == 2
	})
	// ag-a is fenced on the disk itself: its writes fail on every path.
	for _, p := range []string{"p1", "p2"} {
		n := simdisk.Nexus{Initiator: "ag-a", Port: p}
		err := writeBlock(disk, n)
		if errors.Is(err, scsipr.ErrUnitAttention) {
			err = writeBlock(disk, n)
		}
		if !errors.Is(err, scsipr.ErrReservationConflict) {
			t.Fatalf("fenced ag-a wrote through %s: %v", p, err)
		}
	}
	if err := writeBlock(disk, b1); err != nil {
		t.Fatalf("the new active cannot write: %v", err)
	}
	close(stopWriter)
	<-writerDone
	// The disk's write log: every write with ag-a's key precedes the first
	// write with ag-b's key. Two hosts never wrote the disk at once.
	log, err := disk.Writes()
	if err != nil {
		t.Fatal(err)
	}
	oldKey, newKey := agents["ag-a"].Key, agents["ag-b"].Key
	var lastA, firstB time.Time
	for _, w := range log {
		if w.Key == oldKey {
			lastA = w.Time
		}
		if w.Key == newKey && firstB.IsZero() {
			firstB = w.Time
		}
	}
	if lastA.IsZero() || firstB.IsZero() || !lastA.Before(firstB) {
		t.Fatalf("ag-a's last write %s, ag-b's first write %s: the writers overlap", lastA, firstB)
	}
	var hn hav1alpha1.HANode
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "ag-b"}, &hn); err != nil {
		t.Fatal(err)
	}
	if len(hn.Status.Servers) != 1 || hn.Status.Servers[0].Reservation != hav1alpha1.ReservationHeld || hn.Status.Servers[0].Epoch != 2 {
		t.Fatalf("ag-b's report %+v", hn.Status.Servers)
	}
	// multipathd was told ag-b's key for mpatha, so a path it reinstates
	// is registered too.
	if st, err := mpath["ag-b"].State(ctx, "mpatha"); err != nil || st.Key != agents["ag-b"].Key || !st.Registered {
		t.Fatalf("multipathd on ag-b has %+v (%v), want ag-b's key, registered", st, err)
	}
	// The host half of monshow: ag-b's HANode shows the disk, its paths,
	// and ag-b's key as the only registrant and the holder; a failed path
	// shows as Failed.
	if err := disk.FailPath(simdisk.Nexus{Initiator: "ag-b", Port: "p2"}, true); err != nil {
		t.Fatal(err)
	}
	keyB := fmt.Sprintf("%016x", uint64(agents["ag-b"].Key))
	eventually(t, "ag-b reports its disk", func() bool {
		var hn hav1alpha1.HANode
		if err := env.Client.Get(ctx, client.ObjectKey{Name: "ag-b"}, &hn); err != nil || len(hn.Status.Devices) != 1 {
			return false
		}
		d := hn.Status.Devices[0]
		return d.Name == "mpatha" && d.HolderKey == keyB && len(d.RegisteredKeys) == 2 && d.RegisteredKeys[0] == keyB &&
			len(d.Paths) == 2 && d.Paths[0].State == hav1alpha1.PathActive && d.Paths[1].State == hav1alpha1.PathFailed
	})
}

// laggingCache serves the objects freeze picks (Leases, HANodes) as an
// informer whose watch stopped delivering: the first copy it read, for
// ever. Everything else passes through.
type laggingCache struct {
	client.Client
	freeze func(client.Object) bool
	mu     sync.Mutex
	frozen map[string]client.Object
}

func (c *laggingCache) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if !c.freeze(obj) {
		return c.Client.Get(ctx, key, obj, opts...)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	id := fmt.Sprintf("%T %s", obj, key)
	if f := c.frozen[id]; f != nil {
		reflect.ValueOf(obj).Elem().Set(reflect.ValueOf(f.DeepCopyObject()).Elem())
		return nil
	}
	if err := c.Client.Get(ctx, key, obj, opts...); err != nil {
		return err
	}
	if c.frozen == nil {
		c.frozen = map[string]client.Object{}
	}
	c.frozen[id] = obj.DeepCopyObject().(client.Object)
	return nil
}

// A lagging cache must not stop a healthy agent's renewals: the agent
// renews from the Lease its own last update returned (the kubelet's
// lease controller does the same), so it never updates from a stale copy
// and never self-fences while the API server answers.
func TestHeartbeat_RenewsPastALaggingCache(t *testing.T) {
	cache := &laggingCache{Client: env.Client, freeze: func(o client.Object) bool { _, ok := o.(*coordinationv1.Lease); return ok }}
	a := &Agent{Client: cache, Node: "lag-a", Namespace: agentNS, BootID: "b1",
		Timing: lease.Timing{Duration: 3 * time.Second, Renew: 200 * time.Millisecond, SelfFence: 1500 * time.Millisecond}}
	// Several self-fence deadlines of renewals (the first HANode write
	// takes a moment).
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
	defer cancel()
	if err := a.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	var l coordinationv1.Lease
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: agentNS, Name: "lag-a"}, &l); err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	failed := a.renewFailed
	a.mu.Unlock()
	if age := time.Since(l.Spec.RenewTime.Time); age > time.Second || failed {
		t.Fatalf("last renewal %v ago, last attempt failed %t: the lagging cache stopped the renewals", age.Round(time.Millisecond), failed)
	}
}

// A disk added to the spec of a server running active here was never
// reserved: its absence of this node's key is no preemption, and the
// server is not stopped (before, the key watch read it as "key preempted").
// A disk the reservation took and lost still is.
func TestWatchKey_AddedDiskIsNoPreemption(t *testing.T) {
	root := t.TempDir()
	stopped := &stoppedPods{}
	a := &Agent{Client: env.Client, Node: "wk-a", Key: KeyFor("test", "wk-a"), SCSI: scsipr.DefaultClient, Runtime: stopped,
		Disks: simdisk.Resolver{Root: root, Initiator: "wk-a", Ports: []string{"p1"}}}
	s := &hav1alpha1.HAServer{ObjectMeta: metav1.ObjectMeta{Namespace: "wk", Name: "db", UID: "u"}}
	if err := env.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "wk"}}); err != nil {
		t.Fatal(err)
	}
	s.Spec.Template.Spec.Containers = []corev1.Container{{Name: "db"}}
	s.Spec.SharedDisks = []hav1alpha1.SharedDisk{{Device: "/dev/mapper/mpatha"}}
	s.Status.ActiveNode = "wk-a"
	s.Status.Hosts = []hav1alpha1.HostStatus{{Node: "wk-a", Role: hav1alpha1.RoleActive, Pod: "db-wk-a"}}
	s.Status.FencingEpoch = 1
	s.Status.TargetNode = "wk-a"
	s.Status.Switchover = &hav1alpha1.Switchover{To: "wk-a", Stage: hav1alpha1.StageReserving}
	s.Status.AddAgentRequest("wk-a", hav1alpha1.AgentReserve, 1, metav1.Now())
	r := hav1alpha1.NodeServerStatus{Key: s.ReportKey()}
	ctx := context.Background()
	a.handleRequests(ctx, s, &r)
	if r.Reservation != hav1alpha1.ReservationHeld || !slices.Equal(r.ReservedDevices, []string{"/dev/mapper/mpatha"}) {
		t.Fatalf("report %+v", r)
	}
	s.Status.Switchover = nil
	s.Spec.SharedDisks = append(s.Spec.SharedDisks, hav1alpha1.SharedDisk{Device: "/dev/mapper/mpathb"})
	a.watchKey(ctx, s, &r)
	if r.KeyPreempted || len(stopped.pods) != 0 {
		t.Fatalf("a disk added to the spec read as a preemption: report %+v, stopped %v", r, stopped.pods)
	}
	// mpatha itself preempted by another host: that is a preemption.
	other := KeyFor("test", "wk-b")
	b := simdisk.Resolver{Root: root, Initiator: "wk-b", Ports: []string{"p1"}}
	disk, err := b.Resolve("/dev/mapper/mpatha")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := scsipr.DefaultClient.Acquire([]scsipr.Disk{disk}, other, scsipr.TypeWriteExclusiveRegistrantsOnly); err != nil {
		t.Fatal(err)
	}
	a.watchKey(ctx, s, &r)
	if !r.KeyPreempted || len(stopped.pods) != 1 {
		t.Fatalf("a preempted key went unnoticed: report %+v, stopped %v", r, stopped.pods)
	}
	// Told on the HAServer, not only in the agent's log and report.
	var evs eventsv1.EventList
	if err := env.Client.List(ctx, &evs, client.InNamespace("wk")); err != nil {
		t.Fatal(err)
	}
	if len(evs.Items) != 1 || evs.Items[0].Reason != "HAMN181-W" || evs.Items[0].Regarding.Name != "db" {
		t.Fatalf("events %+v, want one HAMN181-W on db", evs.Items)
	}
}

// A stop the agent made on its own is written to its HANode before it
// renews again; one the API server refuses for good (here a pod name over
// the field's limit) is given up, so that it does not hold the renewals
// back and get a healthy host counted out.
func TestReportLocalStops(t *testing.T) {
	a := &Agent{Client: env.Client, Node: "ls-node", BootID: "b1", Timing: lease.DefaultTiming}
	s := &hav1alpha1.HAServer{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "u1"}}
	s.Status.Hosts = []hav1alpha1.HostStatus{{Node: "ls-node", Pod: "web-ls-node-abcde"}}
	ctx := context.Background()
	// The agent writes its HANode when it starts (Heartbeat).
	if err := a.updateHANode(ctx, func(*hav1alpha1.HANodeStatus) {}); err != nil {
		t.Fatal(err)
	}
	a.noteLocalStop(s, hav1alpha1.LocalStopSelfFence)
	if !a.reportLocalStops(ctx) {
		t.Fatal("the stop was not reported")
	}
	var hn hav1alpha1.HANode
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "ls-node"}, &hn); err != nil {
		t.Fatal(err)
	}
	r := hn.Status.Report(s.ReportKey())
	if r == nil || r.LocalStop == nil || r.LocalStop.Pod != "web-ls-node-abcde" || r.LocalStop.Reason != hav1alpha1.LocalStopSelfFence {
		t.Fatalf("report %+v", r)
	}
	bad := s.DeepCopy()
	bad.Name, bad.Status.Hosts[0].Pod = "bad", strings.Repeat("p", 300)
	a.noteLocalStop(bad, hav1alpha1.LocalStopSelfFence)
	if !a.reportLocalStops(ctx) || len(a.localStops) != 0 {
		t.Fatalf("a stop the API server refuses for good still holds the renewals back: %d pending", len(a.localStops))
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "ls-node"}, &hn); err != nil {
		t.Fatal(err)
	}
	if r := hn.Status.Report(bad.ReportKey()); r != nil {
		t.Fatalf("the API server took the report it should have refused: %+v", r)
	}
}
