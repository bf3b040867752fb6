package hotstandby

import (
	"fmt"
	"time"
)

// Event is something observed that the machine reacts to. The controller
// turns what it sees in the API (pod status, Leases, agent reports, the
// request field) into events.
type Event interface {
	isEvent()
	fmt.Stringer
}

// ServerStarted: the server on Node reports it is up in the role hamon gave
// it (its pod is Ready).
type ServerStarted struct{ Node string }

// ServerExited: the server process on Node ended. Normal is an exit with
// status 0 (normal, planned or forced termination by the program's own
// command, Table 4-3 #1); otherwise it is an abnormal termination (#2, #4).
type ServerExited struct {
	Node   string
	Normal bool
	// At is when it ended, as the container runtime tells (zero: unknown).
	At time.Time
}

// StoppedByAgent: the node agent of Node stopped the server there on its
// own, while it could not reach the API server (it self-fenced, or it
// stopped a failed server it could not report), and reported it once it
// could. However the server then exited, this is an abnormal termination:
// the server did not end by its own or an operator's will, and it must
// run again (a hot standby, or a restart) rather than stay ended.
type StoppedByAgent struct {
	Node   string
	Reason string
}

// StartFailed: the server could not be started on Node (the pod failed
// before it was ready).
type StartFailed struct {
	Node   string
	Reason string
}

// PatrolFailed: hamon detected a failure of the server on Node: the resident
// patrolCommand exited, or the periodic patrol failed retries+1 times.
type PatrolFailed struct {
	Node   string
	Reason string
	// At is when the patrol failed, as its source tells (zero: unknown).
	At time.Time
}

// HostLost: Node's agent stopped renewing its Lease (host failure).
// LastRenewal is its last renewal seen (zero: unknown).
type HostLost struct {
	Node        string
	LastRenewal time.Time
}

// HostBack: Node's agent renews its Lease again. Rebooted says the host has
// rebooted since it was lost (a new boot ID) and was admitted back.
type HostBack struct {
	Node     string
	Rebooted bool
}

// ReservationTaken: Node's agent holds the reservation of every shared disk
// for Epoch (registered on every path, every other key preempted).
type ReservationTaken struct {
	Node  string
	Epoch int64
}

// ReservationCleared: the agent of By answered the ClearReservation the
// machine asked of it (monscsiclr): OK, or not, and why.
type ReservationCleared struct {
	By     string
	OK     bool
	Reason string
}

// ReservationFailed: Node's agent could not take the reservation for Epoch.
type ReservationFailed struct {
	Node   string
	Epoch  int64
	Reason string
}

// Tick: time passed; timers are checked.
type Tick struct{}

// Request is an operator request (spec.request).
type Request struct {
	ID     string
	Action Action
	Node   string
	Force  bool
}

// GroupSwitch: the group coordinator asks this member to switch to To
// (exchange: another member failed; or a group Swap, monswap -g).
type GroupSwitch struct {
	To    string
	Cause Cause
}

// GroupMemberSwitched: another member of the group switched to To. Start
// retries on any other host are canceled (3.2.7).
type GroupMemberSwitched struct{ To string }

// TermCommandEnded: the termCommand run on Node after an abnormal
// termination (Table 4-4 #1) ended, with ExitCode.
type TermCommandEnded struct {
	Node     string
	ExitCode int32
}

// MembersReady: the group members a system-manager switchover waits for
// have started (HiRDB 26.7.9, Table 26-42).
type MembersReady struct{}

// Action is the operator command of a Request.
type Action string

// The operator commands.
const (
	ActionSwap             Action = "Swap"
	ActionStopStandby      Action = "StopStandby"
	ActionEnd              Action = "End"
	ActionBegin            Action = "Begin"
	ActionAct              Action = "Act"
	ActionClearReservation Action = "ClearReservation"
)

func (ServerStarted) isEvent()       {}
func (ServerExited) isEvent()        {}
func (StoppedByAgent) isEvent()      {}
func (StartFailed) isEvent()         {}
func (PatrolFailed) isEvent()        {}
func (HostLost) isEvent()            {}
func (HostBack) isEvent()            {}
func (ReservationTaken) isEvent()    {}
func (ReservationFailed) isEvent()   {}
func (ReservationCleared) isEvent()  {}
func (Tick) isEvent()                {}
func (Request) isEvent()             {}
func (GroupSwitch) isEvent()         {}
func (GroupMemberSwitched) isEvent() {}
func (MembersReady) isEvent()        {}
func (TermCommandEnded) isEvent()    {}

