//go:build linux

package fencing

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// Linux terminates the OS with reboot(2), after a sync so that the local
// (not shared) file systems lose nothing — bounded by SyncTimeout: with
// every path of a multipath map failed and "no_path_retry queue", sync(2)
// blocks on the map's dirty pages until a path comes back, which is exactly
// when KAMN726-E must not wait (seen on a real kernel, make test-scsi).
type Linux struct {
	// SyncTimeout bounds the sync before reboot(2); 0 means 2 s.
	SyncTimeout time.Duration
	Action      Action
	// Log is told before acting: the last words of the host.
	Log func(msg string)
}

// Terminate reboots or powers off the host. It returns only on failure.
func (l Linux) Terminate(reason string) error {
	cmd := unix.LINUX_REBOOT_CMD_RESTART
	switch l.Action {
	case ActionNone:
		if l.Log != nil {
			l.Log("OS termination requested but configured off: " + reason)
		}
		return nil
	case ActionPowerOff:
		cmd = unix.LINUX_REBOOT_CMD_POWER_OFF
	case ActionReboot:
	default:
		return fmt.Errorf("unknown OS action %q", l.Action)
	}
	if l.Log != nil {
		l.Log(fmt.Sprintf("Terminating the OS (%s): %s", l.Action, reason))
	}
	timeout := l.SyncTimeout
	if timeout == 0 {
		timeout = 2 * time.Second
	}
	if !SyncWithin(timeout) && l.Log != nil {
		l.Log(fmt.Sprintf("sync(2) did not return in %s (I/O queued on a failed disk): rebooting without it", timeout))
	}
	if err := unix.Reboot(cmd); err != nil {
		return fmt.Errorf("reboot(2) %s: %w", l.Action, err)
	}
	return nil
}

// SyncWithin runs sync(2) and waits for it at most d; it says whether
// sync returned. A sync blocked on queued I/O goes on in its goroutine.
func SyncWithin(d time.Duration) bool {
	synced := make(chan struct{})
	go func() { unix.Sync(); close(synced) }()
	select {
	case <-synced:
		return true
	case <-time.After(d):
		return false
	}
}
