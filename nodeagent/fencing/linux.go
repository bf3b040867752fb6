//go:build linux

package fencing

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Linux terminates the OS with reboot(2), after a sync so that the local
// (not shared) file systems lose nothing.
type Linux struct {
	Action Action
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
	unix.Sync()
	if err := unix.Reboot(cmd); err != nil {
		return fmt.Errorf("reboot(2) %s: %w", l.Action, err)
	}
	return nil
}