func (e ServerStarted) String() string { return "ServerStarted(" + e.Node + ")" }
func (e TermCommandEnded) String() string {
	return fmt.Sprintf("TermCommandEnded(%s, exit %d)", e.Node, e.ExitCode)
}
func (e StoppedByAgent) String() string {
	return fmt.Sprintf("StoppedByAgent(%s, %s)", e.Node, e.Reason)
}

func (e ServerExited) String() string {
	return fmt.Sprintf("ServerExited(%s, normal=%t)", e.Node, e.Normal)
}
func (e StartFailed) String() string  { return "StartFailed(" + e.Node + ")" }
func (e PatrolFailed) String() string { return "PatrolFailed(" + e.Node + ")" }
func (e HostLost) String() string     { return "HostLost(" + e.Node + ")" }
func (e HostBack) String() string {
	return fmt.Sprintf("HostBack(%s, rebooted=%t)", e.Node, e.Rebooted)
}
func (e ReservationTaken) String() string {
	return fmt.Sprintf("ReservationTaken(%s, epoch=%d)", e.Node, e.Epoch)
}
func (e ReservationCleared) String() string {
	return fmt.Sprintf("ReservationCleared(%s, ok=%t)", e.By, e.OK)
}

func (e ReservationFailed) String() string {
	return fmt.Sprintf("ReservationFailed(%s, epoch=%d)", e.Node, e.Epoch)
}
func (Tick) String() string { return "Tick" }
func (e Request) String() string {
	return fmt.Sprintf("Request(%s %s node=%q force=%t)", e.ID, e.Action, e.Node, e.Force)
}
func (e GroupSwitch) String() string         { return "GroupSwitch(" + e.To + ")" }
func (e GroupMemberSwitched) String() string { return "GroupMemberSwitched(" + e.To + ")" }
func (MembersReady) String() string          { return "MembersReady" }

// Command is something the controller must carry out, in order. Commands
// are idempotent: carrying one out twice does no harm.
type Command interface {
	isCommand()
	fmt.Stringer
}

// StartServer starts the server on Node in Role (creates its pod).
type StartServer struct {
	Node string
	Role Role
}

// Promote tells the running standby copy on Node that it is now active
// (Server mode), without restarting it.
type Promote struct{ Node string }

// StopServer terminates the server on Node: with the termCommand when
// UseTermCommand, otherwise by deleting its pod.
type StopServer struct {
	Node           string
	UseTermCommand bool
}

// Reserve asks Node's agent to take the reservation of every shared disk
// for Epoch: register its key on every path, then PREEMPT AND ABORT every
// other key, then report ReservationTaken.
type Reserve struct {
	Node  string
	Epoch int64
}

// Release asks Node's agent to release its reservation and unregister
// (after a normal end).
type Release struct{ Node string }

// ClearReservation asks By's agent to clear the reservation of every shared
// disk (monscsiclr), after the holder is known down.
type ClearReservation struct{ By string }

// FenceHost asks Node's agent to terminate its OS (monswap -f).
type FenceHost struct{ Node string }

// Emit records an event for people, with an HA Monitor style message id.
type Emit struct {
	ID      string
	Warning bool
	Message string
}

func (StartServer) isCommand()      {}
func (Promote) isCommand()          {}
func (StopServer) isCommand()       {}
func (Reserve) isCommand()          {}
func (Release) isCommand()          {}
func (ClearReservation) isCommand() {}
func (FenceHost) isCommand()        {}
func (Emit) isCommand()             {}

func (c StartServer) String() string { return fmt.Sprintf("StartServer(%s, %s)", c.Node, c.Role) }
func (c Promote) String() string     { return "Promote(" + c.Node + ")" }
func (c StopServer) String() string {
	return fmt.Sprintf("StopServer(%s, term=%t)", c.Node, c.UseTermCommand)
}
func (c Reserve) String() string          { return fmt.Sprintf("Reserve(%s, epoch=%d)", c.Node, c.Epoch) }
func (c Release) String() string          { return "Release(" + c.Node + ")" }
func (c ClearReservation) String() string { return "ClearReservation(by " + c.By + ")" }
func (c FenceHost) String() string        { return "FenceHost(" + c.Node + ")" }
func (c Emit) String() string             { return c.ID + " " + c.Message }
