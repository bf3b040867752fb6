package v1alpha1

// This file holds the whole protocol between the controller and the node
// agents: the package documentation ("The controller-agent protocol",
// go doc ./api/v1alpha1) describes it.

import (
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AgentAction is work the controller asks of a node agent.
// +kubebuilder:validation:Enum=Reserve;Release;ClearReservation;FenceHost
type AgentAction string

// The agent actions, with what the agent reports for each.
const (
	// AgentReserve: register this node's key on every path of every shared
	// disk of the server and PREEMPT AND ABORT every other key, for the
	// request's epoch. Carried out only while the switchover is in stage
	// Reserving for this node and epoch; otherwise Refused. Answer Done sets
	// the report's reservation to Held for the epoch; Failed says why.
	AgentReserve AgentAction = "Reserve"
	// AgentRelease: release the reservation and unregister (after a normal
	// end). Answer Done sets the report's reservation to Released.
	AgentRelease AgentAction = "Release"
	// AgentClearReservation: clear the reservation of every shared disk
	// (monscsiclr), after the holder is known down.
	AgentClearReservation AgentAction = "ClearReservation"
	// AgentFenceHost: terminate this host's OS (monswap -f, or a server that
	// would not stop and has no shared disk to fence it). The answer is
	// written only if the host is still there to write it.
	AgentFenceHost AgentAction = "FenceHost"
)

// AgentRequest is one piece of work for the agent of one node.
type AgentRequest struct {
	// id identifies the request among the server's requests: every new
	// request has a larger id than the ones before it, so an agent knows
	// which it has handled. The agent answers by it.
	// +required
	// +kubebuilder:validation:Minimum=1
	ID int64 `json:"id"`
	// node is the node whose agent is to act.
	// +required
	Node string `json:"node"`
	// action is Reserve, Release, ClearReservation or FenceHost.
	// +required
	Action AgentAction `json:"action"`
	// epoch is the fencing epoch the request belongs to.
	// +optional
	Epoch int64 `json:"epoch,omitempty"`
	// time is when it was asked.
	// +optional
	Time *metav1.Time `json:"time,omitempty"`
}

// maxAgentRequests is how many requests status.agentRequests keeps.
const maxAgentRequests = 16

// AddAgentRequest appends a request for node with the next id, keeping the
// newest maxAgentRequests, and returns its id.
func (st *HAServerStatus) AddAgentRequest(node string, a AgentAction, epoch int64, at metav1.Time) int64 {
	var id int64 = 1
	if n := len(st.AgentRequests); n > 0 {
		id = st.AgentRequests[n-1].ID + 1
	}
	st.AgentRequests = append(st.AgentRequests, AgentRequest{ID: id, Node: node, Action: a, Epoch: epoch, Time: &at})
	if n := len(st.AgentRequests); n > maxAgentRequests {
		st.AgentRequests = st.AgentRequests[n-maxAgentRequests:]
	}
	return id
}

// LocalDecisions are decisions of the controller's state machine that the
// agent of the active host applies by itself when it cannot reach the API
// server to report what it saw and be told what to do.
type LocalDecisions struct {
	// stopFailedActive says what the agent does when the resident
	// patrolCommand of the active server ends and the failure cannot be
	// reported: true, stop the server here (the state machine answers a
	// failure of the active server by stopping it); false, leave it
	// running for an operator (switchType Manual).
	// +optional
	StopFailedActive bool `json:"stopFailedActive,omitempty"`
}

// AnswerResult is how an agent answers a request.
// +kubebuilder:validation:Enum=Done;Failed;Refused
type AnswerResult string

// The answer results.
const (
	AnswerDone    AnswerResult = "Done"    // Carried out.
	AnswerFailed  AnswerResult = "Failed"  // Tried and failed; message says why.
	AnswerRefused AnswerResult = "Refused" // Not carried out: stale, or nothing to do; message says why.
)

// AgentAnswer is an agent's answer to one request.
type AgentAnswer struct {
	// id is the request's id.
	// +required
	ID int64 `json:"id"`
	// action is the request's action.
	// +required
	Action AgentAction `json:"action"`
	// epoch is the request's epoch.
	// +optional
	Epoch int64 `json:"epoch,omitempty"`
	// result is Done, Failed or Refused.
	// +required
	Result AnswerResult `json:"result"`
	// message says what was done, or why not.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
}

// maxAgentAnswers is how many answers an agent keeps per server.
const maxAgentAnswers = 8

// ReservationResult is what a node holds of a server's shared disks.
// +kubebuilder:validation:Enum=Held;Released;Failed;NotRequired
type ReservationResult string

// The reservation results.
const (
	ReservationHeld        ReservationResult = "Held"        // The node's key holds every shared disk of the server.
	ReservationReleased    ReservationResult = "Released"    // The node holds no registration.
	ReservationFailed      ReservationResult = "Failed"      // Taking the reservation failed (see message).
	ReservationNotRequired ReservationResult = "NotRequired" // The server has no shared disks.
)

// NodeServerStatus is what one agent reports about one server.
type NodeServerStatus struct {
	// key is namespace/name of the HAServer (ReportKey).
	// +required
	// +kubebuilder:validation:MaxLength=317
	Key string `json:"key"`
	// serverUID is the HAServer's uid: a report about an earlier server of
	// the same name is not about this one (its request ids start again).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	ServerUID string `json:"serverUID,omitempty"`
	// epoch is the fencing epoch the reservation result answers.
	// +optional
	Epoch int64 `json:"epoch,omitempty"`
	// reservation is what the node holds for epoch.
	// +optional
	Reservation ReservationResult `json:"reservation,omitempty"`
	// reservedDevices are the shared disks (as spec.sharedDisks names them)
	// the Reserve of epoch took. The agent watches its key on these only: a
	// disk added to a running server's spec is reserved at its next
	// activation, and its absence is no preemption.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=140
	ReservedDevices []string `json:"reservedDevices,omitempty"`
	// answers are the agent's answers to the server's agentRequests for
	// this node, by request id, newest last (at most 8).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	Answers []AgentAnswer `json:"answers,omitempty"`
	// patrolFailed is set when the resident patrolCommand, run by the agent
	// in the server's container through the node's container runtime,
	// exited while the server was active here.
	// +optional
	PatrolFailed bool `json:"patrolFailed,omitempty"`
	// patrolPod is the pod whose patrolCommand patrolFailed is about: a
	// failure of an earlier copy of the server says nothing of the current one.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	PatrolPod string `json:"patrolPod,omitempty"`
	// keyPreempted is set when the agent saw its key preempted while the
	// server was active here, and stopped the server.
	// +optional
	KeyPreempted bool `json:"keyPreempted,omitempty"`
	// localStop is a stop the agent made on its own while it could not
	// reach the API server, written as soon as it can be: the server's end
	// is then an abnormal termination, whatever its exit code, never a
	// normal end.
	// +optional
	LocalStop *LocalStop `json:"localStop,omitempty"`
	// containerExit is the last end of the server's container on this node
	// that the container runtime told the agent of (CRI container events,
	// or the agent's relist of the runtime's containers where the runtime
	// streams none). It often comes before the kubelet writes the end in
	// the pod's status: the controller acts on the first of the two, for an
	// abnormal end of its recorded pod (a non-zero exit code).
	// +optional
	ContainerExit *ContainerExit `json:"containerExit,omitempty"`
	// message explains the last result.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
	// time is when the entry was last written.
	// +optional
	Time *metav1.Time `json:"time,omitempty"`
}

// LocalStopReason says why an agent stopped a server on its own.
// +kubebuilder:validation:Enum=SelfFence;PatrolFailure
type LocalStopReason string

// The local stop reasons.
const (
	// LocalStopSelfFence: the agent could not renew its Lease before the
	// self-fence deadline, and the server had no shared disk to fence it.
	LocalStopSelfFence LocalStopReason = "SelfFence"
	// LocalStopPatrolFailure: the resident patrolCommand failed and the
	// failure could not be reported; localDecisions said stop.
	LocalStopPatrolFailure LocalStopReason = "PatrolFailure"
)

// LocalStop is a stop of a server's copy an agent made on its own.
type LocalStop struct {
	// pod is the pod whose server container was stopped.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Pod string `json:"pod"`
	// reason is SelfFence or PatrolFailure.
	// +required
	Reason LocalStopReason `json:"reason"`
	// time is when the agent stopped it.
	// +optional
	Time *metav1.Time `json:"time,omitempty"`
}

// ContainerExit is the end of a server's container as the node's container
// runtime tells it.
type ContainerExit struct {
	// pod is the name of the pod whose server container ended.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Pod string `json:"pod"`
	// podUID is that pod's UID, as the runtime labels the container.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	PodUID string `json:"podUID,omitempty"`
	// exitCode is the container's exit status (137: SIGKILL).
	// +required
	ExitCode int32 `json:"exitCode"`
	// finishedAt is when the container ended, to the microsecond, on the
	// node's clock.
	// +optional
	FinishedAt *metav1.MicroTime `json:"finishedAt,omitempty"`
}

// LastAnswered is the id of the newest request the report answers, 0 when
// none.
func (r *NodeServerStatus) LastAnswered() int64 {
	if n := len(r.Answers); n > 0 {
		return r.Answers[n-1].ID
	}
	return 0
}

// AddAnswer records an answer, keeping the newest maxAgentAnswers.
func (r *NodeServerStatus) AddAnswer(a AgentAnswer) {
	a.Message = TruncateMessage(a.Message)
	r.Answers = append(r.Answers, a)
	if n := len(r.Answers); n > maxAgentAnswers {
		r.Answers = r.Answers[n-maxAgentAnswers:]
	}
}

// LastAnswer is the newest answer to a request with action a, nil when none.
func (r *NodeServerStatus) LastAnswer(a AgentAction) *AgentAnswer {
	for i := len(r.Answers) - 1; i >= 0; i-- {
		if r.Answers[i].Action == a {
			return &r.Answers[i]
		}
	}
	return nil
}

// ReportKey is the key of the agents' reports on s (namespace/name).
func (s *HAServer) ReportKey() string { return ReportKey(s.Namespace, s.Name) }

// ReportKey is the key of the agents' reports on the HAServer namespace/name.
func ReportKey(namespace, name string) string { return namespace + "/" + name }

// Report is the report in st on the server with key, nil when none.
func (st *HANodeStatus) Report(key string) *NodeServerStatus {
	for i := range st.Servers {
		if st.Servers[i].Key == key {
			return &st.Servers[i]
		}
	}
	return nil
}

// SwitchoverStage is a switchover's step. Each step waits for one
// confirmation and has a deadline, so a switchover never stalls silently.
// +kubebuilder:validation:Enum=Terminating;Fencing;Reserving;Activating;AwaitingMembers
type SwitchoverStage string

// The switchover stages, in order.
const (
	// StageTerminating waits for the old active server to stop.
	StageTerminating SwitchoverStage = "Terminating"
	// StageFencing waits until the old host is known not to write.
	StageFencing SwitchoverStage = "Fencing"
	// StageReserving waits for the target's agent to answer its Reserve
	// request for the switchover's epoch.
	StageReserving SwitchoverStage = "Reserving"
	// StageActivating waits for the server on the target to be started as
	// the active server.
	StageActivating SwitchoverStage = "Activating"
	// StageAwaitingMembers waits, after a system-manager switchover with
	// reduced activation, for the group's members (HiRDB 26.7.9).
	StageAwaitingMembers SwitchoverStage = "AwaitingMembers"
)

// SwitchoverResult is how a switchover ended.
// +kubebuilder:validation:Enum=Succeeded;Failed
type SwitchoverResult string

// The switchover results.
const (
	SwitchoverSucceeded SwitchoverResult = "Succeeded"
	SwitchoverFailed    SwitchoverResult = "Failed"
)

// SwitchoverCause says why a switchover started.
// +kubebuilder:validation:Enum=InitialStart;ServerFailure;PatrolFailure;HostFailure;RestartFailed;PlannedSwap;ForcedSwap;GroupSwitch;OperatorAct;NodeDrain;StartRetry
type SwitchoverCause string

// MaxMessageLength is the longest message either side writes in a status.
const MaxMessageLength = 1024

// TruncateMessage cuts s to MaxMessageLength bytes.
func TruncateMessage(s string) string { return Truncate(s, MaxMessageLength) }

// Truncate cuts s to at most n bytes without splitting a UTF-8 character.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
