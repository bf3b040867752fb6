//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/hack/simcluster"
	"github.com/hamon-ha/hamon/hack/testenv"
)

// Self-fencing you can trust (#18): servers without a shared disk, which
// only their agent's stop (or the watchdog's reset of their host) keeps
// from running twice. Each such server here appends "<node> <unix ns>" to
// its own write log every 50 ms while it is the active copy (its role file
// says so; a standby copy runs too, in Server mode, but does not write),
// the application's own record of who ran when; appLog reads it.

// disklessServer creates an HAServer without shared disks on hosts that
// writes its own log; it exits 0 on SIGTERM, as many servers do.
func (w *world) disklessServer(name string, hosts ...string) *hav1alpha1.HAServer {
	w.t.Helper()
	return w.disklessServerWith(name, nil, hosts...)
}

// disklessServerWith is disklessServer with mutate applied to the spec last.
func (w *world) disklessServerWith(name string, mutate func(*hav1alpha1.HAServerSpec), hosts ...string) *hav1alpha1.HAServer {
	w.t.Helper()
	log := filepath.Join(w.sc.Dir, "applog-"+name)
	return w.serverNamed(name, "", func(s *hav1alpha1.HAServerSpec) {
		s.SharedDisks = nil
		if len(hosts) > 0 {
			s.Hosts = nil
			for _, h := range hosts {
				s.Hosts = append(s.Hosts, hav1alpha1.HostSpec{Node: h})
			}
		}
		s.Template.Spec.Containers[0].Command = []string{"/bin/sh", "-c",
			`trap 'exit 0' TERM; while :; do [ "$(cat "$HAMON_ROLE_FILE" 2>/dev/null)" = active ] && echo "$HAMON_SIM_NODE $$ $(date +%s%N)" >> ` +
				log + `; sleep 0.05; done`}
		if mutate != nil {
			mutate(s)
		}
	})
}

// appWrite is one line of a server's own write log: the node, the copy
// (the server process's pid: each start is a new copy) and the time.
type appWrite struct {
	node, copy string
	at         time.Time
}

