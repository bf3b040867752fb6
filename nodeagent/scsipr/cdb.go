// Package scsipr builds and parses the SCSI commands of SCSI-3 persistent
// reservations (SPC-4 6.15 PERSISTENT RESERVE IN, 6.16 PERSISTENT RESERVE
// OUT) and the sense data that comes back. It does no I/O: the same
// encoding runs against a real device (SG_IO) and the simulated shared disk,
// so the tests of one prove the bytes of the other.
package scsipr

import (
	"encoding/binary"
	"fmt"
)

// Operation codes.
const (
	OpTestUnitReady        = 0x00
	OpPersistentReserveIn  = 0x5E
	OpPersistentReserveOut = 0x5F
)

// InAction is a PERSISTENT RESERVE IN service action.
type InAction byte

// PERSISTENT RESERVE IN service actions (SPC-4 table 166).
const (
	ReadKeys        InAction = 0x00
	ReadReservation InAction = 0x01
)

// OutAction is a PERSISTENT RESERVE OUT service action.
type OutAction byte

// PERSISTENT RESERVE OUT service actions (SPC-4 table 178).
const (
	Register                  OutAction = 0x00
	Reserve                   OutAction = 0x01
	Release                   OutAction = 0x02
	Clear                     OutAction = 0x03
	Preempt                   OutAction = 0x04
	PreemptAndAbort           OutAction = 0x05
	RegisterAndIgnoreExisting OutAction = 0x06
)

func (a OutAction) String() string {
	switch a {
	case Register:
		return "REGISTER"
	case Reserve:
		return "RESERVE"
	case Release:
		return "RELEASE"
	case Clear:
		return "CLEAR"
	case Preempt:
		return "PREEMPT"
	case PreemptAndAbort:
		return "PREEMPT AND ABORT"
	case RegisterAndIgnoreExisting:
		return "REGISTER AND IGNORE EXISTING KEY"
	}
	return fmt.Sprintf("service action 0x%02x", byte(a))
}

// Type is a persistent reservation type (SPC-4 table 169).
type Type byte

// The reservation types hamon uses or meets.
const (
	TypeNone                           Type = 0x0
	TypeWriteExclusive                 Type = 0x1
	TypeExclusiveAccess                Type = 0x3
	TypeWriteExclusiveRegistrantsOnly  Type = 0x5
	TypeExclusiveAccessRegistrantsOnly Type = 0x6
	TypeWriteExclusiveAllRegistrants   Type = 0x7
	TypeExclusiveAccessAllRegistrants  Type = 0x8
)

func (t Type) String() string {
	switch t {
	case TypeNone:
		return "none"
	case TypeWriteExclusive:
		return "Write Exclusive"
	case TypeExclusiveAccess:
		return "Exclusive Access"
	case TypeWriteExclusiveRegistrantsOnly:
		return "Write Exclusive, Registrants Only"
	case TypeExclusiveAccessRegistrantsOnly:
		return "Exclusive Access, Registrants Only"
	case TypeWriteExclusiveAllRegistrants:
		return "Write Exclusive, All Registrants"
	case TypeExclusiveAccessAllRegistrants:
		return "Exclusive Access, All Registrants"
	}
	return fmt.Sprintf("type 0x%x", byte(t))
}

// Key is a reservation key. Zero means "no key".
type Key uint64

func (k Key) String() string { return fmt.Sprintf("0x%016x", uint64(k)) }

// OutParams is the basic 24-byte parameter list of PERSISTENT RESERVE OUT.
type OutParams struct {
	// Key is the RESERVATION KEY: the caller's registered key (0 when
	// registering for the first time).
	Key Key
	// ServiceActionKey is the SERVICE ACTION RESERVATION KEY: the new key
	// for REGISTER, the key to preempt for PREEMPT (AND ABORT).
	ServiceActionKey Key
	// APTPL asks the device to keep the reservation across power loss.
	APTPL bool
	// AllTargetPorts registers the key on every target port (ALL_TG_PT).
	AllTargetPorts bool
}

// OutParamLen is the length of the basic PR OUT parameter list.
const OutParamLen = 24

// OutCDB builds a 10-byte PERSISTENT RESERVE OUT CDB (LU scope).
func OutCDB(a OutAction, t Type) []byte {
	cdb := make([]byte, 10)
	cdb[0] = OpPersistentReserveOut
	cdb[1] = byte(a) & 0x1f
	cdb[2] = byte(t) & 0x0f // scope LU_SCOPE (0) in the upper nibble
	binary.BigEndian.PutUint32(cdb[5:9], OutParamLen)
	return cdb
}

// Encode returns the 24-byte parameter list.
func (p OutParams) Encode() []byte {
	b := make([]byte, OutParamLen)
	binary.BigEndian.PutUint64(b[0:8], uint64(p.Key))
	binary.BigEndian.PutUint64(b[8:16], uint64(p.ServiceActionKey))
	if p.APTPL {
		b[20] |= 0x01
	}
	if p.AllTargetPorts {
		b[20] |= 0x04
	}
	return b
}

