package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PathState is the state of one path of a multipath disk as the agent sees it.
// +kubebuilder:validation:Enum=Active;Failed;Offline;Unknown
type PathState string

// The path states.
const (
	PathActive  PathState = "Active"  // I/O through the path succeeds.
	PathFailed  PathState = "Failed"  // I/O through the path fails (KAMN725-W).
	PathOffline PathState = "Offline" // The kernel has the path offline.
	PathUnknown PathState = "Unknown" // Not checked yet.
)

// FencingState is where a node stands with respect to fencing.
// +kubebuilder:validation:Enum=None;SelfFencing;Fenced;Terminating
type FencingState string

// The fencing states.
const (
	FencingNone        FencingState = "None"        // The node may run active servers.
	FencingSelfFencing FencingState = "SelfFencing" // The agent lost the API and is stopping its active servers.
	FencingFenced      FencingState = "Fenced"      // Another host preempted this node's keys; it rejoins after a reboot.
	FencingTerminating FencingState = "Terminating" // The agent is terminating the OS (KAMN726-E).
)

// HANodeSpec is set by the controller: whether the node may rejoin.
type HANodeSpec struct {
	// admitted lets a node that was fenced rejoin as a standby after it has
	// rebooted: the controller (or an operator) sets it to the node's current
	// boot ID. A fenced node registers no key until admitted for its boot.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	AdmittedBootID string `json:"admittedBootID,omitempty"`
}

// HANodeStatus is a node agent's view of its host, written by that agent only.
type HANodeStatus struct {
	// agentVersion is the version of the node agent.
	// +optional
	AgentVersion string `json:"agentVersion,omitempty"`

	// bootID is the host's boot ID (/proc/sys/kernel/random/boot_id), which
	// changes on every reboot.
	// +optional
	BootID string `json:"bootID,omitempty"`

	// reservationKey is the node's SCSI-3 reservation key, 16 hex digits,
	// derived from the node's identity and stable across reboots.
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{16}$`
	ReservationKey string `json:"reservationKey,omitempty"`

	// peerAddress is where the node's agent answers its peers (host:port,
	// HTTPS with mutual TLS): when an agent cannot renew its Lease it asks
	// the agents of its servers' other hosts whether they can.
	// +optional
	// +kubebuilder:validation:MaxLength=255
	PeerAddress string `json:"peerAddress,omitempty"`

	// watchdogTimeout is the timeout of the host watchdog the agent feeds;
	// absent: the agent runs without one (agent.watchdog.enabled=false).
	// +optional
	WatchdogTimeout *metav1.Duration `json:"watchdogTimeout,omitempty"`

	// fencing is the node's fencing state.
	// +optional
	Fencing FencingState `json:"fencing,omitempty"`

	// devices are the shared disks the agent sees.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=512
	Devices []DeviceStatus `json:"devices,omitempty"`

	// servers report, per HAServer with this node among its hosts, what the
	// agent did and saw: reservation, patrol, termination.
	// +optional
	// +listType=map
	// +listMapKey=key
	// +kubebuilder:validation:MaxItems=512
	Servers []NodeServerStatus `json:"servers,omitempty"`

	// conditions are Ready (the agent runs and reaches its devices) and
	// PathsDegraded.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// DeviceStatus is one shared disk on the node.
type DeviceStatus struct {
	// name is the multipath map name (/dev/mapper/<name>).
	// +required
	Name string `json:"name"`
	// wwid is the disk's WWID.
	// +optional
	WWID string `json:"wwid,omitempty"`
	// paths are the disk's paths on this node.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	Paths []PathStatus `json:"paths,omitempty"`
	// registeredKeys are the reservation keys registered on the disk (READ KEYS).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	RegisteredKeys []string `json:"registeredKeys,omitempty"`
	// holderKey is the key of the reservation holder (READ RESERVATION).
	// +optional
	HolderKey string `json:"holderKey,omitempty"`
	// reservationType is the type of the reservation held, if any.
	// +optional
	ReservationType string `json:"reservationType,omitempty"`
}

// PathStatus is one path of a shared disk.
type PathStatus struct {
	// name is the SCSI disk of the path (for example sdb).
	// +required
	Name string `json:"name"`
	// state is Active, Failed, Offline or Unknown.
	// +optional
	State PathState `json:"state,omitempty"`
	// lastError is the last error seen on the path.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	LastError string `json:"lastError,omitempty"`
}

// HANode is a node agent's view of its host: alive, devices, paths,
// registered keys and fencing state; the host half of monshow. Its name is
// the Node's name, and only that node's agent writes its status.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=han,categories=hamon
// +kubebuilder:printcolumn:name="Fencing",type=string,JSONPath=`.status.fencing`
// +kubebuilder:printcolumn:name="Key",type=string,JSONPath=`.status.reservationKey`
// +kubebuilder:printcolumn:name="Agent",type=string,JSONPath=`.status.agentVersion`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type HANode struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is the object's metadata; its name is the Node's name.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec is written by the controller.
	// +optional
	Spec HANodeSpec `json:"spec,omitzero"`

	// status is written by the node's agent only.
	// +optional
	Status HANodeStatus `json:"status,omitzero"`
}

// HANodeList is a list of HANodes.
//
// +kubebuilder:object:root=true
type HANodeList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the list's metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitzero"`
	// items are the HANodes.
	Items []HANode `json:"items"`
}
