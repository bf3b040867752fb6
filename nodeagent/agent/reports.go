package agent

import (
	"context"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
)

// Reports: the agent's word on each server, kept in its node's HANode
// (status.servers). The agent is their only writer, so it keeps the last
// report it wrote of each server in memory and reads that first: the cache
// may not have caught up with its own last write, and a report read from
// there would answer a request a second time.
//
// Servers are handled side by side (a lost host's standby takes every
// reservation at once): a read-modify-write of one server's report holds
// that server's lock only, and the reports written meanwhile go to the
// API server together, in one HANode patch (a group commit), instead of
// one patch each that would conflict with the others.

// reportStripes is the number of locks the servers' reports are spread over.
const reportStripes = 64

// reportStore holds the last written reports and the writes in progress.
type reportStore struct {
	stripes [reportStripes]sync.Mutex

	mu      sync.Mutex
	written map[string]hav1alpha1.NodeServerStatus
	// pending is the batch the next HANode patch writes; writing says a
	// writer is patching (it takes pending when it is done).
	pending *reportBatch
	writing bool
}

// reportBatch is reports written in one HANode patch.
type reportBatch struct {
	reports map[string]hav1alpha1.NodeServerStatus
	done    chan struct{}
	// errs is each report's outcome (nil: written).
	errs map[string]error
}

// lockReport locks the read-modify-write of the report with key (while
// Reconcile, a patrol's end or a path failure changes it) and returns the
// unlock.
func (a *Agent) lockReport(key string) func() {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	m := &a.reports.stripes[h.Sum32()%reportStripes]
	m.Lock()
	return m.Unlock
}

// report reads this node's report on the server with key and uid (""
// when not known): the last one this agent wrote, or the HANode's. A report
// about an earlier HAServer of the same name is not about this one, which
// starts with an empty report.
func (a *Agent) report(ctx context.Context, key string, uid types.UID) hav1alpha1.NodeServerStatus {
	fresh := hav1alpha1.NodeServerStatus{Key: key, ServerUID: string(uid)}
	a.reports.mu.Lock()
	mem, ok := a.reports.written[key]
	a.reports.mu.Unlock()
	r := &mem
	if !ok {
		var hn hav1alpha1.HANode
		if err := a.Client.Get(ctx, client.ObjectKey{Name: a.Node}, &hn); err != nil {
			return fresh
		}
		r = hn.Status.Report(key)
	}
	switch {
	case r == nil:
		return fresh
	case uid == "":
		return *r
	case r.ServerUID != "" && r.ServerUID != string(uid):
		return fresh
	}
	out := *r
	out.ServerUID = string(uid)
	return out
}

// writeReport stores one server's report in this node's HANode, with the
// others written at the same moment, and returns when the patch that holds
// it is done.
func (a *Agent) writeReport(ctx context.Context, r hav1alpha1.NodeServerStatus) error {
	if ns, name, ok := strings.Cut(r.Key, "/"); ok && r.Reservation != "" && r.Reservation != hav1alpha1.ReservationNotRequired {
		// Only servers with shared disks have a reservation state: a
		// server without one has no series (an alert on "not held" must
		// not fire for it).
		held := 0.0
		if r.Reservation == hav1alpha1.ReservationHeld {
			held = 1
		}
		reservationHeld.WithLabelValues(a.Node, ns, name).Set(held)
	}
	st := &a.reports
	st.mu.Lock()
	if st.pending == nil {
		st.pending = &reportBatch{reports: map[string]hav1alpha1.NodeServerStatus{}, done: make(chan struct{})}
	}
	b := st.pending
	b.reports[r.Key] = r
	lead := !st.writing
	st.writing = true
	st.mu.Unlock()
	if lead {
		// This caller writes batches until none is left (each a patch);
		// the others wait for theirs.
		go a.writeBatches(context.WithoutCancel(ctx))
	}
	select {
	case <-b.done:
		return b.errs[r.Key]
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writeBatches patches the HANode with each pending batch in turn.
func (a *Agent) writeBatches(ctx context.Context) {
	st := &a.reports
	for {
		st.mu.Lock()
		b := st.pending
		st.pending = nil
		if b == nil {
			st.writing = false
			st.mu.Unlock()
			return
		}
		st.mu.Unlock()
		b.errs = map[string]error{}
		keys := make([]string, 0, len(b.reports))
		for k := range b.reports {
			keys = append(keys, k)
		}
		slices.Sort(keys) // a stable order for a new node's list
		// Bounded: the writer serves callers that wait at most a renew
		// interval (a stop made during an outage must be reported before
		// the next renewal), and a request sent on a connection the API
		// server dropped could otherwise hang for tens of seconds, with
		// every report queued behind it and the host counted out.
		bctx, cancel := context.WithTimeout(ctx, a.reportWriteTimeout())
		err := a.patchReports(bctx, b.reports, keys)
		if apierrors.IsInvalid(err) && len(keys) > 1 {
			// One report the API server refuses must not take the others
			// down with it: each is written alone.
			for _, k := range keys {
				b.errs[k] = a.patchReports(bctx, b.reports, []string{k})
			}
		} else {
			for _, k := range keys {
				b.errs[k] = err
			}
		}
		cancel()
		st.mu.Lock()
		if st.written == nil {
			st.written = map[string]hav1alpha1.NodeServerStatus{}
		}
		for _, k := range keys {
			if b.errs[k] == nil {
				st.written[k] = b.reports[k]
			}
		}
		st.mu.Unlock()
		close(b.done)
	}
}

// patchReports writes the reports with keys in one HANode patch.
func (a *Agent) patchReports(ctx context.Context, reports map[string]hav1alpha1.NodeServerStatus, keys []string) error {
	return a.updateHANode(ctx, func(hs *hav1alpha1.HANodeStatus) {
		for _, k := range keys {
			r := reports[k]
			if i := slices.IndexFunc(hs.Servers, func(x hav1alpha1.NodeServerStatus) bool { return x.Key == k }); i >= 0 {
				hs.Servers[i] = r
			} else {
				hs.Servers = append(hs.Servers, r)
			}
		}
	})
}

// reportWriteTimeout bounds one HANode patch of reports: a renew interval
// (5 s when none is set).
func (a *Agent) reportWriteTimeout() time.Duration {
	if a.Timing.Renew > 0 {
		return a.Timing.Renew
	}
	return 5 * time.Second
}
