//go:build linux

package multipath

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// CLI sends commands through the multipathd command ("multipathd
// setprkey map mpatha key 0x..."), which connects to the same socket. It
// is for hosts where the agent cannot reach the socket itself.
type CLI struct {
	// Binary is the multipathd command (default "multipathd", from PATH).
	Binary string
}

// Command runs the multipathd command with cmd's words as arguments. The
// command exits 1 when the daemon answers "fail"; its output is the reply.
func (c CLI) Command(ctx context.Context, cmd string) (string, error) {
	bin := c.Binary
	if bin == "" {
		bin = "multipathd"
	}
	var out bytes.Buffer
	x := exec.CommandContext(ctx, bin, strings.Fields(cmd)...)
	x.Stdout, x.Stderr = &out, &out
	err := x.Run()
	reply := out.String()
	if err != nil {
		if ReplyError(reply) != nil {
			return reply, nil // the caller names the refusal
		}
		return reply, fmt.Errorf("%s %s: %w: %s", bin, cmd, err, strings.TrimSpace(reply))
	}
	return reply, nil
}
