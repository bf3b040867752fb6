package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/controllers"
	"github.com/hamon-ha/hamon/controllers/hotstandby"
)

var errHelp = errors.New("help")

// Exit codes.
const (
	exitDone    = 0
	exitRefused = 1
	exitTimeout = 2
)

type options struct {
	c                     client.Client
	in                    io.Reader
	out, err              io.Writer
	kubeconfig, namespace string
	allNamespaces         bool
	name, node, group     string
	output, fail          string
	force, hosts, yes     bool
	timeout               time.Duration
}

type command struct {
	help     string
	needName bool
	flags    func(fs *flag.FlagSet, o *options)
	run      func(ctx context.Context, o *options) int
}

func parse(cmd command, args []string, stderr io.Writer) (*options, error) {
	o := &options{timeout: 2 * time.Minute}
	fs := flag.NewFlagSet("kubectl hamon", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "Path to the kubeconfig file.")
	fs.StringVar(&o.namespace, "n", "", "Namespace (default: the context's).")
	fs.StringVar(&o.namespace, "namespace", "", "Namespace (default: the context's).")
	fs.DurationVar(&o.timeout, "timeout", o.timeout, "How long to wait for the controller's answer.")
	if cmd.flags != nil {
		cmd.flags(fs, o)
	}
	// Flags may follow the name, as with kubectl.
	var rest []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, err
		}
		args = fs.Args()
		if len(args) > 0 {
			rest = append(rest, args[0])
			args = args[1:]
		}
	}
	switch {
	case len(rest) > 1:
		return nil, fmt.Errorf("one server name at most, got %v", rest)
	case len(rest) == 1:
		o.name = rest[0]
	case cmd.needName && o.group == "":
		return nil, errors.New("which HAServer? give its name")
	}
	return o, nil
}

var commands = map[string]command{
	"show": {
		help: "kubectl hamon show [NAME] [-n NS | -A] [--hosts] [-o json|yaml]\n" +
			"\n" +
			"monshow: each server with its hosts, their roles and states, the reservation holder\n" +
			"and the last switchover. --hosts shows the hosts as their agents see them (HANode).\n",
		flags: func(fs *flag.FlagSet, o *options) {
			fs.BoolVar(&o.allNamespaces, "A", false, "All namespaces.")
			fs.BoolVar(&o.hosts, "hosts", false, "Show the hosts (HANode) instead.")
			fs.StringVar(&o.output, "o", "", "Output format: json or yaml (default: a table).")
		},
		run: runShow,
	},
	"swap": {
		help: "kubectl hamon swap NAME [--node N] [--force]\n" +
			"kubectl hamon swap -g GROUP [--node N]\n" +
			"\n" +
			"monswap: a planned switchover to the best standby (or --node). --force is monswap -f:\n" +
			"the active host's OS is terminated first. -g switches every member of a group.\n",
		needName: true,
		flags: func(fs *flag.FlagSet, o *options) {
			fs.StringVar(&o.node, "node", "", "The standby to switch to.")
			fs.BoolVar(&o.force, "force", false, "Forced switchover (monswap -f): fence the active host first.")
			fs.StringVar(&o.group, "g", "", "Switch this HAServerGroup (monswap -g).")
		},
		run: func(ctx context.Context, o *options) int {
			if o.group != "" {
				return groupRequest(ctx, o)
			}
			return request(ctx, o, hav1alpha1.ActionSwap)
		},
	},
	"stop-standby": {
		help: "kubectl hamon stop-standby NAME [--node N]\n" +
			"\n" +
			"monsbystp: stop the standby server on N, or every standby.\n",
		needName: true,
		flags:    func(fs *flag.FlagSet, o *options) { fs.StringVar(&o.node, "node", "", "The standby to stop.") },
		run:      func(ctx context.Context, o *options) int { return request(ctx, o, hav1alpha1.ActionStopStandby) },
	},
	"end": {
		help: "kubectl hamon end NAME\n" +
			"\n" +
			"monend: stop the active server (with its termCommand) and its standbys.\n",
		needName: true,
		run:      func(ctx context.Context, o *options) int { return request(ctx, o, hav1alpha1.ActionEnd) },
	},
	"begin": {
		help: "kubectl hamon begin NAME [--node N]\n" +
			"\n" +
			"monbegin: start an ended server (on the primary, or N); while it runs, --node N\n" +
			"brings a stopped or failed host back as a standby (7.4.3).\n",
		needName: true,
		flags:    func(fs *flag.FlagSet, o *options) { fs.StringVar(&o.node, "node", "", "The host.") },
		run:      func(ctx context.Context, o *options) int { return request(ctx, o, hav1alpha1.ActionBegin) },
	},
	"act": {
		help: "kubectl hamon act NAME [--node N]\n" +
			"\n" +
			"monact: start a server waiting in RestartWait, ActiveStartWait, HotStandbyWait,\n" +
			"GroupSwitchWait or StartRetry as the active server. For HotStandbyWait, first make\n" +
			"sure the failed host is really down.\n",
		needName: true,
		flags:    func(fs *flag.FlagSet, o *options) { fs.StringVar(&o.node, "node", "", "The waiting host.") },
		run:      func(ctx context.Context, o *options) int { return request(ctx, o, hav1alpha1.ActionAct) },
	},
	"clear-reservation": {
		help: "kubectl hamon clear-reservation NAME [--yes]\n" +
			"\n" +
			"monscsiclr: clear the reservation of the server's shared disks. It asks for a\n" +
			"confirmation naming the holder; the controller refuses while the holder may be alive.\n",
		needName: true,
		flags:    func(fs *flag.FlagSet, o *options) { fs.BoolVar(&o.yes, "yes", false, "Do not ask for a confirmation.") },
		run:      runClear,
	},
	"plan": {
		help: "kubectl hamon plan NAME --fail server|host [--node N]\n" +
			"\n" +
			"What the state machine would do now if the active server (or host N) failed:\n" +
			"which host would become active, what would be fenced, which wait state. Changes nothing.\n",
		needName: true,
		flags: func(fs *flag.FlagSet, o *options) {
			fs.StringVar(&o.fail, "fail", "", "What fails: server or host.")
			fs.StringVar(&o.node, "node", "", "The host that fails (default: the active one).")
		},
		run: runPlan,
	},
}

