// Command nodeagent is hamon's node agent: run on every eligible node (a
// privileged DaemonSet), or as a simulated host with --sim-disk-root.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/nodeagent/agent"
	"github.com/hamon-ha/hamon/nodeagent/cri"
	"github.com/hamon-ha/hamon/nodeagent/fencing"
	"github.com/hamon-ha/hamon/nodeagent/lease"
	"github.com/hamon-ha/hamon/nodeagent/multipath"
	"github.com/hamon-ha/hamon/nodeagent/peer"
	"github.com/hamon-ha/hamon/nodeagent/scsipr"
	"github.com/hamon-ha/hamon/nodeagent/simdisk"
	"github.com/hamon-ha/hamon/nodeagent/watchdog"
)

// defaultPeerTLSDir is where the chart mounts the agents' CA Secret.
const defaultPeerTLSDir = "/etc/hamon/peer-tls"

type options struct {
	node, namespace, cluster, bootIDFile, osAction string
	allowedDisks                                   string
	criEndpoint                                    string
	simRoot, simPorts, simOSRecord                 string
	metricsAddr, probeAddr                         string
	timing                                         lease.Timing
	watchdogDevice                                 string
	peerListen, peerAddress, peerTLSDir, peerFrom  string
	peerTimeout, exitRelist                        time.Duration
	followExits                                    bool
	concurrency, burst                             int
	qps                                            float64
}

func main() {
	o := options{timing: lease.DefaultTiming}
	flag.StringVar(&o.node, "node", os.Getenv("NODE_NAME"), "This node's name (default $NODE_NAME).")
	flag.StringVar(&o.namespace, "namespace", "hamon-system", "Namespace of the node Leases.")
	flag.StringVar(&o.cluster, "cluster-name", "hamon", "Cluster name, part of the reservation key (same on every node).")
	flag.StringVar(&o.bootIDFile, "boot-id-file", "/proc/sys/kernel/random/boot_id", "Where the host's boot ID is read.")
	flag.StringVar(&o.criEndpoint, "cri-endpoint", "unix:///run/containerd/containerd.sock",
		"The node's CRI runtime socket: servers are stopped and patrolCommands run through it (a simulated host serves its own).")
	flag.StringVar(&o.allowedDisks, "allowed-disks", "",
		"Shared disks the agent may reserve, release or clear, as NAMESPACE=PATTERN,... (the controller's --allowed-disks); empty allows none.")
	flag.StringVar(&o.osAction, "os-action", "reboot", "What terminating the OS does: reboot, poweroff or none.")
	flag.DurationVar(&o.timing.Duration, "lease-duration", o.timing.Duration, "Lease duration: after it the host counts as lost.")
	flag.DurationVar(&o.timing.Renew, "renew-interval", o.timing.Renew, "How often the Lease is renewed.")
	flag.DurationVar(&o.timing.SelfFence, "self-fence-deadline", o.timing.SelfFence,
		"How long without a renewal before unprotected active servers are stopped (shorter than the lease).")
	flag.DurationVar(&o.timing.Watchdog, "watchdog-timeout", o.timing.Watchdog,
		"Timeout of the host watchdog the agent feeds while it is healthy; at least three renew intervals. 0: no watchdog "+
			"(then nothing resets a hung agent's host; the controller's --watchdog-timeout must match).")
	flag.StringVar(&o.watchdogDevice, "watchdog-device", "/dev/watchdog",
		"The watchdog device (a hardware watchdog, or softdog: modprobe softdog); unix://PATH: a simulated host's watchdog.")
	flag.StringVar(&o.peerListen, "peer-listen", ":9440", "Address the agent answers its peers on (HTTPS, mutual TLS).")
	flag.StringVar(&o.peerAddress, "peer-address", "",
		"Address the peers reach this agent at, published in its HANode (default: $POD_IP and the --peer-listen port).")
	flag.StringVar(&o.peerTLSDir, "peer-tls-dir", defaultPeerTLSDir,
		"Directory of the agents' CA and this agent's certificate (ca.crt, tls.crt, tls.key). \"\": no peer check "+
			"(an agent that cannot renew then stops every server no disk protects, even in an API-server outage).")
	flag.DurationVar(&o.peerTimeout, "peer-timeout", time.Second, "How long a peer's answer is awaited.")
	flag.StringVar(&o.peerFrom, "sim-peer-source", "", "Simulated host: the local address peer questions are sent from.")
	flag.StringVar(&o.simRoot, "sim-disk-root", "", "Simulated host: the directory of the simulated shared disks.")
	flag.StringVar(&o.simPorts, "sim-ports", "p1,p2", "Simulated host: the target ports (paths) this host reaches each disk through.")
	flag.StringVar(&o.simOSRecord, "sim-os-record", "", "Simulated host: the file an OS termination is recorded in (then the agent exits).")
	flag.BoolVar(&o.followExits, "follow-container-exits", true,
		"Report each server container's end as the container runtime tells it, before the kubelet writes it in the pod's status.")
	flag.DurationVar(&o.exitRelist, "exit-relist-interval", agent.DefaultExitRelist,
		"How often the container runtime's containers are listed when it streams no container events (containerd before 1.7): "+
			"a server's crash is reported to the controller within it, before the kubelet's relist (1 s) and status write.")
	flag.IntVar(&o.concurrency, "concurrent-reconciles", 16,
		"Servers handled at once: a lost host's standby takes every reservation side by side (one disk's commands stay in order).")
	// A host loss brings this agent one request per server at once: the
	// client's default of 20 a second would queue the answers behind each
	// other (reports are patched together; events are one request each).
	flag.Float64Var(&o.qps, "kube-api-qps", 50, "Requests per second the agent may send to the API server.")
	flag.IntVar(&o.burst, "kube-api-burst", 100, "Requests the agent may send in a burst above --kube-api-qps.")
	flag.StringVar(&o.metricsAddr, "metrics-bind-address", "0", "Address of the metrics endpoint (0 to disable).")
	flag.StringVar(&o.probeAddr, "health-probe-bind-address", ":8082", "Address of /healthz and /readyz.")
	zo := zap.Options{}
	zo.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zo)))
	if err := run(o); err != nil {
		ctrl.Log.Error(err, "Node agent stopped")
		os.Exit(1)
	}
}

