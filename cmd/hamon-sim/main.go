// Command hamon-sim runs simulated hosts and injects faults into them.
//
//	hamon-sim host --node NODE --state DIR     # a kubelet-lite for NODE
//	hamon-sim kill --node NODE [--signal KILL] # the active server on NODE terminates abnormally
//	hamon-sim disk --disk-root DIR [--disk mpatha] # keys, reservation and writes of a simulated disk
//	hamon-sim pause|resume --node NODE         # SIGSTOP/SIGCONT the host's agent (a slow host)
//	hamon-sim path --disk-root DIR --node NODE --port p2 [--reinstate] # fail (or reinstate) a path
//	hamon-sim link --node NODE --target HOST:PORT # the host's link to the API server (its processes connect through it)
//	hamon-sim partition --node NODE [--heal]   # cut the host's link to the API server (or heal it)
//	hamon-sim certs --dir DIR                  # the agents' CA and certificate for their peer check
//
// A host's agent pid is read from <state>/<node>.agent.pid (hack/sim-env.sh
// writes it). The Go API of the same faults is hack/simcluster.
//
// A simulated host registers its Node, runs the containers of the pods
// bound to it as local processes (command and args from the pod spec),
// reports their status as a kubelet does (Running and Ready, then
// Terminated with the exit code), runs the termCommand (preStop) before
// stopping one, and keeps the role file ($HAMON_ROLE_FILE) current from the
// pod's role label, and serves a watchdog (<state>/<node>/watchdog.sock):
// left unfed past its timeout, it resets the host (every process on it
// killed, the reset recorded in <state>/<node>.watchdog-reset, a new boot
// ID). Its node agent runs beside it (cmd/nodeagent with --sim-disk-root).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/hamon-ha/hamon/nodeagent/peer"
	"github.com/hamon-ha/hamon/nodeagent/scsipr"
	"github.com/hamon-ha/hamon/nodeagent/simdisk"
	"github.com/hamon-ha/hamon/nodeagent/simhost"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: hamon-sim host|kill|down|pause|resume|path|disk|restart|link|partition|certs [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	node := fs.String("node", "", "The simulated host's node name.")
	state := fs.String("state", "bin/run/sim", "Directory of the simulated hosts' state (pid and role files).")
	sig := fs.String("signal", "KILL",
		"kill: the signal (KILL: abnormal termination; TERM: the server ends by itself; STOP: it hangs, CONT: it goes on).")
	diskRoot := fs.String("disk-root", "", "disk: directory of the simulated shared disks.")
	disk := fs.String("disk", "mpatha", "disk, path: the disk.")
	port := fs.String("port", "p2", "path: the target port (path) of the node to the disk.")
	reinstate := fs.Bool("reinstate", false, "path: reinstate the path instead of failing it.")
	noop := fs.Bool("noop", false, "host: run no process for a container (scale runs): Running until stopped, every exec succeeds.")
	interval := fs.Duration("interval", 200*time.Millisecond, "host: how often the pods are synced.")
	pleg := fs.Duration("pleg-period", time.Second,
		"host: how often the kubelet-lite relists its containers; a container's own end reaches its pod's status only after it.")
	noEvents := fs.Bool("no-container-events", false,
		"host: the CRI socket streams no container events (Unimplemented, as containerd before 1.7).")
	process := fs.String("process", "manager", "restart: the process, by its pid file in --state (manager, or NODE.agent).")
	down := fs.Duration("down", 2*time.Second, "restart: how long the process stays down.")
	target := fs.String("target", "", "link: the API server's address (host:port).")
	heal := fs.Bool("heal", false, "partition: heal the host's link instead of cutting it.")
	certDir := fs.String("dir", "", "certs: the directory to write ca.crt, tls.crt and tls.key in.")
	_ = fs.Parse(os.Args[2:])
	if os.Args[1] == "certs" {
		if *certDir == "" {
			fmt.Fprintln(os.Stderr, "hamon-sim: certs needs --dir")
			os.Exit(2)
		}
		if err := peer.WriteTLS(*certDir); err != nil {
			fmt.Fprintln(os.Stderr, "hamon-sim:", err)
			os.Exit(1)
		}
		return
	}
	if os.Args[1] == "restart" {
		if err := restart(*state, *process, *down); err != nil {
			fmt.Fprintln(os.Stderr, "hamon-sim:", err)
			os.Exit(1)
		}
		return
	}
	if os.Args[1] == "disk" {
		if err := showDisk(*diskRoot, *disk); err != nil {
			fmt.Fprintln(os.Stderr, "hamon-sim:", err)
			os.Exit(1)
		}
		return
	}
	if *node == "" {
		fmt.Fprintln(os.Stderr, "--node is required")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "host":
		err = runHost(*node, filepath.Join(*state, *node), hostOptions{noop: *noop, interval: *interval, pleg: *pleg, noEvents: *noEvents})
	case "kill":
		err = kill(filepath.Join(*state, *node), *sig)
	case "down":
		err = hostDown(*state, *node)
	case "pause", "resume":
		err = signalAgent(*state, *node, os.Args[1] == "pause")
	case "path":
		err = failPath(*diskRoot, *disk, *node, *port, !*reinstate)
	case "link":
		err = runLink(*state, *node, *target)
	case "partition":
		err = partition(*state, *node, !*heal)
	default:
		err = fmt.Errorf("unknown command %q: want host, kill, down, pause, resume, path, disk, restart, link, partition or certs", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hamon-sim:", err)
		os.Exit(1)
	}
}

// runLink is the host's link to the API server (simhost.Link): it writes
// the address its processes connect to in <state>/<node>.link, and is cut
// while <state>/<node>.cut exists (hamon-sim partition), until SIGTERM.
func runLink(state, node, target string) error {
	if target == "" {
		return errors.New("--target (the API server's host:port) is required")
	}
	l, err := simhost.NewLink(target)
	if err != nil {
		return err
	}
	defer l.Close()
	if err := os.WriteFile(filepath.Join(state, node+".link"), []byte(l.Addr()), 0o600); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	cutFile := filepath.Join(state, node+".cut")
	cut := false
	for ctx.Err() == nil {
		_, err := os.Stat(cutFile)
		if now := err == nil; now != cut {
			cut = now
			l.SetCut(cut)
			fmt.Printf("link of %s: cut=%t\n", node, cut)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// partition cuts (or heals) a host's link to the API server: its agent and
// kubelet-lite cannot reach it, its servers go on running.
func partition(state, node string, cut bool) error {
	if _, err := os.Stat(filepath.Join(state, node+".link")); err != nil {
		return fmt.Errorf("host %s has no link in %s (hack/sim-env.sh starts one per host): %w", node, state, err)
	}
	cutFile := filepath.Join(state, node+".cut")
	if !cut {
		if err := os.Remove(cutFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		fmt.Printf("host %s: link to the API server healed\n", node)
		return nil
	}
	if err := os.WriteFile(cutFile, nil, 0o600); err != nil {
		return err
	}
	fmt.Printf("host %s: cut off from the API server (its servers go on running); heal with --heal\n", node)
	return nil
}

// hostDown is a host failure: the host's node agent, its kubelet-lite and
// every server process it runs are killed at once (SIGKILL). The host stays
// down: the agent's Lease runs out and hamon moves what was active there.
func hostDown(state, node string) error {
	killed := 0
	for _, f := range []string{node + ".agent.pid", node + ".host.pid"} {
		if pid := readPid(filepath.Join(state, f)); pid > 0 && syscall.Kill(pid, syscall.SIGKILL) == nil {
			killed++
		}
	}
	servers, _ := filepath.Glob(filepath.Join(state, node, "*.pid"))
	for _, f := range servers {
		if pid := readPid(f); pid > 0 {
			_ = syscall.Kill(-pid, syscall.SIGKILL) // the server's process group
		}
	}
	if killed == 0 {
		return fmt.Errorf("no agent or host process of %s found in %s (%s.agent.pid, %s.host.pid)", node, state, node, node)
	}
	fmt.Printf("host %s is down: agent, kubelet-lite and %d server process(es) killed\n", node, len(servers))
	return nil
}

// restart kills a process started by the demo (SIGKILL: it gets no chance
// to clean up) and starts it again as it was: same command line, environment
// and directory, its output appended to the same log. For the controller,
// that is a controller killed mid-work and replaced.
func restart(state, name string, down time.Duration) error {
	pidFile := filepath.Join(state, name+".pid")
	pid := readPid(pidFile)
	if pid <= 0 {
		return fmt.Errorf("no pid in %s", pidFile)
	}
	proc := fmt.Sprintf("/proc/%d/", pid)
	rawArgs, err := os.ReadFile(proc + "cmdline")
	if err != nil {
		return fmt.Errorf("process %s (pid %d) is not running: %w", name, pid, err)
	}
	rawEnv, _ := os.ReadFile(proc + "environ")
	dir, _ := os.Readlink(proc + "cwd")
	logPath, _ := os.Readlink(proc + "fd/1")
	argv := strings.Split(strings.TrimRight(string(rawArgs), "\x00"), "\x00")
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return err
	}
	fmt.Printf("%s (pid %d) killed; down for %s\n", name, pid, down)
	time.Sleep(down)
	cmd := exec.Command(argv[0], argv[1:]...) //nolint:gosec // the demo's own process, as it was started
	cmd.Env = strings.Split(strings.TrimRight(string(rawEnv), "\x00"), "\x00")
	cmd.Dir = dir
	if logPath != "" {
		logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		defer func() { _ = logf.Close() }()
		cmd.Stdout, cmd.Stderr = logf, logf
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives this command
	if err := cmd.Start(); err != nil {
		return err
	}
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)), 0o600); err != nil {
		return err
	}
	fmt.Printf("%s started again (pid %d)\n", name, cmd.Process.Pid)
	return cmd.Process.Release()
}

func readPid(file string) int {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0
	}
	return pid
}

// kill signals the server processes of a host that run as active.
func kill(dir, sig string) error {
	signals := map[string]syscall.Signal{"KILL": syscall.SIGKILL, "TERM": syscall.SIGTERM, "INT": syscall.SIGINT,
		"STOP": syscall.SIGSTOP, "CONT": syscall.SIGCONT}
	s, ok := signals[sig]
	if !ok {
		return fmt.Errorf("--signal %s: want KILL (crash), TERM or INT (normal end), STOP (hang) or CONT", sig)
	}
	pids, _ := filepath.Glob(filepath.Join(dir, "*.pid"))
	n := 0
	for _, f := range pids {
		role, _ := os.ReadFile(strings.TrimSuffix(f, ".pid") + ".role")
		if strings.TrimSpace(string(role)) != "active" {
			continue
		}
		if pid := readPid(f); pid > 0 && syscall.Kill(pid, s) == nil {
			n++
		}
	}
	if n == 0 {
		return fmt.Errorf("no active server runs in %s", dir)
	}
	return nil
}

// hostOptions are a simulated host's flags.
type hostOptions struct {
	noop, noEvents bool
	interval, pleg time.Duration
}

func runHost(node, dir string, o hostOptions) error {
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 50, 100
	ctrl.SetLogger(zap.New())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// Like a kubelet, the host watches the pods bound to its node rather
	// than listing them at every sync: at rest it sends the API server
	// nothing, and thousands of pods cost one watch.
	onNode := fields.OneTermEqualSelector("spec.nodeName", node)
	pods, err := cache.New(cfg, cache.Options{Scheme: clientgoscheme.Scheme,
		ByObject: map[client.Object]cache.ByObject{&corev1.Pod{}: {Field: onNode}}})
	if err != nil {
		return err
	}
	if err := pods.IndexField(ctx, &corev1.Pod{}, "spec.nodeName", func(o client.Object) []string {
		return []string{o.(*corev1.Pod).Spec.NodeName}
	}); err != nil {
		return err
	}
	go func() { _ = pods.Start(ctx) }()
	if !pods.WaitForCacheSync(ctx) {
		return fmt.Errorf("host %s: the pod watch did not sync", node)
	}
	c, err := client.New(cfg, client.Options{Scheme: clientgoscheme.Scheme, Cache: &client.CacheOptions{Reader: pods}})
	if err != nil {
		return err
	}
	h := &simhost.Host{Client: c, Node: node, Dir: dir, NoOp: o.noop, Interval: o.interval, PLEGPeriod: o.pleg, NoContainerEvents: o.noEvents}
	wdPath := filepath.Join(dir, "watchdog.sock")
	_ = os.Remove(wdPath)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	wd, err := simhost.ServeWatchdog(wdPath, func(opener int) { watchdogReset(h, node, dir, opener) })
	if err != nil {
		return fmt.Errorf("host %s: the simulated watchdog: %w", node, err)
	}
	defer wd.Close()
	fmt.Printf("simulated host %s: running the pods bound to it; CRI socket unix://%s; watchdog %s\n", node, h.SocketPath(), wdPath)
	return h.Run(ctx)
}

// watchdogReset is what the watchdog's expiry does to a simulated host: a
// reset. Every process on it dies at once (the servers, the agent that
// armed the watchdog, the kubelet-lite itself), the reset is recorded in
// <state>/<node>.watchdog-reset, and the host's boot ID changes (it boots
// again as a new boot when it is started again).
func watchdogReset(h *simhost.Host, node, dir string, opener int) {
	state := filepath.Dir(dir)
	h.PowerOff() // no server starts from now on, every one running dies
	servers, _ := filepath.Glob(filepath.Join(dir, "*.pid"))
	for _, f := range servers {
		if pid := readPid(f); pid > 0 {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
		_ = os.Remove(f)
	}
	if opener > 0 {
		_ = syscall.Kill(-opener, syscall.SIGKILL) // the agent's process group
		_ = syscall.Kill(opener, syscall.SIGKILL)
	}
	now := time.Now().UTC()
	if f, err := os.OpenFile(filepath.Join(state, node+".watchdog-reset"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err == nil {
		_, _ = fmt.Fprintf(f, "%s watchdog expired: host reset (%d server processes killed)\n", now.Format(time.RFC3339Nano), len(servers))
		_ = f.Close()
	}
	_ = os.WriteFile(filepath.Join(state, node+".boot_id"), []byte(fmt.Sprintf("boot-%s-reset-%d", node, now.UnixNano())), 0o600)
	fmt.Printf("simulated host %s: watchdog expired, host reset\n", node)
	os.Exit(4)
}

// showDisk prints a simulated disk's registrations, reservation and writes
// per writer, the way a person checks that a fenced host stopped writing.
func showDisk(root, name string) error {
	if root == "" {
		return errors.New("--disk-root is required")
	}
	d, err := simdisk.Open(filepath.Join(root, name), 1024)
	if err != nil {
		return err
	}
	observer := d.Path(simdisk.Nexus{Initiator: "hamon-sim", Port: "observer"})
	disk := scsipr.Disk{Name: name, Paths: []scsipr.Path{observer}}
	keys, err := scsipr.DefaultClient.ReadKeys(disk)
	if err != nil {
		return err
	}
	res, err := scsipr.DefaultClient.ReadReservation(disk)
	if err != nil {
		return err
	}
	fmt.Printf("disk %s: generation %d, registered keys %v\n", name, keys.Generation, keys.Keys)
	if res.Held {
		fmt.Printf("  reservation: %s held by key %s\n", res.Type, res.Key)
	} else {
		fmt.Println("  reservation: none")
	}
	writes, err := d.Writes()
	if err != nil {
		return err
	}
	type span struct {
		n           int
		first, last time.Time
		key         scsipr.Key
	}
	by := map[string]*span{}
	var order []string
	for _, w := range writes {
		s, ok := by[w.Nexus.Initiator]
		if !ok {
			s = &span{first: w.Time, key: w.Key}
			by[w.Nexus.Initiator] = s
			order = append(order, w.Nexus.Initiator)
		}
		s.n++
		s.last = w.Time
	}
	for _, h := range order {
		s := by[h]
		fmt.Printf("  %-8s %5d writes, key %s, %s .. %s\n", h, s.n, s.key, s.first.Format("15:04:05.000"), s.last.Format("15:04:05.000"))
	}
	return nil
}

// signalAgent pauses (SIGSTOP) or resumes (SIGCONT) a host's agent.
func signalAgent(state, node string, pause bool) error {
	pid := readPid(filepath.Join(state, node+".agent.pid"))
	if pid <= 0 {
		return fmt.Errorf("no agent pid for %s in %s (%s.agent.pid)", node, state, node)
	}
	sig := syscall.SIGCONT
	if pause {
		sig = syscall.SIGSTOP
	}
	return syscall.Kill(pid, sig)
}

// failPath fails or reinstates one path of a node to a simulated disk.
func failPath(root, disk, node, port string, failed bool) error {
	if root == "" {
		return errors.New("--disk-root is required")
	}
	d, err := simdisk.Open(filepath.Join(root, disk), 1024)
	if err != nil {
		return err
	}
	return d.FailPath(simdisk.Nexus{Initiator: node, Port: port}, failed)
}
