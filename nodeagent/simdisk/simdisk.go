// Package simdisk is a simulated shared SCSI disk that follows the SPC-3/
// SPC-4 persistent reservation rules. It lives in a directory, so several
// agent processes (one per simulated host) share it; every command takes an
// exclusive file lock, reads the state, applies the command and writes the
// state back. Commands arrive as CDBs built by package scsipr and answers go
// back as the same bytes a real device sends, so the agent's SCSI code runs
// unchanged against it.
//
// An I_T nexus (a path) is an initiator (the host) and a target port. A test
// can fail one path or all the paths of a host, and every write is logged
// with the writer's nexus and registered key, so a test can prove that no
// fenced host wrote after being fenced.
package simdisk

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/hamon-ha/hamon/nodeagent/scsipr"
)

// BlockSize is the simulated disk's logical block size.
const BlockSize = 512

// Operation codes of the data commands the simulated disk serves.
const (
	OpRead10  = 0x28
	OpWrite10 = 0x2a
)

// Nexus is an I_T nexus: a host's initiator on one target port (a path).
type Nexus struct {
	Initiator string `json:"initiator"`
	Port      string `json:"port"`
}

func (n Nexus) String() string { return n.Initiator + "@" + n.Port }

// registration is one registered key on one nexus.
type registration struct {
	Nexus Nexus      `json:"nexus"`
	Key   scsipr.Key `json:"key"`
}

// state is what the disk remembers, in state.json.
type state struct {
	Generation    uint32         `json:"generation"`
	Registrations []registration `json:"registrations"`
	Holder        *Nexus         `json:"holder,omitempty"`
	Type          scsipr.Type    `json:"type,omitempty"`
	FailedPaths   []Nexus        `json:"failedPaths,omitempty"`
	// Attention holds the pending unit attention per nexus (ASC<<8|ASCQ).
	Attention map[string][2]byte `json:"attention,omitempty"`
}

// Disk is a simulated shared disk in a directory.
type Disk struct {
	dir string
}