func (o *options) get(ctx context.Context) (*hav1alpha1.HAServer, error) {
	var s hav1alpha1.HAServer
	err := o.c.Get(ctx, client.ObjectKey{Namespace: o.namespace, Name: o.name}, &s)
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("no HAServer %q in namespace %q", o.name, o.namespace)
	}
	return &s, err
}

// request writes an operator request and waits for its outcome.
func request(ctx context.Context, o *options, action hav1alpha1.RequestAction) int {
	id := fmt.Sprintf("%s-%d", strings.ToLower(string(action)), time.Now().UnixNano())
	rq := &hav1alpha1.OperatorRequest{ID: id, Action: action, Node: o.node, Force: o.force}
	for {
		s, err := o.get(ctx)
		if err != nil {
			fmt.Fprintln(o.err, "kubectl hamon:", err)
			return exitRefused
		}
		s.Spec.Request = rq
		err = o.c.Update(ctx, s)
		if err == nil {
			break
		}
		if !apierrors.IsConflict(err) {
			fmt.Fprintln(o.err, "kubectl hamon:", err)
			return exitRefused
		}
	}
	fmt.Fprintf(o.out, "%s %s/%s: request %s written; waiting for the controller", action, o.namespace, o.name, id)
	return wait(ctx, o, func(ctx context.Context) (*hav1alpha1.RequestStatus, string, error) {
		s, err := o.get(ctx)
		if err != nil {
			return nil, "", err
		}
		return s.Status.LastRequest, progress(s), nil
	}, id)
}

func groupRequest(ctx context.Context, o *options) int {
	id := fmt.Sprintf("swap-%d", time.Now().UnixNano())
	get := func(ctx context.Context) (*hav1alpha1.HAServerGroup, error) {
		var g hav1alpha1.HAServerGroup
		err := o.c.Get(ctx, client.ObjectKey{Namespace: o.namespace, Name: o.group}, &g)
		return &g, err
	}
	for {
		g, err := get(ctx)
		if err != nil {
			fmt.Fprintln(o.err, "kubectl hamon:", err)
			return exitRefused
		}
		g.Spec.Request = &hav1alpha1.OperatorRequest{ID: id, Action: hav1alpha1.ActionSwap, Node: o.node}
		if err = o.c.Update(ctx, g); err == nil {
			break
		}
		if !apierrors.IsConflict(err) {
			fmt.Fprintln(o.err, "kubectl hamon:", err)
			return exitRefused
		}
	}
	fmt.Fprintf(o.out, "Swap of group %s/%s: request %s written; waiting for the controller", o.namespace, o.group, id)
	return wait(ctx, o, func(ctx context.Context) (*hav1alpha1.RequestStatus, string, error) {
		g, err := get(ctx)
		if err != nil {
			return nil, "", err
		}
		return g.Status.LastRequest, "target " + g.Status.TargetNode, nil
	}, id)
}

