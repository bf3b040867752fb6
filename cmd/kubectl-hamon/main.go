// Command kubectl-hamon is the kubectl plugin for hamon: HA Monitor's
// operator commands on HAServers (kubectl hamon show|paths|swap|
// stop-standby|end|begin|act|clear-reservation|plan|collect). Each command
// that changes something writes a request with an id into the object and
// waits for the controller's answer: exit 0 done, 1 refused or failed, 2
// timed out.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, nil)
	stop()
	os.Exit(code)
}

// console is what the plugin talks to: its streams, and whether stdout is
// a terminal (spinners, redrawing in place) and may be coloured.
type console struct {
	in       io.Reader
	out, err io.Writer
	tty      bool
	colour   bool
}

// Main runs the plugin; cfg, when not nil, replaces the configuration
// loaded from the kubeconfig (tests pass one). Colour and spinners are
// used only when stdout is a terminal and NO_COLOR is unset.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, cfg *rest.Config) int {
	tty := isTerminal(stdout)
	colour := tty && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"
	return run(ctx, args, console{in: stdin, out: stdout, err: stderr, tty: tty, colour: colour}, cfg)
}

func run(ctx context.Context, args []string, con console, cfg *rest.Config) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(con.out, usage)
		return exitDone
	}
	name := args[0]
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(con.err, "kubectl hamon: unknown command %q\n\n%s", name, usage)
		return exitUsage
	}
	o, err := parse(name, cmd, args[1:])
	if err != nil {
		if errors.Is(err, errHelp) {
			fmt.Fprint(con.out, help(cmd))
			return exitDone
		}
		fmt.Fprintf(con.err, "kubectl hamon %s: %v\n(kubectl hamon %s --help says more)\n", name, err, name)
		return exitUsage
	}
	o.in, o.out, o.err, o.tty, o.colour = con.in, con.out, con.err, con.tty, con.colour
	o.now = time.Now
	if cfg == nil {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		if o.kubeconfig != "" {
			rules.ExplicitPath = o.kubeconfig
		}
		kc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.kubeContext})
		if o.namespace == "" {
			o.namespace, _, _ = kc.Namespace()
		}
		if cfg, err = kc.ClientConfig(); err != nil {
			fmt.Fprintf(con.err, "kubectl hamon: reading the kubeconfig: %v\n", err)
			return exitUsage
		}
	}
	if o.namespace == "" {
		o.namespace = "default"
	}
	if err := o.connect(cfg); err != nil {
		fmt.Fprintln(con.err, "kubectl hamon:", err)
		return exitUsage
	}
	if !o.watch {
		// Waits end on --timeout; the rest is a bound on the API calls.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout+5*time.Second)
		defer cancel()
	}
	return cmd.run(ctx, o)
}

// connect builds the clients: a controller-runtime client that can watch,
// for hamon's kinds and the core ones, and a clientset for pod logs.
func (o *options) connect(cfg *rest.Config) error {
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 {
		// collect reads a few dozen objects and logs; client-go's default
		// of 5 requests a second would make it crawl.
		cfg.QPS, cfg.Burst = 50, 100
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := hav1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("connecting to the API server: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("connecting to the API server: %w", err)
	}
	o.c, o.cs, o.scheme = c, cs, scheme
	return nil
}

const usage = `kubectl hamon: HA Monitor's operator commands for hamon HAServers.

  show [NAME] [-n NS | -A] [--hosts] [--watch] [-o json|yaml]
                                           monshow: servers, hosts, roles, states, reservation;
                                           --hosts: the hosts as their agents see them
  paths NAME                               monpath: every path of the shared disks on every host
  swap NAME [--node N] [--force]           monswap [-f]: planned (or forced) switchover
  swap -g GROUP [--node N]                 monswap -g: switch a whole group
  stop-standby NAME [--node N]             monsbystp: stop the standby (on N, or every one)
  end NAME                                 monend: stop the active server and its standbys
  begin NAME [--node N]                    monbegin: start an ended server; with --node, bring a host back as standby
  act NAME [--node N]                      monact: start a waiting server as the active server
  clear-reservation NAME [--yes]           monscsiclr: release the shared disks' reservation of a dead holder
  plan NAME --fail server|host [--node N]  what hamon would do if that failed now (changes nothing)
  collect NAME [-o FILE]                   error information (7.4.2): a tar.gz for support

Requests wait for the controller's answer (--timeout, default 2m): exit 0 done,
1 refused or failed, 2 timed out or bad usage. "kubectl hamon COMMAND --help" says more.
Flags of every command: -n/--namespace, --kubeconfig, --context, --timeout.
`
