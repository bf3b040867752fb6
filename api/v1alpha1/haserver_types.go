package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ServerMode says how hamon watches a server and how many copies run: HA
// Monitor's acttype operand.
// +kubebuilder:validation:Enum=Server;Monitor
type ServerMode string

const (
	// ModeServer is acttype server: every host runs a copy of the server; the
	// copies on the standby hosts run in the standby role, ready to take over.
	ModeServer ServerMode = "Server"
	// ModeMonitor is acttype monitor: only the active host runs the server;
	// a switchover starts it on the new host after the old one is fenced.
	ModeMonitor ServerMode = "Monitor"
)

// SwitchType is what hamon does when the active server fails: HA Monitor's
// switchtype operand.
// +kubebuilder:validation:Enum=Switch;Restart;Manual
type SwitchType string

const (
	// SwitchTypeSwitch terminates the failed active server, fences its host
	// and activates the best standby.
	SwitchTypeSwitch SwitchType = "Switch"
	// SwitchTypeRestart puts the active server in RestartWait and restarts it
	// on the same host; only if that restart fails does hamon switch over.
	SwitchTypeRestart SwitchType = "Restart"
	// SwitchTypeManual puts the active server in RestartWait and waits for an
	// operator (Act or Swap request) to decide.
	SwitchTypeManual SwitchType = "Manual"
)

// SwitchError is what hamon does when the server cannot be started on the
// switchover target and no other host is available: HA Monitor's
// switch_error operand.
// +kubebuilder:validation:Enum=Stop;Retry
type SwitchError string

const (
	// SwitchErrorStop makes a failed start a hot-standby error: the server
	// stops and its state becomes Failed.
	SwitchErrorStop SwitchError = "Stop"
	// SwitchErrorRetry puts the target in StartRetry (monshow's >ONL) and
	// retries the start spec.switchRetry times at the retry interval, in
	// both modes: a pod's server does not restart itself, so hamon makes
	// the restart HA Monitor waits for in Server mode.
	SwitchErrorRetry SwitchError = "Retry"
)

// ReservationType is the SCSI-3 persistent reservation type hamon holds on a
// shared disk.
// +kubebuilder:validation:Enum=WriteExclusiveRegistrantsOnly;ExclusiveAccessRegistrantsOnly
type ReservationType string

const (
	// ReservationWriteExclusiveRegistrantsOnly is PR type 5: only registered
	// initiators may write; anyone may read. HA Monitor's and fence_mpath's choice.
	ReservationWriteExclusiveRegistrantsOnly ReservationType = "WriteExclusiveRegistrantsOnly"
	// ReservationExclusiveAccessRegistrantsOnly is PR type 6: only registered
	// initiators may read or write.
	ReservationExclusiveAccessRegistrantsOnly ReservationType = "ExclusiveAccessRegistrantsOnly"
)

