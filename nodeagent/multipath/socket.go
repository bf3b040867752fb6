package multipath

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// The sockets multipathd listens on: the file of multipath-tools 0.9.8 and
// later, then the abstract socket every version has (a leading @ is Go's
// spelling of the abstract namespace).
var DefaultAddresses = []string{"/run/multipathd.socket", "@/org/kernel/linux/storage/multipathd"}

// maxReply bounds a reply, as libmpathcmd does (MAX_REPLY_LEN).
const maxReply = 32 << 20

// Socket speaks libmpathcmd's protocol on multipathd's unix socket: a
// request is its length (a native size_t) then the command with a NUL; the
// reply is framed the same way. multipathd accepts commands that change
// anything only from root (SO_PEERCRED).
type Socket struct {
	// Addresses are tried in order; nil means DefaultAddresses.
	Addresses []string
	// Timeout bounds a command when ctx has no deadline (default 10 s).
	Timeout time.Duration
}

// Command sends one command and returns the reply.
func (s Socket) Command(ctx context.Context, cmd string) (string, error) {
	if s.Timeout == 0 {
		s.Timeout = 10 * time.Second
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.Timeout)
		defer cancel()
	}
	conn, err := s.dial(ctx)
	if err != nil {
		return "", err
	}
	defer func() { _ = conn.Close() }()
	if dl, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(dl); err != nil {
			return "", err
		}
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	if _, err := conn.Write(Frame(cmd)); err != nil {
		return "", fmt.Errorf("sending to multipathd: %w", err)
	}
	reply, err := ReadReply(conn)
	if err != nil {
		return "", fmt.Errorf("reading multipathd's reply: %w", err)
	}
	return reply, nil
}

func (s Socket) dial(ctx context.Context) (net.Conn, error) {
	addrs := s.Addresses
	if addrs == nil {
		addrs = DefaultAddresses
	}
	var errs []error
	var d net.Dialer
	for _, a := range addrs {
		conn, err := d.DialContext(ctx, "unix", a)
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("connecting to multipathd (is it running?): %w", errors.Join(errs...))
}

// Frame encodes one request: its length, counting the NUL, as a native
// size_t, then the command and a NUL.
func Frame(cmd string) []byte {
	b := make([]byte, 8, 8+len(cmd)+1)
	binary.NativeEndian.PutUint64(b, uint64(len(cmd)+1))
	b = append(b, cmd...)
	return append(b, 0)
}

// ReadReply reads one framed reply. Its length comes from the daemon and
// is checked before anything is allocated.
func ReadReply(r io.Reader) (string, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return "", err
	}
	n := binary.NativeEndian.Uint64(hdr[:])
	if n == 0 || n > maxReply {
		return "", fmt.Errorf("reply length %d out of range", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	b, _, _ = bytes.Cut(b, []byte{0})
	return string(b), nil
}
