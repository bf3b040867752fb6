package controllers

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/controllers/hotstandby"
)

// HAServerGroupReconciler keeps a group's status (its members, where it is
// active) and carries out the group's Swap request (monswap -g): it picks
// the target node and publishes it in status.targetNode; each member's own
// reconcile then switches to it (see groupEvents).
type HAServerGroupReconciler struct {
	client.Client
	// Clock tells the time.
	Clock hotstandby.Clock
}

// +kubebuilder:rbac:groups=ha.hamon.io,resources=haservergroups,verbs=get;list;watch
// +kubebuilder:rbac:groups=ha.hamon.io,resources=haservergroups/status,verbs=get;update;patch

// Reconcile updates one group's status.
func (r *HAServerGroupReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var g hav1alpha1.HAServerGroup
	if err := r.Get(ctx, req.NamespacedName, &g); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := g.DeepCopy()
	var list hav1alpha1.HAServerList
	if err := r.List(ctx, &list, client.InNamespace(g.Namespace), client.MatchingFields{groupIndex: g.Name}); err != nil {
		return ctrl.Result{}, err
	}
	members := list.Items
	summarizeGroup(&g, members)
	r.groupRequest(&g, members)
	skipPending := applySkipUnits(&g, members)
	setGroupConditions(&g, members, skipPending)
	g.Status.ObservedGeneration = g.Generation
	if equality.Semantic.DeepEqual(before.Status, g.Status) {
		return ctrl.Result{}, nil
	}
	if err := r.Status().Patch(ctx, &g, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return ctrl.Result{}, fmt.Errorf("patching the status of group %s: %w", g.Name, err)
	}
	return ctrl.Result{}, nil
}

// summarizeGroup lists the members and derives the group's phase.
func summarizeGroup(g *hav1alpha1.HAServerGroup, members []hav1alpha1.HAServer) {
	g.Status.Members = nil
	active, phase := "", hav1alpha1.PhasePending
	for i, m := range members {
		g.Status.Members = append(g.Status.Members, hav1alpha1.GroupMemberStatus{
			Name: m.Name, ActiveNode: m.Status.ActiveNode, Phase: m.Status.Phase, Image: serverImage(&members[i]),
		})
		if i == 0 {
			active, phase = m.Status.ActiveNode, m.Status.Phase
		}
		if m.Status.ActiveNode != active {
			active = ""
		}
		if m.Status.Phase != phase {
			phase = worstPhase(phase, m.Status.Phase)
		}
	}
	g.Status.ActiveNode, g.Status.Phase = active, phase
}

// worstPhase is the phase that matters more to a person looking at a group.
func worstPhase(a, b hav1alpha1.Phase) hav1alpha1.Phase {
	order := []hav1alpha1.Phase{hav1alpha1.PhaseFailed, hav1alpha1.PhaseSwitchingOver, hav1alpha1.PhaseWaiting,
		hav1alpha1.PhaseStarting, hav1alpha1.PhasePending, hav1alpha1.PhaseStopped, hav1alpha1.PhaseOnline}
	for _, p := range order {
		if a == p || b == p {
			return p
		}
	}
	return a
}

// groupRequest carries out monswap -g: answered once per id; done when every
// member is Online on the target.
func (r *HAServerGroupReconciler) groupRequest(g *hav1alpha1.HAServerGroup, members []hav1alpha1.HAServer) {
	now := metav1.NewTime(r.Clock.Now())
	rq := g.Spec.Request
	last := g.Status.LastRequest
	if rq != nil && (last == nil || last.ID != rq.ID) {
		var views []hotstandby.MemberView
		fallback := ""
		for i := range members {
			views = append(views, memberView(&members[i]))
			if fallback == "" && members[i].Status.StandbyNodes != "" {
				fallback = strings.Split(members[i].Status.StandbyNodes, ",")[0]
			}
		}
		target, _ := hotstandby.PlanGroupSwap(views, rq.Node, fallback)
		g.Status.LastRequest = &hav1alpha1.RequestStatus{ID: rq.ID, Action: rq.Action, Outcome: hav1alpha1.RequestInProgress, Time: &now}
		if target == "" || len(members) == 0 {
			g.Status.LastRequest.Outcome = hav1alpha1.RequestRefused
			g.Status.LastRequest.Reason = "NoStandby"
			g.Status.LastRequest.Message = "no node to switch the group to"
			return
		}
		g.Status.TargetNode = target
		g.Status.LastRequest.Message = "switching every member to " + target
		return
	}
	if last == nil || last.Outcome != hav1alpha1.RequestInProgress {
		g.Status.TargetNode = ""
		return
	}
	done := true
	for _, m := range members {
		if m.Status.ActiveNode != g.Status.TargetNode {
			done = false
		}
		if m.Status.Phase == hav1alpha1.PhaseFailed {
			g.Status.LastRequest.Outcome = hav1alpha1.RequestFailed
			g.Status.LastRequest.Reason = "MemberFailed"
			g.Status.LastRequest.Message = m.Name + " failed during the group switchover"
			g.Status.LastRequest.Time = &now
			g.Status.TargetNode = ""
			return
		}
	}
	if done {
		g.Status.LastRequest.Outcome = hav1alpha1.RequestDone
		g.Status.LastRequest.Message = "every member is active on " + g.Status.TargetNode
		g.Status.LastRequest.Time = &now
		g.Status.TargetNode = ""
	}
}

