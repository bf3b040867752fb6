package hotstandby

import (
	"time"
)

// Mode is the server's acttype: Server (a copy runs on every host) or
// Monitor (only the active host runs the server).
type Mode string

// The modes.
const (
	ModeServer  Mode = "Server"
	ModeMonitor Mode = "Monitor"
)

// SwitchType is the switchtype operand: the response to a server failure.
type SwitchType string

// The switch types.
const (
	SwitchTypeSwitch  SwitchType = "Switch"
	SwitchTypeRestart SwitchType = "Restart"
	SwitchTypeManual  SwitchType = "Manual"
)

// SwitchError is the switch_error operand: the response to a failed start on
// the last available target.
type SwitchError string

// The switch_error values.
const (
	SwitchErrorStop  SwitchError = "Stop"
	SwitchErrorRetry SwitchError = "Retry"
)

// Config is what the machine needs of the server's definition. The
// controller builds it from the HAServer spec on every reconcile.
type Config struct {
	// Mode is Server or Monitor.
	Mode Mode
	// Hosts are the host nodes by standby priority, highest first.
	Hosts []string
	// Primary is the host the server starts active on (the first host of the spec).
	Primary string
	// SwitchType is Switch, Restart or Manual.
	SwitchType SwitchType
	// RestartWaitLimit bounds how long, with switchType Restart, a failed
	// active server waits in RestartWait to recover or be restarted before
	// hamon switches over; 0: no limit, as the manual has it (Table 4-3
	// footnote 3: it waits "without performing the hot standby operation").
	RestartWaitLimit time.Duration
	// SwitchError is Stop or Retry.
	SwitchError SwitchError
	// SwitchRetry is the number of start retries (Monitor mode, SwitchError Retry).
	SwitchRetry int
	// HasTermCommand says a termCommand is defined (Table 4-4 #1, #3).
	HasTermCommand bool
	// HasPatrol says a patrolCommand or periodic patrol is defined. In
	// Monitor mode only then does a failure switch automatically (Table 4-4 #2).
	HasPatrol bool
	// SharedDisks says the server has shared disks, fenced by reservation.
	SharedDisks bool
	// Cordoned are the hosts whose Node is cordoned (kubectl cordon or
	// drain): being drained. The active server is moved off them with a
	// planned switchover; standbys there are stopped and start again when
	// the node is uncordoned. Observed, not part of the spec.
	Cordoned []string
	// Settling are the hosts whose agent re-acquired its Lease less than
	// two watchdog timeouts ago, with the time that ends: its agent may
	// have told a peer that it could not renew, and the peer may still run
	// a server without shared disks on that word until its watchdog fires.
	// No such server activates there before that time (a planned
	// switchover's source may be lost on the way, too).
	// Observed, not part of the spec.
	Settling map[string]time.Time
	// Group is the server's group name, empty when not grouped.
	Group string
	// Exchange is the group's exchange (true) or no_exchange (false) setting.
	Exchange bool
	// ManagerGate, when not nil, is the system-manager policy decision of the
	// server's group (HiRDB 26.7.9) for this server, which is the group's
	// manager member. See DecideManagerSwitchover.
	ManagerGate *ManagerDecision
	// Timing holds the machine's timeouts.
	Timing Timing
}

// Timing holds the machine's timers. Zero values take the defaults of
// DefaultTiming.
type Timing struct {
	// StopTimeout bounds the termination of a server (termCommand or pod
	// deletion). On expiry the host is fenced instead.
	StopTimeout time.Duration
	// ReserveTimeout bounds the target agent's reservation work.
	ReserveTimeout time.Duration
	// StartTimeout bounds a server's start, as active or standby.
	StartTimeout time.Duration
	// RestartTimeout bounds a restart in place an operator asked for (Act
	// on a RestartWait host); switchType Restart's own wait is bounded by
	// Config.RestartWaitLimit, if at all.
	RestartTimeout time.Duration
	// SelfFenceWait is how long after a host is lost a server without shared
	// disks waits before it may start elsewhere: the lost host's agent stops
	// its active servers within its self-fencing deadline, which is shorter
	// than the lease, so by the time the lease has expired plus this margin
	// the old copy is known stopped.
	SelfFenceWait time.Duration
	// FenceTimeout bounds a forced fence (monswap -f) of a live host.
	FenceTimeout time.Duration
	// RetryInterval is the pause between two start retries (StartRetry).
	RetryInterval time.Duration
	// PrimaryWait is how long a new or begun server waits for its primary
	// host before the best other host goes to ActiveStartWait (7.5.1).
	PrimaryWait time.Duration
}

// DefaultTiming returns the timers used when a Timing field is zero.
func DefaultTiming() Timing {
	return Timing{
		StopTimeout:    60 * time.Second,
		ReserveTimeout: 30 * time.Second,
		StartTimeout:   120 * time.Second,
		RestartTimeout: 120 * time.Second,
		SelfFenceWait:  2 * time.Second,
		FenceTimeout:   60 * time.Second,
		RetryInterval:  5 * time.Second,
		PrimaryWait:    60 * time.Second,
	}
}

