package lease

import (
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	if err := DefaultTiming.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []Timing{
		{Duration: 10 * time.Second, Renew: 2 * time.Second, SelfFence: 10 * time.Second},
		{Duration: 10 * time.Second, Renew: 4 * time.Second, SelfFence: 7 * time.Second},
		{Duration: 0, Renew: time.Second, SelfFence: time.Second},
	}
	for _, b := range bad {
		if err := b.Validate(); err == nil {
			t.Errorf("%+v accepted", b)
		}
	}
}

func TestSelfFenceBeforeTheLeaseExpires(t *testing.T) {
	tm := DefaultTiming
	renewed := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if tm.MustSelfFence(renewed.Add(6*time.Second), renewed) {
		t.Fatal("self-fenced too early")
	}
	if !tm.MustSelfFence(renewed.Add(7*time.Second), renewed) {
		t.Fatal("did not self-fence at the deadline")
	}
	// The controller may act only when the lease (renewal + duration) has
	// expired: 3 s after the agent stopped its servers.
	if tm.Margin() != 3*time.Second {
		t.Fatalf("margin %s", tm.Margin())
	}
}