// Open opens (creating if needed) the simulated disk in dir with size blocks.
func Open(dir string, blocks int64) (*Disk, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	d := &Disk{dir: dir}
	f, err := os.OpenFile(filepath.Join(dir, "data"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	if st, err := f.Stat(); err == nil && st.Size() < blocks*BlockSize {
		if err := f.Truncate(blocks * BlockSize); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Result is the outcome of one command (the same type a real device's
// path returns).
type Result = scsipr.Result

// Execute runs one command from nexus n.
func (d *Disk) Execute(n Nexus, cdb, dataOut []byte) (Result, error) {
	var res Result
	err := d.locked(func(st *state) error {
		if slices.Contains(st.FailedPaths, n) {
			res = Result{HostStatus: 0x01} // DID_NO_CONNECT: the path is down
			return nil
		}
		if len(cdb) == 0 {
			res = checkCondition(scsipr.SenseIllegalRequest, 0x20, 0x00)
			return nil
		}
		// A pending unit attention is reported once, before anything else
		// (except the PR IN commands, which SPC lets through).
		if ua, ok := st.Attention[n.String()]; ok && cdb[0] != scsipr.OpPersistentReserveIn {
			delete(st.Attention, n.String())
			res = checkCondition(scsipr.SenseUnitAttention, ua[0], ua[1])
			return nil
		}
		var err error
		res, err = d.execute(st, n, cdb, dataOut)
		return err
	})
	return res, err
}

func checkCondition(key, asc, ascq byte) Result {
	sense := make([]byte, 18)
	sense[0], sense[2], sense[7], sense[12], sense[13] = 0x70, key, 10, asc, ascq
	return Result{Status: scsipr.StatusCheckCondition, Sense: sense}
}

var conflict = Result{Status: scsipr.StatusReservationConflict}

func (d *Disk) execute(st *state, n Nexus, cdb, dataOut []byte) (Result, error) {
	switch cdb[0] {
	case scsipr.OpTestUnitReady:
		return Result{}, nil
	case scsipr.OpPersistentReserveIn:
		a, alloc, err := scsipr.DecodeIn(cdb)
		if err != nil {
			return checkCondition(scsipr.SenseIllegalRequest, 0x24, 0x00), nil
		}
		var out []byte
		switch a {
		case scsipr.ReadKeys:
			k := scsipr.Keys{Generation: st.Generation}
			for _, r := range st.Registrations {
				k.Keys = append(k.Keys, r.Key)
			}
			out = scsipr.EncodeReadKeys(k)
		case scsipr.ReadReservation:
			r := scsipr.Reservation{Generation: st.Generation}
			if st.Holder != nil {
				r.Held, r.Type = true, st.Type
				r.Key, _ = st.keyOf(*st.Holder)
			}
			out = scsipr.EncodeReadReservation(r)
		default:
			return checkCondition(scsipr.SenseIllegalRequest, 0x24, 0x00), nil
		}
		if int(alloc) < len(out) {
			out = out[:alloc]
		}
		return Result{DataIn: out}, nil
	case scsipr.OpPersistentReserveOut:
		a, t, p, err := scsipr.DecodeOut(cdb, dataOut)
		if err != nil {
			return checkCondition(scsipr.SenseIllegalRequest, 0x24, 0x00), nil
		}
		return st.reserveOut(n, a, t, p), nil
	case OpWrite10, OpRead10:
		return d.io(st, n, cdb, dataOut)
	}
	return checkCondition(scsipr.SenseIllegalRequest, 0x20, 0x00), nil
}

func (st *state) keyOf(n Nexus) (scsipr.Key, bool) {
	for _, r := range st.Registrations {
		if r.Nexus == n {
			return r.Key, true
		}
	}
	return 0, false
}

func (st *state) unregister(pred func(registration) bool) []Nexus {
	var gone []Nexus
	st.Registrations = slices.DeleteFunc(st.Registrations, func(r registration) bool {
		if pred(r) {
			gone = append(gone, r.Nexus)
			return true
		}
		return false
	})
	return gone
}

func (st *state) attention(n Nexus, asc, ascq byte) {
	if st.Attention == nil {
		st.Attention = map[string][2]byte{}
	}
	st.Attention[n.String()] = [2]byte{asc, ascq}
}

func allRegistrants(t scsipr.Type) bool {
	return t == scsipr.TypeWriteExclusiveAllRegistrants || t == scsipr.TypeExclusiveAccessAllRegistrants
}

// reserveOut applies PERSISTENT RESERVE OUT (SPC-4 5.13).
func (st *state) reserveOut(n Nexus, a scsipr.OutAction, t scsipr.Type, p scsipr.OutParams) Result {
	key, registered := st.keyOf(n)
	if a != scsipr.RegisterAndIgnoreExisting && a != scsipr.Register && (!registered || key != p.Key) {
		return conflict
	}
	if p.APTPL {
		// This simulated device does not persist through power loss.
		return checkCondition(scsipr.SenseIllegalRequest, 0x26, 0x00)
	}
	switch a {
	case scsipr.Register, scsipr.RegisterAndIgnoreExisting:
		if a == scsipr.Register && registered && key != p.Key {
			return conflict
		}
		if a == scsipr.Register && !registered && p.Key != 0 {
			return conflict
		}
		targets := []Nexus{n}
		if p.AllTargetPorts {
			targets = st.portsOf(n)
		}
		for _, tn := range targets {
			st.unregister(func(r registration) bool { return r.Nexus == tn })
			if p.ServiceActionKey != 0 {
				st.Registrations = append(st.Registrations, registration{Nexus: tn, Key: p.ServiceActionKey})
			} else if st.Holder != nil && *st.Holder == tn && !allRegistrants(st.Type) {
				st.Holder, st.Type = nil, 0 // unregistering the holder releases the reservation
			}
		}
		st.Generation++
		return Result{}
	case scsipr.Reserve:
		switch {
		case st.Holder == nil:
			h := n
			st.Holder, st.Type = &h, t
			return Result{}
		case *st.Holder == n && st.Type == t:
			return Result{}
		default:
			return conflict
		}
	case scsipr.Release:
		if st.Holder == nil || *st.Holder != n {
			return Result{}
		}
		if st.Type != t {
			return checkCondition(scsipr.SenseIllegalRequest, 0x26, 0x04) // INVALID RELEASE OF PERSISTENT RESERVATION
		}
		st.Holder, st.Type = nil, 0
		for _, r := range st.Registrations {
			if r.Nexus != n && (t == scsipr.TypeWriteExclusiveRegistrantsOnly || t == scsipr.TypeExclusiveAccessRegistrantsOnly) {
				st.attention(r.Nexus, 0x2a, 0x04) // RESERVATIONS RELEASED
			}
		}
		return Result{}
	case scsipr.Clear:
		for _, r := range st.Registrations {
			if r.Nexus != n {
				st.attention(r.Nexus, 0x2a, 0x03) // RESERVATIONS PREEMPTED
			}
		}
		st.Registrations, st.Holder, st.Type = nil, nil, 0
		st.Generation++
		return Result{}
	case scsipr.Preempt, scsipr.PreemptAndAbort:
		return st.preempt(n, t, p)
	}
	return checkCondition(scsipr.SenseIllegalRequest, 0x24, 0x00)
}

// preempt applies PREEMPT (AND ABORT) (SPC-4 5.13.11).
func (st *state) preempt(n Nexus, t scsipr.Type, p scsipr.OutParams) Result {
	var holderKey scsipr.Key
	if st.Holder != nil {
		holderKey, _ = st.keyOf(*st.Holder)
	}
	if st.Holder == nil || holderKey != p.ServiceActionKey {
		if p.ServiceActionKey == 0 {
			return checkCondition(scsipr.SenseIllegalRequest, 0x26, 0x00)
		}
		gone := st.unregister(func(r registration) bool { return r.Key == p.ServiceActionKey && r.Nexus != n })
		if len(gone) == 0 {
			return conflict
		}
		for _, g := range gone {
			st.attention(g, 0x2a, 0x05) // REGISTRATIONS PREEMPTED
		}
		st.Generation++
		return Result{}
	}
	// The holder's key: its registrations go, and the caller takes the
	// reservation with the new type.
	gone := st.unregister(func(r registration) bool { return r.Key == p.ServiceActionKey && r.Nexus != n })
	for _, g := range gone {
		st.attention(g, 0x2a, 0x03) // RESERVATIONS PREEMPTED
	}
	h := n
	st.Holder, st.Type = &h, t
	st.Generation++
	return Result{}
}

func (st *state) portsOf(n Nexus) []Nexus {
	out := []Nexus{n}
	for _, r := range st.Registrations {
		if r.Nexus.Initiator == n.Initiator && !slices.Contains(out, r.Nexus) {
			out = append(out, r.Nexus)
		}
	}
	return out
}

// mayAccess applies the access rules of the reservation type (SPC-4 table 170).
func (st *state) mayAccess(n Nexus, write bool) bool {
	if st.Holder == nil {
		return true
	}
	_, registered := st.keyOf(n)
	switch st.Type {
	case scsipr.TypeWriteExclusive:
		return !write || *st.Holder == n
	case scsipr.TypeExclusiveAccess:
		return *st.Holder == n
	case scsipr.TypeWriteExclusiveRegistrantsOnly, scsipr.TypeWriteExclusiveAllRegistrants:
		return !write || registered
	case scsipr.TypeExclusiveAccessRegistrantsOnly, scsipr.TypeExclusiveAccessAllRegistrants:
		return registered
	}
	return false
}

// io serves READ(10) and WRITE(10), and logs every write.
func (d *Disk) io(st *state, n Nexus, cdb, dataOut []byte) (Result, error) {
	if len(cdb) < 10 {
		return checkCondition(scsipr.SenseIllegalRequest, 0x24, 0x00), nil
	}
	write := cdb[0] == OpWrite10
	if !st.mayAccess(n, write) {
		return conflict, nil
	}
	lba := int64(binary.BigEndian.Uint32(cdb[2:6]))
	blocks := int64(binary.BigEndian.Uint16(cdb[7:9]))
	f, err := os.OpenFile(filepath.Join(d.dir, "data"), os.O_RDWR, 0)
	if err != nil {
		return Result{}, err
	}
	defer func() { _ = f.Close() }()
	if write {
		if int64(len(dataOut)) < blocks*BlockSize {
			return checkCondition(scsipr.SenseIllegalRequest, 0x24, 0x00), nil
		}
		if _, err := f.WriteAt(dataOut[:blocks*BlockSize], lba*BlockSize); err != nil {
			return Result{}, err
		}
		key, _ := st.keyOf(n)
		return Result{}, d.logWrite(WriteRecord{Time: time.Now(), Nexus: n, Key: key, LBA: lba, Blocks: blocks})
	}
	buf := make([]byte, blocks*BlockSize)
	if _, err := f.ReadAt(buf, lba*BlockSize); err != nil {
		return Result{}, err
	}
	return Result{DataIn: buf}, nil
}

// WriteRecord is one logged write.
type WriteRecord struct {
	Time   time.Time  `json:"time"`
	Nexus  Nexus      `json:"nexus"`
	Key    scsipr.Key `json:"key"`
	LBA    int64      `json:"lba"`
	Blocks int64      `json:"blocks"`
}

func (d *Disk) logWrite(r WriteRecord) error {
	f, err := os.OpenFile(filepath.Join(d.dir, "writes.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	return json.NewEncoder(f).Encode(r)
}

// Writes returns the write log.
func (d *Disk) Writes() ([]WriteRecord, error) {
	data, err := os.ReadFile(filepath.Join(d.dir, "writes.log"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []WriteRecord
	dec := json.NewDecoder(bytes.NewReader(data))
	for dec.More() {
		var r WriteRecord
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("write log: %w", err)
		}
		out = append(out, r)
	}
	return out, nil
}

// Path returns a scsipr.Path for nexus n, so the agent's code drives the
// simulated disk exactly as it drives a real one.
func (d *Disk) Path(n Nexus) scsipr.Path { return simPath{d: d, n: n} }

type simPath struct {
	d *Disk
	n Nexus
}

func (p simPath) Name() string { return p.n.String() }

func (p simPath) Do(cdb, dataOut []byte, dataInLen int, _ time.Duration) (scsipr.Result, error) {
	r, err := p.d.Execute(p.n, cdb, dataOut)
	if len(r.DataIn) > dataInLen {
		r.DataIn = r.DataIn[:dataInLen]
	}
	return r, err
}

// FailPath makes every command through nexus n fail (a transport error),
// or heals it.
func (d *Disk) FailPath(n Nexus, failed bool) error {
	return d.locked(func(st *state) error {
		st.FailedPaths = slices.DeleteFunc(st.FailedPaths, func(x Nexus) bool { return x == n })
		if failed {
			st.FailedPaths = append(st.FailedPaths, n)
		}
		return nil
	})
}

// locked runs fn on the state under an exclusive lock shared by every
// process that opened the disk.
func (d *Disk) locked(fn func(*state) error) error {
	lf, err := os.OpenFile(filepath.Join(d.dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer func() { _ = lf.Close() }()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("locking the simulated disk: %w", err)
	}
	defer func() { _ = syscall.Flock(int(lf.Fd()), syscall.LOCK_UN) }()
	path := filepath.Join(d.dir, "state.json")
	var st state
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return err
	default:
		if err := json.Unmarshal(data, &st); err != nil {
			return fmt.Errorf("simulated disk state %s: %w", path, err)
		}
	}
	if err := fn(&st); err != nil {
		return err
	}
	out, err := json.Marshal(&st)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, out, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
