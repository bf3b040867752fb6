package multipath

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hamon-ha/hamon/nodeagent/scsipr"
)

// fakeDaemon answers libmpathcmd frames on a unix socket the way
// multipathd 0.9.4 does, and remembers the commands.
type fakeDaemon struct {
	t       *testing.T
	addr    string
	mu      sync.Mutex
	cmds    []string
	answers map[string]string // command prefix -> reply; default "ok\n"
	silent  bool              // read the command, never answer
}

func newFakeDaemon(t *testing.T) *fakeDaemon {
	t.Helper()
	d := &fakeDaemon{t: t, addr: filepath.Join(t.TempDir(), "multipathd.socket"), answers: map[string]string{}}
	l, err := net.Listen("unix", d.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go d.serve(c)
		}
	}()
	return d
}

func (d *fakeDaemon) serve(c net.Conn) {
	defer func() { _ = c.Close() }()
	var hdr [8]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return
	}
	n := binary.NativeEndian.Uint64(hdr[:])
	if n == 0 || n > 4096 {
		d.t.Errorf("request length %d", n)
		return
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		return
	}
	if b[n-1] != 0 {
		d.t.Errorf("request %q is not NUL-terminated", b)
	}
	cmd := string(b[:n-1])
	d.mu.Lock()
	d.cmds = append(d.cmds, cmd)
	reply, silent := "ok\n", d.silent
	for prefix, r := range d.answers {
		if strings.HasPrefix(cmd, prefix) {
			reply = r
		}
	}
	d.mu.Unlock()
	if silent {
		_, _ = io.Copy(io.Discard, c)
		return
	}
	_, _ = c.Write(Frame(reply)[:8+len(reply)+1])
}

func (d *fakeDaemon) commands() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.cmds...)
}

func TestFrame(t *testing.T) {
	b := Frame("show maps")
	if len(b) != 8+10 || binary.NativeEndian.Uint64(b[:8]) != 10 || string(b[8:17]) != "show maps" || b[17] != 0 {
		t.Fatalf("frame % x", b)
	}
}

func TestReadReplyChecksTheLength(t *testing.T) {
	for name, in := range map[string][]byte{
		"zero":      make([]byte, 8),
		"huge":      binary.NativeEndian.AppendUint64(nil, 1<<40),
		"truncated": append(binary.NativeEndian.AppendUint64(nil, 10), "ok"...),
		"empty":     nil,
	} {
		if _, err := ReadReply(strings.NewReader(string(in))); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	got, err := ReadReply(strings.NewReader(string(Frame("0x1\n"))))
	if err != nil || got != "0x1\n" {
		t.Fatalf("%q %v", got, err)
	}
}

func TestSetKeySendsSetprkeyThenSetprstatus(t *testing.T) {
	d := newFakeDaemon(t)
	c := &Client{Commander: Socket{Addresses: []string{"/nonexistent/socket", d.addr}}}
	if err := c.SetKey(context.Background(), "mpatha", 0x68aabbccddeeff01); err != nil {
		t.Fatal(err)
	}
	if err := c.ClearKey(context.Background(), "mpatha"); err != nil {
		t.Fatal(err)
	}
	want := []string{"setprkey map mpatha key 0x68aabbccddeeff01", "setprstatus map mpatha", "unsetprstatus map mpatha", "unsetprkey map mpatha"}
	if got := d.commands(); !slices.Equal(got, want) {
		t.Fatalf("commands %q, want %q", got, want)
	}
}

func TestStateParsesBothVersions(t *testing.T) {
	d := newFakeDaemon(t)
	c := &Client{Commander: Socket{Addresses: []string{d.addr}}}
	for _, tc := range []struct {
		key, status string
		want        State
	}{
		{"0x68aabbccddeeff01\n", "1", State{Key: 0x68aabbccddeeff01, Registered: true}},
		{"0x0000000000000abc:aptpl\n", "0", State{Key: 0xabc}},
		{"none\n", "unset\n", State{}},
		{"0x1\n", "set\n", State{Key: 1, Registered: true}},
	} {
		d.mu.Lock()
		d.answers["getprkey"], d.answers["getprstatus"] = tc.key, tc.status
		d.mu.Unlock()
		got, err := c.State(context.Background(), "mpatha")
		if err != nil || got != tc.want {
			t.Errorf("%q/%q: %+v %v, want %+v", tc.key, tc.status, got, err, tc.want)
		}
	}
}

func TestRefusals(t *testing.T) {
	d := newFakeDaemon(t)
	d.answers["setprkey"] = "fail\n"
	c := &Client{Commander: Socket{Addresses: []string{d.addr}}}
	err := c.SetKey(context.Background(), "mpatha", 1)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "reservation_key file") {
		t.Fatalf("refused setprkey: %v", err)
	}
	if slices.Contains(d.commands(), "setprstatus map mpatha") {
		t.Fatal("setprstatus sent after setprkey failed")
	}
	d.answers["getprkey"] = "permission deny: need to be root\n"
	if _, err := c.State(context.Background(), "mpatha"); !errors.Is(err, ErrRefused) {
		t.Fatalf("permission: %v", err)
	}
	d.answers["getprkey"] = "garbage\n"
	if _, err := c.State(context.Background(), "mpatha"); err == nil {
		t.Fatal("garbage key accepted")
	}
	if err := c.SetKey(context.Background(), "mpatha", 0); err == nil {
		t.Fatal("key 0 accepted")
	}
}

