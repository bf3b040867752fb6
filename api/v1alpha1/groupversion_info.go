// Package v1alpha1 contains the hamon API: the HAServer, HAServerGroup and
// HANode kinds of the ha.hamon.io group.
//
// An HAServer is one hot-standby server, what HA Monitor calls a "server"
// (named by its alias): a program that runs active on exactly one host and
// stands by on the others. An HAServerGroup switches several HAServers
// together. An HANode is a node agent's view of its host.
//
// +kubebuilder:object:generate=true
// +groupName=ha.hamon.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "ha.hamon.io", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&HAServer{}, &HAServerList{},
		&HAServerGroup{}, &HAServerGroupList{},
		&HANode{}, &HANodeList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
