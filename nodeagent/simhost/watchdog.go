package simhost

import (
	"bufio"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Watchdog is the simulated host's watchdog device (the other end of
// nodeagent/watchdog.Socket), with the Linux device's rules: one opener
// at a time; armed by the opener with its timeout; every byte feeds it;
// "V" before close disarms it; closed without "V" (the agent killed) it
// keeps running. Left unfed past its timeout, it calls Expire once with
// the pid of the process that armed it: the host resets.
type Watchdog struct {
	// Expire resets the host.
	Expire func(opener int)

	l        net.Listener
	mu       sync.Mutex
	open     bool
	armed    bool
	deadline time.Time
	timeout  time.Duration
	opener   int
	expired  bool
}

// ServeWatchdog listens on the unix socket path.
func ServeWatchdog(path string, expire func(opener int)) (*Watchdog, error) {
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	w := &Watchdog{Expire: expire, l: l}
	go w.accept()
	go w.tick()
	return w, nil
}

// Close stops serving (the watchdog no longer fires).
func (w *Watchdog) Close() {
	_ = w.l.Close()
	w.mu.Lock()
	w.expired = true
	w.mu.Unlock()
}

func (w *Watchdog) accept() {
	for {
		c, err := w.l.Accept()
		if err != nil {
			return
		}
		go w.serve(c)
	}
}

func (w *Watchdog) serve(c net.Conn) {
	defer func() { _ = c.Close() }()
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return
	}
	ms, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(line), "T"))
	if err != nil || ms <= 0 {
		return
	}
	w.mu.Lock()
	if w.open || w.expired {
		w.mu.Unlock()
		_, _ = c.Write([]byte("B")) // busy, as EBUSY
		return
	}
	w.open, w.armed, w.timeout = true, true, time.Duration(ms)*time.Millisecond
	w.deadline = time.Now().Add(w.timeout)
	w.opener = peerPID(c)
	w.mu.Unlock()
	if _, err := c.Write([]byte("A")); err != nil {
		w.closed(false)
		return
	}
	magic := false
	for {
		b, err := r.ReadByte()
		if err == nil {
			w.mu.Lock()
			w.deadline = time.Now().Add(w.timeout)
			w.mu.Unlock()
			magic = b == 'V'
		}
		if err != nil {
			w.closed(magic)
			return
		}
	}
}

// closed: the opener closed the device; without the magic character the
// timer goes on.
func (w *Watchdog) closed(magic bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.open = false
	if magic {
		w.armed = false
	}
}

func (w *Watchdog) tick() {
	for {
		time.Sleep(20 * time.Millisecond)
		w.mu.Lock()
		fire := w.armed && !w.expired && time.Now().After(w.deadline)
		if fire {
			w.expired = true
		}
		opener := w.opener
		w.mu.Unlock()
		if fire {
			w.Expire(opener)
			return
		}
		if w.isClosed() {
			return
		}
	}
}

func (w *Watchdog) isClosed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.expired
}

func peerPID(c net.Conn) int {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return 0
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0
	}
	pid := 0
	_ = raw.Control(func(fd uintptr) {
		if cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
			pid = int(cred.Pid)
		}
	})
	return pid
}
