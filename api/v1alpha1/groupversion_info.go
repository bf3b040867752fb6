// Package v1alpha1 contains the hamon API: the HAServer, HAServerGroup and
// HANode kinds of the ha.hamon.io group.
//
// An HAServer is one hot-standby server, what HA Monitor calls a "server"
// (named by its alias): a program that runs active on exactly one host and
// stands by on the others. An HAServerGroup switches several HAServers
// together. An HANode is a node agent's view of its host.
//
// # The controller-agent protocol
//
// The controller and the node agents talk only through the API server, and
// only through what protocol.go declares; neither imports the other.
//
// The controller asks, in HAServer.status (written by the controller only):
//
//   - agentRequests: work for one node's agent, each an AgentRequest with an
//     id that grows with every request of the server, the node it is for,
//     the fencing epoch it belongs to and an AgentAction (Reserve, Release,
//     ClearReservation, FenceHost). The agent carries out each request for
//     its node once, in id order, and answers it by id.
//   - localDecisions: what the agent of the active host does when it must act
//     alone, the API server being out of reach (LocalDecisions).
//
// The agent checks a request against what it knows before acting on it: a
// Reserve is carried out only while status.switchover is in stage Reserving
// for this node (status.targetNode) and the request's epoch is
// status.fencingEpoch, so a stale request can never move the reservation.
//
// The agent also reads, for its own watches, status.activeNode (its key is
// watched and its resident patrolCommand runs only while the server is
// active here), status.hosts[].pod and .state (which container is the
// server's copy on this node) and status.switchover with status.targetNode
// (the path rule of 7.5.8 while the server switches or terminates here).
//
// The agent answers in its node's HANode.status.servers (written by that
// agent only), one NodeServerStatus per server, found by ReportKey:
//
//   - answers: one AgentAnswer per request it handled, keyed by the
//     request's id (the newest few are kept);
//   - reservation, epoch and reservedDevices: what the node holds for the
//     server now, and which disks its key is watched on;
//   - patrolFailed with patrolPod, and keyPreempted: what it saw on its own
//     and, for a preempted key, the stop it made at once (a rule of the
//     protocol, not a request: a host whose key is gone must not write);
//   - localStop: a stop it made on its own while the API server was out of
//     reach (self-fence, or a failure it could not report), written once it
//     can be; the controller reads the server's end as abnormal;
//   - containerExit: the server container's end as the container runtime
//     told the agent (its container events, or a relist), with the exit
//     code and the pod: the controller takes a non-zero exit of its
//     recorded pod as the abnormal termination without waiting for the
//     kubelet to write it in the pod's status.
//
// Every message either side writes is cut to MaxMessageLength by
// TruncateMessage.
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
