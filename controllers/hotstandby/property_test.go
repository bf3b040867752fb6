package hotstandby

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Property tests: random event sequences against a simulated world that
// mostly obeys the machine's commands and sometimes fails, checked after
// every step. Reproduce a failure with HAMON_PROP_SEED=<seed> and
// HAMON_PROP_ONLY=<sequence>.

const defaultPropSeed = 20261123

func propSequences(t *testing.T) int {
	t.Helper()
	if testing.Short() {
		return 10_000
	}
	if v := os.Getenv("HAMON_PROP_SEQUENCES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("HAMON_PROP_SEQUENCES: %v", err)
		}
		return n
	}
	return 100_000
}

// world is the simulation around one machine: it remembers what the
// machine asked for, answers it (or not), injects faults, and tracks which
// hosts may be writing the shared disk, independently of the machine.
type world struct {
	rng   *rand.Rand
	cfg   Config
	st    *State
	now   time.Time
	log   []string
	reqID int

	pendingStart map[string]bool
	pendingStop  map[string]bool
	pendingTerm  map[string]bool // termCommands run after an abnormal termination
	reserve      *Reserve
	fence        map[string]bool
	// writers are the hosts that may write the shared data: told to run
	// as active and not seen to stop since.
	writers map[string]bool
	// lostAt is when a host was lost; its agent self-fences within
	// SelfFenceWait after that.
	lostAt map[string]time.Time
	alive  map[string]bool
	// holderEpoch is the epoch of the last reservation the machine accepted.
	holder string
	// rebooted are the hosts rebooted since the machine last told them to
	// run as active: the copy it told went with the old boot, which the
	// machine learns only from the ServerExited that follows.
	rebooted map[string]bool
}

func randomConfig(rng *rand.Rand) Config {
	hosts := []string{"a", "b", "c"}[:2+rng.IntN(2)]
	cfg := Config{
		Mode:           []Mode{ModeServer, ModeMonitor}[rng.IntN(2)],
		Hosts:          hosts,
		Primary:        hosts[0],
		SwitchType:     []SwitchType{SwitchTypeSwitch, SwitchTypeRestart, SwitchTypeManual}[rng.IntN(3)],
		SwitchError:    []SwitchError{SwitchErrorStop, SwitchErrorRetry}[rng.IntN(2)],
		SwitchRetry:    rng.IntN(3),
		HasTermCommand: rng.IntN(2) == 0,
		HasPatrol:      rng.IntN(3) != 0,
		SharedDisks:    rng.IntN(2) == 0,
	}
	if rng.IntN(4) == 0 {
		cfg.Group, cfg.Exchange = "g", rng.IntN(2) == 0
	}
	if rng.IntN(6) == 0 {
		cfg.ManagerGate = &ManagerDecision{Allowed: rng.IntN(2) == 0, WaitForMembers: time.Duration(rng.IntN(2)) * time.Minute, Reason: "test"}
	}
	return cfg
}

func newWorld(rng *rand.Rand, cfg Config) *world {
	w := &world{
		rng: rng, cfg: cfg, now: t0, st: New(cfg, t0),
		pendingStart: map[string]bool{}, pendingStop: map[string]bool{}, pendingTerm: map[string]bool{}, fence: map[string]bool{},
		writers: map[string]bool{}, lostAt: map[string]time.Time{}, alive: map[string]bool{}, rebooted: map[string]bool{},
	}
	return w
}

