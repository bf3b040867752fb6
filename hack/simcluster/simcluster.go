// Package simcluster runs hamon as people run it, in processes: the
// controller (cmd/manager), and per simulated host a kubelet-lite with its
// CRI socket (cmd/hamon-sim host) and a node agent (cmd/nodeagent), all
// against a real kube-apiserver and etcd (hack/testenv), with the
// hosts' shared disks simulated (nodeagent/simdisk). It is the Go API of
// the fault injection that cmd/hamon-sim offers on the command line: kill
// or pause an agent, kill a server, fail a path.
package simcluster

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/hamon-ha/hamon/hack/testenv"
	"github.com/hamon-ha/hamon/nodeagent/peer"
	"github.com/hamon-ha/hamon/nodeagent/simdisk"
	"github.com/hamon-ha/hamon/nodeagent/simhost"
)

// Binaries the cluster runs, built once per test binary into a temporary
// directory.
var (
	buildOnce sync.Once
	binDir    string
	errBuild  error
)

func build() (string, error) {
	buildOnce.Do(func() {
		binDir, errBuild = os.MkdirTemp("", "hamon-simcluster-bin-")
		if errBuild != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", binDir+"/",
			"./cmd/manager", "./cmd/nodeagent", "./cmd/hamon-sim", "./cmd/demo-server")
		cmd.Dir = testenv.RepoRoot()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			errBuild = fmt.Errorf("building the binaries: %w\n%s", err, out)
		}
	})
	return binDir, errBuild
}

// Timing of the agents and controller: short, so that tests are quick.
// SelfFenceWait 0 is the controller's default, twice Watchdog.
type Timing struct {
	LeaseDuration, Renew, SelfFence, SelfFenceWait, PrimaryWait, Watchdog time.Duration
}

// FastTiming detects a lost host in about 4 s; a server without shared
// disks starts elsewhere 2 × 3 s (the watchdog) later.
var FastTiming = Timing{LeaseDuration: 4 * time.Second, Renew: time.Second, SelfFence: 3 * time.Second,
	Watchdog: 3 * time.Second, PrimaryWait: 20 * time.Second}

// Cluster is a running set of processes.
type Cluster struct {
	tb         testing.TB
	Env        *testenv.Env
	Dir        string // logs, disks, host state
	Bin        string
	Kubeconfig string
	Timing     Timing
	// Namespace of the node Leases.
	Namespace string
	// HostArgs are extra flags of every `hamon-sim host` (e.g. --noop);
	// AgentArgs of every node agent started after they are set.
	HostArgs, AgentArgs []string
	// ControllerEnv is extra environment of the controllers started after
	// it is set (e.g. GOMEMLIMIT).
	ControllerEnv []string
	// Metrics makes the controller and the agents started after it is set
	// serve their /metrics on a local port (MetricsAddress).
	Metrics bool

	mu      sync.Mutex
	procs   map[string]*exec.Cmd
	exited  map[*exec.Cmd]chan struct{}
	proxies map[string]*simhost.Link
	apiAddr string
	// The hosts' network between agents: each host sends from its own
	// loopback address (hostIP) and is reached through its peer link,
	// which lets a connection through only between hosts on the same side
	// (side) and neither of them cut off (peerCut).
	peerLinks map[string]*simhost.Link
	agentAddr map[string]string
	hostIP    map[string]string
	side      map[string]int
	peerCut   map[string]bool
	// metricsAddrs are the metrics endpoints by process name.
	metricsAddrs map[string]string
}

