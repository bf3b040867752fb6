package controllers

import (
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
)

// CacheOptions keeps in the controller's memory only what it reads: the
// pods hamon made (not every pod of the cluster), the metadata of the
// PodDisruptionBudgets hamon made, the agents' Leases (not every
// kubelet's), and no object's managedFields, which are often the
// larger part of an object and are never read here.
func CacheOptions(agentNamespace string) (cache.Options, error) {
	hamonPods, err := labels.NewRequirement(hav1alpha1.LabelServer, selection.Exists, nil)
	if err != nil {
		return cache.Options{}, err
	}
	hamonOnly := labels.NewSelector().Add(*hamonPods)
	budgets := &metav1.PartialObjectMetadata{}
	budgets.SetGroupVersionKind(policyv1.SchemeGroupVersion.WithKind("PodDisruptionBudget"))
	return cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Pod{}:           {Label: hamonOnly},
			budgets:                 {Label: hamonOnly},
			&coordinationv1.Lease{}: {Namespaces: map[string]cache.Config{agentNamespace: {}}},
		},
	}, nil
}
