package scsipr

import "time"

// Result is the outcome of one SCSI command, as SG_IO reports it.
type Result struct {
	Status       byte
	Sense        []byte
	HostStatus   uint16
	DriverStatus uint16
	DataIn       []byte
}

// Err classifies the result: nil, or an *Error.
func (r Result) Err() error { return Classify(r.Status, r.Sense, r.HostStatus, r.DriverStatus) }

// Path is one path (I_T nexus) to a shared disk: a SCSI disk such as
// /dev/sdb under a device-mapper multipath map, or a simulated one.
type Path interface {
	// Name names the path (sdb, or host@port for a simulated one).
	Name() string
	// Do sends one command. dataOut is sent to the device; up to dataInLen
	// bytes come back in Result.DataIn. err is for failures to send at all
	// (the device cannot be opened); SCSI-level failures are in Result.
	Do(cdb, dataOut []byte, dataInLen int, timeout time.Duration) (Result, error)
}
