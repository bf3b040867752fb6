// Command manager runs hamon's controller: it reconciles HAServers through
// the hot-standby state machine. Run it with leader election on when more
// than one replica runs; everything it needs to resume is in the API.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/controllers"
	"github.com/hamon-ha/hamon/controllers/hotstandby"
)

func main() {
	var (
		metricsAddr, probeAddr, agentNS, leaderNS string
		allowedDisks, pprofAddr                   string
		leaderElect                               bool
		qps                                       float64
		burst                                     int
		timing                                    = hotstandby.DefaultTiming()
		watchdogTimeout, hostLease                time.Duration
		leader                                    leaderTiming
		concurrency                               int
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "Address of the Prometheus metrics endpoint (0 to disable).")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz endpoints.")
	flag.StringVar(&pprofAddr, "pprof-bind-address", "0", "Address of Go's /debug/pprof endpoints, for profiling (0: none).")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Elect a leader, so that only one of several replicas acts.")
	flag.StringVar(&leaderNS, "leader-election-namespace", "", "Namespace of the leader election Lease (default: the pod's).")
	flag.DurationVar(&hostLease, "host-lease-duration", 10*time.Second,
		"The node agents' Lease duration (their --lease-duration): the leader election's timing is derived from it.")
	flag.DurationVar(&leader.LeaseDuration, "leader-elect-lease-duration", 0,
		"How long a replica waits after the leader last renewed before it leads (default 0.8 × --host-lease-duration).")
	flag.DurationVar(&leader.RenewDeadline, "leader-elect-renew-deadline", 0,
		"How long the leader tries to renew before it stops leading (default 0.6 × --host-lease-duration).")
	flag.DurationVar(&leader.RetryPeriod, "leader-elect-retry-period", 0,
		"How often the leader renews and the other replicas look (default 0.1 × --host-lease-duration).")
	flag.IntVar(&concurrency, "concurrent-reconciles", 16,
		"HAServers reconciled at once: a lost host's servers switch over side by side, not one after another.")
	flag.StringVar(&agentNS, "agent-namespace", hav1alpha1.DefaultAgentNamespace, "Namespace of the node agents' Leases.")
	flag.StringVar(&allowedDisks, "allowed-disks", "",
		"Shared disks each namespace may name, as NAMESPACE=PATTERN,... (NAMESPACE * is every namespace; PATTERN a shell pattern "+
			"such as /dev/mapper/mpath*). Empty: no HAServer may use a shared disk.")
	flag.DurationVar(&timing.StopTimeout, "stop-timeout", timing.StopTimeout, "How long a server may take to stop before its host is fenced.")
	flag.DurationVar(&timing.ReserveTimeout, "reserve-timeout", timing.ReserveTimeout, "How long an agent may take to take the reservation.")
	flag.DurationVar(&timing.StartTimeout, "start-timeout", timing.StartTimeout, "How long a server may take to start.")
	flag.DurationVar(&timing.RestartTimeout, "restart-timeout", timing.RestartTimeout,
		"How long a restart in place an operator asks for (Act) may take. "+
			"switchType Restart's own wait is bounded only by an HAServer's spec.restartWaitLimit.")
	timing.SelfFenceWait = 0
	flag.DurationVar(&timing.SelfFenceWait, "self-fence-wait", 0,
		"After a host's Lease expired, how long to wait before a server without shared disks starts elsewhere "+
			"(default and least: twice --watchdog-timeout, SBD's msgwait rule).")
	flag.DurationVar(&watchdogTimeout, "watchdog-timeout", 10*time.Second,
		"The node agents' watchdog timeout (their --watchdog-timeout): a server without shared disks starts on another host "+
			"only twice this after its host's Lease expired, and on a host that renewed again only lately only twice this after that.")
	flag.DurationVar(&timing.FenceTimeout, "fence-timeout", timing.FenceTimeout, "How long a forced fence may take.")
	flag.DurationVar(&timing.RetryInterval, "retry-interval", timing.RetryInterval, "Pause between two start retries.")
	flag.DurationVar(&timing.PrimaryWait, "primary-wait", timing.PrimaryWait,
		"How long a new server waits for its primary host before another host waits for Act (ActiveStartWait).")
	// A host's loss moves every server active there at once: the client's
	// default of 20 requests a second would queue those switchovers behind
	// each other. The API server's priority and fairness still protects it.
	flag.Float64Var(&qps, "kube-api-qps", 100, "Requests per second the controller may send to the API server.")
	flag.IntVar(&burst, "kube-api-burst", 200, "Requests the controller may send in a burst above --kube-api-qps.")
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	msgWait := 2 * watchdogTimeout
	switch {
	case watchdogTimeout < 0:
		ctrl.Log.Error(errors.New("must not be negative"), "--watchdog-timeout")
		os.Exit(2)
	case timing.SelfFenceWait == 0:
		timing.SelfFenceWait = max(msgWait, hotstandby.DefaultTiming().SelfFenceWait)
	case timing.SelfFenceWait < msgWait:
		ctrl.Log.Error(fmt.Errorf("--self-fence-wait %s is shorter than twice --watchdog-timeout (%s): a hung agent's host "+
			"might not be reset before a second copy starts; raise it, or leave it unset", timing.SelfFenceWait, msgWait), "Timing")
		os.Exit(2)
	}
	derived := deriveLeaderTiming(hostLease)
	if leader.LeaseDuration == 0 {
		leader.LeaseDuration = derived.LeaseDuration
	}
	if leader.RenewDeadline == 0 {
		leader.RenewDeadline = derived.RenewDeadline
	}
	if leader.RetryPeriod == 0 {
		leader.RetryPeriod = derived.RetryPeriod
	}
	if err := leader.validate(); err != nil {
		ctrl.Log.Error(err, "Leader election timing")
		os.Exit(2)
	}
	if concurrency < 1 {
		ctrl.Log.Error(fmt.Errorf("--concurrent-reconciles %d must be at least 1", concurrency), "Flags")
		os.Exit(2)
	}
	disks, err := hav1alpha1.ParseDiskAllowList(allowedDisks)
	if err != nil {
		ctrl.Log.Error(err, "--allowed-disks")
		os.Exit(2)
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		ctrl.Log.Error(err, "Finding the API server")
		os.Exit(1)
	}
	cfg.QPS, cfg.Burst = float32(qps), burst
	o := options{pprofAddr: pprofAddr, metricsAddr: metricsAddr, probeAddr: probeAddr, agentNS: agentNS, leaderNS: leaderNS,
		leaderElect: leaderElect,
		leader:      leader, concurrency: concurrency, timing: timing, msgWait: msgWait, disks: disks}
	if err := run(cfg, o); err != nil {
		ctrl.Log.Error(err, "Manager stopped")
		os.Exit(1)
	}
}