// HAServerSpec is the server environment definition of one hot-standby
// server: HA Monitor's servers file, one entry.
// +kubebuilder:validation:XValidation:rule="self.switchType == 'Restart' || !has(self.restartWaitLimit)",message="spec.restartWaitLimit may be set only when spec.switchType is Restart; remove restartWaitLimit or set switchType: Restart",fieldPath=".restartWaitLimit"
// +kubebuilder:validation:XValidation:rule="self.switchError == 'Retry' || !has(self.switchRetry)",message="spec.switchRetry may be set only when spec.switchError is Retry; remove switchRetry or set switchError: Retry",fieldPath=".switchRetry"
// +kubebuilder:validation:XValidation:rule="has(self.alias) == has(oldSelf.alias)",message="spec.alias is immutable: commands and events name the server by it; create a new HAServer to change it",fieldPath=".alias"
type HAServerSpec struct {
	// mode is HA Monitor's acttype operand. Server runs a copy of the server on
	// every host, the standby copies in standby role; Monitor runs it only on
	// the active host and starts it on a standby host at switchover. Defaults
	// to Monitor, which works for any program. Immutable.
	// +optional
	// +kubebuilder:default=Monitor
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.mode is immutable; create a new HAServer to change it"
	Mode ServerMode `json:"mode,omitempty"`

	// alias is HA Monitor's alias operand: the name by which commands, events
	// and the status view refer to the server. Defaults to metadata.name.
	// Immutable once set.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.alias is immutable: commands and events name the server by it; create a new HAServer to change it"
	Alias string `json:"alias,omitempty"`

	// hosts are the nodes that may run the server, HA Monitor's hosts with
	// their initial and standbypri operands. The first entry is the primary
	// host: the server starts active there (initial online). The others are
	// standby hosts; more than one standby host is multi-standby. Between 2
	// and 8 hosts, each node at most once.
	// +required
	// +listType=map
	// +listMapKey=node
	// +kubebuilder:validation:MinItems=2
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:XValidation:rule="self.all(h, has(h.standbyPriority)) || self.all(h, !has(h.standbyPriority))",message="spec.hosts: set standbyPriority on every host or on none (then the list order is the priority)"
	// +kubebuilder:validation:XValidation:rule="self.all(h, !has(h.standbyPriority) || self.exists_one(o, has(o.standbyPriority) && o.standbyPriority == h.standbyPriority))",message="spec.hosts: standbyPriority values must be unique; give each host its own priority (1 is the highest)"
	Hosts []HostSpec `json:"hosts"`

	// switchType is HA Monitor's switchtype operand: what to do when the
	// active server fails. Switch terminates it and switches to the best
	// standby; Restart waits in RestartWait for it to come back on the same
	// host, without terminating it (a server that ended is started again
	// there) and without a hot standby, unless restartWaitLimit runs out;
	// Manual waits in RestartWait for an operator's Act or Swap request.
	// Defaults to Switch.
	// +optional
	// +kubebuilder:default=Switch
	SwitchType SwitchType `json:"switchType,omitempty"`

	// restartWaitLimit bounds, with switchType Restart, how long the failed
	// active server may wait in RestartWait to recover or restart before
	// hamon switches over to the best standby, as a Go duration such as
	// "10m". Unset (the default): no limit, as HA Monitor waits for the
	// server to be restarted without performing the hot standby (Table 4-3
	// footnote 3); an operator's Act or Swap ends the wait. Only with
	// switchType Restart.
	// +optional
	// +kubebuilder:validation:Pattern=`^([0-9]{1,9}ms|[0-9]{1,7}s|[0-9]{1,5}m|[0-9]{1,4}h)+$`
	// +kubebuilder:validation:MaxLength=32
	RestartWaitLimit string `json:"restartWaitLimit,omitempty"`

	// switchError is HA Monitor's switch_error operand: what to do when the
	// server fails to start on the switchover target and no other host is
	// left. Stop makes it a hot-standby error (state Failed); Retry enters
	// StartRetry and tries again. Defaults to Stop.
	// +optional
	// +kubebuilder:default=Stop
	SwitchError SwitchError `json:"switchError,omitempty"`

	// switchRetry is HA Monitor's switch_retry operand: how many times to retry
	// a failed start (or resource connection) on the target (0 to 100), in
	// either mode. Only with switchError: Retry. Defaults to 3 when
	// switchError is Retry.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	SwitchRetry *int32 `json:"switchRetry,omitempty"`

	// termCommand is HA Monitor's termcommand operand: the command (argv, no
	// shell; an argument may hold any character but NUL) that stops the
	// server gracefully. hamon runs it inside the server's own container, as
	// kubelet runs an exec probe, never as root on the host. Without it hamon
	// stops the server by deleting its pod.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=4096
	// +kubebuilder:validation:items:Pattern=`^[^\x00]*$`
	TermCommand []string `json:"termCommand,omitempty"`

	// patrolCommand is HA Monitor's patrolcommand operand: a resident
	// monitoring command (argv) started in the server's container once the
	// server is active. It is meant to run for as long as the server is
	// healthy: when it exits, for any reason, hamon treats it as a server failure.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=4096
	// +kubebuilder:validation:items:Pattern=`^[^\x00]*$`
	PatrolCommand []string `json:"patrolCommand,omitempty"`

	// patrol is HA Monitor's ptrlcmd_ex operands: a command run periodically
	// in the server's container; a non-zero exit or a timeout, retries+1
	// times in a row, is a server failure.
	// +optional
	Patrol *PatrolSpec `json:"patrol,omitempty"`

	// sharedDisks are HA Monitor's dmmp_device operands: the multipath disks
	// the server writes. hamon holds a SCSI-3 persistent reservation on each
	// for the active host only, and fences a failed host by preempting its key
	// before another host becomes active. At most 16.
	// +optional
	// +listType=map
	// +listMapKey=device
	// +kubebuilder:validation:MaxItems=16
	SharedDisks []SharedDisk `json:"sharedDisks,omitempty"`

	// group is HA Monitor's group operand: the grouped-system switchover this
	// server belongs to. Its name is the name of an HAServerGroup in the same
	// namespace, which holds the group's policies.
	// +optional
	Group *GroupMembership `json:"group,omitempty"`

	// template is the pod that runs the server, one per host, pinned to that
	// host's node. It plays the part of HA Monitor's actcommand. The first
	// container is the server's container: termCommand, patrolCommand and
	// patrol run in it.
	// +required
	// +kubebuilder:validation:XValidation:rule="has(self.spec) && size(self.spec.containers) > 0",message="spec.template.spec.containers must hold at least one container: the first is the server's"
	Template corev1.PodTemplateSpec `json:"template"`

	// request is an operator request (the monswap, monsbystp, monend, monbegin,
	// monact and monscsiclr commands): write it with a new id and read the
	// outcome in status.lastRequest. The controller acts once per id.
	// +optional
	Request *OperatorRequest `json:"request,omitempty"`
}

