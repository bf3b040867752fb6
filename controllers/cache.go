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
// pods hamon made (not every pod of the cluster), and of them only what the
// controller looks at (trimPod), the metadata of the
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
			&corev1.Pod{}:           {Label: hamonOnly, Transform: trimPod},
			budgets:                 {Label: hamonOnly},
			&coordinationv1.Lease{}: {Namespaces: map[string]cache.Config{agentNamespace: {}}},
		},
	}, nil
}

// trimPod keeps of a cached pod what the controller reads: its metadata
// (without managedFields), its node, its containers' names, and its status
// but the images. The spec of a server's pod (the template: environment,
// volumes, probes, often the larger part) is never read from the cache: a
// pod is built from the HAServer, and a relabel is a patch of the labels
// only. At 10,000 servers that is most of the pods' memory.
func trimPod(o any) (any, error) {
	p, ok := o.(*corev1.Pod)
	if !ok {
		return o, nil
	}
	p.ManagedFields = nil
	containers := make([]corev1.Container, len(p.Spec.Containers))
	for i, c := range p.Spec.Containers {
		containers[i] = corev1.Container{Name: c.Name}
	}
	p.Spec = corev1.PodSpec{NodeName: p.Spec.NodeName, Containers: containers}
	for i := range p.Status.ContainerStatuses {
		cs := &p.Status.ContainerStatuses[i]
		cs.Image, cs.ImageID, cs.AllocatedResources, cs.Resources, cs.VolumeMounts = "", "", nil, nil, nil
	}
	p.Status.InitContainerStatuses, p.Status.EphemeralContainerStatuses = nil, nil
	return p, nil
}