func (t Timing) withDefaults() Timing {
	d := DefaultTiming()
	pick := func(v, def time.Duration) time.Duration {
		if v <= 0 {
			return def
		}
		return v
	}
	return Timing{
		StopTimeout:    pick(t.StopTimeout, d.StopTimeout),
		ReserveTimeout: pick(t.ReserveTimeout, d.ReserveTimeout),
		StartTimeout:   pick(t.StartTimeout, d.StartTimeout),
		RestartTimeout: pick(t.RestartTimeout, d.RestartTimeout),
		SelfFenceWait:  pick(t.SelfFenceWait, d.SelfFenceWait),
		FenceTimeout:   pick(t.FenceTimeout, d.FenceTimeout),
		RetryInterval:  pick(t.RetryInterval, d.RetryInterval),
		PrimaryWait:    pick(t.PrimaryWait, d.PrimaryWait),
	}
}

// HostState is the state of the server on one host, as monshow names it.
type HostState string

// The host states. See the package documentation for when each is entered.
const (
	Online          HostState = "Online"
	Standby         HostState = "Standby"
	Starting        HostState = "Starting"
	Stopping        HostState = "Stopping"
	StartRetry      HostState = "StartRetry"
	RestartWait     HostState = "RestartWait"
	ActiveStartWait HostState = "ActiveStartWait"
	HotStandbyWait  HostState = "HotStandbyWait"
	GroupSwitchWait HostState = "GroupSwitchWait"
	Stopped         HostState = "Stopped"
	Failed          HostState = "Failed"
	Fenced          HostState = "Fenced"
)

// IsWait reports whether the state is a wait state that an operator's Act
// (monact) resolves.
func (s HostState) IsWait() bool {
	switch s {
	case RestartWait, ActiveStartWait, HotStandbyWait, GroupSwitchWait, StartRetry:
		return true
	}
	return false
}

// Role is the part a host plays.
type Role string

// The roles.
const (
	RoleActive  Role = "Active"
	RoleStandby Role = "Standby"
	RoleNone    Role = "None"
)

// Phase summarises the server.
type Phase string

// The phases.
const (
	PhasePending       Phase = "Pending"
	PhaseStarting      Phase = "Starting"
	PhaseOnline        Phase = "Online"
	PhaseSwitchingOver Phase = "SwitchingOver"
	PhaseWaiting       Phase = "Waiting"
	PhaseStopped       Phase = "Stopped"
	PhaseFailed        Phase = "Failed"
)

// Host is the machine's record of the server on one host.
type Host struct {
	// Node is the host's node name.
	Node string
	// State is the server's state on the host.
	State HostState
	// Role is Active while the host runs, starts or waits as the active
	// server, Standby for a standby, None otherwise.
	Role Role
	// Alive says the host's agent is heard from (its Lease is fresh).
	Alive bool
	// WantStandby says hamon wants a standby copy here: it is started (Server
	// mode) or declared (Monitor mode) as soon as the host is alive and idle.
	WantStandby bool
	// StartRetries counts start retries made here.
	StartRetries int
	// Since is when the host entered State.
	Since time.Time
	// Deadline is when the host's own timer fires (a standby start, a
	// stop, a restart in place, the next start retry); zero when none runs.
	Deadline time.Time
	// Running says a server process may run on the host: hamon started it
	// (or saw it start) and has not seen it end.
	Running bool
	// ActiveCopy says a copy started (or promoted) as active may run on the
	// host: it must be stopped or fenced before any other host is
	// activated (safety invariant 1).
	ActiveCopy bool
	// FailureLeft says a failure of the active server was detected here
	// while no standby could take over: hamon did nothing (Table 4-3
	// footnote 3) and does not act on that failure later (a standby added
	// since does not make it a switchover). Cleared when the server is
	// seen healthy again.
	FailureLeft bool
	// TermCommand says the host is Stopping to run the termCommand after
	// the server ended abnormally there (Monitor mode, Table 4-4 #1): the
	// command cleans up what the server left, and the switchover waits for
	// it to end (TermCommandEnded) before the standby starts.
	TermCommand bool
	// AfterStop is the state a Stopping host goes to once stopped.
	AfterStop HostState
	// Message says why, for people.
	Message string
}

// Cause says why a switchover started.
type Cause string

// The switchover causes.
const (
	CauseInitial       Cause = "InitialStart"
	CauseServerFailure Cause = "ServerFailure"
	CausePatrolFailure Cause = "PatrolFailure"
	CauseHostFailure   Cause = "HostFailure"
	CauseRestartFailed Cause = "RestartFailed"
	CausePlannedSwap   Cause = "PlannedSwap"
	CauseForcedSwap    Cause = "ForcedSwap"
	CauseGroupSwitch   Cause = "GroupSwitch"
	CauseOperatorAct   Cause = "OperatorAct"
	// CauseDrain: the active host's node is being drained (cordoned).
	CauseDrain Cause = "NodeDrain"
	// CauseStartRetry: a start retry (3.2.7) on a host whose resource
	// connection had failed: it takes the reservation through the same
	// pipeline as any activation, then starts the server.
	CauseStartRetry Cause = "StartRetry"
)