// DecodeOut parses a PR OUT CDB and its parameter list, as a device does.
func DecodeOut(cdb, params []byte) (OutAction, Type, OutParams, error) {
	if len(cdb) < 10 || cdb[0] != OpPersistentReserveOut {
		return 0, 0, OutParams{}, fmt.Errorf("not a PERSISTENT RESERVE OUT CDB: % x", cdb)
	}
	n := binary.BigEndian.Uint32(cdb[5:9])
	if n != OutParamLen || len(params) < OutParamLen {
		return 0, 0, OutParams{}, fmt.Errorf("parameter list length %d (have %d bytes), want %d", n, len(params), OutParamLen)
	}
	if scope := cdb[2] >> 4; scope != 0 {
		return 0, 0, OutParams{}, fmt.Errorf("scope %d: only LU_SCOPE is supported", scope)
	}
	p := OutParams{
		Key:              Key(binary.BigEndian.Uint64(params[0:8])),
		ServiceActionKey: Key(binary.BigEndian.Uint64(params[8:16])),
		APTPL:            params[20]&0x01 != 0,
		AllTargetPorts:   params[20]&0x04 != 0,
	}
	return OutAction(cdb[1] & 0x1f), Type(cdb[2] & 0x0f), p, nil
}

// InCDB builds a 10-byte PERSISTENT RESERVE IN CDB.
func InCDB(a InAction, allocLen uint16) []byte {
	cdb := make([]byte, 10)
	cdb[0] = OpPersistentReserveIn
	cdb[1] = byte(a) & 0x1f
	binary.BigEndian.PutUint16(cdb[7:9], allocLen)
	return cdb
}

// DecodeIn parses a PR IN CDB.
func DecodeIn(cdb []byte) (InAction, uint16, error) {
	if len(cdb) < 10 || cdb[0] != OpPersistentReserveIn {
		return 0, 0, fmt.Errorf("not a PERSISTENT RESERVE IN CDB: % x", cdb)
	}
	return InAction(cdb[1] & 0x1f), binary.BigEndian.Uint16(cdb[7:9]), nil
}

// TestUnitReadyCDB is the 6-byte TEST UNIT READY CDB.
func TestUnitReadyCDB() []byte { return make([]byte, 6) }

// Keys is the answer to READ KEYS.
type Keys struct {
	Generation uint32
	Keys       []Key
}

// Reservation is the answer to READ RESERVATION.
type Reservation struct {
	Generation uint32
	// Held says a reservation exists; Key and Type describe it.
	Held bool
	Key  Key
	Type Type
}

// maxKeys bounds what ParseReadKeys accepts: a device answering more is
// broken or hostile (hamon registers one key per host, at most 8 hosts).
const maxKeys = 4096

// ParseReadKeys parses READ KEYS parameter data. The device's answer is
// untrusted: lengths are checked, a truncated list is an error.
func ParseReadKeys(b []byte) (Keys, error) {
	if len(b) < 8 {
		return Keys{}, fmt.Errorf("READ KEYS answer of %d bytes, want at least 8", len(b))
	}
	k := Keys{Generation: binary.BigEndian.Uint32(b[0:4])}
	n := binary.BigEndian.Uint32(b[4:8])
	if n%8 != 0 {
		return Keys{}, fmt.Errorf("READ KEYS additional length %d is not a multiple of 8", n)
	}
	if n/8 > maxKeys {
		return Keys{}, fmt.Errorf("READ KEYS lists %d keys, more than %d", n/8, maxKeys)
	}
	if len(b)-8 < int(n) {
		return Keys{}, fmt.Errorf("READ KEYS answer truncated: %d key bytes announced, %d received (allocation length too small)", n, len(b)-8)
	}
	for i := uint32(0); i < n; i += 8 {
		k.Keys = append(k.Keys, Key(binary.BigEndian.Uint64(b[8+i:16+i])))
	}
	return k, nil
}

// EncodeReadKeys is the device side of READ KEYS.
func EncodeReadKeys(k Keys) []byte {
	b := make([]byte, 8+8*len(k.Keys))
	binary.BigEndian.PutUint32(b[0:4], k.Generation)
	binary.BigEndian.PutUint32(b[4:8], uint32(8*len(k.Keys))) //nolint:gosec // bounded by maxKeys in practice
	for i, key := range k.Keys {
		binary.BigEndian.PutUint64(b[8+8*i:], uint64(key))
	}
	return b
}

// ParseReadReservation parses READ RESERVATION parameter data.
func ParseReadReservation(b []byte) (Reservation, error) {
	if len(b) < 8 {
		return Reservation{}, fmt.Errorf("READ RESERVATION answer of %d bytes, want at least 8", len(b))
	}
	r := Reservation{Generation: binary.BigEndian.Uint32(b[0:4])}
	switch n := binary.BigEndian.Uint32(b[4:8]); n {
	case 0:
		return r, nil
	case 16:
		if len(b) < 24 {
			return Reservation{}, fmt.Errorf("READ RESERVATION answer truncated: %d bytes, want 24", len(b))
		}
		r.Held = true
		r.Key = Key(binary.BigEndian.Uint64(b[8:16]))
		if scope := b[21] >> 4; scope != 0 {
			return Reservation{}, fmt.Errorf("READ RESERVATION scope %d: only LU_SCOPE is expected", scope)
		}
		r.Type = Type(b[21] & 0x0f)
		return r, nil
	default:
		return Reservation{}, fmt.Errorf("READ RESERVATION additional length %d, want 0 or 16", n)
	}
}

// EncodeReadReservation is the device side of READ RESERVATION.
func EncodeReadReservation(r Reservation) []byte {
	if !r.Held {
		b := make([]byte, 8)
		binary.BigEndian.PutUint32(b[0:4], r.Generation)
		return b
	}
	b := make([]byte, 24)
	binary.BigEndian.PutUint32(b[0:4], r.Generation)
	binary.BigEndian.PutUint32(b[4:8], 16)
	binary.BigEndian.PutUint64(b[8:16], uint64(r.Key))
	b[21] = byte(r.Type) & 0x0f
	return b
}
