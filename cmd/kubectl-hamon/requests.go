package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
)

// notFound turns a NotFound error into a sentence naming the object.
func notFound(err error, kind, ns, name string) error {
	if !apierrors.IsNotFound(err) {
		return err
	}
	if ns == "" {
		return fmt.Errorf("no %s %q", kind, name)
	}
	return fmt.Errorf("no %s %q in namespace %q (give -n NAMESPACE, or see kubectl hamon show -A)", kind, name, ns)
}

// request writes an operator request and waits for its outcome.
func request(ctx context.Context, o *options, action hav1alpha1.RequestAction) int {
	id := fmt.Sprintf("%s-%d", strings.ToLower(string(action)), o.now().UnixNano())
	rq := &hav1alpha1.OperatorRequest{ID: id, Action: action, Node: o.node, Force: o.force}
	for {
		s, err := o.get(ctx)
		if err != nil {
			return o.abort(err)
		}
		if o.node != "" && !hasHost(s, o.node) {
			return o.abort(fmt.Errorf("--node %s: not a host of %s/%s (its hosts: %s)", o.node, s.Namespace, s.Name, hostList(s)))
		}
		s.Spec.Request = rq
		err = o.c.Update(ctx, s)
		if err == nil {
			break
		}
		if !apierrors.IsConflict(err) {
			return o.abort(fmt.Errorf("writing the request: %w", err))
		}
	}
	fmt.Fprintf(o.out, "%s %s/%s: request %s written; waiting for the controller (up to %s)\n", action, o.namespace, o.name, id, o.timeout)
	return waitFor(ctx, o, id, "HAServer "+o.name, "kubectl hamon show "+o.name,
		func() client.ObjectList { return &hav1alpha1.HAServerList{} },
		func(obj client.Object) (*hav1alpha1.RequestStatus, string) {
			s, _ := obj.(*hav1alpha1.HAServer)
			return s.Status.LastRequest, serverStep(s, id)
		})
}

func hasHost(s *hav1alpha1.HAServer, node string) bool {
	for _, h := range s.Spec.Hosts {
		if h.Node == node {
			return true
		}
	}
	return false
}

func hostList(s *hav1alpha1.HAServer) string {
	var names []string
	for _, h := range s.Spec.Hosts {
		names = append(names, h.Node)
	}
	return strings.Join(names, ", ")
}

func groupRequest(ctx context.Context, o *options) int {
	id := fmt.Sprintf("swap-%d", o.now().UnixNano())
	for {
		var g hav1alpha1.HAServerGroup
		if err := o.c.Get(ctx, client.ObjectKey{Namespace: o.namespace, Name: o.group}, &g); err != nil {
			return o.abort(notFound(err, "HAServerGroup", o.namespace, o.group))
		}
		g.Spec.Request = &hav1alpha1.OperatorRequest{ID: id, Action: hav1alpha1.ActionSwap, Node: o.node}
		err := o.c.Update(ctx, &g)
		if err == nil {
			break
		}
		if !apierrors.IsConflict(err) {
			return o.abort(fmt.Errorf("writing the request: %w", err))
		}
	}
	fmt.Fprintf(o.out, "Swap of group %s/%s: request %s written; waiting for the controller (up to %s)\n", o.namespace, o.group, id, o.timeout)
	o.name = o.group
	return waitFor(ctx, o, id, "HAServerGroup "+o.group, "kubectl get haservergroup "+o.group+" -o yaml",
		func() client.ObjectList { return &hav1alpha1.HAServerGroupList{} },
		func(obj client.Object) (*hav1alpha1.RequestStatus, string) {
			g, _ := obj.(*hav1alpha1.HAServerGroup)
			step := "waiting for the controller"
			if r := g.Status.LastRequest; r != nil && r.ID == id && r.Outcome == hav1alpha1.RequestInProgress {
				step = "in progress"
				if r.Message != "" {
					step += ": " + r.Message
				}
			}
			if g.Status.TargetNode != "" {
				step += ", target " + g.Status.TargetNode
			}
			return g.Status.LastRequest, step
		})
}

// waitFor watches the object o.name of newList's kind until its request
// status answers id, showing the steps read from it, and returns the exit
// code: done, refused or failed, or timed out (also when interrupted);
// see is the command that shows the outcome later.
func waitFor(ctx context.Context, o *options, id, what, see string, newList func() client.ObjectList,
	read func(client.Object) (*hav1alpha1.RequestStatus, string)) int {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f := newFollowers()
	m := f.add(wctx, o.c, what, newList, client.InNamespace(o.namespace),
		client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("metadata.name", o.name)})
	p := &progress{w: o.out, tty: o.tty, colour: o.colour, start: o.now()}
	deadline := time.NewTimer(o.timeout)
	defer deadline.Stop()
	var tick <-chan time.Time
	if o.tty {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-f.changed:
			items := m.items()
			if len(items) == 0 {
				p.Done(fmt.Sprintf("%s was deleted while waiting for the answer to %s", what, id), red)
				return exitRefused
			}
			r, step := read(items[0])
			p.Step(o.now(), step)
			if r == nil || r.ID != id {
				continue
			}
			switch r.Outcome {
			case hav1alpha1.RequestDone:
				p.Done("done: "+r.Message, green)
				return exitDone
			case hav1alpha1.RequestRefused, hav1alpha1.RequestFailed:
				p.Done(fmt.Sprintf("%s (%s): %s", strings.ToLower(string(r.Outcome)), r.Reason, r.Message), red)
				return exitRefused
			}
		case <-tick:
			p.Tick(o.now())
		case err := <-f.errs:
			p.Done(fmt.Sprintf("kubectl hamon %s: %v", o.cmd, err), red)
			return exitRefused
		case <-deadline.C:
			p.Done(fmt.Sprintf("timed out after %s waiting for the controller's answer to %s; the request stays "+
				"written and the controller will still act on it (see %s)", o.timeout, id, see), yellow)
			return exitTimeout
		case <-ctx.Done():
			p.Done(fmt.Sprintf("stopped waiting for the answer to %s; the request stays written and the controller "+
				"will still act on it (see %s)", id, see), yellow)
			return exitTimeout
		}
	}
}

// serverStep is one line about where the server stands while request id
// is carried out.
func serverStep(s *hav1alpha1.HAServer, id string) string {
	if sw := s.Status.Switchover; sw != nil {
		step := fmt.Sprintf("%s: %s -> %s, %s", sw.Cause, orDash(sw.From), sw.To, orDash(string(sw.Stage)))
		if sw.Clearing != "" {
			step += " (waiting for " + sw.Clearing + " to be stopped or fenced)"
		}
		return step
	}
	if r := s.Status.LastRequest; r != nil && r.ID == id && r.Outcome == hav1alpha1.RequestInProgress {
		step := "accepted"
		if r.Message != "" {
			step += ": " + r.Message
		}
		return step
	}
	var stopping []string
	for _, h := range s.Status.Hosts {
		if h.State == hav1alpha1.HostStopping || h.State == hav1alpha1.HostStarting {
			stopping = append(stopping, fmt.Sprintf("%s %s", h.Node, h.State))
		}
	}
	step := fmt.Sprintf("%s, active %s", orDash(string(s.Status.Phase)), orDash(s.Status.ActiveNode))
	if len(stopping) > 0 {
		step += ", " + strings.Join(stopping, ", ")
	}
	return step
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
