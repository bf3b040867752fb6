package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/hamon-ha/hamon/controllers/hotstandby"
	"github.com/hamon-ha/hamon/controllers/machinestate"
)

// runPlan replays the machine on the server's current state with one
// failure, and a world that then does what it is told, and says what
// would happen.
func runPlan(ctx context.Context, o *options) int {
	s, err := o.get(ctx)
	if err != nil {
		return o.abort(err)
	}
	if o.node != "" && !hasHost(s, o.node) {
		return o.abort(fmt.Errorf("--node %s: not a host of %s/%s (its hosts: %s)", o.node, s.Namespace, s.Name, hostList(s)))
	}
	cfg, st := machinestate.Of(s, hotstandby.Timing{})
	node := o.node
	if node == "" {
		node = st.ActiveNode()
	}
	if node == "" {
		fmt.Fprintln(o.out, "no host is active: nothing would switch")
		return exitDone
	}
	var ev hotstandby.Event
	switch o.fail {
	case "server":
		ev = hotstandby.ServerExited{Node: node, Normal: false}
	case "host":
		ev = hotstandby.HostLost{Node: node}
	default:
		fmt.Fprintf(o.err, "kubectl hamon plan: --fail %q: say what fails, --fail server or --fail host\n", o.fail)
		return exitUsage
	}
	fmt.Fprintf(o.out, "If %s failed on %s now (%s):\n", o.fail, node, ev)
	plan(o.out, cfg, st, ev)
	return exitDone
}

// plan steps the machine from st through ev, answering its commands as a
// healthy world would, and prints what it did.
func plan(w io.Writer, cfg hotstandby.Config, st *hotstandby.State, ev hotstandby.Event) {
	now := time.Now()
	queue := []hotstandby.Event{ev}
	for steps := 0; len(queue) > 0 && steps < 50; steps++ {
		ev, queue = queue[0], queue[1:]
		var cmds []hotstandby.Command
		st, cmds = hotstandby.Step(cfg, st, ev, now)
		for _, c := range cmds {
			switch c := c.(type) {
			case hotstandby.Emit:
				fmt.Fprintf(w, "  %s\n", c)
			case hotstandby.Reserve:
				fmt.Fprintf(w, "  -> %s takes the reservation (PREEMPT AND ABORT of the other keys)\n", c.Node)
				queue = append(queue, hotstandby.ReservationTaken(c))
			case hotstandby.StartServer:
				fmt.Fprintf(w, "  -> start the server on %s as %s\n", c.Node, c.Role)
				queue = append(queue, hotstandby.ServerStarted{Node: c.Node})
			case hotstandby.Promote:
				fmt.Fprintf(w, "  -> promote the standby copy on %s\n", c.Node)
				queue = append(queue, hotstandby.ServerStarted(c))
			case hotstandby.StopServer:
				fmt.Fprintf(w, "  -> stop the server on %s\n", c.Node)
				queue = append(queue, hotstandby.ServerExited{Node: c.Node, Normal: true})
			default:
				fmt.Fprintf(w, "  -> %s\n", c)
			}
		}
		if len(queue) == 0 && !hotstandby.NextDeadline(st).IsZero() && st.Switch != nil {
			now = hotstandby.NextDeadline(st)
			queue = append(queue, hotstandby.Tick{})
		}
	}
	fmt.Fprintf(w, "Result: phase %s, active %s", st.Phase, orDash(st.ActiveNode()))
	for _, h := range st.Hosts {
		if h.State.IsWait() || h.State == hotstandby.Fenced || h.State == hotstandby.Failed {
			fmt.Fprintf(w, ", %s %s", h.Node, h.State)
		}
	}
	fmt.Fprintln(w)
}