// appWrites reads a server's own write log.
func (w *world) appWrites(name string) []appWrite {
	w.t.Helper()
	f, err := os.Open(filepath.Join(w.sc.Dir, "applog-"+name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		w.t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var out []appWrite
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 {
			continue // a line cut by a kill
		}
		ns, err := strconv.ParseInt(fields[2], 10, 64)
		if err != nil {
			continue
		}
		out = append(out, appWrite{node: fields[0], copy: fields[0] + "/" + fields[1], at: time.Unix(0, ns)})
	}
	return out
}

// appLog reads a server's own write log and checks that its copies follow
// one another, never overlap: once a copy wrote after another, the other
// never writes again. It returns the nodes of the copies in order and
// each node's first and last write.
func (w *world) appLog(name string) (order []string, first, last map[string]time.Time) {
	w.t.Helper()
	first, last = map[string]time.Time{}, map[string]time.Time{}
	var copies []string
	for _, x := range w.appWrites(name) {
		if len(copies) == 0 || copies[len(copies)-1] != x.copy {
			if slices.Contains(copies, x.copy) {
				w.t.Fatalf("%s: copy %s wrote at %s after %s took over: two copies ran", name, x.copy,
					x.at.Format("15:04:05.000"), copies[len(copies)-1])
			}
			copies = append(copies, x.copy)
			if len(order) == 0 || order[len(order)-1] != x.node {
				order = append(order, x.node)
			}
			if _, ok := first[x.node]; !ok {
				first[x.node] = x.at
			}
		}
		last[x.node] = x.at
	}
	return order, first, last
}

func (w *world) waitOnlineNamed(name, node string, limit time.Duration) {
	w.t.Helper()
	testenv.Eventually(w.t, limit, name+" Online on "+node, func() bool {
		c := w.getNamed(name)
		return c.Status.ActiveNode == node && c.Status.Phase == hav1alpha1.PhaseOnline && c.Status.Switchover == nil
	})
}

// podNamed is the pod of server name on node as its status records it
// (remembered, for when the API server is away).
func (w *world) podNamed(name, node string) string {
	w.t.Helper()
	key := name + "/" + node
	if p, ok := w.pods[key]; ok {
		return p
	}
	for _, h := range w.getNamed(name).Status.Hosts {
		if h.Node == node {
			if w.pods == nil {
				w.pods = map[string]string{}
			}
			w.pods[key] = h.Pod
			return h.Pod
		}
	}
	return ""
}

func (w *world) serverPIDNamed(name, node string) int {
	w.t.Helper()
	for _, h := range w.getNamed(name).Status.Hosts {
		if h.Node == node {
			return w.sc.ServerPID(node, w.ns, h.Pod)
		}
	}
	return 0
}

// webActiveWithStandby creates "web", a server without a disk on the
// world's two hosts, and waits until it is active on the first with its
// standby on the second and has written a little.
func (w *world) webActiveWithStandby() {
	w.t.Helper()
	w.disklessServer("web")
	w.waitOnlineNamed("web", w.node(0), 60*time.Second)
	testenv.Eventually(w.t, 60*time.Second, "web's standby", func() bool { return w.getNamed("web").Status.StandbyNodes == w.node(1) })
	time.Sleep(500 * time.Millisecond)
}

// appWritersAre checks that server name's own write log shows exactly the
// writers given, in order, and returns each one's first and last write.
func (w *world) appWritersAre(name string, want ...string) (first, last map[string]time.Time) {
	w.t.Helper()
	order, first, last := w.appLog(name)
	if strings.Join(order, ",") != strings.Join(want, ",") {
		w.t.Fatalf("%s's writers %v, want %v", name, order, want)
	}
	return first, last
}

// An API-server outage of 60 s (kube-apiserver stopped, etcd running):
// no agent can renew, every one asks its peers, and each peer confirms it
// cannot either. Nothing stops, with or without a disk, and no host is
// reset; when the API server is back nothing switches over. The active
// host's agent is held back a second as the API server returns: a
// controller that took the first renewal as a sign that it sees again
// would count that host out (the lease sight's own tests go further).
func TestAPIServerOutage_NoStopNoSwitchover(t *testing.T) {
	w := newWorld(t, "outage", 2)
	w.server(nil)
	w.disklessServer("web")
	w.waitOnline(w.node(0), 60*time.Second)
	w.waitOnlineNamed("web", w.node(0), 60*time.Second)
	testenv.Eventually(t, 60*time.Second, "both servers with their standby", func() bool {
		for _, n := range []string{"db", "web"} {
			if c := w.getNamed(n); c.Status.StandbyNodes != w.node(1) {
				return false
			}
		}
		return true
	})
	pids := map[string]int{"db": w.serverPIDNamed("db", w.node(0)), "web": w.serverPIDNamed("web", w.node(0))}
	switchovers := len(w.get().Status.Switchovers) + len(w.getNamed("web").Status.Switchovers)
	start := time.Now()
	if err := env.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(60*time.Second - time.Since(start))
	if err := env.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	// Held for one second (its watchdog allows three), so that the other
	// host's renewal is likely seen first.
	w.sc.PauseAgent(w.node(0))
	time.Sleep(time.Second)
	w.sc.ResumeAgent(w.node(0))
	t.Logf("kube-apiserver down and up again in %s", time.Since(start).Round(time.Millisecond))
	// Two leases: long enough for a controller that believed the stale
	// renewTimes to have switched over, and for a stop to show.
	time.Sleep(2 * simcluster.FastTiming.LeaseDuration)
	for name, pid := range pids {
		if got := w.serverPIDNamed(name, w.node(0)); got != pid {
			t.Errorf("%s was stopped or restarted during the outage (pid %d, now %d)", name, pid, got)
		}
		c := w.getNamed(name)
		if c.Status.ActiveNode != w.node(0) || c.Status.Phase != hav1alpha1.PhaseOnline {
			t.Errorf("%s after the outage: active %q, phase %s", name, c.Status.ActiveNode, c.Status.Phase)
		}
	}
	if n := len(w.get().Status.Switchovers) + len(w.getNamed("web").Status.Switchovers); n != switchovers {
		t.Errorf("%d switchovers during the outage, want 0", n-switchovers)
	}
	for _, n := range []string{w.node(0), w.node(1)} {
		if why, reset := w.sc.WatchdogReset(n); reset {
			t.Errorf("the watchdog reset %s during the outage: %s", n, why)
		}
	}
	w.writers(w.node(0))
	if order, _, _ := w.appLog("web"); strings.Join(order, ",") != w.node(0) {
		t.Errorf("web's writers %v, want only %s", order, w.node(0))
	}
}

// The active host of a server without a shared disk is cut off from the
// API server and from its peers: its agent cannot tell an outage from its
// own isolation, stops the server at the self-fence deadline, and the
// controller starts it on the standby only after the lease and two
// watchdog timeouts. The server's own write log shows the order.
func TestIsolatedHost_DisklessStoppedBeforeNewCopy(t *testing.T) {
	w := newWorld(t, "isolated", 2)
	w.webActiveWithStandby()
	cut := time.Now()
	w.sc.Isolate(w.node(0))
	w.waitOnlineNamed("web", w.node(1), 60*time.Second)
	time.Sleep(time.Second)
	first, last := w.appWritersAre("web", w.node(0), w.node(1))
	t.Logf("cut off at 0; old copy's last write at %s; new copy's first write at %s (gap %s)",
		last[w.node(0)].Sub(cut).Round(time.Millisecond), first[w.node(1)].Sub(cut).Round(time.Millisecond),
		first[w.node(1)].Sub(last[w.node(0)]).Round(time.Millisecond))
	if _, reset := w.sc.WatchdogReset(w.node(0)); reset {
		t.Log("the isolated host was also reset by its watchdog")
	}
	w.sc.Heal(w.node(0))
}

// The agent of the active host of a server without a shared disk hangs
// (SIGSTOP): it can neither renew nor stop the server. The watchdog it no
// longer feeds resets the host before the standby takes over.
func TestHungAgent_HostResetBeforeTakeover(t *testing.T) {
	w := newWorld(t, "hung", 2)
	w.webActiveWithStandby()
	w.sc.PauseAgent(w.node(0))
	w.waitOnlineNamed("web", w.node(1), 60*time.Second)
	time.Sleep(time.Second)
	why, reset := w.sc.WatchdogReset(w.node(0))
	if !reset {
		t.Fatal("the hung agent's host was not reset by its watchdog")
	}
	resetAt, err := time.Parse(time.RFC3339Nano, strings.Fields(why)[0])
	if err != nil {
		t.Fatal(err)
	}
	first, _ := w.appWritersAre("web", w.node(0), w.node(1))
	if !resetAt.Before(first[w.node(1)]) {
		t.Fatalf("host reset at %s, after the new copy's first write at %s", resetAt.Format("15:04:05.000"), first[w.node(1)].Format("15:04:05.000"))
	}
	t.Logf("host reset %s before the new copy's first write", first[w.node(1)].Sub(resetAt).Round(time.Millisecond))
	// The reset host boots again and rejoins as standby.
	w.sc.RebootHost(w.node(0))
	testenv.Eventually(t, 60*time.Second, "the reset host back as standby", func() bool {
		return w.getNamed("web").Status.StandbyNodes == w.node(0)
	})
}

// An API-server outage while the peers are split: a-b on one side, c on
// the other. "pair" (hosts a, b) keeps running on a: b confirms it cannot
// renew either. "trio" (hosts a, b, c) is stopped on a: c does not answer,
// and might take it over. When the API server is back, trio's stop is
// reported as the agent's own (HAMN180-W, though trio exited 0) and it
// runs again; pair never moved.
func TestOutageWithSplitPeers_OnlyFullyConfirmedServersStay(t *testing.T) {
	w := newWorld(t, "split", 3)
	w.disklessServer("pair", w.node(0), w.node(1))
	w.disklessServer("trio")
	w.waitOnlineNamed("pair", w.node(0), 60*time.Second)
	w.waitOnlineNamed("trio", w.node(0), 60*time.Second)
	testenv.Eventually(t, 60*time.Second, "standbys started", func() bool {
		return w.getNamed("pair").Status.StandbyNodes == w.node(1) && len(strings.Split(w.getNamed("trio").Status.StandbyNodes, ",")) == 2
	})
	pairPID := w.serverPIDNamed("pair", w.node(0))
	pairSwitchovers := len(w.getNamed("pair").Status.Switchovers)
	trioPod, pairPod := w.podNamed("trio", w.node(0)), w.podNamed("pair", w.node(0))
	w.sc.SplitPeers([]string{w.node(0), w.node(1)})
	if err := env.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	// The API server is away: the processes tell.
	testenv.Eventually(t, 30*time.Second, "trio stopped on "+w.node(0), func() bool { return w.sc.ServerPID(w.node(0), w.ns, trioPod) == 0 })
	time.Sleep(2 * simcluster.FastTiming.LeaseDuration)
	if got := w.sc.ServerPID(w.node(0), w.ns, pairPod); got != pairPID {
		t.Fatalf("pair stopped during the outage (pid %d, now %d): its only other host confirmed the outage", pairPID, got)
	}
	if err := env.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	w.sc.HealPeers()
	back := time.Now()
	testenv.Eventually(t, 90*time.Second, "trio running again", func() bool {
		c := w.getNamed("trio")
		return c.Status.Phase == hav1alpha1.PhaseOnline && c.Status.Switchover == nil && w.serverPIDNamed("trio", c.Status.ActiveNode) != 0
	})
	t.Logf("trio Online again on %s %s after the API server was back", w.getNamed("trio").Status.ActiveNode, time.Since(back).Round(time.Millisecond))
	if sws := w.getNamed("trio").Status.Switchovers; len(sws) > 0 {
		sw := sws[len(sws)-1]
		t.Logf("trio's last switchover: %s->%s %s, started %s after the API server was back, took %s", sw.From, sw.To, sw.Cause,
			sw.Started.Sub(back).Round(time.Second), sw.Finished.Sub(sw.Started.Time).Round(time.Second))
	}
	var evs corev1.EventList
	if err := env.Client.List(context.Background(), &evs, client.InNamespace(w.ns)); err != nil {
		t.Fatal(err)
	}
	told := false
	for _, e := range evs.Items {
		told = told || (e.Reason == "HAMN180-W" && e.InvolvedObject.Name == "trio")
	}
	if !told {
		t.Fatal("no HAMN180-W event: the agent's own stop of trio was not reported")
	}
	if c := w.getNamed("pair"); c.Status.ActiveNode != w.node(0) || len(c.Status.Switchovers) != pairSwitchovers || w.serverPIDNamed("pair", w.node(0)) != pairPID {
		t.Fatalf("pair moved or restarted: active %q, %d switchovers", c.Status.ActiveNode, len(c.Status.Switchovers)-pairSwitchovers)
	}
	for _, n := range []string{"pair", "trio"} {
		order, _, _ := w.appLog(n)
		t.Logf("%s's writers: %s", n, fmt.Sprint(order))
	}
}