// step feeds one event to the machine and checks every property.
func (w *world) step(ev Event) error {
	w.log = append(w.log, ev.String())
	before := w.st
	st, cmds := Step(w.cfg, w.st, ev, w.now)
	w.st = st
	// The world learns what happened to the writers from the event itself.
	switch e := ev.(type) {
	case ServerExited:
		delete(w.writers, e.Node)
	case StoppedByAgent: // the agent reports a stop it made: the server is down
		delete(w.writers, e.Node)
	case StartFailed:
		delete(w.writers, e.Node)
	case HostLost:
		w.lostAt[e.Node] = w.now
	case HostBack:
		if e.Rebooted { // the reboot ended whatever ran there
			delete(w.writers, e.Node)
			w.rebooted[e.Node] = true
		}
	}
	for n, at := range w.lostAt {
		if !w.now.Before(at.Add(w.cfg.Timing.withDefaults().SelfFenceWait)) {
			delete(w.writers, n)
			delete(w.lostAt, n)
		}
	}
	if st.ReservationHolder != before.ReservationHolder && st.ReservationHolder != "" {
		w.holder = st.ReservationHolder
	}
	for _, c := range cmds {
		w.log = append(w.log, "  -> "+c.String())
		switch c := c.(type) {
		case Emit:
			// The severity in the id is the event's type: I Normal, W and E Warning.
			if warning := !strings.HasSuffix(c.ID, "-I"); c.Warning != warning {
				return fmt.Errorf("event %s has Warning=%t, its id says %t", c.ID, c.Warning, warning)
			}
		case StartServer:
			w.pendingStart[c.Node] = true
			for _, h := range st.Hosts {
				// Table 4-4 #1: the standby starts after the termCommand
				// run for the old active server ended.
				if c.Role == RoleActive && h.TermCommand && h.Node != c.Node {
					return fmt.Errorf("%s activated while the termCommand runs on %s", c.Node, h.Node)
				}
			}
			if c.Role == RoleActive {
				if err := w.activation(c.Node); err != nil {
					return err
				}
			}
		case Promote:
			w.pendingStart[c.Node] = true
			if err := w.activation(c.Node); err != nil {
				return err
			}
		case StopServer:
			if h := st.Host(c.Node); h != nil && h.TermCommand {
				w.pendingTerm[c.Node] = true
			} else {
				w.pendingStop[c.Node] = true
			}
		case Reserve:
			r := c
			w.reserve = &r
		case FenceHost:
			w.fence[c.Node] = true
		case ClearReservation:
			w.holder = ""
		}
	}
	// The target's running copy is told it is active (its role label) only
	// once it is activated: before that, the old copy may still run.
	for _, h := range st.Hosts {
		if sw := st.Switch; sw != nil && sw.To == h.Node && h.Running && st.ActsActive(h.Node) && !w.writers[h.Node] && !w.rebooted[h.Node] {
			return fmt.Errorf("the running copy on %s acts as active before its activation (switchover %+v)", h.Node, st.Switch)
		}
	}
	if err := CheckInvariants(w.cfg, st); err != nil {
		return err
	}
	if r, ok := ev.(Request); ok && (before.LastRequest == nil || before.LastRequest.ID != r.ID) {
		if st.LastRequest == nil || st.LastRequest.ID != r.ID {
			return fmt.Errorf("request %s was neither applied nor answered", r.ID)
		}
	}
	return nil
}

// activation checks safety invariant 1 when the machine makes node active:
// with shared disks node holds the reservation (every other key was
// preempted); without, every other host that may have written is known
// stopped or has self-fenced.
func (w *world) activation(node string) error {
	if w.cfg.SharedDisks {
		if w.st.ReservationHolder != node {
			return fmt.Errorf("%s activated while the reservation holder is %q", node, w.st.ReservationHolder)
		}
	} else {
		for other := range w.writers {
			if other != node {
				return fmt.Errorf("%s activated while %s may still write (no shared disk to fence it)", node, other)
			}
		}
	}
	w.writers[node] = true
	delete(w.rebooted, node)
	delete(w.lostAt, node) // a new copy: the self-fence of the old one is no longer news
	return nil
}

