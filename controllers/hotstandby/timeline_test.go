package hotstandby

import (
	"testing"
	"time"
)

// A switchover begun by a failure records when the failure happened, as
// its source tells (the detection stage); a request records none, nor does
// a time from a clock ahead of the controller's.
func TestSwitchoverRecordsWhenTheFailureHappened(t *testing.T) {
	h := monitorModeHarness(t, withPatrol)
	crashed := h.now.Add(-700 * time.Millisecond)
	h.do(ServerExited{Node: "a", At: crashed})
	if sw := h.st.Switch; sw == nil || !sw.FailedAt.Equal(crashed) || !sw.Started.Equal(h.now) {
		t.Fatalf("switchover %+v", h.st.Switch)
	}
	h.do(ServerStarted{Node: "b"})
	if sw := h.st.History[len(h.st.History)-1]; !sw.FailedAt.Equal(crashed) {
		t.Fatalf("history %+v", sw)
	}

	h = monitorModeHarness(t, withPatrol)
	h.do(Request{ID: "s", Action: ActionSwap})
	if sw := h.st.Switch; sw == nil || !sw.FailedAt.IsZero() {
		t.Fatalf("a planned swap records a failure time: %+v", h.st.Switch)
	}

	h = monitorModeHarness(t, withPatrol)
	h.do(HostLost{Node: "a", LastRenewal: h.now.Add(time.Hour)})
	if sw := h.st.Switch; sw == nil || !sw.FailedAt.IsZero() {
		t.Fatalf("a failure time ahead of the controller's clock was kept: %+v", h.st.Switch)
	}
}