// Stage is a switchover's step. Each step waits for one confirmation and
// has a deadline, so a switchover never stalls silently.
type Stage string

// The switchover stages, in order.
const (
	// StageTerminating waits for the old active server to stop.
	StageTerminating Stage = "Terminating"
	// StageFencing waits until the old host is known not to write: the
	// self-fencing wait of a lost host without shared disks, or the loss of a
	// host whose OS a forced swap terminates.
	StageFencing Stage = "Fencing"
	// StageReserving waits for the target's agent to report the reservation
	// of every shared disk taken for the switchover's epoch (register, then
	// PREEMPT AND ABORT of every other key).
	StageReserving Stage = "Reserving"
	// StageActivating waits for the server on the target to report started
	// as the active server.
	StageActivating Stage = "Activating"
	// StageAwaitingMembers waits, after a system-manager switchover with
	// reduced activation, for the group members (HiRDB 26.7.9 Table 26-42).
	StageAwaitingMembers Stage = "AwaitingMembers"
)

// Switchover is a switchover in progress or in the history.
type Switchover struct {
	From string
	To   string
	// Clearing is the host the switchover waits to be clean or fenced
	// (the old active, or a target that failed while it may run); "" once
	// it is.
	Clearing string
	Cause    Cause
	Stage    Stage
	Planned  bool
	Forced   bool
	// TargetWasRunning says the target ran a standby copy (Server mode),
	// which is promoted rather than started.
	TargetWasRunning bool
	// AwaitHostDown says the Fencing stage waits for the old host to go down
	// (a forced fence of a live host without shared disks).
	AwaitHostDown bool
	// Tried lists targets that failed to start in this switchover.
	Tried []string
	// FailedAt is when the failure that started it happened, as its source
	// tells (the container's end, the host's last Lease renewal, the
	// patrol's failure); zero for a request, or when unknown. Started -
	// FailedAt is the detection stage.
	FailedAt time.Time
	Started  time.Time
	Fenced   time.Time
	Finished time.Time
	// Result is "" while in progress, then Succeeded or Failed.
	Result string
	// RequestID is the operator request that started it, if any.
	RequestID string
}

// Switchover results.
const (
	ResultSucceeded = "Succeeded"
	ResultFailed    = "Failed"
)

// RequestOutcome is what became of an operator request.
type RequestOutcome string

// The request outcomes.
const (
	RequestInProgress RequestOutcome = "InProgress"
	RequestDone       RequestOutcome = "Done"
	RequestRefused    RequestOutcome = "Refused"
	RequestFailed     RequestOutcome = "Failed"
)

// RequestResult is the answer to an operator request.
type RequestResult struct {
	ID      string
	Action  Action
	Outcome RequestOutcome
	Reason  string
	Message string
}

// State is everything the machine remembers about one server between
// events. The controller persists it in the HAServer status, so that a
// restarted controller resumes where the last one stopped.
type State struct {
	// Hosts is one record per host, in Config.Hosts order.
	Hosts []Host
	// Phase summarises the server.
	Phase Phase
	// Epoch counts activations; each activation takes the reservation anew
	// for its own epoch, so a stale report never counts.
	Epoch int64
	// ReservationHolder is the node whose key holds the shared disks, as the
	// agents last reported it.
	ReservationHolder string
	// Switch is the switchover in progress, nil when none.
	Switch *Switchover
	// History holds the last finished switchovers, newest last.
	History []Switchover
	// Deadline is when the current wait times out; zero when nothing waits
	// on a timer.
	Deadline time.Time
	// Created is when the machine was started (for PrimaryWait).
	Created time.Time
	// LastRequest is the answer to the last operator request.
	LastRequest *RequestResult
	// Halted is Stopped or Failed once the server has ended normally or
	// with a hot-standby error, until it runs again.
	Halted Phase
}

// MaxHistory is how many finished switchovers State.History keeps.
const MaxHistory = 10

// Host returns the record of node, or nil.
func (s *State) Host(node string) *Host {
	for i := range s.Hosts {
		if s.Hosts[i].Node == node {
			return &s.Hosts[i]
		}
	}
	return nil
}

// ActiveNode is the host in state Online, "" when none.
func (s *State) ActiveNode() string {
	for _, h := range s.Hosts {
		if h.State == Online {
			return h.Node
		}
	}
	return ""
}

// StandbyNodes are the hosts in state Standby that are alive, by priority.
func (s *State) StandbyNodes() []string {
	var out []string
	for _, h := range s.Hosts {
		if h.State == Standby && h.Alive {
			out = append(out, h.Node)
		}
	}
	return out
}

// Clone returns a deep copy of s.
func (s *State) Clone() *State {
	c := *s
	c.Hosts = append([]Host(nil), s.Hosts...)
	c.History = append([]Switchover(nil), s.History...)
	if s.Switch != nil {
		sw := *s.Switch
		sw.Tried = append([]string(nil), s.Switch.Tried...)
		c.Switch = &sw
	}
	if s.LastRequest != nil {
		r := *s.LastRequest
		c.LastRequest = &r
	}
	return &c
}
