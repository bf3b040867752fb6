//go:build e2e && soak

package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/hack/simcluster"
)

// soakServer is one server of the soak and the log that tells who wrote:
// its shared disk's write log, or (without a disk) its own.
type soakServer struct {
	name, disk string
	mode       hav1alpha1.ServerMode
}

var soakServers = []soakServer{
	{"db", "mpatha", hav1alpha1.ModeServer},
	{"mon", "mpathb", hav1alpha1.ModeMonitor},
	{"web", "", hav1alpha1.ModeServer},
	{"mweb", "", hav1alpha1.ModeMonitor},
}

// The faults, each a kind of TestSoak's report.
var soakFaults = []string{"crash", "pod-delete", "agent-kill", "agent-stop", "partition", "isolate",
	"api-restart", "controller-kill", "path-loss", "swap", "host-loss"}

// TestSoak injects random faults into three simulated hosts running four
// servers (Server and Monitor mode, with and without a shared disk) and
// checks, after each, that every server settles (Online, nothing in
// progress) and that no two copies of a server were active at once: from
// the first write of a server's current active copy on (its disk's write
// log, or its own), nobody else wrote. It prints the seed, the faults
// tried by kind and the violations. HAMON_SOAK_SEED replays a run;
// HAMON_SOAK_STEPS sets its length in faults (default 40; the README's
// figures are from a run of 1,000). Faults come two to five at a time,
// at random moments of a step.
func TestSoak(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("HAMON_SOAK_SEED"), 10, 64); err == nil {
		seed = s
	}
	steps := 40
	if n, err := strconv.Atoi(os.Getenv("HAMON_SOAK_STEPS")); err == nil {
		steps = n
	}
	t.Logf("soak seed %d (HAMON_SOAK_SEED=%d replays it), %d steps", seed, seed, steps)
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	w := &world{t: t, sc: simcluster.Start(t, env, simcluster.FastTiming), ns: "e2e-soak"}
	if err := env.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: w.ns}}); err != nil {
		t.Fatal(err)
	}
	w.sc.StartController(soakControllerArgs...)
	for i := range 3 {
		w.sc.StartHost(w.node(i))
	}
	t.Cleanup(func() {
		if t.Failed() {
			w.dump()
		}
	})
	for _, s := range soakServers {
		w.soakServer(s)
	}
	for _, s := range soakServers {
		w.waitOnlineNamed(s.name, w.node(0), 90*time.Second)
	}
	tried := map[string]int{}
	var violations []string
	start := time.Now()
	for step := 0; step < steps; {
		marks := w.soakMarks()
		plan := w.planFaults(rng, step)
		step += len(plan)
		var wg sync.WaitGroup
		whats := make([]string, len(plan))
		for i, f := range plan {
			tried[f.kind]++
			wg.Go(func() {
				time.Sleep(f.after)
				whats[i] = w.inject(f)
			})
		}
		wg.Wait()
		what := strings.Join(whats, " + ")
		begun := time.Now()
		if v := w.settle(step, what); v != "" {
			violations = append(violations, v)
		}
		t.Logf("faults %d-%d (%s, settled in %s): %s", step-len(plan), step-1, time.Since(start).Round(time.Second),
			time.Since(begun).Round(100*time.Millisecond), what)
		time.Sleep(300 * time.Millisecond) // a few writes of each current active
		for _, s := range soakServers {
			if v := w.oneActiveSince(s, marks[s.name], what); v != "" {
				violations = append(violations, v)
			}
		}
		if len(violations) > 0 {
			break
		}
	}
	// A fault noticed late (a lease running out) shows in the next step's
	// settling; after the last step, look again once a lease and two
	// watchdog timeouts have passed.
	if len(violations) == 0 {
		time.Sleep(simcluster.FastTiming.LeaseDuration + 2*simcluster.FastTiming.Watchdog)
		if v := w.settle(steps, "the last step (settled again after a lease and two watchdog timeouts)"); v != "" {
			violations = append(violations, v)
		}
	}
	kinds := slices.Sorted(func(yield func(string) bool) {
		for k := range tried {
			if !yield(k) {
				return
			}
		}
	})
	var counts []string
	total := 0
	for _, k := range kinds {
		counts = append(counts, fmt.Sprintf("%s %d", k, tried[k]))
		total += tried[k]
	}
	t.Logf("soak seed %d: %d faults in %s (%s); violations: %d", seed, total, time.Since(start).Round(time.Second),
		strings.Join(counts, ", "), len(violations))
	for _, v := range violations {
		t.Error(v)
	}
}

