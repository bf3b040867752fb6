package scsipr

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Disk is one shared disk as a host sees it: the multipath map and its
// paths (the slaves of /sys/block/dm-N).
type Disk struct {
	// Name is the map's name (mpatha), used to order disks; the WWID when
	// the disk was named by its WWID.
	Name string
	// WWID is the disk's WWID (the dm uuid's mpath-<wwid>), "" when not
	// known: the disk's identity whatever name a host gives it.
	WWID  string
	Paths []Path
}

// Client issues reservation commands with hamon's policy: unit attentions
// are retried, a failed path is skipped (and reported), disks are taken in
// name order, and a partial takeover keeps what it took (never un-fences).
type Client struct {
	// Timeout bounds each command.
	Timeout time.Duration
	// Retries is how many times a retryable failure (unit attention, busy)
	// is retried.
	Retries int
}

// DefaultClient is the policy the agent uses.
var DefaultClient = Client{Timeout: 10 * time.Second, Retries: 5}

// PathFailure is a path that failed during an operation (KAMN725-W).
type PathFailure struct {
	Disk, Path string
	Err        error
}

// Report says what an operation did and what failed along the way.
type Report struct {
	// FailedPaths are paths that failed (the operation went on without them).
	FailedPaths []PathFailure
	// Preempted lists the keys removed from each disk.
	Preempted map[string][]Key
}

func (c Client) do(p Path, cdb, out []byte, inLen int) (Result, error) {
	var last error
	for range c.Retries + 1 {
		r, err := p.Do(cdb, out, inLen, c.Timeout)
		if err != nil {
			return r, &Error{Kind: KindTransport, Detail: err.Error()}
		}
		err = r.Err()
		var e *Error
		if err == nil || !errors.As(err, &e) || !e.Retryable() {
			return r, err
		}
		last = err
	}
	return Result{}, last
}

func (c Client) out(p Path, a OutAction, t Type, params OutParams) error {
	_, err := c.do(p, OutCDB(a, t), params.Encode(), 0)
	if err != nil {
		return fmt.Errorf("%s on %s: %w", a, p.Name(), err)
	}
	return nil
}

// ReadKeys reads the registered keys through the first path that answers.
func (c Client) ReadKeys(d Disk) (Keys, error) {
	var errs []error
	for _, p := range d.Paths {
		r, err := c.do(p, InCDB(ReadKeys, 8192), nil, 8192)
		if err == nil {
			return ParseReadKeys(r.DataIn)
		}
		errs = append(errs, fmt.Errorf("READ KEYS on %s: %w", p.Name(), err))
	}
	return Keys{}, fmt.Errorf("disk %s: %w", d.Name, errors.Join(errs...))
}

// ReadReservation reads the reservation through the first path that answers.
func (c Client) ReadReservation(d Disk) (Reservation, error) {
	var errs []error
	for _, p := range d.Paths {
		r, err := c.do(p, InCDB(ReadReservation, 8192), nil, 8192)
		if err == nil {
			return ParseReadReservation(r.DataIn)
		}
		errs = append(errs, fmt.Errorf("READ RESERVATION on %s: %w", p.Name(), err))
	}
	return Reservation{}, fmt.Errorf("disk %s: %w", d.Name, errors.Join(errs...))
}