// Start prepares a cluster on env; nothing runs until StartController and
// StartHost. Everything started is stopped when the test ends.
func Start(tb testing.TB, env *testenv.Env, timing Timing) *Cluster {
	tb.Helper()
	bin, err := build()
	if err != nil {
		tb.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "hamon-sc-") // short: unix socket paths are limited to 108 bytes
	if err != nil {
		tb.Fatal(err)
	}
	c := &Cluster{tb: tb, Env: env, Dir: dir, Bin: bin, Timing: timing, Namespace: "hamon-system",
		procs: map[string]*exec.Cmd{}, exited: map[*exec.Cmd]chan struct{}{}, proxies: map[string]*simhost.Link{},
		peerLinks: map[string]*simhost.Link{}, agentAddr: map[string]string{}, hostIP: map[string]string{},
		side: map[string]int{}, peerCut: map[string]bool{}}
	u, err := url.Parse(env.Config.Host)
	if err != nil || u.Host == "" {
		tb.Fatalf("API server address %q: %v", env.Config.Host, err)
	}
	c.apiAddr = u.Host
	for _, d := range []string{"disks", "sim", "logs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o750); err != nil {
			tb.Fatal(err)
		}
	}
	if err := peer.WriteTLS(filepath.Join(dir, "peer-tls")); err != nil {
		tb.Fatal(err)
	}
	user, err := env.ControlPlane.AddUser(envtest.User{Name: "hamon-simcluster", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		tb.Fatal(err)
	}
	c.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(c.Kubeconfig, kc, 0o600); err != nil {
		tb.Fatal(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: c.Namespace}}
	_ = env.Client.Create(context.Background(), ns)
	// Interrupted (Ctrl-C, a `timeout`), the test binary exits before any
	// Cleanup runs: every process started here is killed then.
	unregister := testenv.OnInterrupt(c.killEverything)
	tb.Cleanup(func() {
		unregister()
		c.StopAll()
		for _, p := range c.proxies {
			p.Close()
		}
		for _, p := range c.peerLinks {
			p.Close()
		}
		if tb.Failed() {
			c.dumpLogs()
		}
		_ = os.RemoveAll(dir)
	})
	return c
}

// dumpLogs prints the end of every process's log and keeps the whole logs
// in bin/sim-failed/<test>/ for a closer look.
func (c *Cluster) dumpLogs() {
	keep := filepath.Join(testenv.RepoRoot(), "bin", "sim-failed", strings.ReplaceAll(c.tb.Name(), "/", "_"))
	_ = os.RemoveAll(keep)
	_ = os.MkdirAll(keep, 0o750)
	logs, _ := filepath.Glob(filepath.Join(c.Dir, "logs", "*.log"))
	for _, f := range logs {
		data, _ := os.ReadFile(f)
		_ = os.WriteFile(filepath.Join(keep, filepath.Base(f)), data, 0o600)
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		c.tb.Logf("==== %s (last %d lines)\n%s", filepath.Base(f), min(40, len(lines)), strings.Join(lines[max(0, len(lines)-40):], "\n"))
	}
	c.tb.Logf("whole logs kept in %s", keep)
}

// start runs one named process with its output in logs/<name>.log.
func (c *Cluster) start(name string, argv ...string) {
	c.tb.Helper()
	c.startWith(name, c.Kubeconfig, argv...)
}

// hostKubeconfig is the kubeconfig of a host's processes: through the
// host's own proxy, so that the host can be cut off.
func (c *Cluster) hostKubeconfig(node string) string {
	c.tb.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	path := filepath.Join(c.Dir, "kubeconfig-"+node)
	if _, ok := c.proxies[node]; ok {
		return path
	}
	p, err := simhost.NewLink(c.apiAddr)
	if err != nil {
		c.tb.Fatal(err)
	}
	c.proxies[node] = p
	kc, err := os.ReadFile(c.Kubeconfig)
	if err != nil {
		c.tb.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(kc), c.apiAddr, p.Addr())), 0o600); err != nil {
		c.tb.Fatal(err)
	}
	return path
}

// Partition cuts a host (its kubelet-lite and agent) off from the API
// server; Heal reconnects it. The host's servers keep running. Its agent
// still reaches the other agents.
func (c *Cluster) Partition(node string) { c.tb.Helper(); c.proxyOf(node).SetCut(true) }

// Isolate cuts a host off from everyone: the API server and the other
// hosts' agents. Heal reconnects it.
func (c *Cluster) Isolate(node string) {
	c.tb.Helper()
	c.proxyOf(node).SetCut(true)
	c.mu.Lock()
	c.peerCut[node] = true
	c.mu.Unlock()
	c.dropPeerLinks()
}