// soakControllerArgs are the soak's controller flags: debug logs with
// nanosecond times, to follow a failure.
var soakControllerArgs = []string{"--zap-log-level=debug", "--zap-time-encoding=rfc3339nano"}

// soakServer creates one of the soak's servers on the three hosts.
func (w *world) soakServer(s soakServer) {
	w.t.Helper()
	mutate := func(spec *hav1alpha1.HAServerSpec) {
		spec.Mode = s.mode
		if s.mode == hav1alpha1.ModeMonitor {
			// Monitor mode: the patrol is what notices a crash; the
			// termCommand runs, in a pod of its own, after one
			// (Table 4-4 #1) before the standby starts.
			spec.Patrol = &hav1alpha1.PatrolSpec{Command: []string{"/bin/true"}, Interval: "1s", Timeout: "500ms"}
			spec.TermCommand = []string{"/bin/true"}
		}
	}
	if s.disk != "" {
		w.serverNamed(s.name, s.disk, mutate)
		return
	}
	w.disklessServerWith(s.name, mutate)
}

// soakMarks is where each server's log stands before a fault.
func (w *world) soakMarks() map[string]int {
	w.t.Helper()
	out := map[string]int{}
	for _, s := range soakServers {
		out[s.name] = len(w.soakWriters(s))
	}
	return out
}

// soakWriters is the server's log as the writer of each write, in order:
// the copy (node/pid) for a server without a disk, which writes its own
// log; the node for a server with one (its disk records the initiator).
func (w *world) soakWriters(s soakServer) []string {
	w.t.Helper()
	var out []string
	if s.disk != "" {
		writes, err := w.sc.Disk(s.disk).Writes()
		if err != nil {
			w.t.Fatal(err)
		}
		for _, x := range writes {
			out = append(out, x.Nexus.Initiator)
		}
		return out
	}
	for _, x := range w.appWrites(s.name) {
		out = append(out, x.copy)
	}
	return out
}

// oneActiveSince checks the server's log since from for two active copies.
// Without a disk each write names its copy: once a copy wrote after
// another, the other never writes again. With a disk each names its node,
// and a server may come back to a node in one step (a to b, then back to
// a): two nodes whose writes alternate (a, b, a, b) are two copies. ""
// when it holds.
func (w *world) oneActiveSince(s soakServer, from int, what string) string {
	w.t.Helper()
	var runs []string
	for _, x := range w.soakWriters(s)[from:] {
		if len(runs) == 0 || runs[len(runs)-1] != x {
			runs = append(runs, x)
		}
	}
	for i := range runs {
		if s.disk == "" && slices.Contains(runs[:i], runs[i]) {
			return fmt.Sprintf("after %s: %s: copy %s wrote again after %s took over: two active copies (writers %v; %s)", what, s.name,
				runs[i], runs[i-1], runs, w.copySpans(s.name, from))
		}
		if s.disk != "" && i >= 3 && runs[i] == runs[i-2] && runs[i-1] == runs[i-3] {
			return fmt.Sprintf("after %s: %s: %s and %s wrote in turn: two active copies (writers %v)", what, s.name,
				runs[i-1], runs[i], runs)
		}
	}
	return ""
}