func TestMapNamesCannotCarryWords(t *testing.T) {
	c := &Client{Commander: Socket{Addresses: []string{"/nonexistent"}}}
	for _, m := range []string{"", "mpatha key 0x1", "a\nb", "../x", "-x", strings.Repeat("a", 200)} {
		if err := c.SetKey(context.Background(), m, 1); err == nil || !strings.Contains(err.Error(), "map name") {
			t.Errorf("%q: %v", m, err)
		}
	}
	for _, m := range []string{"mpatha", "36001405abd0000000000000000000000", "data_01.x"} {
		if err := checkMap(m); err != nil {
			t.Errorf("%q: %v", m, err)
		}
	}
}

func TestSocketHonoursTheContext(t *testing.T) {
	d := newFakeDaemon(t)
	d.silent = true
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Socket{Addresses: []string{d.addr}}.Command(ctx, "show maps")
	if err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("a silent daemon: %v after %v", err, time.Since(start))
	}
	if _, err := (Socket{Addresses: []string{filepath.Join(t.TempDir(), "none")}}).Command(context.Background(), "x"); err == nil {
		t.Fatal("no daemon, no error")
	}
}

func TestCLI(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "multipathd")
	script := `#!/bin/sh
echo "$@" >> "` + dir + `/args"
case "$1" in
  getprkey) echo 0x68aabbccddeeff01 ;;
  getprstatus) echo 1 ;;
  unsetprkey) echo fail; exit 1 ;;
  *) echo ok ;;
esac
`
	if err := os.WriteFile(bin, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	c := &Client{Commander: CLI{Binary: bin}}
	ctx := context.Background()
	if err := c.SetKey(ctx, "mpatha", 0x68aabbccddeeff01); err != nil {
		t.Fatal(err)
	}
	st, err := c.State(ctx, "mpatha")
	if err != nil || st != (State{Key: 0x68aabbccddeeff01, Registered: true}) {
		t.Fatalf("%+v %v", st, err)
	}
	if err := c.ClearKey(ctx, "mpatha"); !errors.Is(err, ErrRefused) {
		t.Fatalf("fail answer: %v", err)
	}
	args, _ := os.ReadFile(filepath.Join(dir, "args"))
	want := "setprkey map mpatha key 0x68aabbccddeeff01\nsetprstatus map mpatha\ngetprkey map mpatha\ngetprstatus map mpatha\n" +
		"unsetprstatus map mpatha\nunsetprkey map mpatha\n"
	if string(args) != want {
		t.Fatalf("args %q", args)
	}
	if _, err := (CLI{Binary: filepath.Join(dir, "missing")}).Command(ctx, "show maps"); err == nil {
		t.Fatal("missing binary, no error")
	}
}

func TestRecorder(t *testing.T) {
	var r Recorder
	ctx := context.Background()
	var d Daemon = &r
	if err := d.SetKey(ctx, "mpatha", 0x68); err != nil {
		t.Fatal(err)
	}
	if st, _ := d.State(ctx, "mpatha"); st != (State{Key: 0x68, Registered: true}) {
		t.Fatalf("%+v", st)
	}
	if err := d.ClearKey(ctx, "mpatha"); err != nil {
		t.Fatal(err)
	}
	if st, _ := d.State(ctx, "mpatha"); st != (State{}) {
		t.Fatalf("after clear %+v", st)
	}
	r.Fail = func(cmd string) error {
		if strings.HasPrefix(cmd, "setprstatus") {
			return ErrRefused
		}
		return nil
	}
	if err := d.SetKey(ctx, "mpathb", scsipr.Key(7)); !errors.Is(err, ErrRefused) {
		t.Fatal(err)
	}
	if st, _ := d.State(ctx, "mpathb"); st != (State{Key: 7}) {
		t.Fatalf("a refused setprstatus leaves the key only: %+v", st)
	}
	want := []string{"setprkey map mpatha key 0x0000000000000068", "setprstatus map mpatha", "unsetprstatus map mpatha",
		"unsetprkey map mpatha", "setprkey map mpathb key 0x0000000000000007"}
	if got := r.Commands(); !slices.Equal(got, want) {
		t.Fatalf("%q", got)
	}
}
