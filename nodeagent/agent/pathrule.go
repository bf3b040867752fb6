package agent

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/nodeagent/pathwatch"
)

// phaseOf says where a server stands on this node, for the path rule of
// REFERENCE.md 1.8; ok is false when the server plays no part here.
func phaseOf(s *hav1alpha1.HAServer, node string) (pathwatch.Phase, bool) {
	if sw := s.Status.Switchover; sw != nil && s.Status.TargetNode == node {
		return pathwatch.Switching, true
	}
	i := slices.IndexFunc(s.Status.Hosts, func(h hav1alpha1.HostStatus) bool { return h.Node == node })
	if i < 0 {
		return 0, false
	}
	h := s.Status.Hosts[i]
	switch {
	case h.State == hav1alpha1.HostStopping && h.ActiveCopy:
		return pathwatch.ActiveTerminating, true
	case h.State == hav1alpha1.HostOnline || (h.Role == hav1alpha1.RoleActive && h.Running):
		return pathwatch.ActiveRunning, true
	case h.Role == hav1alpha1.RoleStandby || h.State == hav1alpha1.HostStopping:
		return pathwatch.Standby, true
	}
	return 0, false
}

// phaseHere is phaseOf, and one thing the status cannot say yet: an active
// copy whose container has ended by itself (the server's own normal
// termination, or a crash the controller has not taken in yet) is
// terminating. 7.5.8 counts every termination of the active server (normal,
// planned, abnormal) as "terminating", and the one the server starts itself
// reaches the status only after the kubelet and the controller have seen
// it, while the reservation is still held. A status of an earlier boot of
// this host says nothing of the containers of this one.
func (a *Agent) phaseHere(ctx context.Context, s *hav1alpha1.HAServer) (pathwatch.Phase, bool) {
	p, ok := phaseOf(s, a.Node)
	if !ok || p != pathwatch.ActiveRunning || len(s.Spec.SharedDisks) == 0 || a.Runtime == nil {
		return p, ok
	}
	i := slices.IndexFunc(s.Status.Hosts, func(h hav1alpha1.HostStatus) bool { return h.Node == a.Node })
	if h := s.Status.Hosts[i]; h.Pod == "" || (h.BootID != "" && a.BootID != "" && h.BootID != a.BootID) {
		return p, ok
	}
	ctx, cancel := context.WithTimeout(ctx, runtimeCheckTimeout)
	defer cancel()
	if running, err := a.Runtime.Running(ctx, serverContainer(s, a.Node)); err == nil && !running {
		return pathwatch.ActiveTerminating, true
	}
	return p, ok
}

// runtimeCheckTimeout bounds the container runtime's answer to the path
// rule's question: a hung runtime must not hold up the path watch.
const runtimeCheckTimeout = 2 * time.Second

// applyPathRule decides, for every server of this node, what the path
// states of its disks mean in its phase, and acts: KAMN725-W and KAMN726-E
// are logged and put in the server's report; the OS is terminated only
// when every path of a disk failed while the active server terminates.
func (a *Agent) applyPathRule(ctx context.Context, servers []hav1alpha1.HAServer, probes map[string][]pathwatch.PathResult) {
	log := ctrl.LoggerFrom(ctx).WithValues("node", a.Node)
	for i := range servers {
		s := &servers[i]
		phase, ok := a.phaseHere(ctx, s)
		if !ok {
			continue
		}
		for _, d := range s.Spec.SharedDisks {
			disk, err := a.Disks.Resolve(d.Device)
			if err != nil {
				continue
			}
			dec := pathwatch.Decide(phase, disk.Name, probes[disk.Name])
			if !dec.Warn {
				continue
			}
			log.Info(dec.Message, "haserver", s.ReportKey())
			if a.reportPathFailure(ctx, s, dec.Message) {
				id := "KAMN725-W"
				if dec.AllFailed {
					id = "KAMN726-E"
				}
				a.tell(ctx, s, "PathWatch", id, "on "+a.Node+": "+strings.TrimPrefix(dec.Message, "KAMN725-W "))
			}
			if dec.TerminateOS {
				_ = a.terminateOS(ctx, terminationAllPaths, fmt.Sprintf("%s (%s)", dec.Message, s.ReportKey())) // logged there
				return
			}
		}
	}
}

// reportPathFailure puts msg in the server's report; new says it was not
// there already (so it is news for an event too).
func (a *Agent) reportPathFailure(ctx context.Context, s *hav1alpha1.HAServer, msg string) (news bool) {
	defer a.lockReport(s.ReportKey())()
	r := a.report(ctx, s.ReportKey(), s.UID)
	if r.Message == hav1alpha1.TruncateMessage(msg) {
		return false
	}
	r.Message, r.Time = hav1alpha1.TruncateMessage(msg), nowTime(a.now())
	if err := a.writeReport(ctx, r); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Reporting a path failure", "haserver", s.ReportKey())
	}
	return true
}

// terminateOS says on the HANode that this host is terminating its OS
// (fencing Terminating; bounded, the termination does not wait on the API
// server), then terminates it.
func (a *Agent) terminateOS(ctx context.Context, reason, why string) error {
	osTerminations.WithLabelValues(a.Node, reason).Inc()
	if a.Client != nil {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), eventWait)
		err := a.updateHANode(wctx, func(st *hav1alpha1.HANodeStatus) {
			st.Fencing = hav1alpha1.FencingTerminating
		})
		cancel()
		if err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "Recording the OS termination on the HANode")
		}
	}
	if err := a.OS.Terminate(why); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Terminating the OS failed", "why", why)
		return err
	}
	return nil
}
