package agent

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/nodeagent/cri"
)

// DefaultExitRelist is how often the agent lists the runtime's containers
// when the runtime streams no container events: a crash is reported within
// it, where the kubelet's PLEG relists every second.
const DefaultExitRelist = 100 * time.Millisecond

// FollowExits reports the end of each server container on this node as
// the container runtime tells it (containerExit in the server's report):
// on a real node the kubelet writes the end in the pod's status only after
// its next relist (PLEG, every second) and the status write, and the
// controller acts on whichever of the two reaches it first. It is a
// manager Runnable.
func (a *Agent) FollowExits(ctx context.Context) error {
	if a.Exits == nil {
		return nil
	}
	relist := a.ExitRelist
	if relist <= 0 {
		relist = DefaultExitRelist
	}
	log := ctrl.LoggerFrom(ctx).WithName("exits").WithValues("node", a.Node)
	exits := make(chan cri.Exit, 64)
	go func() { _ = a.Exits.FollowExits(ctrl.LoggerInto(ctx, log), relist, exits) }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e := <-exits:
			go a.containerExited(ctrl.LoggerInto(ctx, log), e)
		}
	}
}

// containerExited writes e in the report of the server whose copy on this
// node it was; the end of any other container is none of the agent's
// business.
func (a *Agent) containerExited(ctx context.Context, e cri.Exit) {
	var list hav1alpha1.HAServerList
	if err := a.Client.List(ctx, &list, client.InNamespace(e.Namespace)); err != nil {
		return
	}
	for i := range list.Items {
		s := &list.Items[i]
		if podOf(s, a.Node) != e.Pod || serverContainer(s, a.Node).Name != e.Name {
			continue
		}
		exit := &hav1alpha1.ContainerExit{Pod: e.Pod, PodUID: e.PodUID, ExitCode: e.ExitCode}
		if !e.FinishedAt.IsZero() {
			at := metav1.NewMicroTime(e.FinishedAt)
			exit.FinishedAt = &at
		}
		ctrl.LoggerFrom(ctx).Info("A server's container ended", "haserver", s.ReportKey(), "pod", e.Pod, "exitCode", e.ExitCode)
		containerExits.WithLabelValues(a.Node).Inc()
		wctx, cancel := context.WithTimeout(ctx, a.Timing.Renew)
		defer cancel()
		defer a.lockReport(s.ReportKey())()
		r := a.report(wctx, s.ReportKey(), s.UID)
		r.ContainerExit, r.Time = exit, nowTime(a.now())
		if err := a.writeReport(wctx, r); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "Reporting a container's end (the kubelet will)", "haserver", s.ReportKey())
		}
		return
	}
}