// options are the manager's settings, from its flags.
type options struct {
	metricsAddr, probeAddr, agentNS, leaderNS string
	pprofAddr                                 string
	leaderElect                               bool
	leader                                    leaderTiming
	concurrency                               int
	timing                                    hotstandby.Timing
	msgWait                                   time.Duration
	disks                                     hav1alpha1.DiskAllowList
}

func run(cfg *rest.Config, o options) error {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := hav1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	cacheOpts, err := controllers.CacheOptions(o.agentNS)
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsserver.Options{BindAddress: o.metricsAddr},
		HealthProbeBindAddress:  o.probeAddr,
		PprofBindAddress:        o.pprofAddr,
		LeaderElection:          o.leaderElect,
		LeaderElectionID:        "hamon-controller.ha.hamon.io",
		LeaderElectionNamespace: o.leaderNS,
		LeaseDuration:           &o.leader.LeaseDuration,
		RenewDeadline:           &o.leader.RenewDeadline,
		RetryPeriod:             &o.leader.RetryPeriod,
		// A leader that stops (a rolling update) hands over at once: safety
		// never rests on its tenure (see leaderTiming).
		LeaderElectionReleaseOnCancel: true,
		Cache:                         cacheOpts,
		Controller: config.Controller{
			MaxConcurrentReconciles: o.concurrency,
			// The replicas that do not lead watch as the leader does: a new
			// leader's caches are full and its sightings of the agents'
			// renewals old enough to know which host stopped renewing.
			EnableWarmup: ptr.To(true),
		},
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	r := &controllers.HAServerReconciler{
		Client:         mgr.GetClient(),
		Recorder:       mgr.GetEventRecorder("hamon-controller"),
		Clock:          hotstandby.RealClock{},
		Timing:         o.timing,
		MsgWait:        o.msgWait,
		AgentNamespace: o.agentNS,
		AllowedDisks:   &o.disks,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the HAServer controller: %w", err)
	}
	if err := (&controllers.HAServerGroupReconciler{Client: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the HAServerGroup controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	if soft := setMemoryLimit("/sys/fs/cgroup"); soft > 0 {
		ctrl.Log.Info("Go memory limit set from the container's", "bytes", soft)
	}
	ctrl.Log.Info("Starting the hamon controller", "agentNamespace", o.agentNS, "leaderElection", o.leaderElect,
		"leaderLease", o.leader.LeaseDuration, "concurrentReconciles", o.concurrency, "allowedDisks", o.disks.String())
	return mgr.Start(ctrl.SetupSignalHandler())
}
