//go:build scsivm && linux

package scsivm

import (
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/hamon-ha/hamon/nodeagent/watchdog"
)

// Scenario 7: the agent's watchdog code (nodeagent/watchdog.Linux) against
// the kernel's softdog: WDIOC_SETTIMEOUT takes the timeout, writes feed it
// (the guest outlives several timeouts), the magic close disarms it, and
// once it is no longer fed (an agent that hangs) the kernel resets the
// guest. The test never returns: the harness sees the guest gone after the
// marker, with softdog's last words.
func TestWatchdogResetsAHungAgent(t *testing.T) {
	guest(t)
	step(t, "modprobe softdog (no hardware watchdog in this guest)")
	if out, err := exec.Command("modprobe", "softdog").CombinedOutput(); err != nil {
		t.Fatalf("modprobe softdog: %v\n%s", err, out)
	}
	const timeout = 4 * time.Second
	d, err := watchdog.OpenLinux("/dev/watchdog", timeout)
	if err != nil {
		t.Fatal(err)
	}
	if d.Timeout() != timeout {
		t.Fatalf("the driver took a timeout of %s, want %s (WDIOC_SETTIMEOUT)", d.Timeout(), timeout)
	}
	step(t, "fed every second for three timeouts: the guest stays")
	for range 12 {
		if err := d.Feed(); err != nil {
			t.Fatalf("feeding: %v", err)
		}
		time.Sleep(time.Second)
	}
	step(t, "magic close: disarmed, the guest stays past two timeouts")
	if err := d.Disarm(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * timeout)
	d, err = watchdog.OpenLinux("/dev/watchdog", timeout)
	if err != nil {
		t.Fatalf("opening it again after the magic close: %v", err)
	}
	if err := d.Feed(); err != nil {
		t.Fatal(err)
	}
	step(t, "the agent hangs: no more feeding; softdog must reset the guest within %s", timeout)
	fmt.Println("SCSIVM-EXPECT-WATCHDOG-RESET")
	kmsg("scsivm: SCSIVM-EXPECT-WATCHDOG-RESET")
	time.Sleep(4 * timeout)
	t.Fatalf("the guest was not reset %s after the last feed (watchdog timeout %s)", 4*timeout, timeout)
}
