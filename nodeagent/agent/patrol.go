package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/nodeagent/cri"
)

// Grace periods of a stop the agent makes itself (key preempted,
// self-fence, patrol failure without the API server).
const (
	termCommandTimeout = 30 * time.Second
	stopGrace          = 10 * time.Second
)

// patrolRun is a resident patrolCommand running in one pod's server container.
type patrolRun struct {
	pod    string
	cancel context.CancelFunc
}

// serverContainer names this node's copy of s in the container runtime.
func serverContainer(s *hav1alpha1.HAServer, node string) cri.Container {
	c := cri.Container{Namespace: s.Namespace, Pod: podOf(s, node)}
	if cs := s.Spec.Template.Spec.Containers; len(cs) > 0 {
		c.Name = cs[0].Name
	}
	return c
}

// stopServer stops this node's copy of s through the container runtime,
// without the API server: the termCommand first, as the kubelet's preStop
// hook would, then the container.
func (a *Agent) stopServer(ctx context.Context, s *hav1alpha1.HAServer) error {
	if a.Runtime == nil {
		return errors.New("no container runtime configured (--cri-endpoint)")
	}
	ct := serverContainer(s, a.Node)
	if ct.Pod == "" {
		return nil
	}
	log := ctrl.LoggerFrom(ctx).WithValues("haserver", s.Namespace+"/"+s.Name, "pod", ct.Pod)
	if len(s.Spec.TermCommand) > 0 {
		res, err := a.Runtime.Exec(ctx, ct, s.Spec.TermCommand, termCommandTimeout)
		if err != nil && !errors.Is(err, cri.ErrNoContainer) {
			log.Error(err, "termCommand failed; stopping the container anyway")
		} else if err == nil && res.ExitCode != 0 {
			log.Info("termCommand exited non-zero; stopping the container anyway", "exitCode", res.ExitCode, "output", res.Output)
		}
	}
	return a.Runtime.Stop(ctx, ct, stopGrace)
}

// patrol keeps the resident patrolCommand running in the server's
// container while the server is Online here, and stops it otherwise. Its
// end is reported by patrolEnded.
func (a *Agent) patrol(ctx context.Context, s *hav1alpha1.HAServer, r *hav1alpha1.NodeServerStatus) {
	key := s.ReportKey()
	ct := serverContainer(s, a.Node)
	want := a.Runtime != nil && len(s.Spec.PatrolCommand) > 0 && s.Status.ActiveNode == a.Node &&
		ct.Pod != "" && hostState(s, a.Node) == hav1alpha1.HostOnline &&
		(!r.PatrolFailed || r.PatrolPod != ct.Pod)
	a.mu.Lock()
	defer a.mu.Unlock()
	cur := a.patrols[key]
	if cur != nil && (!want || cur.pod != ct.Pod) {
		cur.cancel()
		delete(a.patrols, key)
		cur = nil
	}
	if !want || cur != nil {
		return
	}
	if a.patrols == nil {
		a.patrols = map[string]*patrolRun{}
	}
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.patrols[key] = &patrolRun{pod: ct.Pod, cancel: cancel}
	nn := types.NamespacedName{Namespace: s.Namespace, Name: s.Name}
	cmd := append([]string(nil), s.Spec.PatrolCommand...)
	go a.runPatrol(pctx, nn, ct, cmd)
}

func hostState(s *hav1alpha1.HAServer, node string) hav1alpha1.HostState {
	for _, h := range s.Status.Hosts {
		if h.Node == node {
			return h.State
		}
	}
	return ""
}

// runPatrol runs the resident command until it ends. Only its end counts
// as a failure; a runtime that cannot start it is retried.
func (a *Agent) runPatrol(ctx context.Context, nn types.NamespacedName, ct cri.Container, cmd []string) {
	log := ctrl.Log.WithName("patrol").WithValues("haserver", nn.String(), "pod", ct.Pod)
	for ctx.Err() == nil {
		patrolRuns.WithLabelValues(a.Node, nn.Namespace, nn.Name, "started").Inc()
		start := time.Now()
		res, err := a.Runtime.Exec(ctx, ct, cmd, 0)
		if ctx.Err() != nil {
			return // no longer wanted: the server stopped or moved
		}
		if err == nil {
			patrolSeconds.WithLabelValues(a.Node).Observe(time.Since(start).Seconds())
		}
		if err != nil {
			log.Error(err, "Could not run the patrolCommand; trying again")
			select {
			case <-ctx.Done():
				return
			case <-time.After(a.Timing.Renew):
			}
			continue
		}
		// A command that ended with its container is not the patrol's
		// finding: the container's end is the server's, which the kubelet
		// reports.
		if running, err := a.Runtime.Running(ctx, ct); err == nil && !running {
			log.V(1).Info("The patrolCommand ended with its container", "exitCode", res.ExitCode)
			patrolRuns.WithLabelValues(a.Node, nn.Namespace, nn.Name, "container-ended").Inc()
			return
		}
		patrolRuns.WithLabelValues(a.Node, nn.Namespace, nn.Name, "failed").Inc()
		msg := fmt.Sprintf("patrolCommand exited with code %d", res.ExitCode)
		if res.Output != "" {
			msg += ": " + res.Output
		}
		a.patrolEnded(ctx, nn, ct, hav1alpha1.TruncateMessage(msg))
		return
	}
}

// patrolEnded reports a resident patrol's end to the controller. When the
// report cannot be written (the API server is away), the agent applies the
// controller's decision made in advance (status.localDecisions): stop the
// failed active server here, or leave it for an operator.
func (a *Agent) patrolEnded(ctx context.Context, nn types.NamespacedName, ct cri.Container, msg string) {
	log := ctrl.Log.WithName("patrol").WithValues("haserver", nn.String(), "pod", ct.Pod)
	log.Info("Resident patrolCommand ended: a server failure", "message", msg)
	defer a.lockReport(hav1alpha1.ReportKey(nn.Namespace, nn.Name))()
	r := a.report(ctx, hav1alpha1.ReportKey(nn.Namespace, nn.Name), "")
	r.PatrolFailed, r.PatrolPod, r.Message = true, ct.Pod, msg
	r.Time = nowTime(a.now())
	wctx, cancel := context.WithTimeout(ctx, a.Timing.Renew)
	defer cancel()
	err := a.writeReport(wctx, r)
	if err == nil {
		return
	}
	log.Error(err, "Could not report the patrol failure")
	var s hav1alpha1.HAServer
	if gerr := a.Client.Get(ctx, nn, &s); gerr != nil { // the cache answers while the API is away
		return
	}
	if s.Status.ActiveNode == a.Node && s.Status.LocalDecisions != nil && s.Status.LocalDecisions.StopFailedActive {
		log.Info("Stopping the failed server here: the controller cannot be told")
		if err := a.stopServer(ctx, &s); err != nil {
			log.Error(err, "Stopping the failed server")
			return
		}
		a.noteLocalStop(&s, hav1alpha1.LocalStopPatrolFailure)
	}
}
