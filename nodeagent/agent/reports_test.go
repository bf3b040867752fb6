package agent

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
)

// patchCounter counts the status patches sent through it.
type patchCounter struct {
	client.Client
	patches atomic.Int32
}

func (c *patchCounter) Status() client.SubResourceWriter { return counted{c.Client.Status(), c} }

type counted struct {
	client.SubResourceWriter
	c *patchCounter
}

func (w counted) Patch(ctx context.Context, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
	w.c.patches.Add(1)
	return w.SubResourceWriter.Patch(ctx, o, p, opts...)
}

// Many servers' reports written at once (a lost host's standby answers a
// reservation for each) all reach the HANode, the last word of each, in
// fewer patches than reports: written together, not one conflict after
// another.
func TestWriteReport_ManyAtOnceAllLand(t *testing.T) {
	c := &patchCounter{Client: env.Client}
	a := &Agent{Client: c, APIReader: env.Client, Node: "reports-node"}
	const servers = 60
	ctx := context.Background()
	for round := range 2 {
		var wg sync.WaitGroup
		errs := make(chan error, servers)
		for i := range servers {
			wg.Go(func() {
				key := fmt.Sprintf("ns/s%02d", i)
				defer a.lockReport(key)()
				r := a.report(ctx, key, "")
				r.Epoch = int64(round + 1)
				r.Message = fmt.Sprintf("round %d", round)
				errs <- a.writeReport(ctx, r)
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	var hn hav1alpha1.HANode
	if err := env.Client.Get(ctx, client.ObjectKey{Name: a.Node}, &hn); err != nil {
		t.Fatal(err)
	}
	if len(hn.Status.Servers) != servers {
		t.Fatalf("%d reports on the HANode, want %d", len(hn.Status.Servers), servers)
	}
	for _, r := range hn.Status.Servers {
		if r.Epoch != 2 || r.Message != "round 1" {
			t.Fatalf("report %s: epoch %d %q, want the second round's", r.Key, r.Epoch, r.Message)
		}
		if mem := a.report(ctx, r.Key, ""); mem.Epoch != 2 {
			t.Fatalf("the agent reads its own last report of %s as epoch %d", r.Key, mem.Epoch)
		}
	}
	if n := c.patches.Load(); n >= 2*servers {
		t.Fatalf("%d patches for %d reports: none written together", n, 2*servers)
	}
	t.Logf("%d reports in %d patches", 2*servers, c.patches.Load())
}

// The agent reads its own last report, not the cache's older copy: read
// from a cache that lags, an answered request would look unanswered and
// be carried out twice.
func TestReport_OwnLastWriteBeatsALaggingCache(t *testing.T) {
	ctx := context.Background()
	stale := &laggingCache{Client: env.Client, freeze: func(o client.Object) bool { _, ok := o.(*hav1alpha1.HANode); return ok }}
	a := &Agent{Client: stale, APIReader: env.Client, Node: "lagging-node"}
	key := "ns/db"
	first := a.report(ctx, key, "u1") // the cache now holds an HANode without it
	first.Answers = []hav1alpha1.AgentAnswer{{ID: 1, Action: hav1alpha1.AgentRelease, Result: hav1alpha1.AnswerDone}}
	if err := a.writeReport(ctx, first); err != nil {
		t.Fatal(err)
	}
	if got := a.report(ctx, key, "u1"); got.LastAnswered() != 1 {
		t.Fatalf("read back %+v: the answer was lost to the lagging cache", got.Answers)
	}
	if got := a.report(ctx, key, "u2"); got.LastAnswered() != 0 {
		t.Fatalf("a new server of the same name reads the old one's answers %+v", got.Answers)
	}
}

// A report the API server refuses for good, written together with others,
// does not take them down with it: each is written alone then.
func TestWriteReport_ARefusedReportSparesTheOthers(t *testing.T) {
	ctx := context.Background()
	a := &Agent{Client: env.Client, APIReader: env.Client, Node: "refused-node"}
	if err := a.updateHANode(ctx, func(*hav1alpha1.HANodeStatus) {}); err != nil {
		t.Fatal(err)
	}
	// Both wait for the batch the first one's writer takes: the bad one
	// joins the first batch or the next.
	good := hav1alpha1.NodeServerStatus{Key: "ns/good", Epoch: 3}
	bad := hav1alpha1.NodeServerStatus{Key: "ns/bad", LocalStop: &hav1alpha1.LocalStop{Pod: strings.Repeat("p", 300), Reason: hav1alpha1.LocalStopSelfFence}}
	errs := make(chan error, 2)
	for _, r := range []hav1alpha1.NodeServerStatus{bad, good} {
		go func() { errs <- a.writeReport(ctx, r) }()
	}
	var refused int
	for range 2 {
		if err := <-errs; err != nil {
			refused++
		}
	}
	var hn hav1alpha1.HANode
	if err := env.Client.Get(ctx, client.ObjectKey{Name: a.Node}, &hn); err != nil {
		t.Fatal(err)
	}
	if r := hn.Status.Report("ns/good"); r == nil || r.Epoch != 3 || refused != 1 || hn.Status.Report("ns/bad") != nil {
		t.Fatalf("good report %+v, %d refused, bad report %+v", r, refused, hn.Status.Report("ns/bad"))
	}
}