// SplitPeers splits the hosts' network between agents in two: the nodes
// given on one side, every other on the other. Agents reach only agents on
// their side; the API server is not concerned (Partition is).
func (c *Cluster) SplitPeers(side []string) {
	c.mu.Lock()
	c.side = map[string]int{}
	for _, n := range side {
		c.side[n] = 1
	}
	c.mu.Unlock()
	c.dropPeerLinks()
}

// Heal ends a Partition or an Isolate of node.
func (c *Cluster) Heal(node string) {
	c.tb.Helper()
	c.proxyOf(node).SetCut(false)
	c.mu.Lock()
	delete(c.peerCut, node)
	c.mu.Unlock()
}

// HealPeers ends a SplitPeers.
func (c *Cluster) HealPeers() { c.SplitPeers(nil) }

func (c *Cluster) dropPeerLinks() {
	c.mu.Lock()
	links := make([]*simhost.Link, 0, len(c.peerLinks))
	for _, l := range c.peerLinks {
		links = append(links, l)
	}
	c.mu.Unlock()
	for _, l := range links {
		l.Drop()
	}
}

// peerAllowed says a connection from the host with address from may reach
// the agent of node.
func (c *Cluster) peerAllowed(node string, from net.Addr) bool {
	ip, _, _ := net.SplitHostPort(from.String())
	c.mu.Lock()
	defer c.mu.Unlock()
	src := ""
	for n, hip := range c.hostIP {
		if hip == ip {
			src = n
		}
	}
	return src != "" && !c.peerCut[src] && !c.peerCut[node] && c.side[src] == c.side[node]
}

// peerSetup gives node its own loopback address, the address its agent
// listens on and the peer link the others reach it through.
func (c *Cluster) peerSetup(node string) (hostIP, listen, published string) {
	c.tb.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.peerLinks[node]; l != nil {
		return c.hostIP[node], c.agentAddr[node], l.Addr()
	}
	c.hostIP[node] = fmt.Sprintf("127.0.1.%d", len(c.hostIP)+1)
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.tb.Fatal(err)
	}
	c.agentAddr[node] = pl.Addr().String()
	_ = pl.Close()
	l, err := simhost.NewFilteredLink(c.agentAddr[node], func(from net.Addr) bool { return c.peerAllowed(node, from) })
	if err != nil {
		c.tb.Fatal(err)
	}
	c.peerLinks[node] = l
	return c.hostIP[node], c.agentAddr[node], l.Addr()
}

// WatchdogReset says the host's watchdog reset it, and when.
func (c *Cluster) WatchdogReset(node string) (string, bool) {
	data, err := os.ReadFile(filepath.Join(c.Dir, "sim", node+".watchdog-reset"))
	return string(data), err == nil
}

func (c *Cluster) proxyOf(node string) *simhost.Link {
	c.tb.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.proxies[node]
	if p == nil {
		c.tb.Fatalf("host %s has no proxy: start it with StartHost", node)
	}
	return p
}

