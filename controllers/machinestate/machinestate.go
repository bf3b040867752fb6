// Package machinestate maps an HAServer to the state machine of package
// hotstandby and back: the machine's view of the spec (Config), its memory
// restored from the status (FromStatus), and its state written into the
// status (WriteStatus). It links no controller-runtime, so that tools that
// replay the machine (kubectl hamon plan) read a server exactly as the
// controller does.
package machinestate

import (
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/controllers/hotstandby"
)

// Config builds the state machine's view of a server's spec.
func Config(s *hav1alpha1.HAServer, t hotstandby.Timing, gate *hotstandby.ManagerDecision) hotstandby.Config {
	spec := &s.Spec
	cfg := hotstandby.Config{
		Mode:           hotstandby.Mode(spec.EffectiveMode()),
		Hosts:          spec.NodesByPriority(),
		Primary:        spec.PrimaryNode(),
		SwitchType:     hotstandby.SwitchType(spec.EffectiveSwitchType()),
		SwitchError:    hotstandby.SwitchErrorStop,
		SwitchRetry:    int(spec.EffectiveSwitchRetry()),
		HasTermCommand: len(spec.TermCommand) > 0,
		HasPatrol:      len(spec.PatrolCommand) > 0 || spec.Patrol != nil,
		SharedDisks:    len(spec.SharedDisks) > 0,
		ManagerGate:    gate,
		Timing:         t,
	}
	if spec.SwitchError == hav1alpha1.SwitchErrorRetry {
		cfg.SwitchError = hotstandby.SwitchErrorRetry
	}
	if d, err := time.ParseDuration(spec.RestartWaitLimit); err == nil && d > 0 {
		// The schema's pattern admits only what parses; anything else is no limit.
		cfg.RestartWaitLimit = d
	}
	if spec.Group != nil {
		cfg.Group, cfg.Exchange = spec.Group.Name, spec.GroupExchange()
	}
	return cfg
}

// FromStatus restores the machine's memory from the status; a server
// with no status yet starts afresh.
func FromStatus(s *hav1alpha1.HAServer, cfg hotstandby.Config) *hotstandby.State {
	st := &s.Status
	if len(st.Hosts) == 0 {
		return hotstandby.New(cfg, s.CreationTimestamp.Time)
	}
	out := &hotstandby.State{
		Phase:             hotstandby.Phase(st.Phase),
		Epoch:             st.FencingEpoch,
		ReservationHolder: st.ReservationHolder,
		Deadline:          timeOf(st.Deadline),
		Created:           s.CreationTimestamp.Time,
		Halted:            hotstandby.Phase(st.Halted),
	}
	for _, h := range st.Hosts {
		out.Hosts = append(out.Hosts, hotstandby.Host{
			Node:         h.Node,
			State:        hotstandby.HostState(h.State),
			Role:         hotstandby.Role(h.Role),
			Alive:        h.Alive,
			WantStandby:  h.WantStandby,
			StartRetries: int(h.StartRetries),
			Since:        timeOf(h.Since),
			Deadline:     timeOf(h.Deadline),
			Running:      h.Running,
			ActiveCopy:   h.ActiveCopy,
			FailureLeft:  h.FailureLeft,
			TermCommand:  h.TermCommand,
			AfterStop:    hotstandby.HostState(h.AfterStop),
			Message:      h.Message,
		})
	}
	if st.Switchover != nil {
		sw := SwitchoverFromStatus(*st.Switchover)
		out.Switch = &sw
	}
	for _, h := range st.Switchovers {
		out.History = append(out.History, SwitchoverFromStatus(h))
	}
	if r := st.LastRequest; r != nil {
		out.LastRequest = &hotstandby.RequestResult{
			ID: r.ID, Action: hotstandby.Action(r.Action), Outcome: hotstandby.RequestOutcome(r.Outcome),
			Reason: r.Reason, Message: r.Message,
		}
	}
	return out
}

