// Package controllers reconciles HAServers through the hot-standby state
// machine of package hotstandby: it observes pods, node agent Leases and
// HANode reports, feeds what changed to the machine as events, carries out
// its commands (pods, role labels, work for the agents, events) and
// persists the machine's state in the HAServer's status.
package controllers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/controllers/hotstandby"
	"github.com/hamon-ha/hamon/controllers/machinestate"
)

// hostIndex indexes HAServers by the nodes of spec.hosts.
const hostIndex = "spec.hosts.node"

// podServerIndex indexes hamon's pods by the HAServer they belong to, so
// that reading one server's pods does not scan every pod of the namespace.
const podServerIndex = "metadata.labels.ha.hamon.io/server"

const (
	// refusedRecheck is how often a refused server is looked at again
	// without being told: the allow-list (a flag) and the other server
	// holding a disk can change without an event for this one.
	refusedRecheck = 30 * time.Second
	// unsafeStateRetry is how soon a reconcile whose decision broke a safety
	// invariant (and was not acted on) is tried again.
	unsafeStateRetry = time.Second
	// timerSlack wakes the reconcile a little after the machine's next timer,
	// so that the timer has surely expired when it looks.
	timerSlack = 50 * time.Millisecond
	// agentWait is how soon an exit that waits for the agent's next Lease
	// renewal is looked at again (renewals alone wake no reconcile).
	agentWait = 500 * time.Millisecond
)

// HAServerReconciler reconciles HAServers.
type HAServerReconciler struct {
	client.Client
	// Recorder emits events with HA Monitor style message ids as reasons.
	Recorder recorder.EventRecorder
	// Clock tells the time (a fake one in tests).
	Clock hotstandby.Clock
	// Timing holds the state machine's timers.
	Timing hotstandby.Timing
	// MsgWait is twice the agents' watchdog timeout: a host whose agent
	// re-acquired its Lease less than this ago takes over no server without
	// shared disks after a failure (hotstandby.Config.Settling); 0: none waits.
	MsgWait time.Duration
	// AgentNamespace is where the node agents' Leases are (one per node,
	// named after the node).
	AgentNamespace string
	// AllowedDisks says which shared disks each namespace may name; nil
	// allows every disk (the binary always sets it, from --allowed-disks).
	AllowedDisks *hav1alpha1.DiskAllowList
	// APIReader reads from the API server past the cache (set up by
	// SetupWithManager when nil).
	APIReader client.Reader

	// sight says when a host's Lease runs out (set up by SetupWithManager).
	sight *leaseSight
}

