package scsipr

import (
	"errors"
	"fmt"
)

// SCSI status codes (SAM-5).
const (
	StatusGood                = 0x00
	StatusCheckCondition      = 0x02
	StatusBusy                = 0x08
	StatusReservationConflict = 0x18
	StatusTaskSetFull         = 0x28
	StatusTaskAborted         = 0x40
)

// Sense keys (SPC-4 table 28).
const (
	SenseNoSense        = 0x0
	SenseRecoveredError = 0x1
	SenseNotReady       = 0x2
	SenseMediumError    = 0x3
	SenseHardwareError  = 0x4
	SenseIllegalRequest = 0x5
	SenseUnitAttention  = 0x6
	SenseDataProtect    = 0x7
	SenseAbortedCommand = 0xb
)

// Sense is the part of sense data hamon decides on.
type Sense struct {
	Key  byte
	ASC  byte
	ASCQ byte
}

// ParseSense reads fixed (0x70/0x71) or descriptor (0x72/0x73) format sense
// data. Sense data comes from the device: it is untrusted, and anything
// short or unknown is an error rather than a guess.
func ParseSense(b []byte) (Sense, error) {
	if len(b) < 1 {
		return Sense{}, errors.New("no sense data")
	}
	switch code := b[0] & 0x7f; code {
	case 0x70, 0x71:
		if len(b) < 14 {
			return Sense{Key: keyAt(b, 2)}, fmt.Errorf("fixed-format sense data of %d bytes, want at least 14", len(b))
		}
		return Sense{Key: b[2] & 0x0f, ASC: b[12], ASCQ: b[13]}, nil
	case 0x72, 0x73:
		if len(b) < 4 {
			return Sense{}, fmt.Errorf("descriptor-format sense data of %d bytes, want at least 4", len(b))
		}
		return Sense{Key: b[1] & 0x0f, ASC: b[2], ASCQ: b[3]}, nil
	default:
		return Sense{}, fmt.Errorf("unknown sense response code 0x%02x", code)
	}
}

func keyAt(b []byte, i int) byte {
	if len(b) > i {
		return b[i] & 0x0f
	}
	return 0
}

// Kind classifies a failed command by what the agent must do about it.
type Kind int

// The kinds of command failure.
const (
	// KindReservationConflict: another host holds the disk; this host's
	// writes are fenced (or its key is not registered).
	KindReservationConflict Kind = iota + 1
	// KindUnitAttention: the device reports an event (reset, reservations
	// preempted or released, registrations preempted); retry the command.
	KindUnitAttention
	// KindNotReady: the logical unit is not ready (becoming ready, or not).
	KindNotReady
	// KindIllegalRequest: the device refused the command (unsupported, bad field).
	KindIllegalRequest
	// KindMedium: a medium or hardware error.
	KindMedium
	// KindTransport: the path failed (no connection, timeout, transport
	// disrupted): an I/O error on this path (KAMN725-W).
	KindTransport
	// KindBusy: busy or task set full; retry later.
	KindBusy
	// KindAborted: the command was aborted (PREEMPT AND ABORT, a reset).
	KindAborted
	// KindOther: anything else.
	KindOther
)

func (k Kind) String() string {
	return [...]string{"unknown", "reservation conflict", "unit attention", "not ready", "illegal request",
		"medium error", "transport error", "busy", "aborted", "other error"}[min(int(k), 9)]
}

// Error is a SCSI command that did not succeed.
type Error struct {
	Kind   Kind
	Status byte
	Sense  Sense
	// HostStatus and DriverStatus come from the SG_IO header.
	HostStatus   uint16
	DriverStatus uint16
	// Detail says more, for logs.
	Detail string
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s (status 0x%02x", e.Kind, e.Status)
	if e.Sense.Key != 0 || e.Sense.ASC != 0 {
		s += fmt.Sprintf(", sense key 0x%x asc/ascq 0x%02x/0x%02x", e.Sense.Key, e.Sense.ASC, e.Sense.ASCQ)
	}
	if e.HostStatus != 0 {
		s += fmt.Sprintf(", host status 0x%02x", e.HostStatus)
	}
	if e.Detail != "" {
		s += ", " + e.Detail
	}
	return s + ")"
}

// Is lets errors.Is match an Error against the sentinel of its kind.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Status == 0 && t.HostStatus == 0 && t.Kind == e.Kind
}