func run(o options) error {
	if o.node == "" {
		return fmt.Errorf("--node (or $NODE_NAME) is required: the agent acts only for its own node")
	}
	if err := o.timing.Validate(); err != nil {
		return fmt.Errorf("lease timing: %w", err)
	}
	if o.concurrency < 1 {
		return fmt.Errorf("--concurrent-reconciles %d must be at least 1", o.concurrency)
	}
	action, err := fencing.ParseAction(o.osAction)
	if err != nil {
		return fmt.Errorf("--os-action: %w", err)
	}
	disks, err := hav1alpha1.ParseDiskAllowList(o.allowedDisks)
	if err != nil {
		return fmt.Errorf("--allowed-disks: %w", err)
	}
	bootID, err := os.ReadFile(o.bootIDFile)
	if err != nil {
		return fmt.Errorf("reading the boot ID (--boot-id-file): %w", err)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := hav1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("finding the API server: %w", err)
	}
	cfg.QPS, cfg.Burst = float32(o.qps), o.burst
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Controller: config.Controller{MaxConcurrentReconciles: o.concurrency},
		Scheme:     scheme, Metrics: metricsserver.Options{BindAddress: o.metricsAddr}, HealthProbeBindAddress: o.probeAddr,
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&coordinationv1.Lease{}: {Namespaces: map[string]cache.Config{o.namespace: {}}},
		}},
	})
	if err != nil {
		return err
	}
	a := &agent.Agent{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Node: o.node, Namespace: o.namespace, BootID: strings.TrimSpace(string(bootID)),
		Key: agent.KeyFor(o.cluster, o.node), SCSI: scsipr.DefaultClient, Timing: o.timing, AllowedDisks: &disks,
	}
	rt, err := cri.Dial(o.criEndpoint)
	if err != nil {
		return fmt.Errorf("--cri-endpoint: %w", err)
	}
	defer func() { _ = rt.Close() }()
	a.Runtime, a.ExitRelist = rt, o.exitRelist
	if o.followExits {
		a.Exits = rt
	}
	vctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if v, err := rt.Version(vctx); err != nil {
		ctrl.Log.Error(err, "The container runtime does not answer yet: stops and patrols will fail until it does", "endpoint", o.criEndpoint)
	} else {
		ctrl.Log.Info("Container runtime", "endpoint", o.criEndpoint, "runtime", v)
	}
	cancel()
	if o.simRoot != "" {
		a.Disks = simdisk.Resolver{Root: o.simRoot, Initiator: o.node, Ports: strings.Split(o.simPorts, ",")}
		a.Multipath = &multipath.Recorder{} // no multipathd on a simulated host
		record := o.simOSRecord
		if record == "" {
			record = filepath.Join(o.simRoot, o.node+".os-terminated")
		}
		a.OS = fencing.Recorder{File: record, Then: func() {
			ctrl.Log.Info("Simulated host: the OS was terminated; the agent exits")
			time.Sleep(100 * time.Millisecond)
			os.Exit(3)
		}}
	} else {
		a.Disks = scsipr.SysfsResolver{}
		a.Multipath = multipath.New()
		a.OS = fencing.Linux{Action: action, Log: func(m string) { ctrl.Log.Info(m) }}
	}
	if err := setupPeers(a, o); err != nil {
		return err
	}
	if o.timing.Watchdog > 0 {
		if a.Watchdog, err = openWatchdog(o.watchdogDevice, o.timing.Watchdog); err != nil {
			return fmt.Errorf("--watchdog-device: %w (--watchdog-timeout=0 runs without one, unsafe for servers without shared disks)", err)
		}
		if took := a.Watchdog.Timeout(); took > o.timing.Watchdog {
			// The controller waits twice the configured timeout: a longer
			// one would let a second copy start before the reset.
			_ = a.Watchdog.Disarm()
			return fmt.Errorf("--watchdog-device %s took a timeout of %s, longer than --watchdog-timeout %s: "+
				"set --watchdog-timeout (and the controller's) to %s or more", o.watchdogDevice, took, o.timing.Watchdog, took)
		}
		ctrl.Log.Info("Watchdog armed", "device", o.watchdogDevice, "timeout", a.Watchdog.Timeout())
	} else {
		ctrl.Log.Info("Running without a watchdog (--watchdog-timeout=0): a hung agent's host is not reset")
	}
	if err := a.SetupWithManager(mgr); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	ctrl.Log.Info("Starting the hamon node agent", "node", o.node, "key", a.Key.String(), "simulated", o.simRoot != "",
		"allowedDisks", disks.String())
	return mgr.Start(ctrl.SetupSignalHandler())
}

