package multipath

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/hamon-ha/hamon/nodeagent/scsipr"
)

// Recorder is the simulated multipathd: it keeps each map's state and the
// commands it was sent, in multipathd's words. Fail, when set, is asked
// before every command and its error is returned instead.
type Recorder struct {
	Fail func(cmd string) error

	mu       sync.Mutex
	maps     map[string]State
	commands []string
}

var _ Daemon = (*Recorder)(nil)

// SetKey records setprkey and setprstatus.
func (r *Recorder) SetKey(_ context.Context, m string, key scsipr.Key) error {
	if err := checkMap(m); err != nil {
		return err
	}
	if key == 0 {
		return errors.New("reservation key 0 is not a key")
	}
	if err := r.record(fmt.Sprintf("setprkey map %s key 0x%016x", m, uint64(key))); err != nil {
		return err
	}
	r.set(m, State{Key: key})
	if err := r.record("setprstatus map " + m); err != nil {
		return err
	}
	r.set(m, State{Key: key, Registered: true})
	return nil
}

// ClearKey records unsetprstatus and unsetprkey.
func (r *Recorder) ClearKey(_ context.Context, m string) error {
	if err := checkMap(m); err != nil {
		return err
	}
	if err := r.record("unsetprstatus map " + m); err != nil {
		return err
	}
	st, _ := r.State(context.Background(), m)
	r.set(m, State{Key: st.Key})
	if err := r.record("unsetprkey map " + m); err != nil {
		return err
	}
	r.set(m, State{})
	return nil
}

// State returns the map's state (the zero State for a map never set).
func (r *Recorder) State(_ context.Context, m string) (State, error) {
	if err := checkMap(m); err != nil {
		return State{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.maps[m], nil
}

// Commands returns the commands sent so far.
func (r *Recorder) Commands() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.commands...)
}

func (r *Recorder) record(cmd string) error {
	if r.Fail != nil {
		if err := r.Fail(cmd); err != nil {
			return fmt.Errorf("multipathd %q: %w", cmd, err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.commands = append(r.commands, cmd)
	return nil
}

func (r *Recorder) set(m string, st State) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.maps == nil {
		r.maps = map[string]State{}
	}
	r.maps[m] = st
}
