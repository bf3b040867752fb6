package simhost

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hamon-ha/hamon/hack/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env, nil) }

// runHost starts a simulated host named node against the real API server.
func runHost(t *testing.T, node string) *Host {
	t.Helper()
	h := &Host{Client: env.Client, Node: node, Dir: t.TempDir(), Interval: 50 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := h.Run(ctx); err != nil {
			t.Errorf("host %s: %v", node, err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return h
}

func shPod(ns, name, node, script, preStop string, grace int64) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PodSpec{
			NodeName: node, RestartPolicy: corev1.RestartPolicyNever, TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{Name: "server", Image: "sim", Command: []string{"/bin/sh", "-c", script}}},
		},
	}
	if preStop != "" {
		p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{
			Exec: &corev1.ExecAction{Command: []string{"/bin/sh", "-c", preStop}}}}
	}
	return p
}

// The simulated host handles a deletion as a kubelet does: pods on one
// node terminate and start concurrently (one pod's long preStop hook delays
// no other pod), a pod being deleted keeps its container running through
// the hook and is removed only after its container is reported terminated,
// a container that already exited gets no preStop hook, and the grace
// period bounds the whole termination.
func TestDeletion_AsAKubeletDoes(t *testing.T) {
	ctx := context.Background()
	const ns, node = "simhost-del", "sim-del"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	h := runHost(t, node)
	marks := t.TempDir()
	get := func(name string) (*corev1.Pod, bool) {
		var p corev1.Pod
		err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &p)
		if apierrors.IsNotFound(err) {
			return nil, false
		}
		if err != nil {
			t.Fatal(err)
		}
		return &p, true
	}
	running := func(name string) bool {
		p, ok := get(name)
		return ok && p.Status.Phase == corev1.PodRunning
	}
	eventually := func(what string, cond func() bool) { t.Helper(); testenv.Eventually(t, 20*time.Second, what, cond) }
	create := func(p *corev1.Pod) {
		t.Helper()
		if err := env.Client.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}

	slow := shPod(ns, "slow", node, "trap 'exit 0' TERM; while :; do sleep 0.1; done",
		"sleep 3; touch "+filepath.Join(marks, "slow.prestop"), 30)
	create(slow)
	eventually("slow runs", func() bool { return running("slow") })
	if err := env.Client.Delete(ctx, slow); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	create(shPod(ns, "then", node, "sleep 60", "", 1)) // listed after "slow", as the API server lists by name
	eventually("then runs while slow's preStop hook runs", func() bool { return running("then") })
	if p, ok := get("slow"); !ok || p.DeletionTimestamp == nil || len(p.Status.ContainerStatuses) == 0 ||
		p.Status.ContainerStatuses[0].State.Running == nil {
		t.Fatalf("slow after %v: %+v, want still there, being deleted, its container running", time.Since(deleted), p)
	}
	eventually("slow is gone", func() bool { _, ok := get("slow"); return !ok })
	if took := time.Since(deleted); took < 3*time.Second {
		t.Fatalf("slow was gone %v after its deletion: before its 3 s preStop hook ended", took)
	}
	if _, err := os.Stat(filepath.Join(marks, "slow.prestop")); err != nil {
		t.Fatalf("slow's preStop hook did not run: %v", err)
	}

	create(shPod(ns, "exited", node, "exit 0", "touch "+filepath.Join(marks, "exited.prestop"), 30))
	eventually("exited has exited", func() bool { p, ok := get("exited"); return ok && p.Status.Phase == corev1.PodSucceeded })
	p, _ := get("exited")
	if err := env.Client.Delete(ctx, p); err != nil {
		t.Fatal(err)
	}
	eventually("exited is gone", func() bool { _, ok := get("exited"); return !ok })
	if _, err := os.Stat(filepath.Join(marks, "exited.prestop")); !os.IsNotExist(err) {
		t.Fatalf("a preStop hook ran in an exited container (%v)", err)
	}

	stubborn := shPod(ns, "stubborn", node, "trap '' TERM; while :; do sleep 0.1; done", "sleep 60", 2)
	create(stubborn)
	eventually("stubborn runs", func() bool { return running("stubborn") })
	if err := env.Client.Delete(ctx, stubborn); err != nil {
		t.Fatal(err)
	}
	deleted = time.Now()
	eventually("stubborn is gone", func() bool { _, ok := get("stubborn"); return !ok })
	// Grace 2 s for the hook, then at least 2 s for SIGTERM, then SIGKILL.
	if took := time.Since(deleted); took > 10*time.Second {
		t.Fatalf("stubborn took %v to go: the grace period of 2 s was not honoured", took)
	}
	_ = h
}

// failingStatus fails the first status writes, as an API server out of
// reach does.
type failingStatus struct {
	client.Client
	mu    sync.Mutex
	fails int
}

func (f *failingStatus) Status() client.SubResourceWriter {
	return &failingStatusWriter{SubResourceWriter: f.Client.Status(), f: f}
}

type failingStatusWriter struct {
	client.SubResourceWriter
	f *failingStatus
}

func (w *failingStatusWriter) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	w.f.mu.Lock()
	fail := w.f.fails > 0
	if fail {
		w.f.fails--
	}
	w.f.mu.Unlock()
	if fail {
		return errors.New("the API server is away")
	}
	return w.SubResourceWriter.Update(ctx, obj, opts...)
}

// A container that started while its status could not be written is
// reported Running once the API server answers, as a kubelet's status
// manager does; it is never reported as a start error. (Before, the pod
// stayed Pending with its process running, or was marked StartError.)
func TestStart_StatusWrittenAgainAfterAFailedWrite(t *testing.T) {
	ctx := context.Background()
	const ns, node = "simhost-st", "sim-st"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	h := &Host{Client: &failingStatus{Client: env.Client, fails: 3}, Node: node, Dir: t.TempDir(), Interval: 50 * time.Millisecond}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = h.Run(rctx) }()
	t.Cleanup(func() { cancel(); <-done })
	if err := env.Client.Create(ctx, shPod(ns, "srv", node, "while :; do sleep 0.1; done", "", 1)); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "the pod reported Running and Ready", func() bool {
		var p corev1.Pod
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "srv"}, &p); err != nil {
			return false
		}
		if cs := p.Status.ContainerStatuses; len(cs) == 1 && cs[0].State.Terminated != nil {
			t.Fatalf("reported terminated (%s) though its process started", cs[0].State.Terminated.Reason)
		}
		return p.Status.Phase == corev1.PodRunning && podReadyForTest(&p)
	})
}

func podReadyForTest(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
