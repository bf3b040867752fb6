package controllers

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/controllers/hotstandby"
)

// This file is the one place that writes the HAServer's conditions: every
// owned condition on every reconcile, with a reason.

// ownedConditions are the condition types the controller writes.
var ownedConditions = []string{
	hav1alpha1.ConditionAvailable, hav1alpha1.ConditionSwitchoverInProgress, hav1alpha1.ConditionFenced,
	hav1alpha1.ConditionReservationHeld, hav1alpha1.ConditionDegraded, hav1alpha1.ConditionValid,
}

func setCondition(s *hav1alpha1.HAServer, t string, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&s.Status.Conditions, metav1.Condition{
		Type: t, Status: status, Reason: reason, Message: msg, ObservedGeneration: s.Generation,
	})
}

// setRefusedConditions says the spec is refused (Valid=False, with the
// reason and the fix) and that nothing else is known: the controller does
// not act on a refused spec, so it does not claim what the server is doing.
func setRefusedConditions(s *hav1alpha1.HAServer, reason, msg string) {
	for _, t := range ownedConditions {
		if t == hav1alpha1.ConditionValid {
			setCondition(s, t, metav1.ConditionFalse, reason, msg)
			continue
		}
		setCondition(s, t, metav1.ConditionUnknown, hav1alpha1.ReasonSpecRefused,
			"the spec is refused (see condition Valid): hamon does not act on it")
	}
}

// setConditions sets every owned condition from the machine's state.
func setConditions(s *hav1alpha1.HAServer, st *hotstandby.State, cfg hotstandby.Config, missing []string) {
	set := func(t string, ok bool, reason, msg string) {
		status := metav1.ConditionFalse
		if ok {
			status = metav1.ConditionTrue
		}
		setCondition(s, t, status, reason, msg)
	}
	active := st.ActiveNode()
	held := !cfg.SharedDisks || (active != "" && st.ReservationHolder == active)
	switch {
	case active != "" && held:
		set(hav1alpha1.ConditionAvailable, true, hav1alpha1.ReasonOnline, "the server is active on "+active)
	case active != "":
		set(hav1alpha1.ConditionAvailable, false, hav1alpha1.ReasonReservationPending, "active on "+active+" without the reservation")
	default:
		set(hav1alpha1.ConditionAvailable, false, hav1alpha1.ReasonNoActive, "no host is Online (phase "+string(st.Phase)+")")
	}
	if sw := st.Switch; sw != nil {
		set(hav1alpha1.ConditionSwitchoverInProgress, true, hav1alpha1.ReasonSwitching,
			fmt.Sprintf("%s: %s -> %s, stage %s", sw.Cause, orNone(sw.From), sw.To, sw.Stage))
	} else {
		set(hav1alpha1.ConditionSwitchoverInProgress, false, hav1alpha1.ReasonIdle, "no switchover in progress")
	}
	var fenced []string
	for _, h := range st.Hosts {
		if h.State == hotstandby.Fenced {
			fenced = append(fenced, h.Node)
		}
	}
	if len(fenced) > 0 {
		set(hav1alpha1.ConditionFenced, true, hav1alpha1.ReasonHostFenced,
			strings.Join(fenced, ",")+" fenced: rejoins as standby after a reboot")
	} else {
		set(hav1alpha1.ConditionFenced, false, hav1alpha1.ReasonNotFenced, "no host is fenced")
	}
	switch {
	case !cfg.SharedDisks:
		set(hav1alpha1.ConditionReservationHeld, true, hav1alpha1.ReasonNoSharedDisks, "the server has no shared disks")
	case st.ReservationHolder != "" && st.ReservationHolder == active:
		set(hav1alpha1.ConditionReservationHeld, true, hav1alpha1.ReasonReservationTaken,
			fmt.Sprintf("%s holds the shared disks (epoch %d)", active, st.Epoch))
	default:
		set(hav1alpha1.ConditionReservationHeld, false, hav1alpha1.ReasonReservationPending,
			fmt.Sprintf("holder %q, epoch %d", st.ReservationHolder, st.Epoch))
	}
	wanted := len(cfg.Hosts) - 1
	ready := len(st.StandbyNodes())
	switch {
	case st.Phase == hotstandby.PhaseWaiting:
		set(hav1alpha1.ConditionDegraded, true, hav1alpha1.ReasonWaitingForOperator, waitMessage(st))
	case active != "" && ready < wanted:
		set(hav1alpha1.ConditionDegraded, true, hav1alpha1.ReasonStandbyMissing, fmt.Sprintf("%d of %d standbys ready", ready, wanted))
	default:
		set(hav1alpha1.ConditionDegraded, false, hav1alpha1.ReasonAllStandbysReady, fmt.Sprintf("%d of %d standbys ready", ready, wanted))
	}
	if len(missing) > 0 {
		set(hav1alpha1.ConditionValid, false, hav1alpha1.ReasonNodeNotFound,
			"spec.hosts names nodes that do not exist: "+strings.Join(missing, ",")+"; fix spec.hosts or add the nodes")
	} else {
		set(hav1alpha1.ConditionValid, true, hav1alpha1.ReasonSpecValid, "every host exists")
	}
}

func waitMessage(st *hotstandby.State) string {
	for _, h := range st.Hosts {
		if h.State.IsWait() {
			return fmt.Sprintf("%s is in %s: %s", h.Node, h.State, h.Message)
		}
	}
	return "waiting"
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
