package hotstandby

import "testing"

// The agent acts on StopsFailedActive when the controller cannot be told:
// it must say what the machine itself does on a patrol failure.
func TestStopsFailedActive_AgreesWithTheMachine(t *testing.T) {
	for _, st := range []SwitchType{SwitchTypeSwitch, SwitchTypeRestart, SwitchTypeManual} {
		cfg := cfgOf(ModeServer, "a", "b")
		cfg.SwitchType = st
		h := newHarness(t, cfg)
		stopped := false
		for _, c := range h.do(PatrolFailed{Node: "a"}) {
			if s, ok := c.(StopServer); ok && s.Node == "a" {
				stopped = true
			}
		}
		if stopped != StopsFailedActive(st) {
			t.Errorf("switchType %s: the machine stops the failed active: %v, StopsFailedActive says %v", st, stopped, StopsFailedActive(st))
		}
	}
}