func (c *Cluster) startWith(name, kubeconfig string, argv ...string) {
	c.tb.Helper()
	logf, err := os.OpenFile(filepath.Join(c.Dir, "logs", name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		c.tb.Fatal(err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	if name == "manager" || strings.HasSuffix(name, "-manager") {
		cmd.Env = append(cmd.Env, c.ControllerEnv...)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group (Kill ends what it started too), and killed
	// if the test binary dies without cleaning up (SIGKILL, a panic).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		c.tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); _ = logf.Close(); close(done) }()
	c.mu.Lock()
	c.procs[name] = cmd
	c.exited[cmd] = done
	c.mu.Unlock()
}

// Signal sends sig to a named process (manager, <node>-host, <node>-agent).
func (c *Cluster) Signal(name string, sig syscall.Signal) {
	c.tb.Helper()
	c.mu.Lock()
	cmd := c.procs[name]
	c.mu.Unlock()
	if cmd == nil {
		c.tb.Fatalf("no process %s", name)
	}
	if err := syscall.Kill(cmd.Process.Pid, sig); err != nil {
		c.tb.Fatalf("signal %s to %s: %v", sig, name, err)
	}
}

// killEverything kills, at once, every process this cluster started and
// the servers its simulated hosts run (each in its own process group,
// found by their pid files), and removes its directory. For an interrupt.
func (c *Cluster) killEverything() {
	c.mu.Lock()
	for _, cmd := range c.procs {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	c.mu.Unlock()
	pids, _ := filepath.Glob(filepath.Join(c.Dir, "sim", "*", "*.pid"))
	more, _ := filepath.Glob(filepath.Join(c.Dir, "sim", "*.pid"))
	for _, f := range append(pids, more...) {
		if data, err := os.ReadFile(f); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 1 {
				_ = syscall.Kill(-pid, syscall.SIGKILL)
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	_ = os.RemoveAll(c.Dir)
}

// Kill kills a named process and forgets it.
func (c *Cluster) Kill(name string) {
	c.mu.Lock()
	cmd := c.procs[name]
	delete(c.procs, name)
	done := c.exited[cmd]
	delete(c.exited, cmd)
	c.mu.Unlock()
	if cmd != nil {
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGCONT)
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		// Gone before it is started again: a process with a large heap
		// takes a while to die, and still holds its ports meanwhile.
		select {
		case <-done:
		case <-time.After(10 * time.Second):
		}
	}
}

// StopAll stops every process: hosts last, so that their servers stop.
func (c *Cluster) StopAll() {
	c.mu.Lock()
	var hosts, others []string
	for n := range c.procs {
		if strings.HasSuffix(n, "-host") {
			hosts = append(hosts, n)
		} else {
			others = append(others, n)
		}
	}
	c.mu.Unlock()
	for _, n := range others {
		c.Kill(n)
	}
	for _, n := range hosts {
		c.mu.Lock()
		cmd := c.procs[n]
		delete(c.procs, n)
		c.mu.Unlock()
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGTERM) // the host stops its servers
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) && syscall.Kill(cmd.Process.Pid, 0) == nil {
			time.Sleep(50 * time.Millisecond)
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

// metricsAddress is where process name serves its metrics: a free local
// port when the cluster is Metrics, "0" (none) otherwise.
func (c *Cluster) metricsAddress(name string) string {
	if !c.Metrics {
		return "0"
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.tb.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.metricsAddrs == nil {
		c.metricsAddrs = map[string]string{}
	}
	c.metricsAddrs[name] = addr
	return addr
}

// MetricsAddress is where a process (manager, or NODE-agent) serves its
// /metrics, "" when the cluster is not Metrics.
func (c *Cluster) MetricsAddress(name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.metricsAddrs[name]
}

// StartController starts cmd/manager.
func (c *Cluster) StartController(args ...string) {
	c.tb.Helper()
	c.start("manager", c.controllerArgv("manager", args)...)
}

func (c *Cluster) controllerArgv(name string, args []string) []string {
	argv := []string{filepath.Join(c.Bin, "manager"), "--metrics-bind-address=" + c.metricsAddress(name), "--health-probe-bind-address=0",
		"--watchdog-timeout=" + c.Timing.Watchdog.String(), "--primary-wait=" + c.Timing.PrimaryWait.String(),
		"--host-lease-duration=" + c.Timing.LeaseDuration.String(), "--allowed-disks=*=/dev/mapper/*"}
	if c.Timing.SelfFenceWait > 0 {
		argv = append(argv, "--self-fence-wait="+c.Timing.SelfFenceWait.String())
	}
	return append(argv, args...)
}

// StartControllerOn starts a replica of cmd/manager, with leader election,
// as a process of node's: it reaches the API server through the host's
// link (a partition of the host cuts it off too) and dies with the host
// (HostDown). It is named <node>-manager.
func (c *Cluster) StartControllerOn(node string, args ...string) {
	c.tb.Helper()
	name := node + "-manager"
	// A new log: Leader reads it for this incarnation's acquisition.
	log := filepath.Join(c.Dir, "logs", name+".log")
	if _, err := os.Stat(log); err == nil {
		_ = os.Rename(log, filepath.Join(c.Dir, "logs", fmt.Sprintf("%s-%d.log", name, time.Now().UnixNano())))
	}
	argv := c.controllerArgv(name, append([]string{"--leader-elect", "--leader-election-namespace=" + c.Namespace}, args...))
	c.startWith(name, c.hostKubeconfig(node), argv...)
}

// Leader is the name of the running controller replica that leads, ""
// if none does: the one that logged it acquired the leader Lease (a
// replica that loses it exits, as controller-runtime's manager does).
func (c *Cluster) Leader() string {
	c.mu.Lock()
	running := map[string]bool{}
	for n, cmd := range c.procs {
		select {
		case <-c.exited[cmd]:
		default:
			running[n] = n == "manager" || strings.HasSuffix(n, "-manager")
		}
	}
	c.mu.Unlock()
	for n, manager := range running {
		if !manager {
			continue
		}
		if data, err := os.ReadFile(filepath.Join(c.Dir, "logs", n+".log")); err == nil &&
			strings.Contains(strings.ToLower(string(data)), "successfully acquired lease") {
			return n
		}
	}
	return ""
}

// HostDir is a simulated host's state directory (pid, role files, CRI socket).
func (c *Cluster) HostDir(node string) string { return filepath.Join(c.Dir, "sim", node) }

// StartHost starts a simulated host and its agent.
func (c *Cluster) StartHost(node string) {
	c.tb.Helper()
	c.bootHost(node, "boot-"+node+"-1")
}

// RebootHost brings a host that went down (HostDown) back with a new boot
// ID, as after a reboot: a fenced host rejoins only so.
func (c *Cluster) RebootHost(node string) {
	c.tb.Helper()
	c.HostDown(node)
	c.bootHost(node, fmt.Sprintf("boot-%s-%d", node, time.Now().UnixNano()))
}

func (c *Cluster) bootHost(node, bootID string) {
	c.tb.Helper()
	if err := os.WriteFile(filepath.Join(c.Dir, "sim", node+".boot_id"), []byte(bootID), 0o600); err != nil {
		c.tb.Fatal(err)
	}
	argv := append([]string{filepath.Join(c.Bin, "hamon-sim"), "host", "--node", node, "--state", filepath.Join(c.Dir, "sim")}, c.HostArgs...)
	c.startWith(node+"-host", c.hostKubeconfig(node), argv...)
	c.StartAgent(node)
}

// PID is the pid of a named process (manager, <node>-host, <node>-agent), 0 if none.
func (c *Cluster) PID(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cmd := c.procs[name]; cmd != nil {
		return cmd.Process.Pid
	}
	return 0
}

// StartAgent (re)starts a host's node agent.
// Its watchdog is the host's (a Timing.Watchdog of 0 runs it without), its
// peer line the cluster's simulated network.
func (c *Cluster) StartAgent(node string) {
	c.tb.Helper()
	ip, listen, published := c.peerSetup(node)
	argv := []string{filepath.Join(c.Bin, "nodeagent"), "--node", node, "--namespace", c.Namespace,
		"--sim-disk-root", c.DiskRoot(), "--boot-id-file", filepath.Join(c.Dir, "sim", node+".boot_id"),
		"--cri-endpoint", "unix://" + filepath.Join(c.HostDir(node), "cri.sock"),
		"--lease-duration=" + c.Timing.LeaseDuration.String(), "--renew-interval=" + c.Timing.Renew.String(),
		"--self-fence-deadline=" + c.Timing.SelfFence.String(), "--health-probe-bind-address=0", "--allowed-disks=*=/dev/mapper/*",
		"--metrics-bind-address=" + c.metricsAddress(node+"-agent"),
		"--watchdog-timeout=" + c.Timing.Watchdog.String(), "--watchdog-device=unix://" + filepath.Join(c.HostDir(node), "watchdog.sock"),
		"--peer-tls-dir=" + filepath.Join(c.Dir, "peer-tls"), "--peer-listen=" + listen, "--peer-address=" + published,
		"--sim-peer-source=" + ip, "--peer-timeout=500ms"}
	c.startWith(node+"-agent", c.hostKubeconfig(node), append(argv, c.AgentArgs...)...)
}

// PauseAgent stops a host's agent with SIGSTOP (a slow host); ResumeAgent
// lets it go on.
func (c *Cluster) PauseAgent(node string) { c.tb.Helper(); c.Signal(node+"-agent", syscall.SIGSTOP) }

// ResumeAgent sends SIGCONT to a paused agent.
func (c *Cluster) ResumeAgent(node string) { c.tb.Helper(); c.Signal(node+"-agent", syscall.SIGCONT) }

// DiskRoot is the directory of the simulated shared disks.
func (c *Cluster) DiskRoot() string { return filepath.Join(c.Dir, "disks") }

// Disk opens a simulated shared disk (to read its write log or fail a path).
func (c *Cluster) Disk(name string) *simdisk.Disk {
	c.tb.Helper()
	d, err := simdisk.Open(filepath.Join(c.DiskRoot(), name), 1024)
	if err != nil {
		c.tb.Fatal(err)
	}
	return d
}

// ServerPID is the pid of the server process of pod ns/name on node, 0
// when it does not run.
func (c *Cluster) ServerPID(node, ns, pod string) int {
	data, err := os.ReadFile(filepath.Join(c.HostDir(node), ns+"_"+pod+".pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	if pid > 0 && syscall.Kill(pid, 0) != nil {
		return 0
	}
	return pid
}

// KillServer sends sig to the server process of pod ns/name on node.
func (c *Cluster) KillServer(node, ns, pod string, sig syscall.Signal) {
	c.tb.Helper()
	pid := c.ServerPID(node, ns, pod)
	if pid == 0 {
		c.tb.Fatalf("no server process for %s/%s on %s", ns, pod, node)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		c.tb.Fatal(err)
	}
}

// HostDown is a host failure: its agent, its kubelet-lite and every server
// process it runs die at once.
func (c *Cluster) HostDown(node string) {
	c.tb.Helper()
	c.Kill(node + "-agent")
	c.Kill(node + "-manager")
	c.Kill(node + "-host")
	pids, _ := filepath.Glob(filepath.Join(c.HostDir(node), "*.pid"))
	for _, f := range pids {
		data, _ := os.ReadFile(f)
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 0 {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
		_ = os.Remove(f)
	}
}

// FailPath fails (or reinstates) a host's path (target port) to a disk.
func (c *Cluster) FailPath(node, disk, port string, failed bool) {
	c.tb.Helper()
	if err := c.Disk(disk).FailPath(simdisk.Nexus{Initiator: node, Port: port}, failed); err != nil {
		c.tb.Fatal(err)
	}
}

// OSTerminated says the host's agent terminated its (simulated) OS, and why.
func (c *Cluster) OSTerminated(node string) (string, bool) {
	data, err := os.ReadFile(filepath.Join(c.DiskRoot(), node+".os-terminated"))
	return string(data), err == nil
}

// WritersInOrder checks a disk's write log: the writers follow one
// another, never interleave (a fenced host never writes after the next
// one started). It returns the writers in order.
func (c *Cluster) WritersInOrder(disk string) ([]string, error) {
	c.tb.Helper()
	log, err := c.Disk(disk).Writes()
	if err != nil {
		return nil, err
	}
	var order []string
	for _, w := range log {
		if len(order) > 0 && order[len(order)-1] == w.Nexus.Initiator {
			continue
		}
		for _, prev := range order {
			if prev == w.Nexus.Initiator {
				return order, fmt.Errorf("%s wrote at %s after %v took over: two writers", w.Nexus.Initiator,
					w.Time.Format("15:04:05.000"), order[len(order)-1])
			}
		}
		order = append(order, w.Nexus.Initiator)
	}
	return order, nil
}