func sortedDisks(disks []Disk) []Disk {
	out := append([]Disk(nil), disks...)
	slices.SortFunc(out, func(a, b Disk) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Acquire makes key the only registrant and the holder of every disk, with
// type t: the takeover of a new active host. On each disk, in name order:
// register key on every path (REGISTER AND IGNORE EXISTING KEY, which also
// refreshes a stale I_T nexus), take the reservation (RESERVE, or PREEMPT AND
// ABORT of the holder's key, which removes the old host's registrations on
// all its paths and aborts its queued I/O), remove any other registrant
// (PREEMPT), and check the result.
//
// If a disk cannot be taken, the disks taken so far stay taken: releasing
// them would un-fence the old host on them (its key is gone, and a disk
// with no reservation lets anyone write), and a fenced host must never be
// un-fenced by a rollback (fence_node(8)). The next takeover preempts this
// key as it would any other.
func (c Client) Acquire(disks []Disk, key Key, t Type) (Report, error) {
	rep := Report{Preempted: map[string][]Key{}}
	if key == 0 {
		return rep, errors.New("reservation key 0 is not a key")
	}
	var taken []string
	for _, d := range sortedDisks(disks) {
		if err := c.acquireOne(d, key, t, &rep); err != nil {
			kept := "none taken before"
			if len(taken) > 0 {
				kept = strings.Join(taken, ", ") + " stay held by this host, the old host fenced from them"
			}
			return rep, fmt.Errorf("taking disk %s: %w (%s)", d.Name, err, kept)
		}
		taken = append(taken, d.Name)
	}
	return rep, nil
}

func (c Client) acquireOne(d Disk, key Key, t Type, rep *Report) error {
	var live []Path
	for _, p := range d.Paths {
		err := c.out(p, RegisterAndIgnoreExisting, TypeNone, OutParams{ServiceActionKey: key})
		if errors.Is(err, ErrTransport) {
			rep.FailedPaths = append(rep.FailedPaths, PathFailure{Disk: d.Name, Path: p.Name(), Err: err})
			continue
		}
		if err != nil {
			return err
		}
		live = append(live, p)
	}
	if len(live) == 0 {
		return fmt.Errorf("no path of %s could register the key", d.Name)
	}
	dl := Disk{Name: d.Name, Paths: live}
	res, err := c.ReadReservation(dl)
	if err != nil {
		return err
	}
	switch {
	case !res.Held:
		err = c.out(live[0], Reserve, t, OutParams{Key: key})
	case res.Key == key && res.Type == t:
	case res.Key == key:
		// Ours, of another type: preempting our own key changes the type.
		err = c.out(live[0], Preempt, t, OutParams{Key: key, ServiceActionKey: key})
	default:
		err = c.out(live[0], PreemptAndAbort, t, OutParams{Key: key, ServiceActionKey: res.Key})
		if err == nil {
			rep.Preempted[d.Name] = append(rep.Preempted[d.Name], res.Key)
		}
	}
	if err != nil {
		return err
	}
	keys, err := c.ReadKeys(dl)
	if err != nil {
		return err
	}
	for _, k := range uniqueKeys(keys.Keys) {
		if k == key {
			continue
		}
		// A registrant other than the active host could write under type 5.
		if err := c.out(live[0], Preempt, t, OutParams{Key: key, ServiceActionKey: k}); err != nil {
			return err
		}
		rep.Preempted[d.Name] = append(rep.Preempted[d.Name], k)
	}
	return c.verify(dl, key, t)
}

func (c Client) verify(d Disk, key Key, t Type) error {
	res, err := c.ReadReservation(d)
	if err != nil {
		return err
	}
	if !res.Held || res.Key != key || res.Type != t {
		return fmt.Errorf("disk %s: after takeover the reservation is %+v, want key %s type %s", d.Name, res, key, t)
	}
	keys, err := c.ReadKeys(d)
	if err != nil {
		return err
	}
	for _, k := range keys.Keys {
		if k != key {
			return fmt.Errorf("disk %s: key %s is still registered after takeover", d.Name, k)
		}
	}
	return nil
}

func uniqueKeys(keys []Key) []Key {
	var out []Key
	for _, k := range keys {
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// Release gives the disks up: RELEASE the reservation if key holds it, then
// unregister key from every path (after a normal end of the server).
func (c Client) Release(disks []Disk, key Key, t Type) error {
	var errs []error
	for _, d := range sortedDisks(disks) {
		for _, p := range d.Paths {
			if err := c.out(p, Release, t, OutParams{Key: key}); err != nil && !errors.Is(err, ErrReservationConflict) {
				errs = append(errs, err)
			}
			if err := c.out(p, Register, TypeNone, OutParams{Key: key}); err != nil && !errors.Is(err, ErrReservationConflict) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Clear removes every registration and the reservation of the disks
// (monscsiclr): it registers key on one path, then CLEARs.
func (c Client) Clear(disks []Disk, key Key) error {
	var errs []error
	for _, d := range sortedDisks(disks) {
		done := false
		for _, p := range d.Paths {
			if err := c.out(p, RegisterAndIgnoreExisting, TypeNone, OutParams{ServiceActionKey: key}); err != nil {
				errs = append(errs, err)
				continue
			}
			if err := c.out(p, Clear, TypeNone, OutParams{Key: key}); err != nil {
				errs = append(errs, err)
				continue
			}
			done = true
			break
		}
		if !done {
			return fmt.Errorf("clearing disk %s: %w", d.Name, errors.Join(errs...))
		}
	}
	return nil
}

// Holds reports whether key is still registered on every disk: false means
// another host preempted it, and the server here must stop at once.
func (c Client) Holds(disks []Disk, key Key) (bool, error) {
	for _, d := range disks {
		keys, err := c.ReadKeys(d)
		if err != nil {
			return false, err
		}
		if !slices.Contains(keys.Keys, key) {
			return false, nil
		}
	}
	return true, nil
}