// WriteStatus records the machine's state in the status. Fields the
// machine does not know (pods, boot IDs) are kept from the old status.
func WriteStatus(s *hav1alpha1.HAServer, st *hotstandby.State, now time.Time) {
	status := &s.Status
	old := map[string]hav1alpha1.HostStatus{}
	for _, h := range status.Hosts {
		old[h.Node] = h
	}
	status.Hosts = status.Hosts[:0]
	for _, h := range st.Hosts {
		prev := old[h.Node]
		status.Hosts = append(status.Hosts, hav1alpha1.HostStatus{
			Node:         h.Node,
			Role:         hav1alpha1.Role(h.Role),
			State:        hav1alpha1.HostState(h.State),
			StartRetries: int32(min(h.StartRetries, 1<<30)), //nolint:gosec // bounded above
			Since:        metaTime(h.Since),
			Message:      hav1alpha1.TruncateMessage(h.Message),
			Alive:        h.Alive,
			BootID:       prev.BootID,
			Pod:          prev.Pod,
			WantStandby:  h.WantStandby,
			Running:      h.Running,
			ActiveCopy:   h.ActiveCopy,
			FailureLeft:  h.FailureLeft,
			TermCommand:  h.TermCommand,
			AfterStop:    hav1alpha1.HostState(h.AfterStop),
			Deadline:     deadlineTime(h.Deadline),
		})
	}
	status.Phase = hav1alpha1.Phase(st.Phase)
	status.FencingEpoch = st.Epoch
	status.ReservationHolder = st.ReservationHolder
	status.Deadline = deadlineTime(st.Deadline)
	status.Halted = hav1alpha1.Phase(st.Halted)
	status.ActiveNode = st.ActiveNode()
	status.StandbyNodes = strings.Join(st.StandbyNodes(), ",")
	status.TargetNode = ""
	status.Switchover = nil
	if st.Switch != nil {
		sw := switchoverToStatus(*st.Switch)
		status.Switchover = &sw
		status.TargetNode = st.Switch.To
	}
	status.Switchovers = nil
	for _, h := range st.History {
		status.Switchovers = append(status.Switchovers, switchoverToStatus(h))
	}
	prev := status.LastRequest
	status.LastRequest = nil
	if r := st.LastRequest; r != nil {
		when := metav1.NewTime(now)
		if prev != nil && prev.ID == r.ID && string(prev.Outcome) == string(r.Outcome) && prev.Time != nil {
			when = *prev.Time // unchanged: no write at rest
		}
		status.LastRequest = &hav1alpha1.RequestStatus{
			ID: r.ID, Action: hav1alpha1.RequestAction(r.Action), Outcome: hav1alpha1.RequestOutcome(r.Outcome),
			Reason: r.Reason, Message: hav1alpha1.TruncateMessage(r.Message), Time: &when,
		}
	}
}

// SwitchoverFromStatus is the machine's record of a switchover in the status.
func SwitchoverFromStatus(h hav1alpha1.Switchover) hotstandby.Switchover {
	return hotstandby.Switchover{
		From: h.From, To: h.To, Clearing: h.Clearing, Cause: hotstandby.Cause(h.Cause), Stage: hotstandby.Stage(h.Stage),
		Planned: h.Planned, Forced: h.Forced, TargetWasRunning: h.TargetWasRunning, AwaitHostDown: h.AwaitHostDown,
		Tried: h.Tried, FailedAt: preciseTime(h.FailedAt, nil), Started: preciseTime(h.StartedAt, h.Started),
		Fenced:   preciseTime(h.FencedAt, h.Fenced),
		Finished: preciseTime(h.FinishedAt, h.Finished), Result: string(h.Result), RequestID: h.RequestID,
	}
}

func switchoverToStatus(h hotstandby.Switchover) hav1alpha1.Switchover {
	return hav1alpha1.Switchover{
		From: h.From, To: h.To, Clearing: h.Clearing, Cause: hav1alpha1.SwitchoverCause(h.Cause), Stage: hav1alpha1.SwitchoverStage(h.Stage),
		Planned: h.Planned, Forced: h.Forced, TargetWasRunning: h.TargetWasRunning, AwaitHostDown: h.AwaitHostDown,
		Tried: h.Tried, Started: metaTime(h.Started), Fenced: metaTime(h.Fenced), Finished: metaTime(h.Finished),
		FailedAt: microTime(h.FailedAt), StartedAt: microTime(h.Started), FencedAt: microTime(h.Fenced), FinishedAt: microTime(h.Finished),
		Result: hav1alpha1.SwitchoverResult(h.Result), RequestID: h.RequestID,
	}
}

func timeOf(t *metav1.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.Time
}

// preciseTime is the instant a switchover recorded to the microsecond, or
// to the second in a status written before hamon kept microseconds.
func preciseTime(micro *metav1.MicroTime, second *metav1.Time) time.Time {
	if micro != nil {
		return micro.Time
	}
	return timeOf(second)
}

func microTime(t time.Time) *metav1.MicroTime {
	if t.IsZero() {
		return nil
	}
	m := metav1.NewMicroTime(t.Truncate(time.Microsecond))
	return &m
}

func metaTime(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	m := metav1.NewTime(t)
	return &m
}

// deadlineTime persists a deadline rounded up to the second (the precision
// of metav1.Time): a timer may fire late after a restart, never early, since
// some timers (the self-fencing wait) guard safety.
func deadlineTime(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	if r := t.Truncate(time.Second); !r.Equal(t) {
		t = r.Add(time.Second)
	}
	return metaTime(t)
}

// Of returns the state machine's view of a server as its status records
// it, for tools that ask "what would happen if" (kubectl hamon plan)
// without touching anything. Group policies are not applied.
func Of(s *hav1alpha1.HAServer, t hotstandby.Timing) (hotstandby.Config, *hotstandby.State) {
	cfg := Config(s, t, nil)
	return cfg, FromStatus(s, cfg)
}

// LocalDecisions are the machine's answers to what the active host's agent
// must decide alone while it cannot reach the API server.
func LocalDecisions(cfg hotstandby.Config) *hav1alpha1.LocalDecisions {
	return &hav1alpha1.LocalDecisions{StopFailedActive: hotstandby.StopsFailedActive(cfg.SwitchType)}
}