// HostSpec is one host that may run the server.
type HostSpec struct {
	// node is the name of the Kubernetes Node of this host.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Node string `json:"node"`

	// standbyPriority is HA Monitor's standbypri operand: the order in which
	// standby hosts are chosen as the switchover target, 1 being the highest.
	// Set it on every host or on none; when none has it, the list order is
	// the priority.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=64
	StandbyPriority *int32 `json:"standbyPriority,omitempty"`
}

// PatrolSpec is a periodic health check: HA Monitor's ptrlcmd_ex,
// ptrlcmd_ex_inter, ptrlcmd_ex_tmout and ptrlcmd_ex_retry operands.
// +kubebuilder:validation:XValidation:rule="!self.timeout.matches('^([0-9]+(ms|s|m|h))+$') || !self.interval.matches('^([0-9]+(ms|s|m|h))+$') || duration(self.timeout) < duration(self.interval)",message="spec.patrol.timeout must be shorter than spec.patrol.interval",fieldPath=".timeout"
type PatrolSpec struct {
	// command is the check (argv, no shell), run in the server's container.
	// Exit 0 means healthy.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=4096
	// +kubebuilder:validation:items:Pattern=`^[^\x00]*$`
	Command []string `json:"command"`

	// interval is the time between two checks (ptrlcmd_ex_inter), as a Go
	// duration such as "10s" or "1m30s" (units h, m, s, ms; at most 4 digits
	// of hours, 5 of minutes, 7 of seconds, 9 of milliseconds a part).
	// Defaults to 10s.
	// +optional
	// +kubebuilder:default="10s"
	// +kubebuilder:validation:Pattern=`^([0-9]{1,9}ms|[0-9]{1,7}s|[0-9]{1,5}m|[0-9]{1,4}h)+$`
	// +kubebuilder:validation:MaxLength=32
	Interval string `json:"interval,omitempty"`

	// timeout is how long one check may run before it counts as failed
	// (ptrlcmd_ex_tmout), shorter than interval. Defaults to 5s.
	// +optional
	// +kubebuilder:default="5s"
	// +kubebuilder:validation:Pattern=`^([0-9]{1,9}ms|[0-9]{1,7}s|[0-9]{1,5}m|[0-9]{1,4}h)+$`
	// +kubebuilder:validation:MaxLength=32
	Timeout string `json:"timeout,omitempty"`

	// retries is how many failed checks in a row are tolerated before the
	// server is declared failed (ptrlcmd_ex_retry). Defaults to 2.
	// +optional
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Retries int32 `json:"retries,omitempty"`
}

