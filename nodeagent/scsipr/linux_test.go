//go:build linux && amd64

package scsipr

import (
	"testing"
	"unsafe"
)

// The header must match the kernel's struct sg_io_hdr byte for byte.
func TestSgIOHdrLayout(t *testing.T) {
	var h sgIOHdr
	checks := []struct {
		name string
		got  uintptr
		want uintptr
	}{
		{"size", unsafe.Sizeof(h), 88},
		{"dxfer_len", unsafe.Offsetof(h.DxferLen), 12},
		{"dxferp", unsafe.Offsetof(h.Dxferp), 16},
		{"cmdp", unsafe.Offsetof(h.Cmdp), 24},
		{"sbp", unsafe.Offsetof(h.Sbp), 32},
		{"timeout", unsafe.Offsetof(h.Timeout), 40},
		{"usr_ptr", unsafe.Offsetof(h.UsrPtr), 56},
		{"status", unsafe.Offsetof(h.Status), 64},
		{"host_status", unsafe.Offsetof(h.HostStatus), 68},
		{"driver_status", unsafe.Offsetof(h.DriverStatus), 70},
		{"resid", unsafe.Offsetof(h.Resid), 72},
		{"info", unsafe.Offsetof(h.Info), 80},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s at %d, want %d", c.name, c.got, c.want)
		}
	}
}

func TestDevicePathErrors(t *testing.T) {
	if _, err := (DevicePath{Dev: "/dev/does-not-exist"}).Do(TestUnitReadyCDB(), nil, 0, 0); err == nil {
		t.Fatal("no error for a missing device")
	}
	// /dev/null refuses SG_IO: a clear error, not a panic or a fake success.
	if _, err := (DevicePath{Dev: "/dev/null"}).Do(TestUnitReadyCDB(), nil, 0, 0); err == nil {
		t.Fatal("SG_IO on /dev/null succeeded")
	}
}
