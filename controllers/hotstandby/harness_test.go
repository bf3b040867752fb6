package hotstandby

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// t0 is the fake clock's start.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// harness drives one server's machine with a fake clock, as the controller
// would, and keeps the commands of the last step for assertions.
type harness struct {
	t    *testing.T
	cfg  Config
	st   *State
	now  time.Time
	cmds []Command
}

func cfgOf(mode Mode, hosts ...string) Config {
	return Config{Mode: mode, Hosts: hosts, Primary: hosts[0], SwitchType: SwitchTypeSwitch, SwitchError: SwitchErrorStop}
}

// newHarness starts the machine and brings the server up: every host alive,
// the primary Online, the others Standby.
func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := &harness{t: t, cfg: cfg, st: New(cfg, t0), now: t0}
	for _, n := range cfg.Hosts {
		h.do(HostBack{Node: n})
	}
	h.bringUp()
	return h
}

// bringUp answers the initial activation and standby starts.
func (h *harness) bringUp() {
	h.t.Helper()
	if h.cfg.SharedDisks {
		h.do(ReservationTaken{Node: h.cfg.Primary, Epoch: h.st.Epoch})
	}
	h.do(ServerStarted{Node: h.cfg.Primary})
	if h.cfg.Mode == ModeServer {
		for _, n := range h.cfg.Hosts[1:] {
			h.do(ServerStarted{Node: n})
		}
	}
	h.wantState(h.cfg.Primary, Online)
	h.wantPhase(PhaseOnline)
}

func (h *harness) do(ev Event) []Command {
	h.t.Helper()
	h.st, h.cmds = Step(h.cfg, h.st, ev, h.now)
	if err := CheckInvariants(h.cfg, h.st); err != nil {
		h.t.Fatalf("after %v: %v\nstate: %s", ev, err, Describe(h.st))
	}
	return h.cmds
}

// advance moves the clock and ticks.
func (h *harness) advance(d time.Duration) []Command {
	h.t.Helper()
	h.now = h.now.Add(d)
	return h.do(Tick{})
}

func (h *harness) host(n string) *Host {
	h.t.Helper()
	x := h.st.Host(n)
	if x == nil {
		h.t.Fatalf("no host %s", n)
	}
	return x
}

func (h *harness) wantState(n string, want HostState) {
	h.t.Helper()
	if got := h.host(n).State; got != want {
		h.t.Fatalf("host %s is %s, want %s\nstate: %s", n, got, want, Describe(h.st))
	}
}

func (h *harness) wantPhase(want Phase) {
	h.t.Helper()
	if h.st.Phase != want {
		h.t.Fatalf("phase %s, want %s\nstate: %s", h.st.Phase, want, Describe(h.st))
	}
}

// wantCmds checks that the last step's commands, events aside, are exactly want.
func (h *harness) wantCmds(want ...Command) {
	h.t.Helper()
	got := withoutEmits(h.cmds)
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		h.t.Fatalf("commands %v, want %v", got, want)
	}
}

// wantEmit checks that the last step emitted an event with this message id.
func (h *harness) wantEmit(id string) {
	h.t.Helper()
	for _, c := range h.cmds {
		if e, ok := c.(Emit); ok && e.ID == id {
			return
		}
	}
	h.t.Fatalf("no %s event among %v", id, h.cmds)
}

// wantEmitText wants the event id among the last step's commands, its
// message holding text.
func (h *harness) wantEmitText(id, text string) Emit {
	h.t.Helper()
	for _, c := range h.cmds {
		if e, ok := c.(Emit); ok && e.ID == id && strings.Contains(e.Message, text) {
			return e
		}
	}
	h.t.Fatalf("no %s event saying %q among %v", id, text, h.cmds)
	return Emit{}
}

func (h *harness) wantRequest(id string, outcome RequestOutcome, reason string) {
	h.t.Helper()
	r := h.st.LastRequest
	if r == nil || r.ID != id || r.Outcome != outcome || r.Reason != reason {
		h.t.Fatalf("request %+v, want id=%s outcome=%s reason=%s", r, id, outcome, reason)
	}
}

func withoutEmits(cmds []Command) []Command {
	var out []Command
	for _, c := range cmds {
		if _, ok := c.(Emit); !ok {
			out = append(out, c)
		}
	}
	return out
}

// Describe renders a state on one line per host, for failure messages.
func Describe(st *State) string {
	var b strings.Builder
	fmt.Fprintf(&b, "phase=%s epoch=%d holder=%q halted=%q", st.Phase, st.Epoch, st.ReservationHolder, st.Halted)
	if sw := st.Switch; sw != nil {
		fmt.Fprintf(&b, " switch=%s->%s/%s/%s", sw.From, sw.To, sw.Cause, sw.Stage)
	}
	for _, h := range st.Hosts {
		fmt.Fprintf(&b, "\n  %s: %s role=%s alive=%t want=%t %s", h.Node, h.State, h.Role, h.Alive, h.WantStandby, h.Message)
	}
	return b.String()
}
