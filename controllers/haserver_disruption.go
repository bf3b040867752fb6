package controllers

import (
	"context"
	"fmt"

	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
)

// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create

// disruptionBudgetName is the name of the PodDisruptionBudget of server s.
func disruptionBudgetName(s *hav1alpha1.HAServer) string { return s.Name + "-active" }

// ensureDisruptionBudget gives s a PodDisruptionBudget that selects its
// active pod (role label active) with minAvailable 1: an eviction (kubectl
// drain) of the active copy is refused with 429, which kubectl drain
// retries, while hamon moves the server off a cordoned node with a planned
// switchover; once the pod is relabelled standby the eviction goes through.
// Standby pods are not selected: they may be evicted at once. An absolute
// minAvailable needs no scale subresource on the pods' owner, which an
// HAServer has not. Created once and owned by the HAServer; the cache
// holds only the budgets' metadata.
func (r *HAServerReconciler) ensureDisruptionBudget(ctx context.Context, s *hav1alpha1.HAServer) error {
	var have metav1.PartialObjectMetadata
	have.SetGroupVersionKind(policyv1.SchemeGroupVersion.WithKind("PodDisruptionBudget"))
	err := r.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: disruptionBudgetName(s)}, &have)
	if err == nil || !apierrors.IsNotFound(err) {
		return err
	}
	one := intstr.FromInt32(1)
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: disruptionBudgetName(s),
			Labels: map[string]string{hav1alpha1.LabelServer: s.Name}},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: &one,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{
				hav1alpha1.LabelServer: s.Name, hav1alpha1.LabelRole: hav1alpha1.RoleActiveLabel,
			}},
		},
	}
	if err := controllerutil.SetControllerReference(s, pdb, r.Scheme()); err != nil {
		return err
	}
	if err := r.Create(ctx, pdb); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the PodDisruptionBudget of %s: %w", s.Name, err)
	}
	return nil
}
