//go:build linux

package scsipr

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sgIOHdr is the kernel's struct sg_io_hdr (include/scsi/sg.h), version 3
// of the SCSI generic interface, as laid out on 64-bit Linux.
type sgIOHdr struct {
	InterfaceID    int32
	DxferDirection int32
	CmdLen         uint8
	MxSbLen        uint8
	IovecCount     uint16
	DxferLen       uint32
	Dxferp         unsafe.Pointer
	Cmdp           unsafe.Pointer
	Sbp            unsafe.Pointer
	Timeout        uint32
	Flags          uint32
	PackID         int32
	UsrPtr         unsafe.Pointer
	Status         uint8
	MaskedStatus   uint8
	MsgStatus      uint8
	SbLenWr        uint8
	HostStatus     uint16
	DriverStatus   uint16
	Resid          int32
	Duration       uint32
	Info           uint32
}

const (
	sgIO          = 0x2285
	sgDxferNone   = -1
	sgDxferToDev  = -2
	sgDxferFromDv = -3
	senseLen      = 64
)

// DevicePath is a real path: a SCSI disk (or any block device that accepts
// SG_IO) such as /dev/sdb.
type DevicePath struct {
	// Dev is the device node, e.g. /dev/sdb.
	Dev string
}

// Name is the device's base name.
func (p DevicePath) Name() string { return filepath.Base(p.Dev) }

// Do sends one command through SG_IO.
func (p DevicePath) Do(cdb, dataOut []byte, dataInLen int, timeout time.Duration) (Result, error) {
	if len(cdb) == 0 || len(cdb) > 16 {
		return Result{}, fmt.Errorf("CDB of %d bytes", len(cdb))
	}
	f, err := os.OpenFile(p.Dev, os.O_RDWR|unix.O_NONBLOCK, 0)
	if err != nil {
		return Result{}, err // *PathError: "open /dev/sdb: no such device or address"
	}
	defer func() { _ = f.Close() }()
	cmd := append([]byte(nil), cdb...)
	sense := make([]byte, senseLen)
	hdr := sgIOHdr{
		InterfaceID: 'S', CmdLen: uint8(len(cmd)), MxSbLen: senseLen, //nolint:gosec // len(cmd) <= 16
		Cmdp: unsafe.Pointer(&cmd[0]), Sbp: unsafe.Pointer(&sense[0]),
		Timeout:        uint32(min(timeout.Milliseconds(), 1<<31)), //nolint:gosec // bounded
		DxferDirection: sgDxferNone,
	}
	var data []byte
	switch {
	case len(dataOut) > 0:
		data = append([]byte(nil), dataOut...)
		hdr.DxferDirection = sgDxferToDev
	case dataInLen > 0:
		data = make([]byte, dataInLen)
		hdr.DxferDirection = sgDxferFromDv
	}
	if len(data) > 0 {
		hdr.Dxferp, hdr.DxferLen = unsafe.Pointer(&data[0]), uint32(len(data)) //nolint:gosec // a buffer we sized
	}
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), sgIO, uintptr(unsafe.Pointer(&hdr)))
	runtime.KeepAlive(cmd)
	runtime.KeepAlive(sense)
	runtime.KeepAlive(data)
	if errno != 0 {
		return Result{}, fmt.Errorf("SG_IO on %s: %w", p.Dev, errno)
	}
	r := Result{Status: hdr.Status, HostStatus: hdr.HostStatus, DriverStatus: hdr.DriverStatus}
	if n := int(hdr.SbLenWr); n > 0 {
		r.Sense = sense[:min(n, senseLen)]
	}
	if hdr.DxferDirection == sgDxferFromDv {
		got := len(data) - int(hdr.Resid)
		r.DataIn = data[:max(0, min(got, len(data)))]
	}
	return r, nil
}