// SharedDisk is one multipath disk the server writes (a dmmp_device).
type SharedDisk struct {
	// device names the disk: a device-mapper multipath map as
	// /dev/mapper/<name>, or the disk's WWID as multipath shows it (hex digits,
	// e.g. 36001405d27e5d898829468b90ce4ef8c).
	// +required
	// +kubebuilder:validation:MaxLength=140
	// +kubebuilder:validation:XValidation:rule="self.matches('^/dev/mapper/[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$') || self.matches('^[0-9a-fA-F]{9,65}$')",message="spec.sharedDisks[].device must be /dev/mapper/<name> or a WWID of 9 to 65 hex digits (as multipath -ll shows it)"
	Device string `json:"device"`

	// reservation is the SCSI-3 persistent reservation type held on the disk.
	// Defaults to WriteExclusiveRegistrantsOnly (type 5), under which only the
	// active host is registered.
	// +optional
	// +kubebuilder:default=WriteExclusiveRegistrantsOnly
	Reservation ReservationType `json:"reservation,omitempty"`
}

// GroupMembership puts a server in a grouped-system switchover.
type GroupMembership struct {
	// name is the group's name: an HAServerGroup of that name in this
	// namespace holds the group's policies.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// exchange is the exchange / no_exchange choice of HA Monitor's group
	// operand. true: a failure of this server switches the whole group (the
	// other members get a planned switchover). false: only this server is
	// terminated, and its standby waits in GroupSwitchWait until the group is
	// switched (a group Swap request). Defaults to true.
	// +optional
	// +kubebuilder:default=true
	Exchange *bool `json:"exchange,omitempty"`

	// unitServers are the HiRDB servers this member (a unit) runs, for the
	// system-manager policies of its group (HiRDB 26.7.9): a stopped member
	// of only RecoveryUnnecessaryFrontEnd servers does not fail the
	// manager's switchover, and reduced activation (startLevel 1) fails when
	// no FrontEnd, BackEnd or Dictionary server would be active. Leave it
	// empty when the group is not a HiRDB system: that check is then off.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=4
	UnitServers []UnitServer `json:"unitServers,omitempty"`
}

// UnitServer is a kind of HiRDB server a unit runs.
// +kubebuilder:validation:Enum=FrontEnd;RecoveryUnnecessaryFrontEnd;BackEnd;Dictionary
type UnitServer string

// The HiRDB server kinds.
const (
	// UnitFrontEnd is a front-end server (FES).
	UnitFrontEnd UnitServer = "FrontEnd"
	// UnitRecoveryUnnecessaryFrontEnd is a front-end server that needs no
	// recovery.
	UnitRecoveryUnnecessaryFrontEnd UnitServer = "RecoveryUnnecessaryFrontEnd"
	// UnitBackEnd is a back-end server (BES).
	UnitBackEnd UnitServer = "BackEnd"
	// UnitDictionary is a dictionary server (DS).
	UnitDictionary UnitServer = "Dictionary"
)

// RequestAction is the operator command a request stands for.
// +kubebuilder:validation:Enum=Swap;StopStandby;End;Begin;Act;ClearReservation
type RequestAction string

