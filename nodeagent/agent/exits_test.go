package agent

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/nodeagent/cri"
	"github.com/hamon-ha/hamon/nodeagent/lease"
)

// exitFeed is a runtime whose container ends the test tells.
type exitFeed chan cri.Exit

func (f exitFeed) FollowExits(ctx context.Context, _ time.Duration, out chan<- cri.Exit) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case e := <-f:
			out <- e
		}
	}
}

// The end of a server's container on this node, as the runtime tells it,
// goes into the server's report; the end of any other container (another
// pod, another container of the pod) does not.
func TestFollowExits_ServerContainerEndReported(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := "exits"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	s := &hav1alpha1.HAServer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db"}}
	s.Spec.Mode = hav1alpha1.ModeMonitor
	s.Spec.Hosts = []hav1alpha1.HostSpec{{Node: "ex-a"}, {Node: "ex-b"}}
	s.Spec.Template.Spec.Containers = []corev1.Container{{Name: "server", Image: "db"}}
	if err := env.Client.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	s.Status.Hosts = []hav1alpha1.HostStatus{{Node: "ex-a", Pod: "db-ex-a-abcde"}, {Node: "ex-b"}}
	if err := env.Client.Status().Update(ctx, s); err != nil {
		t.Fatal(err)
	}
	feed := exitFeed(make(chan cri.Exit))
	a := &Agent{Client: env.Client, APIReader: env.Client, Node: "ex-a", Timing: lease.DefaultTiming, Exits: feed}
	go func() { _ = a.FollowExits(ctx) }()
	at := time.Now().Add(-time.Second)
	for _, e := range []cri.Exit{
		{Container: cri.Container{Namespace: ns, Pod: "db-ex-a-old", Name: "server"}, ExitCode: 1},
		{Container: cri.Container{Namespace: ns, Pod: "db-ex-a-abcde", Name: "sidecar"}, ExitCode: 1},
		{Container: cri.Container{Namespace: ns, Pod: "db-ex-a-abcde", Name: "server"}, PodUID: "pod-uid", ExitCode: 137, FinishedAt: at},
	} {
		feed <- e
	}
	var r *hav1alpha1.NodeServerStatus
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var hn hav1alpha1.HANode
		if err := env.Client.Get(ctx, client.ObjectKey{Name: "ex-a"}, &hn); err == nil {
			if r = hn.Status.Report(s.ReportKey()); r != nil && r.ContainerExit != nil {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r == nil || r.ContainerExit == nil {
		t.Fatal("the server container's end was not reported")
	}
	if x := r.ContainerExit; x.Pod != "db-ex-a-abcde" || x.PodUID != "pod-uid" || x.ExitCode != 137 || x.FinishedAt == nil ||
		!x.FinishedAt.Time.Equal(at.Truncate(time.Microsecond)) {
		t.Fatalf("reported %+v, want the server container's SIGKILL at %s", x, at)
	}
}
