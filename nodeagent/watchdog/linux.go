//go:build linux

package watchdog

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Linux is a watchdog device of the Linux watchdog API
// (Documentation/watchdog/watchdog-api.rst): /dev/watchdog, a hardware
// driver or softdog.
type Linux struct {
	mu      sync.Mutex
	f       *os.File
	timeout time.Duration
}

// OpenLinux opens the watchdog device at path and sets its timeout (whole
// seconds; the driver may round it, Timeout says what it took).
func OpenLinux(path string, timeout time.Duration) (*Linux, error) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if errors.Is(err, unix.EBUSY) {
		return nil, fmt.Errorf("%s: %w", path, ErrBusy)
	}
	if err != nil {
		return nil, fmt.Errorf("opening the watchdog: %w (no hardware watchdog? load softdog: modprobe softdog)", err)
	}
	secs := int(timeout.Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	fd := int(f.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.WDIOC_SETTIMEOUT, secs); err != nil {
		_ = disarm(f)
		return nil, fmt.Errorf("setting the watchdog timeout of %s to %ds: %w", path, secs, err)
	}
	took, err := unix.IoctlGetInt(fd, unix.WDIOC_GETTIMEOUT)
	if err != nil {
		took = secs
	}
	return &Linux{f: f, timeout: time.Duration(took) * time.Second}, nil
}

// Feed writes to the device, which restarts its timer.
func (l *Linux) Feed() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err := l.f.Write([]byte{'.'})
	return err
}

// Disarm writes the magic character and closes the device.
func (l *Linux) Disarm() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return disarm(l.f)
}

func disarm(f *os.File) error {
	_, err := f.Write([]byte{'V'})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Timeout is the timeout the driver took.
func (l *Linux) Timeout() time.Duration { return l.timeout }
