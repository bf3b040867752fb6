// Package multipath tells multipathd, device-mapper multipath's daemon, the
// node's reservation key.
//
// The agent registers its key on every path of a shared disk itself (SG_IO,
// nodeagent/scsipr). A path that multipathd adds later (a new I_T nexus,
// such as an iSCSI session logged in again with a new ISID) or reinstates
// after a failure is then not known to be registered: unless multipathd
// registers the key on it, a write through it ends in a RESERVATION
// CONFLICT under type 5 (Write Exclusive, Registrants Only). multipathd does
// that (REGISTER AND IGNORE EXISTING KEY on the path) when it knows the
// map's key and the key is registered on the disk already:
//
//   - on a path it adds, when the map has a key (setprkey) and READ KEYS
//     lists it;
//   - on a path it reinstates, only when the map's PR status is set too
//     (setprstatus, which mpathpersist sends after its own REGISTER).
//
// So after taking a disk the agent calls [Daemon.SetKey], and after giving
// it up or losing it [Daemon.ClearKey]. multipathd keeps keys set this way
// in its prkeys file (/etc/multipath/prkeys): multipath.conf must say
// "reservation_key file" (in defaults or in the map's multipaths entry),
// otherwise setprkey answers "fail". A fenced host keeps its key there
// across a reboot, and that is safe: multipathd registers a path only when
// READ KEYS shows the key still registered, which a PREEMPT removed.
//
// Commands travel over multipathd's unix socket ([Socket], the protocol of
// libmpathcmd) or through the multipathd command ([CLI], linux.go). The
// simulated implementation, [Recorder], keeps the state and the commands.
//
// In a pod: multipathd (up to 0.9.7, Debian bookworm has 0.9.4) listens only
// on an abstract unix socket, which belongs to the host's network
// namespace, so the agent needs hostNetwork; the socket file of 0.9.8 and
// later (/run/multipathd.socket) needs /run from the host instead. Either
// way multipathd takes commands that change anything only from uid 0.
package multipath

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/hamon-ha/hamon/nodeagent/scsipr"
)

// Daemon is what the agent asks of multipathd.
type Daemon interface {
	// SetKey makes key the reservation key of the map (setprkey) and marks
	// the map registered (setprstatus), so multipathd registers key on
	// every path of the map that it adds or reinstates.
	SetKey(ctx context.Context, mapName string, key scsipr.Key) error
	// ClearKey forgets the map's registration and key (unsetprstatus,
	// unsetprkey): the host gave the disk up or lost its key.
	ClearKey(ctx context.Context, mapName string) error
	// State reads what multipathd has for the map (getprkey, getprstatus).
	State(ctx context.Context, mapName string) (State, error)
}

// State is multipathd's view of one map's persistent reservation.
type State struct {
	// Key is the map's reservation key, 0 when it has none.
	Key scsipr.Key
	// Registered is multipathd's PR status (prflag): it registers the key
	// on reinstated paths only while it is set.
	Registered bool
}

// Commander sends one multipathd command, such as "getprkey map mpatha",
// and returns the reply text.
type Commander interface {
	Command(ctx context.Context, cmd string) (string, error)
}

// Client is the real Daemon: multipathd's commands through a Commander.
type Client struct {
	Commander Commander
}

// New returns a Client on multipathd's socket.
func New() *Client { return &Client{Commander: Socket{}} }

