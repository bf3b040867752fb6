//go:build scsivm && linux

package scsivm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hamon-ha/hamon/nodeagent/multipath"
	"github.com/hamon-ha/hamon/nodeagent/scsipr"
)

// fabric is the storage guest/fabric.sh built, read from the environment
// it writes.
type fabric struct {
	// Map is /dev/mapper/<MapName>, host A's multipath disk.
	Map, MapName string
	// A are host A's paths (sdX, the map's slaves), B host B's raw paths.
	A, B []string
	// AIfaces are the open-iscsi ifaces of A's sessions, in A's order.
	AIfaces []string
	// Target and Portal name the iSCSI target.
	Target, Portal string
}

func guest(t *testing.T) fabric {
	t.Helper()
	f := fabric{
		Map: os.Getenv("SCSIVM_MAP"), A: fields(os.Getenv("SCSIVM_A_PATHS")), B: fields(os.Getenv("SCSIVM_B_PATHS")),
		AIfaces: fields(os.Getenv("SCSIVM_A_IFACES")), Target: os.Getenv("SCSIVM_TARGET"), Portal: os.Getenv("SCSIVM_PORTAL"),
	}
	if f.Map == "" || len(f.A) == 0 || len(f.B) == 0 {
		t.Skip("not in the scsivm guest (no SCSIVM_MAP, SCSIVM_A_PATHS, SCSIVM_B_PATHS): run make test-scsi")
	}
	f.MapName = filepath.Base(f.Map)
	step(t, "fabric: %s over A's paths %v (ifaces %v); B's raw paths %v; target %s at %s", f.Map, f.A, f.AIfaces, f.B, f.Target, f.Portal)
	return f
}

func fields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
}

func dev(name string) string { return "/dev/" + name }

// step logs a step of a scenario in the test output and in the kernel log,
// so the saved dmesg shows where each kernel message belongs.
func step(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	t.Log("=== " + msg)
	kmsg("scsivm: " + msg)
}

func kmsg(msg string) {
	f, err := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0)
	if err != nil {
		return
	}
	defer func() { _ = f.Close() }()
	if len(msg) > 900 {
		msg = msg[:900]
	}
	_, _ = f.WriteString(msg + "\n")
}

// run runs a host command with a deadline, logs it and its output.
func run(t *testing.T, timeout time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	t.Logf("+ %s %s\n%s", name, strings.Join(args, " "), indent(string(out)))
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return string(out), nil
}

func must(t *testing.T, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	out, err := run(t, timeout, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "    (no output)"
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// waitFor polls cond every 200 ms until it holds or timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("%s: not after %v", what, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
	took := time.Since(start).Round(10 * time.Millisecond)
	t.Logf("%s after %v", what, took)
	return took
}

// pageBuf is a page-aligned buffer, as O_DIRECT wants.
func pageBuf(t *testing.T, fill byte) []byte {
	t.Helper()
	b, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Munmap(b) })
	for i := range b {
		b[i] = fill
	}
	return b
}

