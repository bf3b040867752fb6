// Command kubectl-hamon is the kubectl plugin for hamon: HA Monitor's
// operator commands on HAServers (kubectl hamon show|swap|stop-standby|
// end|begin|act|clear-reservation|plan). Each command that changes
// something writes a request with an id into the object and waits for the
// controller's answer: exit 0 done, 1 refused or failed, 2 timed out.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
)

func main() {
	os.Exit(Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, nil))
}

// Main runs the plugin; c, when not nil, replaces the client built from
// the kubeconfig (tests pass one).
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, c client.Client) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "kubectl hamon: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	o, err := parse(cmd, args[1:], stderr)
	if err != nil {
		if errors.Is(err, errHelp) {
			fmt.Fprint(stdout, cmd.help)
			return 0
		}
		fmt.Fprintln(stderr, "kubectl hamon:", err)
		return 2
	}
	o.in, o.out, o.err = stdin, stdout, stderr
	if c == nil {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		if o.kubeconfig != "" {
			rules.ExplicitPath = o.kubeconfig
		}
		kc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{})
		if o.namespace == "" {
			o.namespace, _, _ = kc.Namespace()
		}
		cfg, err := kc.ClientConfig()
		if err != nil {
			fmt.Fprintln(stderr, "kubectl hamon:", err)
			return 2
		}
		if err := hav1alpha1.AddToScheme(clientgoscheme.Scheme); err != nil {
			fmt.Fprintln(stderr, "kubectl hamon:", err)
			return 2
		}
		if c, err = client.New(cfg, client.Options{Scheme: clientgoscheme.Scheme}); err != nil {
			fmt.Fprintln(stderr, "kubectl hamon:", err)
			return 2
		}
	}
	if o.namespace == "" {
		o.namespace = "default"
	}
	o.c = c
	ctx, cancel := context.WithTimeout(ctx, o.timeout+5*time.Second)
	defer cancel()
	return cmd.run(ctx, o)
}

const usage = `kubectl hamon: HA Monitor's operator commands for hamon HAServers.

  show [NAME] [-n NS | -A] [--hosts] [-o json|yaml]   monshow: servers, hosts, roles, states, reservation
  swap NAME [--node N] [--force]                       monswap [-f]: planned (or forced) switchover
  swap -g GROUP [--node N]                             monswap -g: switch a whole group
  stop-standby NAME [--node N]                         monsbystp: stop the standby (on N, or every one)
  end NAME                                             monend: stop the active server and its standbys
  begin NAME [--node N]                                monbegin: start an ended server; with --node, bring a host back as standby
  act NAME [--node N]                                  monact: start a waiting server as the active server
  clear-reservation NAME [--yes]                       monscsiclr: release the shared disks' reservation
  plan NAME --fail server|host [--node N]              what hamon would do if that failed now (changes nothing)

Requests wait for the controller's answer (--timeout, default 2m): exit 0 done,
1 refused or failed, 2 timed out or bad usage. "kubectl hamon COMMAND --help" says more.
`