// Sentinels for errors.Is.
var (
	ErrReservationConflict = &Error{Kind: KindReservationConflict}
	ErrUnitAttention       = &Error{Kind: KindUnitAttention}
	ErrNotReady            = &Error{Kind: KindNotReady}
	ErrIllegalRequest      = &Error{Kind: KindIllegalRequest}
	ErrTransport           = &Error{Kind: KindTransport}
)

// Retryable says the command may succeed if sent again as is.
func (e *Error) Retryable() bool {
	return e.Kind == KindUnitAttention || e.Kind == KindBusy || (e.Kind == KindNotReady && e.Sense.ASC == 0x04 && e.Sense.ASCQ == 0x01)
}

// ReservationsPreempted says the device told this initiator that its
// registration or the reservation was preempted by another host (UNIT
// ATTENTION, ASC 0x2A: RESERVATIONS PREEMPTED 0x03, REGISTRATIONS PREEMPTED
// 0x05): the agent's key is gone and its server must stop.
func (e *Error) ReservationsPreempted() bool {
	return e.Kind == KindUnitAttention && e.Sense.ASC == 0x2a && (e.Sense.ASCQ == 0x03 || e.Sense.ASCQ == 0x05)
}

// Host status values of the SG_IO header that mean the path is down.
const (
	hostNoConnect           = 0x01
	hostBusBusy             = 0x02
	hostTimeOut             = 0x03
	hostBadTarget           = 0x04
	hostAbort               = 0x05
	hostError               = 0x07
	hostReset               = 0x08
	hostTransportDisrupted  = 0x0e
	hostTransportFailfast   = 0x0f
	driverTimeout           = 0x06
	driverStatusMask        = 0x0f
	hostStatusTransportMask = 0xff
)

// Classify turns the outcome of one SCSI command into nil or an *Error.
func Classify(status byte, sense []byte, hostStatus, driverStatus uint16) error {
	if hs := hostStatus & hostStatusTransportMask; hs != 0 {
		detail := "path failure"
		switch hs {
		case hostTimeOut:
			detail = "command timed out"
		case hostNoConnect, hostBadTarget, hostTransportDisrupted, hostTransportFailfast:
			detail = "no connection to the target"
		case hostBusBusy, hostReset, hostAbort, hostError:
			detail = "transport error"
		}
		return &Error{Kind: KindTransport, Status: status, HostStatus: hostStatus, DriverStatus: driverStatus, Detail: detail}
	}
	if driverStatus&driverStatusMask == driverTimeout {
		return &Error{Kind: KindTransport, Status: status, DriverStatus: driverStatus, Detail: "command timed out"}
	}
	switch status & 0x3e {
	case StatusGood:
		return nil
	case StatusReservationConflict:
		return &Error{Kind: KindReservationConflict, Status: status}
	case StatusBusy, StatusTaskSetFull:
		return &Error{Kind: KindBusy, Status: status}
	case StatusTaskAborted:
		return &Error{Kind: KindAborted, Status: status}
	case StatusCheckCondition:
		s, err := ParseSense(sense)
		e := &Error{Status: status, Sense: s}
		if err != nil {
			e.Kind, e.Detail = KindOther, err.Error()
			return e
		}
		switch s.Key {
		case SenseNoSense, SenseRecoveredError:
			return nil
		case SenseUnitAttention:
			e.Kind = KindUnitAttention
		case SenseNotReady:
			e.Kind = KindNotReady
		case SenseIllegalRequest:
			e.Kind = KindIllegalRequest
		case SenseMediumError, SenseHardwareError:
			e.Kind = KindMedium
		case SenseAbortedCommand:
			e.Kind = KindAborted
		default:
			e.Kind = KindOther
		}
		return e
	}
	return &Error{Kind: KindOther, Status: status}
}