const (
	// ActionSwap is monswap: a planned switchover to the best standby (or to
	// request.node). With force it is monswap -f: the old host is fenced first.
	ActionSwap RequestAction = "Swap"
	// ActionStopStandby is monsbystp: stop the standby server on request.node
	// (or on every standby host).
	ActionStopStandby RequestAction = "StopStandby"
	// ActionEnd is monend: stop the active server and its standbys.
	ActionEnd RequestAction = "End"
	// ActionBegin is monbegin: start a server that was ended.
	ActionBegin RequestAction = "Begin"
	// ActionAct is monact: start a server that waits (RestartWait,
	// ActiveStartWait, HotStandbyWait, GroupSwitchWait, StartRetry) as the
	// active server.
	ActionAct RequestAction = "Act"
	// ActionClearReservation is monscsiclr: release the reservations of the
	// shared disks. Refused while the holder may be alive.
	ActionClearReservation RequestAction = "ClearReservation"
)

// OperatorRequest is one operator command.
// +kubebuilder:validation:XValidation:rule="!has(self.force) || !self.force || self.action == 'Swap'",message="spec.request.force is only for action Swap (monswap -f)",fieldPath=".force"
type OperatorRequest struct {
	// id identifies the request. Write a new id for each command: the
	// controller acts once per id and reports on it in status.lastRequest.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$`
	ID string `json:"id"`

	// action is the command: Swap (monswap), StopStandby (monsbystp), End
	// (monend), Begin (monbegin), Act (monact) or ClearReservation (monscsiclr).
	// +required
	Action RequestAction `json:"action"`

	// node narrows the command to one host: the target of a Swap, or the
	// standby to stop with StopStandby.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Node string `json:"node,omitempty"`

	// force makes a Swap forced (monswap -f): the active host is fenced
	// before the standby starts, whatever state it is in.
	// +optional
	Force bool `json:"force,omitempty"`
}

// Role is the part a host plays for a server.
// +kubebuilder:validation:Enum=Active;Standby;None
type Role string

const (
	// RoleActive is the host that runs (or is about to run) the active server.
	RoleActive Role = "Active"
	// RoleStandby is a host ready to take over.
	RoleStandby Role = "Standby"
	// RoleNone is a host that plays no part now (stopped, failed, fenced).
	RoleNone Role = "None"
)

// HostState is a host's state for one server, in the words of HA Monitor's
// monshow.
// +kubebuilder:validation:Enum=Online;Standby;Starting;Stopping;StartRetry;RestartWait;ActiveStartWait;HotStandbyWait;GroupSwitchWait;Stopped;Failed;Fenced
type HostState string

// The host states. Each is the state of the server's copy on that host.
const (
	HostOnline          HostState = "Online"          // ONL: the active server runs here.
	HostStandby         HostState = "Standby"         // SBY: a standby, ready to take over.
	HostStarting        HostState = "Starting"        // The server is starting here (as active or standby).
	HostStopping        HostState = "Stopping"        // The server is being terminated here.
	HostStartRetry      HostState = "StartRetry"      // >ONL: a failed start is being retried (3.2.7).
	HostRestartWait     HostState = "RestartWait"     // Waiting for the active server to restart (switchtype restart/manual).
	HostActiveStartWait HostState = "ActiveStartWait" // Waiting for an operator's Act to start as active (7.5.1).
	HostHotStandbyWait  HostState = "HotStandbyWait"  // The old host could not be fenced (did not go down); waiting for Act (4.5.2).
	HostGroupSwitchWait HostState = "GroupSwitchWait" // no_exchange: waiting for the group to switch (4.4.1).
	HostStopped         HostState = "Stopped"         // Not running, by request or after a normal termination.
	HostFailed          HostState = "Failed"          // Not running after a failure (a hot-standby error).
	HostFenced          HostState = "Fenced"          // Cut off from the shared disks; rejoins after a reboot.
)

// Phase summarises a server for people and printer columns. Conditions and
// the per-host states are the truth; the phase is derived from them.
// +kubebuilder:validation:Enum=Pending;Starting;Online;SwitchingOver;Waiting;Stopped;Failed
type Phase string