// openWatchdog opens the watchdog device, retrying for a few seconds
// while another process holds it (an agent being replaced still closing
// it) or, for a simulated host, while the host is starting.
func openWatchdog(device string, timeout time.Duration) (watchdog.Device, error) {
	var err error
	for range 25 {
		var d watchdog.Device
		path, sim := strings.CutPrefix(device, "unix://")
		if sim {
			d, err = watchdog.OpenSocket(path, timeout)
		} else {
			d, err = watchdog.OpenLinux(device, timeout)
		}
		if err == nil {
			return d, nil
		}
		if !sim && !errors.Is(err, watchdog.ErrBusy) {
			return nil, err
		}
		time.Sleep(200 * time.Millisecond)
	}
	return nil, err
}

// setupPeers loads the agents' TLS material and sets up the peer check.
func setupPeers(a *agent.Agent, o options) error {
	if o.peerTLSDir == "" {
		ctrl.Log.Info("No peer check (--peer-tls-dir=\"\"): an agent that cannot renew stops every server no disk protects")
		return nil
	}
	if _, err := os.Stat(o.peerTLSDir); errors.Is(err, os.ErrNotExist) && o.peerTLSDir == defaultPeerTLSDir {
		ctrl.Log.Info("No peer check: " + defaultPeerTLSDir + " is missing (the chart mounts the agents' CA Secret there); " +
			"an agent that cannot renew stops every server no disk protects, even in an API-server outage")
		return nil
	}
	srvTLS, cliTLS, err := peer.LoadTLS(o.peerTLSDir)
	if err != nil {
		return fmt.Errorf("--peer-tls-dir: %w (the chart's agent CA Secret; --peer-tls-dir=\"\" runs without a peer check)", err)
	}
	addr := o.peerAddress
	if addr == "" {
		_, port, err := net.SplitHostPort(o.peerListen)
		if err != nil {
			return fmt.Errorf("--peer-listen %q: %w", o.peerListen, err)
		}
		ip := os.Getenv("POD_IP")
		if ip == "" {
			return errors.New("--peer-address is required when $POD_IP is not set")
		}
		addr = net.JoinHostPort(ip, port)
	}
	a.PeerAddress = addr
	a.PeerListen = agent.PeerServer{Listen: o.peerListen, TLS: srvTLS}
	a.Peers = &peer.Client{TLS: cliTLS, Timeout: o.peerTimeout}
	if o.peerFrom != "" {
		a.Peers.LocalAddr = &net.TCPAddr{IP: net.ParseIP(o.peerFrom)}
	}
	return nil
}
