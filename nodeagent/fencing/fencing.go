// Package fencing terminates the host's OS when hamon must (KAMN726-E
// while the active server terminates, a forced switchover, a server that
// would not stop). The Linux implementation calls reboot(2); the simulated
// one records the termination and ends the simulated host.
package fencing

import (
	"fmt"
	"os"
	"time"
)

// Action is what terminating the OS means.
type Action string

// The actions.
const (
	// ActionReboot restarts the host (it rejoins as standby once admitted).
	ActionReboot Action = "reboot"
	// ActionPowerOff powers the host off.
	ActionPowerOff Action = "poweroff"
	// ActionNone only logs: for hosts where an outside fence does the job.
	ActionNone Action = "none"
)

// ParseAction reads a configured action.
func ParseAction(s string) (Action, error) {
	switch a := Action(s); a {
	case ActionReboot, ActionPowerOff, ActionNone:
		return a, nil
	}
	return "", fmt.Errorf("OS action %q: want reboot, poweroff or none", s)
}

// Terminator terminates the OS. Terminate returns only if it failed (or,
// for ActionNone and the simulation, once it has recorded the request).
type Terminator interface {
	Terminate(reason string) error
}

// Recorder is the simulated terminator: it appends the reason to File and
// calls Then (which ends the simulated host).
type Recorder struct {
	File string
	Then func()
}

// Terminate records the termination.
func (r Recorder) Terminate(reason string) error {
	f, err := os.OpenFile(r.File, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("recording the OS termination: %w", err)
	}
	_, werr := fmt.Fprintf(f, "%s %s\n", time.Now().UTC().Format(time.RFC3339Nano), reason)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("recording the OS termination: %w", werr)
	}
	if r.Then != nil {
		r.Then()
	}
	return nil
}