// The server phases.
const (
	PhasePending       Phase = "Pending"       // Not yet started (hosts or agents not ready).
	PhaseStarting      Phase = "Starting"      // The first activation is under way.
	PhaseOnline        Phase = "Online"        // One host is Online.
	PhaseSwitchingOver Phase = "SwitchingOver" // A switchover (planned or automatic) is under way.
	PhaseWaiting       Phase = "Waiting"       // A wait state that needs a restart or an operator.
	PhaseStopped       Phase = "Stopped"       // Ended (monend) or every copy stopped.
	PhaseFailed        Phase = "Failed"        // A hot-standby error: no host could take over.
)

// HAServerStatus is the observed state of a server: HA Monitor's monshow.
type HAServerStatus struct {
	// observedGeneration is the metadata.generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// phase summarises the server: Pending, Starting, Online, SwitchingOver,
	// Waiting, Stopped or Failed.
	// +optional
	Phase Phase `json:"phase,omitempty"`

	// activeNode is the node on which the server is Online, empty when none is.
	// +optional
	ActiveNode string `json:"activeNode,omitempty"`

	// standbyNodes lists the nodes in Standby state, in priority order,
	// comma-separated (a printer column).
	// +optional
	StandbyNodes string `json:"standbyNodes,omitempty"`

	// targetNode is the node being activated by a switchover in progress. It
	// is persisted so that a restarted controller resumes the same switchover.
	// +optional
	TargetNode string `json:"targetNode,omitempty"`

	// fencingEpoch counts activations. Each activation uses a new epoch, and
	// an agent takes the reservation only for the epoch it is told, so a
	// stale instruction can never move the reservation back.
	// +optional
	FencingEpoch int64 `json:"fencingEpoch,omitempty"`

	// hosts is the role and state of the server on each host.
	// +optional
	// +listType=map
	// +listMapKey=node
	// +kubebuilder:validation:MaxItems=8
	Hosts []HostStatus `json:"hosts,omitempty"`

	// reservationHolder is the node whose key holds the reservation of the
	// shared disks, as the agents report it.
	// +optional
	ReservationHolder string `json:"reservationHolder,omitempty"`

	// switchovers is the history of the last switchovers, newest last (at most 10).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=10
	Switchovers []Switchover `json:"switchovers,omitempty"`

	// lastRequest is the outcome of the last operator request (spec.request).
	// +optional
	LastRequest *RequestStatus `json:"lastRequest,omitempty"`

	// switchover is the switchover in progress, with the stage it is in.
	// +optional
	Switchover *Switchover `json:"switchover,omitempty"`

	// deadline is when the current wait of the server (a switchover stage,
	// the wait for the primary host) times out.
	// +optional
	Deadline *metav1.Time `json:"deadline,omitempty"`

	// halted is Stopped or Failed once the server has ended normally or with
	// a hot-standby error, until it runs again.
	// +optional
	Halted Phase `json:"halted,omitempty"`

	// agentRequests is the work the controller asks of the node agents
	// (take, release or clear the reservation, terminate a host's OS), each
	// with an id the agent answers by in its HANode. Newest last, at most
	// 16. See protocol.go for the whole controller-agent protocol.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	AgentRequests []AgentRequest `json:"agentRequests,omitempty"`

	// localDecisions are the state machine's answers, decided in advance, to
	// what the active host's agent must decide alone while it cannot reach
	// the API server.
	// +optional
	LocalDecisions *LocalDecisions `json:"localDecisions,omitempty"`

	// conditions are Available, SwitchoverInProgress, Fenced, ReservationHeld,
	// Degraded and Valid; see the condition types for when each is set.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// HostStatus is the server's state on one host.
type HostStatus struct {
	// node is the host's Node name.
	// +required
	Node string `json:"node"`

	// role is Active, Standby or None.
	// +optional
	Role Role `json:"role,omitempty"`

	// state is the monshow state of the server on this host.
	// +optional
	State HostState `json:"state,omitempty"`

	// startRetries counts the start retries made on this host (StartRetry).
	// +optional
	StartRetries int32 `json:"startRetries,omitempty"`

	// since is when the host entered its state.
	// +optional
	Since *metav1.Time `json:"since,omitempty"`

	// message says why the host is in its state, for people.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`

	// alive says the host's node agent renews its Lease.
	// +optional
	Alive bool `json:"alive,omitempty"`

	// bootID is the host's boot ID when it was last seen alive; a new one
	// after a loss means the host rebooted (and may rejoin if fenced).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	BootID string `json:"bootID,omitempty"`

	// pod is the name of the server's pod on this host.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Pod string `json:"pod,omitempty"`

	// wantStandby says hamon keeps a standby on this host whenever it is
	// alive and idle. Persisted so that a restarted controller resumes.
	// +optional
	WantStandby bool `json:"wantStandby,omitempty"`

	// running says a server process may run here (started and not seen to
	// end). Persisted so that a restarted controller resumes.
	// +optional
	Running bool `json:"running,omitempty"`

	// activeCopy says a copy started as active may run here, so this host
	// must be stopped or fenced before another is activated. Persisted so
	// that a restarted controller resumes.
	// +optional
	ActiveCopy bool `json:"activeCopy,omitempty"`

	// failureLeft says a failure of the active server was detected here
	// while no standby could take over: hamon did nothing (Table 4-3
	// footnote 3) and does not act on that failure later, even once a
	// standby is ready. Cleared when the server is seen healthy again (its
	// patrol passes).
	// +optional
	FailureLeft bool `json:"failureLeft,omitempty"`

	// termCommand says the host is Stopping to run spec.termCommand after the
	// server ended abnormally here (Monitor mode, Table 4-4 #1): hamon runs it
	// in a pod of its own on this node (the server's image, environment and
	// volumes; a kubelet runs no preStop hook for a container that already
	// exited), and the standby starts once it ended.
	// +optional
	TermCommand bool `json:"termCommand,omitempty"`

	// afterStop is the state a Stopping host goes to once stopped.
	// +optional
	AfterStop HostState `json:"afterStop,omitempty"`

	// deadline is when this host's own timer (a start, a stop, a restart, a
	// start retry) fires.
	// +optional
	Deadline *metav1.Time `json:"deadline,omitempty"`
}

// Switchover is one switchover in the history.
type Switchover struct {
	// from is the node that was active, empty for a first activation.
	// +optional
	From string `json:"from,omitempty"`

	// to is the node that became (or was to become) active.
	// +optional
	To string `json:"to,omitempty"`

	// cause says what started it: InitialStart, ServerFailure,
	// PatrolFailure, HostFailure, RestartFailed, PlannedSwap, ForcedSwap,
	// GroupSwitch, OperatorAct, NodeDrain (the active host's node was
	// cordoned to be drained) or StartRetry (a start retry whose host had
	// to connect the shared disks again: an activation, as at first start).
	// +optional
	Cause SwitchoverCause `json:"cause,omitempty"`

	// started is when the failure was detected or the request accepted.
	// +optional
	Started *metav1.Time `json:"started,omitempty"`

	// fenced is when the old host was known fenced or clean.
	// +optional
	Fenced *metav1.Time `json:"fenced,omitempty"`

	// finished is when the new host was Online, or when the switchover failed.
	// +optional
	Finished *metav1.Time `json:"finished,omitempty"`

	// failedAt is when the failure that started it happened, as its source
	// tells: the container's end (whole seconds), the host's last Lease
	// renewal (the host's clock), the patrol's failure. From failedAt to
	// startedAt is the detection stage. Empty for a request, or unknown.
	// +optional
	FailedAt *metav1.MicroTime `json:"failedAt,omitempty"`

	// startedAt, fencedAt and finishedAt are started, fenced and finished to
	// the microsecond: a switchover's stages last fractions of a second, and
	// kubectl hamon show --history and the stage metrics measure them.
	// +optional
	StartedAt *metav1.MicroTime `json:"startedAt,omitempty"`
	// +optional
	FencedAt *metav1.MicroTime `json:"fencedAt,omitempty"`
	// +optional
	FinishedAt *metav1.MicroTime `json:"finishedAt,omitempty"`

	// result is Succeeded or Failed once finished; empty while in progress.
	// +optional
	Result SwitchoverResult `json:"result,omitempty"`

	// stage is the step in progress: Terminating, Fencing, Reserving,
	// Activating or AwaitingMembers. The target's agent reads it (see
	// protocol.go): it takes the reservation only in stage Reserving.
	// +optional
	Stage SwitchoverStage `json:"stage,omitempty"`

	// planned is set for a planned switchover (monswap, a group switch).
	// +optional
	Planned bool `json:"planned,omitempty"`

	// forced is set for a forced switchover (monswap -f).
	// +optional
	Forced bool `json:"forced,omitempty"`

	// clearing is the host the switchover waits to be stopped or fenced.
	// +optional
	Clearing string `json:"clearing,omitempty"`

	// tried lists targets that failed to start in this switchover.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	Tried []string `json:"tried,omitempty"`

	// requestID is the operator request that started it.
	// +optional
	RequestID string `json:"requestID,omitempty"`

	// awaitHostDown is set while a forced fence waits for the host to go down.
	// +optional
	AwaitHostDown bool `json:"awaitHostDown,omitempty"`

	// targetWasRunning is set when the target's standby copy is promoted
	// rather than started.
	// +optional
	TargetWasRunning bool `json:"targetWasRunning,omitempty"`
}

// RequestOutcome is what became of an operator request.
// +kubebuilder:validation:Enum=InProgress;Done;Refused;Failed
type RequestOutcome string

// The request outcomes.
const (
	RequestInProgress RequestOutcome = "InProgress" // Accepted and being carried out.
	RequestDone       RequestOutcome = "Done"       // Carried out.
	RequestRefused    RequestOutcome = "Refused"    // Not carried out; reason says why.
	RequestFailed     RequestOutcome = "Failed"     // Accepted, then failed (a switchover that failed).
)

// RequestStatus is the outcome of one operator request.
type RequestStatus struct {
	// id is the request's id (spec.request.id).
	// +required
	ID string `json:"id"`

	// action is the request's action.
	// +required
	Action RequestAction `json:"action"`

	// outcome is InProgress, Done, Refused or Failed.
	// +required
	Outcome RequestOutcome `json:"outcome"`

	// reason is a CamelCase word saying why, when refused.
	// +optional
	Reason string `json:"reason,omitempty"`

	// message says what was done or why it was refused, for people.
	// +optional
	Message string `json:"message,omitempty"`

	// time is when the outcome was last written.
	// +optional
	Time *metav1.Time `json:"time,omitempty"`
}

// HAServer is one hot-standby server: a program that runs active on exactly
// one of its hosts, with standby copies ready on the others, that hamon
// switches over on failure or on request, fencing the shared disks so that
// two copies never write them at once. Its name has at most 63 characters:
// it labels the server's pods (ha.hamon.io/server).
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=has,categories=hamon
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 63",message="metadata.name of an HAServer may have at most 63 characters: it is the value of its pods' label ha.hamon.io/server"
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.mode`
// +kubebuilder:printcolumn:name="Active",type=string,JSONPath=`.status.activeNode`
// +kubebuilder:printcolumn:name="Standby",type=string,JSONPath=`.status.standbyNodes`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="SwitchType",type=string,JSONPath=`.spec.switchType`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Group",type=string,JSONPath=`.spec.group.name`,priority=1
// +kubebuilder:printcolumn:name="Reservation",type=string,JSONPath=`.status.reservationHolder`,priority=1
type HAServer struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is the object's metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec is the server environment definition.
	// +required
	Spec HAServerSpec `json:"spec"`

	// status is the observed state, written by the controller only.
	// +optional
	Status HAServerStatus `json:"status,omitzero"`
}

// HAServerList is a list of HAServers.
//
// +kubebuilder:object:root=true
type HAServerList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the list's metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitzero"`
	// items are the HAServers.
	Items []HAServer `json:"items"`
}