// applySkipUnits puts spec.skipUnits in effect (status.skipUnits) when the
// group is first seen or while every member is stopped: HiRDB reads
// pd_start_skip_unit when the system starts, and 26.7.9 has it changed
// only with HiRDB terminated. It says whether a change waits.
func applySkipUnits(g *hav1alpha1.HAServerGroup, members []hav1alpha1.HAServer) (pending bool) {
	if sameSet(g.Spec.SkipUnits, g.Status.SkipUnits) {
		return false
	}
	allStopped := true
	for i := range members {
		allStopped = allStopped && memberStopped(&members[i])
	}
	if g.Status.ObservedGeneration != 0 && !allStopped {
		return true
	}
	g.Status.SkipUnits = slices.Clone(g.Spec.SkipUnits)
	return false
}

func sameSet(a, b []string) bool {
	return len(a) == len(b) && !slices.ContainsFunc(a, func(x string) bool { return !slices.Contains(b, x) })
}

func setGroupConditions(g *hav1alpha1.HAServerGroup, members []hav1alpha1.HAServer, skipPending bool) {
	set := func(t string, ok bool, reason, msg string) {
		st := metav1.ConditionFalse
		if ok {
			st = metav1.ConditionTrue
		}
		meta.SetStatusCondition(&g.Status.Conditions, metav1.Condition{
			Type: t, Status: st, Reason: reason, Message: msg, ObservedGeneration: g.Generation,
		})
	}
	// A group whose members have no phase yet is Pending: a condition's
	// reason may not be empty (the API server refuses the whole status).
	phase := cmp.Or(g.Status.Phase, hav1alpha1.PhasePending)
	set(hav1alpha1.ConditionAvailable, phase == hav1alpha1.PhaseOnline && g.Status.ActiveNode != "",
		string(phase), "members: "+fmt.Sprint(len(members)))
	set(hav1alpha1.ConditionSwitchoverInProgress, g.Status.TargetNode != "" || g.Status.Phase == hav1alpha1.PhaseSwitchingOver,
		"GroupSwitch", "target "+orNone(g.Status.TargetNode))
	images := map[string]bool{}
	hasManager := g.Spec.Manager == ""
	for i := range members {
		images[serverImage(&members[i])] = true
		hasManager = hasManager || members[i].Name == g.Spec.Manager
	}
	switch {
	case !hasManager:
		set(hav1alpha1.ConditionValid, false, "ManagerNotAMember", "spec.manager "+g.Spec.Manager+" is not a member; name a member HAServer")
	case skipPending:
		set(hav1alpha1.ConditionValid, false, "SkipUnitsPending",
			fmt.Sprintf("spec.skipUnits %v takes effect only while every member is stopped (HiRDB reads pd_start_skip_unit at start); "+
				"the list in effect is still %v: stop the members (kubectl hamon end), or put the old list back", g.Spec.SkipUnits, g.Status.SkipUnits))
	case g.Spec.ManagerRerun == hav1alpha1.ManagerRerunNoWait && len(images) > 1:
		// Table 26-41 #1: notwait checks no versions; the operator does
		// (pdadmvr). Said, not refused.
		set(hav1alpha1.ConditionValid, true, "ImagesDiffer",
			"managerRerun NoWait does no version check, and the members run different images: make sure they are one version")
	default:
		set(hav1alpha1.ConditionValid, true, hav1alpha1.ReasonSpecValid, "the group's policies can be applied")
	}
}

// SetupWithManager registers the group controller.
func (r *HAServerGroupReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = hotstandby.RealClock{}
	}
	toGroup := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		if g := o.(*hav1alpha1.HAServer).Spec.Group; g != nil {
			return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: o.GetNamespace(), Name: g.Name}}}
		}
		return nil
	})
	return ctrl.NewControllerManagedBy(mgr).
		For(&hav1alpha1.HAServerGroup{}).
		Watches(&hav1alpha1.HAServer{}, toGroup).
		Named("haservergroup").
		Complete(r)
}