// next picks the next event: mostly the world answering the machine,
// sometimes a fault, a request or the passing of time.
func (w *world) next(faults bool) Event {
	hosts := w.cfg.Hosts
	pick := func() string { return hosts[w.rng.IntN(len(hosts))] }
	r := w.rng.IntN(100)
	switch {
	case r < 15:
		for _, n := range hosts {
			if !w.alive[n] {
				w.alive[n] = true
				return HostBack{Node: n, Rebooted: w.rng.IntN(2) == 0}
			}
		}
	case r < 35:
		if ns := w.sorted(w.pendingStart); len(ns) > 0 {
			delete(w.pendingStart, ns[0])
			if faults && w.rng.IntN(5) == 0 {
				return StartFailed{Node: ns[0], Reason: "sim"}
			}
			return ServerStarted{Node: ns[0]}
		}
	case r < 50:
		if ns := w.sorted(w.pendingStop); len(ns) > 0 {
			delete(w.pendingStop, ns[0])
			return ServerExited{Node: ns[0], Normal: w.rng.IntN(2) == 0}
		}
		if ns := w.sorted(w.pendingTerm); len(ns) > 0 {
			delete(w.pendingTerm, ns[0])
			return TermCommandEnded{Node: ns[0], ExitCode: int32(w.rng.IntN(2))}
		}
	case r < 60:
		if rs := w.reserve; rs != nil {
			w.reserve = nil
			if faults && w.rng.IntN(5) == 0 {
				return ReservationFailed{Node: rs.Node, Epoch: rs.Epoch, Reason: "sim"}
			}
			return ReservationTaken{Node: rs.Node, Epoch: rs.Epoch}
		}
	case r < 63:
		if ns := w.sorted(w.fence); len(ns) > 0 {
			delete(w.fence, ns[0])
			w.alive[ns[0]] = false
			return HostLost{Node: ns[0]}
		}
	}
	if !faults {
		w.now = w.now.Add(time.Duration(1+w.rng.IntN(30)) * time.Second)
		return Tick{}
	}
	r = w.rng.IntN(100)
	switch {
	case r < 25:
		w.now = w.now.Add(time.Duration(w.rng.IntN(120)) * time.Second)
		return Tick{}
	case r < 40:
		return ServerExited{Node: pick(), Normal: w.rng.IntN(3) == 0}
	case r < 50:
		return PatrolFailed{Node: pick(), Reason: "sim"}
	case r < 57:
		n := pick()
		w.alive[n] = false
		return HostLost{Node: n}
	case r < 62:
		// A stale or bogus report.
		return ReservationTaken{Node: pick(), Epoch: w.st.Epoch - int64(w.rng.IntN(2))}
	case r < 65:
		return GroupSwitch{To: pick(), Cause: CauseGroupSwitch}
	case r < 67:
		return GroupMemberSwitched{To: pick()}
	case r < 68:
		return MembersReady{}
	default:
		w.reqID++
		actions := []Action{ActionSwap, ActionStopStandby, ActionEnd, ActionBegin, ActionAct, ActionClearReservation}
		node := ""
		if w.rng.IntN(2) == 0 {
			node = pick()
		}
		id := strconv.Itoa(w.reqID)
		if w.rng.IntN(10) == 0 && w.st.LastRequest != nil {
			id = w.st.LastRequest.ID // a replayed request
		}
		return Request{ID: id, Action: actions[w.rng.IntN(len(actions))], Node: node, Force: w.rng.IntN(4) == 0}
	}
}

// sorted lists the hosts in set in a fixed order (map order is random,
// and sequences must replay exactly from their seed).
func (w *world) sorted(set map[string]bool) []string {
	var out []string
	for _, n := range w.cfg.Hosts {
		if set[n] {
			out = append(out, n)
		}
	}
	return out
}

// settled says the server needs nothing more from the world: it runs, or
// waits for an operator, or has ended.
func settled(st *State) bool {
	if st.Switch != nil {
		return false
	}
	for _, h := range st.Hosts {
		if h.State == Starting || h.State == Stopping {
			return false
		}
	}
	switch st.Phase {
	case PhaseOnline, PhaseWaiting, PhaseStopped, PhaseFailed:
		return true
	case PhasePending:
		return true // waiting for hosts or for the primary wait to end
	}
	return false
}

func TestPropertyRandomSequences(t *testing.T) {
	seed := uint64(defaultPropSeed)
	if v := os.Getenv("HAMON_PROP_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("HAMON_PROP_SEED: %v", err)
		}
		seed = s
	}
	only := -1
	if v := os.Getenv("HAMON_PROP_ONLY"); v != "" {
		only, _ = strconv.Atoi(v)
	}
	n := propSequences(t)
	steps := 0
	for i := range n {
		if only >= 0 && i != only {
			continue
		}
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		w := newWorld(rng, randomConfig(rng))
		fail := func(err error) {
			t.Fatalf("seed %d sequence %d: %v\nconfig %+v\nevents:\n%s\nstate: %s",
				seed, i, err, w.cfg, strings.Join(w.log, "\n"), Describe(w.st))
		}
		for range 20 + rng.IntN(40) {
			if err := w.step(w.next(true)); err != nil {
				fail(err)
			}
			steps++
		}
		// Calm: the world now does what it is told and nothing fails; the
		// server must settle, with no switchover left hanging.
		for j := 0; !settled(w.st); j++ {
			if j > 200 {
				fail(fmt.Errorf("did not settle in 200 calm steps"))
			}
			if err := w.step(w.next(false)); err != nil {
				fail(err)
			}
			steps++
		}
	}
	t.Logf("seed %d: %d sequences, %d steps, every invariant held after every step", seed, n, steps)
}
