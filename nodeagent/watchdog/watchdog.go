// Package watchdog feeds the host's watchdog: a timer outside the agent
// (a hardware watchdog, or the kernel's softdog) that resets the host
// unless it is fed. The agent feeds it only while it is healthy, so a hung
// or stopped agent, or one that is cut off and cannot stop its servers in
// time, gets its host reset (SBD's rule): the controller may start a
// server without shared disks elsewhere only after twice the watchdog's
// timeout.
//
// Two devices: Linux (/dev/watchdog, ioctl WDIOC_SETTIMEOUT, a write per
// feed, the magic 'V' before close disarms it) and Socket (the simulated
// host's watchdog, same behaviour over a unix socket).
package watchdog

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"
)

// Device is an open watchdog.
type Device interface {
	// Feed restarts the watchdog's timer.
	Feed() error
	// Disarm stops the watchdog (the magic close) and closes it. A device
	// closed any other way (the agent killed) keeps running, and resets
	// the host unless it is opened and fed again in time.
	Disarm() error
	// Timeout is the watchdog's timeout as the device took it.
	Timeout() time.Duration
}

// ErrBusy is returned by Open when another process has the watchdog open
// (Linux: EBUSY).
var ErrBusy = errors.New("the watchdog is open in another process")

// Socket is the simulated host's watchdog (nodeagent/simhost), reached on
// a unix socket. The protocol: "T<milliseconds>\n" arms it, each "." feeds
// it, "V" then close disarms it.
type Socket struct {
	mu      sync.Mutex
	conn    net.Conn
	timeout time.Duration
}

// OpenSocket opens the simulated watchdog at path and arms it with timeout.
func OpenSocket(path string, timeout time.Duration) (*Socket, error) {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return nil, fmt.Errorf("opening the simulated watchdog %s: %w", path, err)
	}
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("T" + strconv.FormatInt(timeout.Milliseconds(), 10) + "\n")); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("arming the simulated watchdog %s: %w", path, err)
	}
	ack := make([]byte, 1)
	if _, err := c.Read(ack); err != nil || ack[0] != 'A' {
		_ = c.Close()
		return nil, fmt.Errorf("simulated watchdog %s: %w", path, ErrBusy)
	}
	_ = c.SetDeadline(time.Time{})
	return &Socket{conn: c, timeout: timeout}, nil
}

// Feed restarts the timer.
func (s *Socket) Feed() error { return s.write(".") }

// Disarm stops the timer and closes the device.
func (s *Socket) Disarm() error {
	err := s.write("V")
	s.mu.Lock()
	defer s.mu.Unlock()
	if cerr := s.conn.Close(); err == nil {
		err = cerr
	}
	return err
}

// Timeout is the armed timeout.
func (s *Socket) Timeout() time.Duration { return s.timeout }

func (s *Socket) write(b string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.conn.SetWriteDeadline(time.Now().Add(time.Second))
	_, err := s.conn.Write([]byte(b))
	return err
}