// copySpans says when each copy of a server without a disk wrote first and
// last since the write from, to time a violation against the logs.
func (w *world) copySpans(name string, from int) string {
	writes := w.appWrites(name)
	if from > len(writes) {
		return ""
	}
	first, last := map[string]time.Time{}, map[string]time.Time{}
	var order []string
	for _, x := range writes[from:] {
		if _, ok := first[x.copy]; !ok {
			first[x.copy] = x.at
			order = append(order, x.copy)
		}
		last[x.copy] = x.at
	}
	var out []string
	for _, c := range order {
		out = append(out, fmt.Sprintf("%s wrote from %s to %s", c, first[c].UTC().Format("15:04:05.000"), last[c].UTC().Format("15:04:05.000")))
	}
	return strings.Join(out, ", ")
}

// soakFault is one planned fault: its kind, its target (a host or a
// server, with what the status said of it before the step) and when in
// the step it starts.
type soakFault struct {
	kind   string
	s      soakServer
	active string // the server's active host before the step
	pod    string // its pod there
	host   string
	d      time.Duration
	after  time.Duration
	step   int
	rng    uint64
}

// planFaults draws two to five faults to run at once, at random moments
// of the next two seconds: host faults on distinct hosts, server faults on
// distinct servers, at most one API-server restart and one controller kill.
// Everything they need from the API is read now: the API server may be
// away while they run.
func (w *world) planFaults(rng *rand.Rand, step int) []soakFault {
	w.t.Helper()
	hostFault := map[string]bool{"agent-kill": true, "agent-stop": true, "partition": true, "isolate": true,
		"path-loss": true, "host-loss": true}
	usedHost, usedServer, usedKind := map[string]bool{}, map[string]bool{}, map[string]bool{}
	var plan []soakFault
	for n := 2 + rng.IntN(4); len(plan) < n; {
		f := soakFault{kind: soakFaults[rng.IntN(len(soakFaults))], s: soakServers[rng.IntN(len(soakServers))],
			host: w.node(rng.IntN(3)), d: time.Duration(300+rng.IntN(4700)) * time.Millisecond,
			after: time.Duration(rng.IntN(2000)) * time.Millisecond, step: step + len(plan), rng: rng.Uint64()}
		switch {
		case hostFault[f.kind] && usedHost[f.host],
			!hostFault[f.kind] && usedServer[f.s.name],
			(f.kind == "api-restart" || f.kind == "controller-kill") && usedKind[f.kind]:
			continue
		}
		usedKind[f.kind] = true
		if !hostFault[f.kind] {
			usedServer[f.s.name] = true
		} else {
			usedHost[f.host] = true
		}
		if c, err := w.tryGet(f.s.name); err == nil {
			f.active = c.Status.ActiveNode
			for _, h := range c.Status.Hosts {
				if h.Node == f.active {
					f.pod = h.Pod
				}
			}
		}
		plan = append(plan, f)
	}
	return plan
}

