package lease

import (
	"slices"
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	tm := DefaultTiming // renew 2 s, self-fence 7 s: confirmations live 4 s
	renewed := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	past := renewed.Add(8 * time.Second)
	fresh, stale := past.Add(-time.Second), past.Add(-5*time.Second)
	twoHost := []Unprotected{{Key: "ns/a", Takers: []string{"b"}}}
	threeHost := []Unprotected{{Key: "ns/a", Takers: []string{"b", "c"}}, {Key: "ns/x", Takers: []string{"b"}}}
	for _, tc := range []struct {
		name      string
		now       time.Time
		confirmed map[string]time.Time
		servers   []Unprotected
		stop      []string
		feed      bool
	}{
		{"renewing: all is well", renewed.Add(6 * time.Second), nil, twoHost, nil, true},
		{"two hosts, the peer confirms: outage, keep", past, map[string]time.Time{"b": fresh}, twoHost, nil, true},
		{"two hosts, the peer is silent: stop", past, nil, twoHost, []string{"ns/a"}, false},
		{"two hosts, the confirmation is stale: stop", past, map[string]time.Time{"b": stale}, twoHost, []string{"ns/a"}, false},
		{"a confirmation from the future does not count", past, map[string]time.Time{"b": past.Add(time.Second)}, twoHost, []string{"ns/a"}, false},
		{"split peers: only the server whose takers all confirm stays", past, map[string]time.Time{"b": fresh}, threeHost, []string{"ns/a"}, false},
		{"a stopped server needs nothing", past, nil, []Unprotected{{Key: "ns/a", Takers: []string{"b"}, Stopped: true}}, nil, true},
		{"no unprotected server: feed", past, nil, nil, nil, true},
	} {
		v := tm.Decide(tc.now, renewed, tc.confirmed, tc.servers)
		if !slices.Equal(v.Stop, tc.stop) || v.Feed != tc.feed {
			t.Errorf("%s: got stop %v feed %t, want stop %v feed %t", tc.name, v.Stop, v.Feed, tc.stop, tc.feed)
		}
	}
}

func TestValidate_Watchdog(t *testing.T) {
	tm := DefaultTiming
	tm.Watchdog = 5 * time.Second // < 3 × 2 s
	if err := tm.Validate(); err == nil {
		t.Fatal("a watchdog shorter than three renew intervals was accepted")
	}
	tm.Watchdog = 0
	if err := tm.Validate(); err != nil {
		t.Fatalf("no watchdog refused: %v", err)
	}
}

// FuzzDecide checks the rule's safety on any input: a server is kept
// running past the deadline only if every taker's confirmation is fresh,
// and the watchdog is fed past the deadline only if nothing is to stop.
func FuzzDecide(f *testing.F) {
	f.Add(int64(8000), int64(1000), int64(7000), uint8(3), uint8(1))
	f.Fuzz(func(t *testing.T, nowMs, confB, confC int64, takers, stopped uint8) {
		tm := DefaultTiming
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		now := base.Add(time.Duration(nowMs) * time.Millisecond)
		conf := map[string]time.Time{"b": base.Add(time.Duration(confB) * time.Millisecond), "c": base.Add(time.Duration(confC) * time.Millisecond)}
		all := []string{"b", "c", "d"}
		s := Unprotected{Key: "ns/s", Takers: all[:int(takers)%4], Stopped: stopped%2 == 1}
		v := tm.Decide(now, base, conf, []Unprotected{s})
		if !tm.MustSelfFence(now, base) {
			if len(v.Stop) > 0 || !v.Feed {
				t.Fatalf("stopped or starved while renewing: %+v", v)
			}
			return
		}
		kept := !slices.Contains(v.Stop, s.Key)
		if kept && !s.Stopped {
			for _, n := range s.Takers {
				at, ok := conf[n]
				if !ok || now.Sub(at) >= tm.ConfirmationLife() || at.After(now) {
					t.Fatalf("kept %s without a fresh confirmation from %s (now %s, conf %v)", s.Key, n, now, conf)
				}
			}
		}
		if v.Feed != (len(v.Stop) == 0) {
			t.Fatalf("feed %t with stop %v", v.Feed, v.Stop)
		}
	})
}
