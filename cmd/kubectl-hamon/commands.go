package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
)

var errHelp = errors.New("help")

// Exit codes.
const (
	exitDone    = 0 // done, or shown
	exitRefused = 1 // refused, failed, not found, or (paths) a failed path on the active host
	exitTimeout = 2 // no answer in --timeout
	exitUsage   = 2 // bad usage
)

// Defaults of the flags that name where hamon itself runs.
const (
	defaultHamonNamespace     = hav1alpha1.DefaultAgentNamespace
	defaultControllerSelector = "app.kubernetes.io/name=hamon,app.kubernetes.io/component=controller"
	defaultAgentSelector      = "app.kubernetes.io/name=hamon,app.kubernetes.io/component=nodeagent"
	defaultTail               = 2000
	defaultLimitBytes         = 4 << 20
)

type options struct {
	c      client.WithWatch
	cs     kubernetes.Interface
	scheme *runtime.Scheme

	in          io.Reader
	out, err    io.Writer
	tty, colour bool
	now         func() time.Time

	cmd                                string
	kubeconfig, kubeContext, namespace string
	allNamespaces                      bool
	name, node, group                  string
	output, fail, file                 string
	force, hosts, yes, watch, history  bool
	timeout                            time.Duration

	// Where hamon runs: the namespace of its pods and of the agents'
	// Leases, and the labels of the controller's and the agents' pods.
	hamonNamespace, leaseNamespace    string
	controllerSelector, agentSelector string
	tail, limitBytes                  int64
}

type command struct {
	help     string
	needName bool
	flags    func(fs *flag.FlagSet, o *options)
	check    func(o *options) error
	run      func(ctx context.Context, o *options) int
}

func flagSet(cmd command, o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("kubectl hamon", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "Path to the kubeconfig file.")
	fs.StringVar(&o.kubeContext, "context", "", "The kubeconfig context to use.")
	fs.StringVar(&o.namespace, "n", "", "Namespace (default: the context's).")
	fs.StringVar(&o.namespace, "namespace", "", "Namespace (default: the context's).")
	fs.DurationVar(&o.timeout, "timeout", o.timeout, "How long to wait for the controller's answer.")
	if cmd.flags != nil {
		cmd.flags(fs, o)
	}
	return fs
}

// hamonFlags are the flags of the commands that read hamon's own objects.
func hamonFlags(fs *flag.FlagSet, o *options) {
	fs.StringVar(&o.hamonNamespace, "hamon-namespace", defaultHamonNamespace,
		"Namespace where hamon's controller and node agents run.")
	fs.StringVar(&o.leaseNamespace, "lease-namespace", "",
		"Namespace of the agents' Leases (the controller's --agent-namespace; default: --hamon-namespace).")
}