// inject carries out one fault and says what it was. It runs beside the
// step's other faults: it reads nothing from the API server (which one of
// them may have stopped) and ignores the API's errors.
func (w *world) inject(f soakFault) string {
	s, active, host, d := f.s, f.active, f.host, f.d
	switch f.kind {
	case "crash":
		if pid := w.sc.ServerPID(active, w.ns, f.pod); active != "" && pid != 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		return fmt.Sprintf("crash of %s on %s", s.name, active)
	case "pod-delete":
		// The manual's forced termination: the server ends (Server mode:
		// its standbys too); the settling operator starts it again.
		if f.pod != "" {
			_ = env.Client.Delete(context.Background(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: f.pod}})
		}
		return fmt.Sprintf("deletion of %s's active pod on %s", s.name, active)
	case "agent-kill":
		w.sc.Kill(host + "-agent")
		time.Sleep(d / 3)
		w.sc.StartAgent(host)
		return fmt.Sprintf("agent of %s killed, back after %s", host, (d / 3).Round(time.Millisecond))
	case "agent-stop":
		_ = syscall.Kill(w.sc.PID(host+"-agent"), syscall.SIGSTOP)
		time.Sleep(d)
		// Past the watchdog's timeout the host was reset and the agent is
		// gone: SIGCONT then reaches nobody.
		_ = syscall.Kill(w.sc.PID(host+"-agent"), syscall.SIGCONT)
		return fmt.Sprintf("agent of %s stopped (SIGSTOP) for %s", host, d.Round(time.Millisecond))
	case "partition":
		w.sc.Partition(host)
		time.Sleep(d)
		w.sc.Heal(host)
		return fmt.Sprintf("%s cut off from the API server for %s", host, d.Round(time.Millisecond))
	case "isolate":
		w.sc.Isolate(host)
		time.Sleep(d)
		w.sc.Heal(host)
		return fmt.Sprintf("%s cut off from the API server and its peers for %s", host, d.Round(time.Millisecond))
	case "api-restart":
		if err := env.StopAPIServer(); err != nil {
			w.t.Error(err)
		}
		time.Sleep(d * 2)
		if err := env.StartAPIServer(); err != nil {
			w.t.Error(err)
		}
		return fmt.Sprintf("API server away for %s", (d * 2).Round(time.Millisecond))
	case "controller-kill":
		w.sc.Kill("manager")
		time.Sleep(d / 4)
		w.sc.StartController(soakControllerArgs...)
		return "controller killed and started again"
	case "path-loss":
		disk := "mpatha"
		if f.rng%2 == 0 {
			disk = "mpathb"
		}
		w.sc.FailPath(host, disk, "p2", true)
		time.Sleep(d)
		w.sc.FailPath(host, disk, "p2", false)
		return fmt.Sprintf("path p2 of %s to %s lost for %s", host, disk, d.Round(time.Millisecond))
	case "swap":
		w.requestNamed(s.name, hav1alpha1.ActionSwap, fmt.Sprintf("soak-swap-%d", f.step), "")
		return "planned swap of " + s.name
	case "host-loss":
		w.sc.HostDown(host)
		time.Sleep(d)
		w.sc.RebootHost(host)
		return fmt.Sprintf("host loss of %s, rebooted after %s", host, d.Round(time.Millisecond))
	}
	return "unknown fault " + f.kind
}

func (w *world) tryGet(name string) (*hav1alpha1.HAServer, error) {
	var cur hav1alpha1.HAServer
	err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: w.ns, Name: name}, &cur)
	return &cur, err
}

func (w *world) requestNamed(name string, action hav1alpha1.RequestAction, id, node string) {
	cur, err := w.tryGet(name)
	if err != nil {
		return // the API server is away: the settle loop asks again
	}
	cur.Spec.Request = &hav1alpha1.OperatorRequest{ID: id, Action: action, Node: node}
	_ = env.Client.Update(context.Background(), cur) // a conflict loses the request: the settle loop asks again
}

