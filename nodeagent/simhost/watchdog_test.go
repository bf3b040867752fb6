package simhost

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hamon-ha/hamon/nodeagent/watchdog"
)

// serveWatchdog starts a simulated watchdog; the channel gets the opener's
// pid when it fires.
func serveWatchdog(t *testing.T) (string, chan int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wd.sock")
	fired := make(chan int, 1)
	w, err := ServeWatchdog(path, func(pid int) { fired <- pid })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return path, fired
}

func TestWatchdog_FedItWaitsUnfedItFires(t *testing.T) {
	path, fired := serveWatchdog(t)
	d, err := watchdog.OpenSocket(path, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	for range 8 { // 800 ms, fed every 100 ms
		time.Sleep(100 * time.Millisecond)
		if err := d.Feed(); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-fired:
		t.Fatal("fired while fed")
	default:
	}
	select {
	case pid := <-fired:
		if pid != os.Getpid() {
			t.Fatalf("fired for pid %d, want the opener %d", pid, os.Getpid())
		}
	case <-time.After(2 * time.Second):
		t.Fatal("did not fire once no longer fed")
	}
}

// As /dev/watchdog: closed without the magic character (the agent killed),
// it keeps running; one opener at a time.
func TestWatchdog_OnlyTheMagicCloseDisarms(t *testing.T) {
	path, fired := serveWatchdog(t)
	d, err := watchdog.OpenSocket(path, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watchdog.OpenSocket(path, time.Second); !errors.Is(err, watchdog.ErrBusy) {
		t.Fatalf("second opener: %v, want ErrBusy", err)
	}
	if err := d.Disarm(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-fired:
		t.Fatal("fired after the magic close")
	case <-time.After(700 * time.Millisecond):
	}
	path2, fired2 := serveWatchdog(t)
	c, err := net.Dial("unix", path2) // an opener killed: it armed it, then closed without "V"
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("T300\n.")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	select {
	case <-fired2:
	case <-time.After(2 * time.Second):
		t.Fatal("a watchdog closed without the magic character did not fire")
	}
}
