package controllers

import (
	"context"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/controllers/hotstandby"
)

// SetupWithManager registers the controller: HAServers, their pods, the
// agents' Leases and HANodes (mapped to the HAServers of that node), the
// groups, and the servers that share a disk.
func (r *HAServerReconciler) SetupWithManager(mgr ctrl.Manager) error {
	initMetrics()
	if r.AgentNamespace == "" {
		r.AgentNamespace = hav1alpha1.DefaultAgentNamespace
	}
	if r.Clock == nil {
		r.Clock = hotstandby.RealClock{}
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if err := addIndexes(mgr); err != nil {
		return err
	}
	// Expired Leases are told by the lease sight, on time, through a channel.
	expired := make(chan event.GenericEvent)
	r.sight = newLeaseSight(r.Clock, listLeases(mgr.GetAPIReader(), r.AgentNamespace), expired)
	if err := mgr.Add(r.sight); err != nil {
		return err
	}
	byNode := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		return r.serversOnNode(ctx, o.GetName())
	})
	return ctrl.NewControllerManagedBy(mgr).
		For(&hav1alpha1.HAServer{}).
		Owns(&corev1.Pod{}).
		Owns(&policyv1.PodDisruptionBudget{}, builder.OnlyMetadata).
		Watches(&corev1.Node{}, byNode, builder.WithPredicates(cordonChanged)).
		Watches(&coordinationv1.Lease{}, r.leaseEvents()).
		WatchesRawSource(source.Channel(expired, byNode)).
		Watches(&hav1alpha1.HANode{}, byNode).
		Watches(&hav1alpha1.HAServerGroup{}, r.byGroup()).
		Watches(&hav1alpha1.HAServer{}, r.byGroup(), builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
			return o.(*hav1alpha1.HAServer).Spec.Group != nil
		}))).
		Watches(&hav1alpha1.HAServer{}, r.byDisk(), builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
			return len(o.(*hav1alpha1.HAServer).Spec.SharedDisks) > 0
		}))).
		Named("haserver").
		Complete(r)
}

// cordonChanged passes a Node's creation, deletion, and an update that
// cordons or uncordons it (the first step of kubectl drain, and the last
// of the maintenance): its other updates (status heartbeats) are no news.
var cordonChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*corev1.Node)
		n, ok2 := e.ObjectNew.(*corev1.Node)
		return ok1 && ok2 && o.Spec.Unschedulable != n.Spec.Unschedulable
	},
}

// addIndexes indexes HAServers by disk, host node and group, and pods by
// server, for the reads of a reconcile and the mappings of the watches.
func addIndexes(mgr ctrl.Manager) error {
	ctx := context.Background()
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &hav1alpha1.HAServer{}, diskIndex, indexDisks); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &hav1alpha1.HAServer{}, hostIndex, func(o client.Object) []string {
		var nodes []string
		for _, h := range o.(*hav1alpha1.HAServer).Spec.Hosts {
			nodes = append(nodes, h.Node)
		}
		return nodes
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &corev1.Pod{}, podServerIndex, func(o client.Object) []string {
		if name, ok := o.GetLabels()[hav1alpha1.LabelServer]; ok {
			return []string{name}
		}
		return nil
	}); err != nil {
		return err
	}
	return idx.IndexField(ctx, &hav1alpha1.HAServer{}, groupIndex, func(o client.Object) []string {
		if g := o.(*hav1alpha1.HAServer).Spec.Group; g != nil {
			return []string{g.Name}
		}
		return nil
	})
}

// byGroup maps a group, or a member, to every member of the group.
func (r *HAServerReconciler) byGroup() handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		name := o.GetName()
		if s, ok := o.(*hav1alpha1.HAServer); ok {
			if s.Spec.Group == nil {
				return nil
			}
			name = s.Spec.Group.Name
		}
		return r.groupMembers(ctx, o.GetNamespace(), name)
	})
}

// byDisk maps a server to the servers that name one of its disks: a server
// refused for a disk in use is looked at again when the server that holds
// the disk changes or goes.
func (r *HAServerReconciler) byDisk() handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		var out []reconcile.Request
		for _, d := range indexDisks(o) {
			out = append(out, r.requestsFor(ctx, "disk "+d, client.MatchingFields{diskIndex: d})...)
		}
		return out
	})
}

// leaseEvents tells the lease sight of every agent Lease it sees, and
// wakes the servers of a node only for a new Lease, a revived one and a
// deleted one: every renewal would be a reconcile of every server on the
// node every few seconds. (One that runs out is told by the sight.)
func (r *HAServerReconciler) leaseEvents() handler.EventHandler {
	agentLease := func(o client.Object) (*coordinationv1.Lease, bool) {
		l, ok := o.(*coordinationv1.Lease)
		return l, ok && l.Namespace == r.AgentNamespace
	}
	enqueue := func(ctx context.Context, node string, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		for _, req := range r.serversOnNode(ctx, node) {
			q.Add(req)
		}
	}
	return handler.Funcs{
		CreateFunc: func(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if l, ok := agentLease(e.Object); ok {
				r.sight.saw(l)
				enqueue(ctx, l.Name, q)
			}
		},
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if l, ok := agentLease(e.ObjectNew); ok && r.sight.saw(l) {
				enqueue(ctx, l.Name, q)
			}
		},
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if l, ok := agentLease(e.Object); ok {
				enqueue(ctx, l.Name, q)
			}
		},
	}
}