// wait polls the outcome of request id, printing a step line whenever the
// progress changes.
func wait(ctx context.Context, o *options, poll func(context.Context) (*hav1alpha1.RequestStatus, string, error), id string) int {
	deadline := time.Now().Add(o.timeout)
	last := ""
	for time.Now().Before(deadline) {
		r, prog, err := poll(ctx)
		if err != nil {
			fmt.Fprintln(o.err, "\nkubectl hamon:", err)
			return exitRefused
		}
		if prog != last && prog != "" {
			fmt.Fprintf(o.out, "\n  %s", prog)
			last = prog
		}
		if r != nil && r.ID == id {
			switch r.Outcome {
			case hav1alpha1.RequestDone:
				fmt.Fprintf(o.out, "\ndone: %s\n", r.Message)
				return exitDone
			case hav1alpha1.RequestRefused, hav1alpha1.RequestFailed:
				fmt.Fprintf(o.out, "\n%s (%s): %s\n", strings.ToLower(string(r.Outcome)), r.Reason, r.Message)
				return exitRefused
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	fmt.Fprintf(o.out, "\ntimed out after %s waiting for the controller's answer to %s\n", o.timeout, id)
	return exitTimeout
}

// progress is one line about where the server stands.
func progress(s *hav1alpha1.HAServer) string {
	if sw := s.Status.Switchover; sw != nil {
		return fmt.Sprintf("%s: %s -> %s, %s", sw.Cause, orDash(sw.From), sw.To, sw.Stage)
	}
	return fmt.Sprintf("%s, active %s", s.Status.Phase, orDash(s.Status.ActiveNode))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func runClear(ctx context.Context, o *options) int {
	s, err := o.get(ctx)
	if err != nil {
		fmt.Fprintln(o.err, "kubectl hamon:", err)
		return exitRefused
	}
	holder := s.Status.ReservationHolder
	if !o.yes {
		fmt.Fprintf(o.out, "Clear the reservation of %d shared disk(s) of %s, held by %q? Only do this when that host is down. [y/N] ",
			len(s.Spec.SharedDisks), o.name, holder)
		line, _ := bufio.NewReader(o.in).ReadString('\n')
		if a := strings.TrimSpace(strings.ToLower(line)); a != "y" && a != "yes" {
			fmt.Fprintln(o.out, "not cleared")
			return exitRefused
		}
	}
	return request(ctx, o, hav1alpha1.ActionClearReservation)
}

func runShow(ctx context.Context, o *options) int {
	var items []hav1alpha1.HAServer
	opts := []client.ListOption{}
	if !o.allNamespaces {
		opts = append(opts, client.InNamespace(o.namespace))
	}
	if o.hosts {
		var nodes hav1alpha1.HANodeList
		if err := o.c.List(ctx, &nodes); err != nil {
			fmt.Fprintln(o.err, "kubectl hamon:", err)
			return exitRefused
		}
		return printOut(o, nodes.Items, func(w io.Writer) { showHosts(w, nodes.Items) })
	}
	if o.name != "" {
		s, err := o.get(ctx)
		if err != nil {
			fmt.Fprintln(o.err, "kubectl hamon:", err)
			return exitRefused
		}
		items = []hav1alpha1.HAServer{*s}
	} else {
		var list hav1alpha1.HAServerList
		if err := o.c.List(ctx, &list, opts...); err != nil {
			fmt.Fprintln(o.err, "kubectl hamon:", err)
			return exitRefused
		}
		items = list.Items
	}
	return printOut(o, items, func(w io.Writer) { showServers(w, items, colour(o.out)) })
}

func printOut[T any](o *options, v T, table func(io.Writer)) int {
	switch o.output {
	case "json":
		data, _ := json.MarshalIndent(v, "", "  ")
		fmt.Fprintln(o.out, string(data))
	case "yaml":
		data, _ := yaml.Marshal(v)
		fmt.Fprint(o.out, string(data))
	case "":
		table(o.out)
	default:
		fmt.Fprintf(o.err, "kubectl hamon: -o %s: want json or yaml\n", o.output)
		return exitTimeout
	}
	return exitDone
}

// colour says whether to colour the output: a terminal that is not dumb,
// and no NO_COLOR.
func colour(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

var stateColour = map[hav1alpha1.HostState]string{
	hav1alpha1.HostOnline: "\x1b[32m", hav1alpha1.HostStandby: "\x1b[36m", hav1alpha1.HostFailed: "\x1b[31m",
	hav1alpha1.HostFenced: "\x1b[31m", hav1alpha1.HostRestartWait: "\x1b[33m", hav1alpha1.HostActiveStartWait: "\x1b[33m",
	hav1alpha1.HostHotStandbyWait: "\x1b[33m", hav1alpha1.HostGroupSwitchWait: "\x1b[33m", hav1alpha1.HostStartRetry: "\x1b[33m",
}

// monshowCode is HA Monitor's short code for a state where one is known.
func monshowCode(st hav1alpha1.HostState) string {
	switch st {
	case hav1alpha1.HostOnline:
		return "ONL"
	case hav1alpha1.HostStandby:
		return "SBY"
	case hav1alpha1.HostStartRetry:
		return ">ONL"
	}
	return ""
}

func showServers(w io.Writer, items []hav1alpha1.HAServer, useColour bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tALIAS\tMODE\tPHASE\tHOST\tROLE\tSTATE\tALIVE\tRESERVATION")
	for _, s := range items {
		first := true
		for _, h := range s.Status.Hosts {
			name, alias, mode, phase := "", "", "", ""
			if first {
				name, alias, mode, phase = s.Namespace+"/"+s.Name, s.EffectiveAlias(), string(s.Spec.EffectiveMode()), string(s.Status.Phase)
			}
			first = false
			state := string(h.State)
			if c := monshowCode(h.State); c != "" {
				state += " (" + c + ")"
			}
			if useColour && stateColour[h.State] != "" {
				state = stateColour[h.State] + state + "\x1b[0m"
			}
			alive, res := "yes", ""
			if !h.Alive {
				alive = "no"
			}
			if s.Status.ReservationHolder == h.Node {
				res = fmt.Sprintf("holder (epoch %d)", s.Status.FencingEpoch)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, alias, mode, phase, h.Node, h.Role, state, alive, res)
		}
		if first {
			fmt.Fprintf(tw, "%s/%s\t%s\t%s\t%s\t-\t\t\t\t\n",
				s.Namespace, s.Name, s.EffectiveAlias(), s.Spec.EffectiveMode(), orDash(string(s.Status.Phase)))
		}
	}
	_ = tw.Flush()
	for _, s := range items {
		if n := len(s.Status.Switchovers); n > 0 {
			sw := s.Status.Switchovers[n-1]
			took := ""
			if sw.Started != nil && sw.Finished != nil {
				// The status keeps whole seconds.
				if d := sw.Finished.Sub(sw.Started.Time); d < time.Second {
					took = ", under 1s"
				} else {
					took = ", " + d.String()
				}
			}
			fmt.Fprintf(w, "%s/%s last switchover: %s %s -> %s, %s%s\n", s.Namespace, s.Name, sw.Cause, orDash(sw.From), sw.To, sw.Result, took)
		}
		if r := s.Status.LastRequest; r != nil {
			fmt.Fprintf(w, "%s/%s last request: %s %s: %s %s\n", s.Namespace, s.Name, r.ID, r.Action, r.Outcome, r.Message)
		}
	}
}

func showHosts(w io.Writer, nodes []hav1alpha1.HANode) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tFENCING\tKEY\tAGENT\tBOOT\tSERVERS")
	for _, n := range nodes {
		var servers []string
		for _, s := range n.Status.Servers {
			servers = append(servers, fmt.Sprintf("%s(%s e%d)", s.Key, orDash(string(s.Reservation)), s.Epoch))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, orDash(string(n.Status.Fencing)), orDash(n.Status.ReservationKey),
			orDash(n.Status.AgentVersion), orDash(n.Status.BootID), strings.Join(servers, " "))
	}
	_ = tw.Flush()
}

// runPlan replays the machine on the server's current state with one
// failure, and a world that then does what it is told, and says what
// would happen.
func runPlan(ctx context.Context, o *options) int {
	s, err := o.get(ctx)
	if err != nil {
		fmt.Fprintln(o.err, "kubectl hamon:", err)
		return exitRefused
	}
	cfg, st := controllers.MachineOf(s, controllers.Timing{})
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
		fmt.Fprintln(o.err, "kubectl hamon: --fail server|host is required")
		return exitTimeout
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