// +kubebuilder:rbac:groups=ha.hamon.io,resources=haservers,verbs=get;list;watch
// +kubebuilder:rbac:groups=ha.hamon.io,resources=haservers/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=ha.hamon.io,resources=hanodes,verbs=get;list;watch
// +kubebuilder:rbac:groups=ha.hamon.io,resources=haservergroups,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;create;delete;patch
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile observes one HAServer's world, steps its state machine and
// carries out what it decided. Every step is idempotent: the controller may
// stop anywhere and the next one resumes from the persisted status.
func (r *HAServerReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	var s hav1alpha1.HAServer
	if err := r.Get(ctx, req.NamespacedName, &s); err != nil {
		if apierrors.IsNotFound(err) {
			forgetServer(req.Namespace, req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !s.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // the pods are owned and go with it
	}
	if reason, msg, err := r.invalidSpec(ctx, &s); err != nil {
		return ctrl.Result{}, err
	} else if reason != "" {
		// Not acting at all: no pods, no reservation, no fencing. Looked at
		// again when the spec changes, and every half minute for the
		// allow-list or the other server.
		return ctrl.Result{RequeueAfter: refusedRecheck}, r.refuse(ctx, &s, reason, msg)
	}
	before := s.DeepCopy()
	now := r.Clock.Now()
	group, members, err := groupOf(ctx, r.Client, &s)
	if err != nil {
		return ctrl.Result{}, err
	}
	gate := managerGate(&s, group, members)
	cfg := machinestate.Config(&s, r.Timing, gate)
	prev := machinestate.FromStatus(&s, cfg)
	views, err := r.observe(ctx, &s, hostNodes(cfg, prev))
	if err != nil {
		return ctrl.Result{}, err
	}
	cfg.Cordoned = cordonedNodes(cfg, views)
	cfg.Settling = settlingNodes(views)
	st, cmds := prev, []hotstandby.Command(nil)
	evs := deriveEvents(&s, prev, views)
	evs = append(groupEvents(&s, group, members, gate), evs...)
	for _, ev := range evs {
		var out []hotstandby.Command
		st, out = hotstandby.Step(cfg, st, ev, now)
		cmds = append(cmds, out...)
		if len(out) > 0 {
			log.V(1).Info("Event", "event", ev.String(), "commands", len(out))
		}
	}
	if err := hotstandby.CheckInvariants(cfg, st); err != nil {
		// Never act on a state that breaks a safety rule: keep the old one.
		log.Error(err, "State machine produced an unsafe state; not acting", "haserver", klog.KObj(&s))
		return ctrl.Result{RequeueAfter: unsafeStateRetry}, nil
	}
	machinestate.WriteStatus(&s, st, now)
	recordBootIDs(&s, prev, st, views)
	recordAgentWork(&s, cmds, now)
	s.Status.LocalDecisions = machinestate.LocalDecisions(cfg)
	setConditions(&s, st, cfg, missingNodes(cfg, views))
	s.Status.ObservedGeneration = s.Generation
	// Decide, store, then act: the decision is written with an optimistic
	// lock before any pod is created, deleted or relabelled, so an action
	// always follows a stored decision. A controller that lost its lead
	// while paused, or one that read a stale cache, loses the conflict and
	// does nothing.
	if stored, err := r.storeStatus(ctx, before, &s); err != nil || !stored {
		return ctrl.Result{Requeue: !stored && err == nil}, err //nolint:staticcheck // a conflict means: observe again now
	}
	// Events only for a decision that was persisted: a decision that lost
	// a conflict is taken again, and told once, by the next loop.
	r.emitEvents(&s, cmds)
	observeMetrics(&s, prev, st, cmds) // counted once, like the events
	decided := s.DeepCopy()
	podErr := errors.Join(r.ensureDisruptionBudget(ctx, &s), r.reconcilePods(ctx, &s, st, prev, views))
	// The names of the pods just created (or cleared) are recorded: they
	// say which pod is the server's copy on a host.
	_, namesErr := r.storeStatus(ctx, decided, &s)
	if err := errors.Join(podErr, namesErr); err != nil {
		return ctrl.Result{}, fmt.Errorf("reconciling %s: %w", klog.KObj(&s), err)
	}
	wake := r.nextWake(st, now)
	for _, v := range views {
		if v.awaitAgent && (wake == 0 || wake > agentWait) {
			wake = agentWait // an exit waits for the agent's next renewal
		}
	}
	return ctrl.Result{RequeueAfter: wake}, nil
}

// storeStatus patches s's status from before, with an optimistic lock, when
// it changed. stored is false on a conflict: someone wrote the HAServer
// since it was read, and what was decided from it must not be acted on.
func (r *HAServerReconciler) storeStatus(ctx context.Context, before, s *hav1alpha1.HAServer) (stored bool, err error) {
	if sameStored(&before.Status, &s.Status) {
		return true, nil
	}
	err = r.Status().Patch(ctx, s, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	if apierrors.IsConflict(err) {
		ctrl.LoggerFrom(ctx).V(1).Info("Status conflict; observing again", "error", err.Error())
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("storing the status of %s: %w", klog.KObj(s), err)
	}
	return true, nil
}

// sameStored says two statuses would be stored alike: what differs only
// in memory (a time's nanoseconds, which metav1.Time does not keep) is no
// change. A patch for it would change nothing, yet cost the API server a
// whole update: about two a switchover, a thousand when a lost host moves
// 200 servers.
func sameStored(a, b *hav1alpha1.HAServerStatus) bool {
	if equality.Semantic.DeepEqual(a, b) {
		return true
	}
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

// emitEvents records the machine's Emit commands as Kubernetes events, the
// message id as the reason, so `kubectl get events` reads like HA Monitor's
// syslog.
//
// Messages with the same id in one decision (a standby started on two hosts)
// make one event: the event recorder would fold the second into the first
// as a series (same object, reason and action) and lose its message.
func (r *HAServerReconciler) emitEvents(s *hav1alpha1.HAServer, cmds []hotstandby.Command) {
	var order []string
	notes := map[string][]string{}
	warning := map[string]bool{}
	for _, c := range cmds {
		if e, ok := c.(hotstandby.Emit); ok {
			if _, seen := notes[e.ID]; !seen {
				order = append(order, e.ID)
			}
			notes[e.ID] = append(notes[e.ID], e.ID+" "+e.Message)
			warning[e.ID] = warning[e.ID] || e.Warning
		}
	}
	for _, id := range order {
		kind := corev1.EventTypeNormal
		if warning[id] {
			kind = corev1.EventTypeWarning
		}
		r.Recorder.Eventf(s, nil, kind, id, "HotStandby", "%s", hav1alpha1.Truncate(strings.Join(notes[id], "; "), maxEventNote))
	}
}

// maxEventNote is the API server's limit on an event's note.
const maxEventNote = 1024

// recordAgentWork turns the machine's commands for the node agents into
// status.agentRequests, each with the next id (api/v1alpha1/protocol.go).
func recordAgentWork(s *hav1alpha1.HAServer, cmds []hotstandby.Command, now time.Time) {
	at := metav1.NewTime(now)
	epoch := s.Status.FencingEpoch
	for _, c := range cmds {
		switch c := c.(type) {
		case hotstandby.Reserve:
			s.Status.AddAgentRequest(c.Node, hav1alpha1.AgentReserve, c.Epoch, at)
		case hotstandby.Release:
			s.Status.AddAgentRequest(c.Node, hav1alpha1.AgentRelease, epoch, at)
		case hotstandby.ClearReservation:
			s.Status.AddAgentRequest(c.By, hav1alpha1.AgentClearReservation, epoch, at)
		case hotstandby.FenceHost:
			s.Status.AddAgentRequest(c.Node, hav1alpha1.AgentFenceHost, epoch, at)
		}
		// StartServer, Promote and StopServer are carried out by
		// reconcilePods from the state.
	}
}

// recordBootIDs remembers each live host's boot ID, except a fenced host's:
// its old boot ID is what tells that it has rebooted since. A reboot whose
// end of the server is not yet news (an old pod may still start or run:
// rebootPending) is not recorded either. Recording a new boot ID forgets
// the pod recorded in the old one: whatever it ran went with that boot.
func recordBootIDs(s *hav1alpha1.HAServer, prev, st *hotstandby.State, views map[string]*hostView) {
	for i := range s.Status.Hosts {
		h := &s.Status.Hosts[i]
		v := views[h.Node]
		m := st.Host(h.Node)
		if v == nil || !v.alive || v.bootID == "" || m == nil || m.State == hotstandby.Fenced || rebootPending(prev, h.Node, v) {
			continue
		}
		if h.BootID != "" && h.BootID != v.bootID && (v.pod == nil || h.Pod != v.pod.Name) {
			h.Pod = ""
		}
		h.BootID = v.bootID
	}
}

// rebootPending says node rebooted while the machine had the server
// running there, and the end of that copy is not yet an event: a pod of
// the old boot may still run or start (deriveEvents waits for it).
func rebootPending(prev *hotstandby.State, node string, v *hostView) bool {
	h := prev.Host(node)
	return v.rebooted && v.copyMayRun && h != nil && h.Running && h.State != hotstandby.Fenced
}

// hostNodes are the nodes to observe: configured hosts and any host the
// state still remembers.
func hostNodes(cfg hotstandby.Config, st *hotstandby.State) []string {
	nodes := append([]string(nil), cfg.Hosts...)
	for _, h := range st.Hosts {
		if !slices.Contains(nodes, h.Node) {
			nodes = append(nodes, h.Node)
		}
	}
	return nodes
}

// cordonedNodes are the hosts whose Node is cordoned: being drained.
func settlingNodes(views map[string]*hostView) map[string]time.Time {
	var out map[string]time.Time
	for n, v := range views {
		if !v.settlesAt.IsZero() {
			if out == nil {
				out = map[string]time.Time{}
			}
			out[n] = v.settlesAt
		}
	}
	return out
}

func cordonedNodes(cfg hotstandby.Config, views map[string]*hostView) []string {
	var out []string
	for _, n := range cfg.Hosts {
		if v := views[n]; v != nil && v.cordoned {
			out = append(out, n)
		}
	}
	return out
}

func missingNodes(cfg hotstandby.Config, views map[string]*hostView) []string {
	var out []string
	for _, n := range cfg.Hosts {
		if v := views[n]; v == nil || !v.nodeExists {
			out = append(out, n)
		}
	}
	return out
}

// nextWake is when to look again without being told: the machine's next
// timer. (A Lease that runs out is told by the lease sight.)
func (r *HAServerReconciler) nextWake(st *hotstandby.State, now time.Time) time.Duration {
	next := hotstandby.NextDeadline(st)
	if next.IsZero() {
		return 0
	}
	return max(next.Sub(now)+timerSlack, timerSlack)
}

func (r *HAServerReconciler) groupMembers(ctx context.Context, ns, group string) []reconcile.Request {
	return r.requestsFor(ctx, "group "+group, client.InNamespace(ns), client.MatchingFields{groupIndex: group})
}

func (r *HAServerReconciler) serversOnNode(ctx context.Context, node string) []reconcile.Request {
	return r.requestsFor(ctx, "node "+node, client.MatchingFields{hostIndex: node})
}

// requestsFor lists HAServers (from the cache) and enqueues each.
func (r *HAServerReconciler) requestsFor(ctx context.Context, what string, opts ...client.ListOption) []reconcile.Request {
	var list hav1alpha1.HAServerList
	if err := r.List(ctx, &list, opts...); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing HAServers to reconcile", "for", what)
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for _, s := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&s)})
	}
	return out
}
