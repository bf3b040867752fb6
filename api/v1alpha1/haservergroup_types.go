package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ManagerRerun is HiRDB's pd_ha_mgr_rerun operand: whether the group's
// manager waits for every member to report started after a switchover.
// +kubebuilder:validation:Enum=Wait;NoWait
type ManagerRerun string

const (
	// ManagerRerunWait waits for every member's startup, checks that the
	// members run the same version, and fails the switchover if a member is
	// stopped (Table 26-41, wait).
	ManagerRerunWait ManagerRerun = "Wait"
	// ManagerRerunNoWait switches without waiting for the members and without
	// the version check, so it works with stopped members; making sure that
	// every member runs one version beforehand is the operator's part, as
	// pdadmvr is in HiRDB (Table 26-41, notwait).
	ManagerRerunNoWait ManagerRerun = "NoWait"
)

// HAServerGroupSpec holds the policies of a grouped-system switchover (HA
// Monitor's group operand) and of the system-manager switchover of HiRDB
// 26.7.9. Members join the group by naming it in spec.group.name.
// +kubebuilder:validation:XValidation:rule="self.startLevel == 1 || !has(self.skipUnits)",message="spec.skipUnits needs spec.startLevel: 1 (reduced activation); set startLevel: 1 or remove skipUnits",fieldPath=".skipUnits"
type HAServerGroupSpec struct {
	// manager is the name of the member HAServer that plays the system
	// manager unit: its switchover is subject to managerRerun, startLevel,
	// skipUnits and reducedCheckTime. Empty: the group has no manager and
	// those policies do not apply.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Manager string `json:"manager,omitempty"`

	// managerRerun is pd_ha_mgr_rerun: Wait (default) checks that the units
	// run one image and fails the manager's switchover while a member is
	// stopped; NoWait switches anyway, without the version check (keep the
	// members on one image yourself).
	// +optional
	// +kubebuilder:default=Wait
	ManagerRerun ManagerRerun `json:"managerRerun,omitempty"`

	// startLevel is pd_start_level: 0 (default) makes a stopped member fail
	// the manager's switchover; 1 is reduced activation: switch anyway, then
	// wait up to reducedCheckTime for the members (or not at all for members
	// in skipUnits).
	// +optional
	// +kubebuilder:default=0
	// +kubebuilder:validation:Enum=0;1
	StartLevel int32 `json:"startLevel,omitempty"`

	// skipUnits is pd_start_skip_unit: members the manager's switchover does
	// not recognise at all (neither counted as stopped nor version-checked).
	// Needs startLevel 1. As in HiRDB, a change takes effect only while the
	// system is stopped: status.skipUnits shows the list in effect, and a
	// change made while a member runs waits (Valid=False, SkipUnitsPending)
	// until every member is stopped.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=128
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	SkipUnits []string `json:"skipUnits,omitempty"`

	// reducedCheckTime is pd_reduced_check_time: how long a reduced-activation
	// switchover waits for the members' startup. Defaults to 20m.
	// +optional
	// +kubebuilder:default="20m"
	// +kubebuilder:validation:Pattern=`^([0-9]{1,9}ms|[0-9]{1,7}s|[0-9]{1,5}m|[0-9]{1,4}h)+$`
	// +kubebuilder:validation:MaxLength=32
	ReducedCheckTime string `json:"reducedCheckTime,omitempty"`

	// request is an operator request for the whole group: Swap is monswap -g,
	// which also starts members waiting in GroupSwitchWait.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.action == 'Swap'",message="spec.request.action of an HAServerGroup can only be Swap (monswap -g)"
	Request *OperatorRequest `json:"request,omitempty"`
}

// GroupMemberStatus is one member as the group sees it.
type GroupMemberStatus struct {
	// name is the member HAServer's name.
	// +required
	Name string `json:"name"`
	// activeNode is the member's active node.
	// +optional
	ActiveNode string `json:"activeNode,omitempty"`
	// phase is the member's phase.
	// +optional
	Phase Phase `json:"phase,omitempty"`
	// image is the member's server image, for the version check.
	// +optional
	Image string `json:"image,omitempty"`
}

// HAServerGroupStatus is the observed state of a group.
type HAServerGroupStatus struct {
	// observedGeneration is the metadata.generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// phase summarises the group.
	// +optional
	Phase Phase `json:"phase,omitempty"`
	// activeNode is the node the group is active on, when all members agree.
	// +optional
	ActiveNode string `json:"activeNode,omitempty"`
	// skipUnits is the spec.skipUnits in effect: taken when the group is
	// first seen, and after that only while every member is stopped.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=128
	// +kubebuilder:validation:items:MaxLength=253
	SkipUnits []string `json:"skipUnits,omitempty"`
	// targetNode is the node a group switchover (monswap -g) moves every
	// member to, while it is in progress.
	// +optional
	TargetNode string `json:"targetNode,omitempty"`
	// members are the HAServers whose spec.group.name names this group.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=128
	Members []GroupMemberStatus `json:"members,omitempty"`
	// lastRequest is the outcome of the last group request.
	// +optional
	LastRequest *RequestStatus `json:"lastRequest,omitempty"`
	// conditions are Available, SwitchoverInProgress and Valid.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// HAServerGroup is a grouped-system switchover: its members switch hosts
// together (HA Monitor's group operand), under the system-manager policies
// of HiRDB 26.7.9.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=hasg,categories=hamon
// +kubebuilder:printcolumn:name="Active",type=string,JSONPath=`.status.activeNode`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Rerun",type=string,JSONPath=`.spec.managerRerun`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type HAServerGroup struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is the object's metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec holds the group's policies.
	// +required
	Spec HAServerGroupSpec `json:"spec"`

	// status is the observed state, written by the controller only.
	// +optional
	Status HAServerGroupStatus `json:"status,omitzero"`
}

// HAServerGroupList is a list of HAServerGroups.
//
// +kubebuilder:object:root=true
type HAServerGroupList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the list's metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitzero"`
	// items are the HAServerGroups.
	Items []HAServerGroup `json:"items"`
}
