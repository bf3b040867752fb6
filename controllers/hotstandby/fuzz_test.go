package hotstandby

import (
	"math/rand/v2"
	"testing"
	"time"
)

// decodeEvents turns arbitrary bytes into a configuration and an event
// sequence, so that the fuzzer explores the machine with inputs no
// generator thought of. Every byte string decodes to something.
func decodeEvents(data []byte) (Config, []Event) {
	next := func() byte {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return b
	}
	seed := uint64(next())<<8 | uint64(next())
	cfg := randomConfig(rand.New(rand.NewPCG(seed, seed)))
	var evs []Event
	for len(data) > 0 && len(evs) < 512 {
		op, arg := next(), next()
		node := cfg.Hosts[int(arg)%len(cfg.Hosts)]
		switch op % 16 {
		case 0:
			evs = append(evs, ServerStarted{Node: node})
		case 1:
			evs = append(evs, ServerExited{Node: node, Normal: arg&0x80 != 0})
		case 2:
			evs = append(evs, StartFailed{Node: node})
		case 3:
			evs = append(evs, PatrolFailed{Node: node})
		case 4:
			evs = append(evs, HostLost{Node: node})
		case 5:
			evs = append(evs, HostBack{Node: node, Rebooted: arg&0x80 != 0})
		case 6:
			evs = append(evs, ReservationTaken{Node: node, Epoch: int64(arg >> 4)})
		case 7:
			evs = append(evs, ReservationFailed{Node: node, Epoch: int64(arg >> 4)})
		case 8, 9:
			evs = append(evs, tickAfter(time.Duration(arg)*time.Second))
		case 10:
			evs = append(evs, GroupSwitch{To: node})
		case 11:
			evs = append(evs, GroupMemberSwitched{To: node})
		case 12:
			evs = append(evs, MembersReady{})
		case 13:
			evs = append(evs, StoppedByAgent{Node: node, Reason: "fuzz"})
		case 14:
			evs = append(evs, TermCommandEnded{Node: node, ExitCode: int32(arg >> 4)})
		default:
			actions := []Action{ActionSwap, ActionStopStandby, ActionEnd, ActionBegin, ActionAct, ActionClearReservation, "Bogus"}
			n := ""
			if arg&0x40 != 0 {
				n = node
			}
			evs = append(evs, Request{ID: string(rune('A' + op%26)), Action: actions[int(op>>4)%len(actions)], Node: n, Force: arg&0x20 != 0})
		}
	}
	return cfg, evs
}

// tickAfter is a Tick that also moves the fuzz world's clock.
type tickAfterEvent struct {
	Tick
	d time.Duration
}

func tickAfter(d time.Duration) Event { return tickAfterEvent{d: d} }

func FuzzStep(f *testing.F) {
	f.Add([]byte{0, 1, 5, 0, 5, 1, 6, 16, 0, 0, 1, 0})
	f.Add([]byte{7, 7, 5, 0, 5, 1, 5, 2, 4, 0, 8, 200, 8, 200, 13, 0x41})
	f.Add([]byte{3, 9, 5, 0, 5, 1, 3, 0, 1, 0, 2, 1, 8, 100, 0x3d, 0x40})
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, evs := decodeEvents(data)
		w := newWorld(rand.New(rand.NewPCG(1, 2)), cfg)
		for _, ev := range evs {
			if ta, ok := ev.(tickAfterEvent); ok {
				w.now = w.now.Add(ta.d)
				ev = Tick{}
			}
			if err := w.step(ev); err != nil {
				t.Fatalf("%v\nconfig %+v\nevents: %v\nstate: %s", err, cfg, w.log, Describe(w.st))
			}
		}
	})
}