// mapName accepts device-mapper map names and WWIDs: multipathd splits its
// commands at blanks, so a name must not carry any.
var mapName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}$`)

func checkMap(name string) error {
	if !mapName.MatchString(name) {
		return fmt.Errorf("multipath map name %q: want letters, digits and ._:+-", name)
	}
	return nil
}

// SetKey sends "setprkey map M key 0x..." then "setprstatus map M".
func (c *Client) SetKey(ctx context.Context, m string, key scsipr.Key) error {
	if err := checkMap(m); err != nil {
		return err
	}
	if key == 0 {
		return errors.New("reservation key 0 is not a key")
	}
	if err := c.do(ctx, fmt.Sprintf("setprkey map %s key 0x%016x", m, uint64(key))); err != nil {
		return fmt.Errorf("%w (does multipath.conf say reservation_key file?)", err)
	}
	return c.do(ctx, "setprstatus map "+m)
}

// ClearKey sends "unsetprstatus map M" then "unsetprkey map M".
func (c *Client) ClearKey(ctx context.Context, m string) error {
	if err := checkMap(m); err != nil {
		return err
	}
	return errors.Join(c.do(ctx, "unsetprstatus map "+m), c.do(ctx, "unsetprkey map "+m))
}

// State sends "getprkey map M" and "getprstatus map M".
func (c *Client) State(ctx context.Context, m string) (State, error) {
	if err := checkMap(m); err != nil {
		return State{}, err
	}
	reply, err := c.command(ctx, "getprkey map "+m)
	if err != nil {
		return State{}, err
	}
	key, err := ParseKey(reply)
	if err != nil {
		return State{}, err
	}
	reply, err = c.command(ctx, "getprstatus map "+m)
	if err != nil {
		return State{}, err
	}
	reg, err := ParseStatus(reply)
	if err != nil {
		return State{}, err
	}
	return State{Key: key, Registered: reg}, nil
}

// do sends a command whose only answer is "ok".
func (c *Client) do(ctx context.Context, cmd string) error {
	reply, err := c.command(ctx, cmd)
	if err != nil {
		return err
	}
	if r := strings.TrimSpace(reply); r != "ok" && r != "" {
		return fmt.Errorf("multipathd %q: unexpected answer %q", cmd, r)
	}
	return nil
}

// command sends cmd and turns multipathd's failure answers into errors.
func (c *Client) command(ctx context.Context, cmd string) (string, error) {
	if c.Commander == nil {
		return "", errors.New("multipath: no Commander")
	}
	reply, err := c.Commander.Command(ctx, cmd)
	if err != nil {
		return "", fmt.Errorf("multipathd %q: %w", cmd, err)
	}
	if err := ReplyError(reply); err != nil {
		return "", fmt.Errorf("multipathd %q: %w", cmd, err)
	}
	return reply, nil
}

// ErrRefused is multipathd answering "fail" (an unknown map, a key it
// cannot store, ...), "timeout" or "permission deny".
var ErrRefused = errors.New("multipathd refused the command")

// ReplyError says whether a reply is one of multipathd's failure answers.
func ReplyError(reply string) error {
	r := strings.TrimSpace(reply)
	switch {
	case r == "fail", r == "timeout", strings.HasPrefix(r, "permission deny"):
		return fmt.Errorf("%w: %s", ErrRefused, r)
	case strings.HasPrefix(r, "multipathd:") || strings.HasPrefix(r, "error "):
		// The CLI's own errors when it cannot reach the daemon.
		return fmt.Errorf("%w: %s", ErrRefused, r)
	}
	return nil
}

// ParseKey reads getprkey's answer: "none", "0x<hex>" or "0x<hex>:aptpl".
func ParseKey(reply string) (scsipr.Key, error) {
	r := strings.TrimSpace(reply)
	if r == "none" {
		return 0, nil
	}
	r, _ = strings.CutSuffix(r, ":aptpl")
	hex, ok := strings.CutPrefix(strings.ToLower(r), "0x")
	if !ok {
		return 0, fmt.Errorf("getprkey answered %q, want none or 0x<key>", reply)
	}
	k, err := strconv.ParseUint(hex, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("getprkey answered %q: %w", reply, err)
	}
	return scsipr.Key(k), nil
}

// ParseStatus reads getprstatus's answer: "0" or "1" (multipath-tools up
// to 0.9.5), "unset", "set" or "unknown" (later versions).
func ParseStatus(reply string) (bool, error) {
	switch strings.TrimSpace(reply) {
	case "1", "set":
		return true, nil
	case "0", "unset", "unknown":
		return false, nil
	}
	return false, fmt.Errorf("getprstatus answered %q", reply)
}