// settle brings the cluster back to service as an operator would (a
// reset, fenced or lost host rebooted; a failed or stopped host begun
// again; a waiting server acted), and waits until every server is Online
// with nothing in progress. "" when it does in time.
func (w *world) settle(step int, what string) string {
	w.t.Helper()
	deadline := time.Now().Add(150 * time.Second)
	asked := map[string]time.Time{}
	var managerDown time.Time
	for time.Now().Before(deadline) {
		if pid := w.sc.PID("manager"); pid != 0 && !processAlive(pid) {
			// The controller exited (one started while the API server is
			// away cannot start): its Deployment starts it again, after
			// the kubelet's first crash back-off (10 s).
			if managerDown.IsZero() {
				managerDown = time.Now()
			}
			if time.Since(managerDown) >= 10*time.Second {
				w.t.Logf("step %d: the controller exited: starting it again", step)
				w.sc.StartController(soakControllerArgs...)
				managerDown = time.Time{}
			}
		}
		for i := range 3 {
			n := w.node(i)
			// A rebooted host needs a moment before the servers' status says
			// it is back.
			if w.sc.PID(n+"-agent") != 0 && !processAlive(w.sc.PID(n+"-agent")) && processAlive(w.sc.PID(n+"-host")) {
				// The agent exited (it cannot start while the API server is
				// away): its DaemonSet would start it again.
				if _, reset := w.sc.WatchdogReset(n); !reset {
					w.t.Logf("step %d: the agent of %s exited: starting it again", step, n)
					w.sc.StartAgent(n)
					continue
				}
			}
			if time.Since(w.rebooted[n]) > 15*time.Second && w.hostNeedsReboot(n) {
				if w.rebooted == nil {
					w.rebooted = map[string]time.Time{}
				}
				w.rebooted[n] = time.Now()
				w.t.Logf("step %d: %s is down, reset or fenced: rebooting it", step, n)
				w.sc.RebootHost(n)
				w.clearReset(n)
			}
		}
		settled := true
		for _, s := range soakServers {
			c := w.getNamed(s.name)
			switch {
			case c.Status.Phase == hav1alpha1.PhaseWaiting:
				settled = false
				w.askOnce(asked, s.name, hav1alpha1.ActionAct, "", step)
			case c.Status.Phase == hav1alpha1.PhaseStopped, c.Status.Phase == hav1alpha1.PhaseFailed:
				// Ended (a deletion), or no host could start it (HAMN129-E:
				// its hosts were rebooted under it): monbegin, as an
				// operator does after checking the hosts.
				settled = false
				w.askOnce(asked, s.name, hav1alpha1.ActionBegin, "", step)
			case c.Status.Phase != hav1alpha1.PhaseOnline || c.Status.Switchover != nil:
				settled = false
			default:
				// Settled. Failed or stopped hosts are asked back as
				// standbys, as an operator would; they come back while the
				// next faults run.
				for _, h := range c.Status.Hosts {
					if h.Alive && h.Node != c.Status.ActiveNode && (h.State == hav1alpha1.HostFailed || h.State == hav1alpha1.HostStopped) {
						w.askOnce(asked, s.name, hav1alpha1.ActionBegin, h.Node, step)
					}
				}
			}
		}
		if settled {
			return ""
		}
		time.Sleep(500 * time.Millisecond)
	}
	var states []string
	for _, s := range soakServers {
		c := w.getNamed(s.name)
		states = append(states, fmt.Sprintf("%s %s on %q", s.name, c.Status.Phase, c.Status.ActiveNode))
	}
	sort.Strings(states)
	return fmt.Sprintf("after %s: not settled in 150 s: %s", what, strings.Join(states, "; "))
}

// askOnce writes an operator request for a server, again only after a
// while (the controller may refuse it while something is in progress).
func (w *world) askOnce(asked map[string]time.Time, name string, action hav1alpha1.RequestAction, node string, step int) {
	key := name + "/" + string(action) + "/" + node
	if at, ok := asked[key]; ok && time.Since(at) < 5*time.Second {
		return
	}
	asked[key] = time.Now()
	w.requestNamed(name, action, fmt.Sprintf("soak-%d-%s-%s-%d", step, strings.ToLower(string(action)), node, time.Now().UnixNano()), node)
}

// hostNeedsReboot: its watchdog reset it, its processes are gone, or a
// server records it fenced.
func (w *world) hostNeedsReboot(n string) bool {
	if _, reset := w.sc.WatchdogReset(n); reset {
		return true
	}
	if w.sc.PID(n+"-host") == 0 || w.sc.PID(n+"-agent") == 0 || !processAlive(w.sc.PID(n+"-host")) || !processAlive(w.sc.PID(n+"-agent")) {
		return true
	}
	for _, s := range soakServers {
		for _, h := range w.getNamed(s.name).Status.Hosts {
			if h.Node == n && h.State == hav1alpha1.HostFenced {
				return true
			}
		}
	}
	return false
}

func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// A zombie (Z) is dead: the harness has not reaped it yet.
	f := strings.Fields(string(data))
	return len(f) > 2 && f[2] != "Z"
}

// clearReset moves a host's reset record aside once it is rebooted, so
// that the next reset is news.
func (w *world) clearReset(n string) {
	p := filepath.Join(w.sc.Dir, "sim", n+".watchdog-reset")
	if _, err := os.Stat(p); err == nil {
		_ = os.Rename(p, fmt.Sprintf("%s.%d", p, time.Now().UnixNano()))
	}
}