func parse(name string, cmd command, args []string) (*options, error) {
	o := &options{cmd: name, timeout: 2 * time.Minute}
	fs := flagSet(cmd, o)
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
		return nil, fmt.Errorf("one server name at most, got %s", strings.Join(rest, " "))
	case len(rest) == 1:
		o.name = rest[0]
	case cmd.needName && o.group == "":
		return nil, errors.New("which HAServer? give its name: kubectl hamon " + name + " NAME")
	}
	if o.timeout <= 0 {
		return nil, fmt.Errorf("--timeout %s: give a duration longer than zero, for example --timeout 2m", o.timeout)
	}
	if o.leaseNamespace == "" {
		o.leaseNamespace = o.hamonNamespace
	}
	if cmd.check != nil {
		if err := cmd.check(o); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// help is a command's help with its flags.
func help(cmd command) string {
	var b strings.Builder
	b.WriteString(cmd.help)
	b.WriteString("\nFlags:\n")
	fs := flagSet(cmd, &options{timeout: 2 * time.Minute})
	t := &table{}
	fs.VisitAll(func(f *flag.Flag) {
		name := "--" + f.Name
		if len(f.Name) == 1 {
			name = "-" + f.Name
		}
		typ, usage := flag.UnquoteUsage(f)
		if typ != "" {
			name += " " + typ
		}
		if f.DefValue != "" && f.DefValue != "false" {
			usage += " (default " + f.DefValue + ")"
		}
		t.row("  "+name, usage)
	})
	t.write(&b)
	return b.String()
}

func checkHamonNamespace(o *options) error {
	if o.hamonNamespace == "" {
		return errors.New("--hamon-namespace is empty: give the namespace where hamon runs (default " + defaultHamonNamespace + ")")
	}
	return nil
}

var commands = map[string]command{
	"show": {
		help: "kubectl hamon show [NAME] [-n NS | -A] [--hosts] [--history] [--watch] [-o json|yaml]\n" +
			"\n" +
			"Replaces HA Monitor's monshow: each server with its hosts, their roles and states,\n" +
			"the reservation holder, the last switchover and the last request.\n" +
			"--hosts shows the hosts as their node agents see them (HANode and Lease): alive,\n" +
			"agent version, reservation key, fencing state, each shared disk with its paths,\n" +
			"the registered keys and the holder, and the agents' reports; with NAME, only that\n" +
			"server's hosts and disks. --history (with NAME) adds the failover timeline: each\n" +
			"switchover the status keeps, with its stages and their durations (detection,\n" +
			"fencing, activation). --watch redraws whenever something changes (Ctrl-C stops).\n" +
			"-o json|yaml prints the objects (HAServers, or HANodes with --hosts).\n",
		flags: func(fs *flag.FlagSet, o *options) {
			fs.BoolVar(&o.allNamespaces, "A", false, "All namespaces.")
			fs.BoolVar(&o.allNamespaces, "all-namespaces", false, "All namespaces.")
			fs.BoolVar(&o.hosts, "hosts", false, "Show the hosts as their agents see them (HANode, Lease).")
			fs.BoolVar(&o.history, "history", false, "With NAME: each switchover with its stages and their durations.")
			fs.BoolVar(&o.watch, "watch", false, "Redraw whenever something changes, until Ctrl-C.")
			fs.BoolVar(&o.watch, "w", false, "Short for --watch.")
			fs.StringVar(&o.output, "o", "", "Output format: json or yaml (default: a table).")
			hamonFlags(fs, o)
		},
		check: func(o *options) error {
			if o.output != "" && o.output != "json" && o.output != "yaml" {
				return fmt.Errorf("-o %s: want -o json or -o yaml, or no -o for a table", o.output)
			}
			if o.allNamespaces && o.name != "" {
				return fmt.Errorf("-A lists every namespace and NAME picks one server: give -n NS with %s instead of -A", o.name)
			}
			if o.history && (o.name == "" || o.hosts) {
				return fmt.Errorf("--history shows one server's switchovers: give NAME, without --hosts")
			}
			return checkHamonNamespace(o)
		},
		run: runShow,
	},
	"paths": {
		help: "kubectl hamon paths NAME\n" +
			"\n" +
			"Replaces HA Monitor's monpath, for the shared disks: for each host of the server, each\n" +
			"shared disk and each of its paths, the path's state as the host's agent last reported\n" +
			"it (HANode), and the reservation holder as that agent reads it. Exit 1 when a path of\n" +
			"a disk on the active host is Failed or Offline (KAMN725-W).\n",
		needName: true,
		flags:    hamonFlags,
		check:    checkHamonNamespace,
		run:      runPaths,
	},
	"swap": {
		help: "kubectl hamon swap NAME [--node N] [--force]\n" +
			"kubectl hamon swap -g GROUP [--node N]\n" +
			"\n" +
			"Replaces HA Monitor's monswap: a planned switchover to the best standby (or --node).\n" +
			"--force is monswap -f: the active host's OS is terminated first. -g is monswap -g:\n" +
			"switch every member of an HAServerGroup.\n",
		needName: true,
		flags: func(fs *flag.FlagSet, o *options) {
			fs.StringVar(&o.node, "node", "", "The standby to switch to.")
			fs.BoolVar(&o.force, "force", false, "Forced switchover (monswap -f): fence the active host first.")
			fs.StringVar(&o.group, "g", "", "Switch this HAServerGroup (monswap -g).")
		},
		check: func(o *options) error {
			if o.group != "" && o.name != "" {
				return fmt.Errorf("give either a server NAME (%s) or -g GROUP (%s), not both", o.name, o.group)
			}
			if o.group != "" && o.force {
				return errors.New("--force is for one server (monswap -f); a group switch (-g) is always planned")
			}
			return nil
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
			"Replaces HA Monitor's monsbystp: stop the standby server on N, or every standby.\n",
		needName: true,
		flags:    func(fs *flag.FlagSet, o *options) { fs.StringVar(&o.node, "node", "", "The standby to stop.") },
		run:      func(ctx context.Context, o *options) int { return request(ctx, o, hav1alpha1.ActionStopStandby) },
	},
	"end": {
		help: "kubectl hamon end NAME\n" +
			"\n" +
			"Replaces HA Monitor's monend: stop the active server (with its termCommand) and its standbys.\n",
		needName: true,
		run:      func(ctx context.Context, o *options) int { return request(ctx, o, hav1alpha1.ActionEnd) },
	},
	"begin": {
		help: "kubectl hamon begin NAME [--node N]\n" +
			"\n" +
			"Replaces HA Monitor's monbegin: start an ended server (on the primary, or N); while it\n" +
			"runs, --node N brings a stopped or failed host back as a standby (7.4.3).\n",
		needName: true,
		flags:    func(fs *flag.FlagSet, o *options) { fs.StringVar(&o.node, "node", "", "The host.") },
		run:      func(ctx context.Context, o *options) int { return request(ctx, o, hav1alpha1.ActionBegin) },
	},
	"act": {
		help: "kubectl hamon act NAME [--node N]\n" +
			"\n" +
			"Replaces HA Monitor's monact: start a server waiting in RestartWait, ActiveStartWait,\n" +
			"HotStandbyWait, GroupSwitchWait or StartRetry as the active server. For HotStandbyWait,\n" +
			"first make sure the failed host is really down.\n",
		needName: true,
		flags:    func(fs *flag.FlagSet, o *options) { fs.StringVar(&o.node, "node", "", "The waiting host.") },
		run:      func(ctx context.Context, o *options) int { return request(ctx, o, hav1alpha1.ActionAct) },
	},
	"clear-reservation": {
		help: "kubectl hamon clear-reservation NAME [--yes]\n" +
			"\n" +
			"Replaces HA Monitor's monscsiclr: clear the reservation of the server's shared disks,\n" +
			"left by a host that died holding it. It names the holder (as the controller and each\n" +
			"host's agent see it) and asks for a confirmation; it refuses while a host plays the\n" +
			"active role or while the holder may be alive (its agent renews its Lease, or the\n" +
			"controller counts it alive). The controller checks the same again.\n",
		needName: true,
		flags: func(fs *flag.FlagSet, o *options) {
			fs.BoolVar(&o.yes, "yes", false, "Do not ask for a confirmation (the checks still apply).")
			hamonFlags(fs, o)
		},
		check: checkHamonNamespace,
		run:   runClear,
	},
	"plan": {
		help: "kubectl hamon plan NAME --fail server|host [--node N]\n" +
			"\n" +
			"HA Monitor has no such command: it replays hamon's state machine on the server's\n" +
			"current state as if the active server (or host N) failed now, and says which host\n" +
			"would become active, what would be fenced and which wait state would follow. Changes nothing.\n",
		needName: true,
		flags: func(fs *flag.FlagSet, o *options) {
			fs.StringVar(&o.fail, "fail", "", "What fails: server or host.")
			fs.StringVar(&o.node, "node", "", "The host that fails (default: the active one).")
		},
		check: func(o *options) error {
			if o.fail != "server" && o.fail != "host" {
				return fmt.Errorf("--fail %q: say what fails, --fail server or --fail host", o.fail)
			}
			return nil
		},
		run: runPlan,
	},
	"collect": {
		help: "kubectl hamon collect NAME [-o FILE]\n" +
			"\n" +
			"Replaces HA Monitor's error information collection (7.4.2): writes a tar.gz for a\n" +
			"support engineer with SUMMARY.txt (read it first: state, hosts, last switchover, the\n" +
			"reservation as each host sees it, recent warning events), the HAServer, its events,\n" +
			"the HANodes and Leases of its hosts, its pods, and the recent logs of the servers, of\n" +
			"the controller and of the node agents of its hosts (found by label in\n" +
			"--hamon-namespace). A log that cannot be read is replaced by a file saying why.\n" +
			"Default FILE: hamon-collect-<namespace>-<name>-<UTC time>.tar.gz; -o - writes to stdout.\n" +
			"--timeout bounds the whole collection: what is not read by then is recorded as missing.\n",
		needName: true,
		flags: func(fs *flag.FlagSet, o *options) {
			fs.StringVar(&o.file, "o", "", "The archive to write (- for stdout).")
			fs.Int64Var(&o.tail, "tail", defaultTail, "Lines of each log to keep, from the end.")
			fs.Int64Var(&o.limitBytes, "limit-bytes", defaultLimitBytes, "Bytes of each log to keep at most.")
			fs.StringVar(&o.controllerSelector, "controller-selector", defaultControllerSelector,
				"Labels of the controller's pods in --hamon-namespace.")
			fs.StringVar(&o.agentSelector, "agent-selector", defaultAgentSelector,
				"Labels of the node agents' pods in --hamon-namespace.")
			hamonFlags(fs, o)
		},
		check: func(o *options) error {
			if o.tail < 1 {
				return fmt.Errorf("--tail %d: give a number of lines of at least 1 (default %d)", o.tail, defaultTail)
			}
			if o.limitBytes < 1 {
				return fmt.Errorf("--limit-bytes %d: give a number of bytes of at least 1 (default %d)", o.limitBytes, defaultLimitBytes)
			}
			for flagName, sel := range map[string]string{"--controller-selector": o.controllerSelector, "--agent-selector": o.agentSelector} {
				if _, err := labels.Parse(sel); err != nil || sel == "" {
					return fmt.Errorf("%s %q: want a label selector such as %s", flagName, sel, defaultAgentSelector)
				}
			}
			return checkHamonNamespace(o)
		},
		run: runCollect,
	},
}

func (o *options) get(ctx context.Context) (*hav1alpha1.HAServer, error) {
	var s hav1alpha1.HAServer
	err := o.c.Get(ctx, client.ObjectKey{Namespace: o.namespace, Name: o.name}, &s)
	if err != nil {
		return nil, notFound(err, "HAServer", o.namespace, o.name)
	}
	return &s, nil
}

// abort prints an error and returns exitRefused.
func (o *options) abort(err error) int {
	fmt.Fprintf(o.err, "kubectl hamon %s: %v\n", o.cmd, err)
	return exitRefused
}