// directIO writes (or reads) 4 KiB at off with O_DIRECT, through the block
// layer: what a server on the host does. The error keeps its errno.
func directIO(t *testing.T, path string, off int64, write bool) error {
	t.Helper()
	flags := os.O_RDONLY
	if write {
		flags = os.O_WRONLY
	}
	fd, err := unix.Open(path, flags|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer func() { _ = unix.Close(fd) }()
	buf := pageBuf(t, 0x68)
	if write {
		_, err = unix.Pwrite(fd, buf, off)
	} else {
		_, err = unix.Pread(fd, buf, off)
	}
	if err != nil {
		op := "read"
		if write {
			op = "write"
		}
		return fmt.Errorf("%s %s at %d: %w", op, path, off, err)
	}
	return nil
}

// sgWrite sends WRITE(10) of one 512-byte block down one path through the
// project's SG_IO code and classifies the answer with its sense decoding.
// A unit attention is retried, as the agent's client does; the ones seen
// are returned too.
func sgWrite(t *testing.T, path string, lba uint32) (attentions []error, err error) {
	t.Helper()
	cdb := make([]byte, 10)
	cdb[0] = 0x2a
	binary.BigEndian.PutUint32(cdb[2:6], lba)
	binary.BigEndian.PutUint16(cdb[7:9], 1)
	data := make([]byte, 512)
	copy(data, "hamon scsivm")
	for range 4 {
		r, doErr := scsipr.DevicePath{Dev: path}.Do(cdb, data, 0, 10*time.Second)
		if doErr != nil {
			return attentions, doErr
		}
		err = r.Err()
		var e *scsipr.Error
		if errors.As(err, &e) && e.Retryable() {
			attentions = append(attentions, err)
			continue
		}
		return attentions, err
	}
	return attentions, errors.New("unit attentions did not stop")
}

func pathState(name string) string {
	b, err := os.ReadFile("/sys/block/" + name + "/device/state")
	if err != nil {
		return "gone (" + err.Error() + ")"
	}
	return strings.TrimSpace(string(b))
}

// setPathState takes a path offline or back (running), as a failing or
// repaired link would: the kernel fails its I/O at once while offline.
func setPathState(t *testing.T, name, state string) {
	t.Helper()
	step(t, "path %s -> %s", name, state)
	if err := os.WriteFile("/sys/block/"+name+"/device/state", []byte(state+"\n"), 0); err != nil {
		t.Fatalf("setting %s %s: %v", name, state, err)
	}
}

// slaves lists the map's paths as the kernel has them now.
func slaves(t *testing.T, f fabric) []string {
	t.Helper()
	target, err := os.Readlink(f.Map)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir("/sys/block/" + filepath.Base(target) + "/slaves")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// mpathd is multipathd through the project's socket client.
func mpathd(t *testing.T, cmd string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := multipath.Socket{}.Command(ctx, cmd)
	if err != nil {
		t.Fatalf("multipathd %s: %v", cmd, err)
	}
	return out
}

// pathsUp counts the map's paths multipathd has active and ready.
func pathsUp(t *testing.T, f fabric) int {
	t.Helper()
	n := 0
	for _, line := range strings.Split(mpathd(t, "show paths raw format %d:%m:%t:%T"), "\n") {
		p := strings.Split(strings.TrimSpace(line), ":")
		if len(p) == 4 && p[1] == f.MapName && p[2] == "active" && p[3] == "ready" {
			n++
		}
	}
	return n
}

func logState(t *testing.T, f fabric) {
	t.Helper()
	t.Logf("multipathd show paths:\n%s", indent(mpathd(t, "show paths format %d|%m|%t|%T|%o|%i")))
	_, _ = run(t, 10*time.Second, "sg_persist", "--in", "--read-full-status", "--no-inquiry", dev(f.B[0]))
}

// keysOn reads the registered keys through one of B's paths (B's view of
// the target never depends on A's paths).
func keysOn(t *testing.T, f fabric) []scsipr.Key {
	t.Helper()
	k, err := prc.ReadKeys(scsipr.Disk{Name: "b-view", Paths: []scsipr.Path{scsipr.DevicePath{Dev: dev(f.B[0])}}})
	if err != nil {
		t.Fatalf("READ KEYS: %v", err)
	}
	return k.Keys
}

func reservationOn(t *testing.T, f fabric) scsipr.Reservation {
	t.Helper()
	r, err := prc.ReadReservation(scsipr.Disk{Name: "b-view", Paths: []scsipr.Path{scsipr.DevicePath{Dev: dev(f.B[0])}}})
	if err != nil {
		t.Fatalf("READ RESERVATION: %v", err)
	}
	return r
}

func count(keys []scsipr.Key, k scsipr.Key) int {
	n := 0
	for _, x := range keys {
		if x == k {
			n++
		}
	}
	return n
}

// prc is the SCSI policy the tests use where no agent is involved.
var prc = scsipr.Client{Timeout: 10 * time.Second, Retries: 5}

func pathsOf(f fabric) []scsipr.Path {
	var ps []scsipr.Path
	for _, p := range f.A {
		ps = append(ps, scsipr.DevicePath{Dev: dev(p)})
	}
	return ps
}

// kernelLog returns the kernel log from the last line that contains since.
func kernelLog(t *testing.T, since string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := exec.CommandContext(ctx, "dmesg", "--notime").CombinedOutput()
	if err != nil {
		return "dmesg: " + err.Error()
	}
	out := string(b)
	if i := strings.LastIndex(out, since); i >= 0 {
		out = out[i:]
	}
	return out
}

// writeConf replaces multipath.conf and has multipathd read it again.
func writeConf(t *testing.T, conf string) {
	t.Helper()
	if err := os.WriteFile("/etc/multipath.conf", []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	mpathd(t, "reconfigure")
	time.Sleep(time.Second)
}

// sdOfIface finds the disk of the session an open-iscsi iface logged in.
func sdOfIface(t *testing.T, iface string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "iscsiadm", "-m", "session", "-P", "3").Output()
	if err != nil {
		return ""
	}
	cur := ""
	for _, line := range strings.Split(string(out), "\n") {
		fs := strings.Fields(line)
		switch {
		case len(fs) >= 3 && fs[0] == "Iface" && fs[1] == "Name:":
			cur = fs[2]
		case len(fs) >= 4 && fs[0] == "Attached" && fs[1] == "scsi" && fs[2] == "disk" && cur == iface:
			return fs[3]
		}
	}
	return ""
}

// ifaceOf finds the open-iscsi iface of one of A's paths.
func ifaceOf(t *testing.T, f fabric, path string) string {
	t.Helper()
	for _, iface := range f.AIfaces {
		if sdOfIface(t, iface) == path {
			return iface
		}
	}
	t.Fatalf("no iface of A has %s", path)
	return ""
}

// relogin logs the session of A's path i out and in again: a new session,
// so a new ISID and a new I_T nexus for the target, and a new disk for the
// kernel (its name may be reused). It returns the new disk once multipathd
// has it in the map.
func relogin(t *testing.T, f fabric, iface string) string {
	t.Helper()
	old := sdOfIface(t, iface)
	must(t, 30*time.Second, "iscsiadm", "-m", "node", "-T", f.Target, "-p", f.Portal, "-I", iface, "--logout")
	waitFor(t, old+" is gone", 30*time.Second, func() bool {
		_, err := os.Stat("/sys/block/" + old)
		return err != nil
	})
	waitFor(t, "multipathd drops "+old, 30*time.Second, func() bool { return pathsUp(t, f) == len(f.A)-1 })
	must(t, 30*time.Second, "iscsiadm", "-m", "node", "-T", f.Target, "-p", f.Portal, "-I", iface, "--login")
	var p string
	waitFor(t, "a disk on the new session", 30*time.Second, func() bool {
		p = sdOfIface(t, iface)
		_, err := os.Stat("/sys/block/" + p)
		return p != "" && err == nil
	})
	waitFor(t, "multipathd adds "+p+" to "+f.MapName, 30*time.Second, func() bool {
		return slices.Contains(slaves(t, f), p) && pathsUp(t, f) == len(f.A)
	})
	step(t, "the session of iface %s: %s before, %s now", iface, old, p)
	return p
}

// unregisterNexus removes the registration of the I_T nexus of one path
// (REGISTER with service action key 0), leaving the others.
func unregisterNexus(path string, key scsipr.Key) error {
	r, err := scsipr.DevicePath{Dev: path}.Do(scsipr.OutCDB(scsipr.Register, scsipr.TypeNone),
		scsipr.OutParams{Key: key}.Encode(), 0, 10*time.Second)
	if err != nil {
		return err
	}
	return r.Err()
}

// startMultipathd starts multipathd in the foreground (-d), its log added
// to the scenario's multipathd log, as fabric.sh does.
func startMultipathd(t *testing.T) {
	t.Helper()
	logf, err := os.OpenFile(os.Getenv("SCSIVM_MULTIPATHD_LOG"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		logf, _ = os.Create("/tmp/multipathd.log")
	}
	cmd := exec.Command("multipathd", "-d", "-s", "-v2")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Process.Release()
	waitFor(t, "multipathd answers", 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := multipath.Socket{}.Command(ctx, "show daemon")
		return err == nil
	})
}

// running says whether a process with that command name runs.
func running(comm string) bool {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile("/proc/" + e.Name() + "/comm")
		if err == nil && strings.TrimSpace(string(b)) == comm {
			return true
		}
	}
	return false
}
