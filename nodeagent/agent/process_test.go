package agent

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/hack/simcluster"
	"github.com/hamon-ha/hamon/hack/testenv"
	"github.com/hamon-ha/hamon/nodeagent/scsipr"
	"github.com/hamon-ha/hamon/nodeagent/simdisk"
)

// The agent as a process: cmd/nodeagent beside a simulated host
// (cmd/hamon-sim host, which serves the CRI socket the agent execs and
// stops containers through) and the controller (cmd/manager), against the
// real API server.

func processServer(t *testing.T, sc *simcluster.Cluster, ns, name string, mutate func(*hav1alpha1.HAServerSpec), nodes ...string) *hav1alpha1.HAServer {
	t.Helper()
	ctx := context.Background()
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	s := &hav1alpha1.HAServer{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	for _, n := range nodes {
		s.Spec.Hosts = append(s.Spec.Hosts, hav1alpha1.HostSpec{Node: n})
	}
	s.Spec.Template.Spec.Containers = []corev1.Container{{Name: "server", Image: "demo-server",
		Command: []string{filepath.Join(sc.Bin, "demo-server")},
		Env:     []corev1.EnvVar{{Name: "HAMON_SIM_DISK_ROOT", Value: sc.DiskRoot()}}}}
	if mutate != nil {
		mutate(&s.Spec)
	}
	if err := env.Client.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	return s
}

func getServer(t *testing.T, s *hav1alpha1.HAServer) *hav1alpha1.HAServer {
	t.Helper()
	var cur hav1alpha1.HAServer
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(s), &cur); err != nil {
		t.Fatal(err)
	}
	return &cur
}

func onlineOn(t *testing.T, s *hav1alpha1.HAServer, node string) func() bool {
	t.Helper()
	return func() bool {
		c := getServer(t, s)
		return c.Status.ActiveNode == node && c.Status.Phase == hav1alpha1.PhaseOnline
	}
}

// A resident patrolCommand runs in the active server's container through
// the CRI socket; when it exits, the agent reports the failure and the
// controller switches to the standby (cause PatrolFailure).
func TestProcess_ResidentPatrolExit_Switchover(t *testing.T) {
	sc := simcluster.Start(t, env, simcluster.FastTiming)
	flag := filepath.Join(sc.Dir, "fail-patrol-")
	sc.StartController()
	sc.StartHost("pp-a")
	sc.StartHost("pp-b")
	s := processServer(t, sc, "t-proc-patrol", "app", func(sp *hav1alpha1.HAServerSpec) {
		sp.SwitchType = hav1alpha1.SwitchTypeSwitch
		// Runs while no flag file names this host; HAMON_SIM_NODE is the
		// container's environment, seen by the exec as in a real container.
		sp.PatrolCommand = []string{"/bin/sh", "-c", `while [ ! -e "` + flag + `$HAMON_SIM_NODE" ]; do sleep 0.1; done; echo patrol saw the flag; exit 3`}
		sp.Template.Spec.Containers[0].Command = []string{"/bin/sleep", "3600"}
	}, "pp-a", "pp-b")
	testenv.Eventually(t, 60*time.Second, "app Online on pp-a", onlineOn(t, s, "pp-a"))
	// The resident command runs as a process of the simulated runtime's exec.
	testenv.Eventually(t, 10*time.Second, "the patrolCommand running on pp-a", func() bool { return processRunning(flag) })
	if err := os.WriteFile(flag+"pp-a", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "app switched to pp-b after the patrol failure", onlineOn(t, s, "pp-b"))
	cur := getServer(t, s)
	last := cur.Status.Switchovers[len(cur.Status.Switchovers)-1]
	if last.Cause != "PatrolFailure" || last.To != "pp-b" {
		t.Fatalf("switchover %+v, want cause PatrolFailure to pp-b", last)
	}
	var hn hav1alpha1.HANode
	if err := env.Client.Get(context.Background(), client.ObjectKey{Name: "pp-a"}, &hn); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(hn.Status.Servers, func(r hav1alpha1.NodeServerStatus) bool { return r.Key == "t-proc-patrol/app" })
	if i < 0 || !hn.Status.Servers[i].PatrolFailed || hn.Status.Servers[i].PatrolPod == "" {
		t.Fatalf("pp-a's report does not carry the patrol failure: %+v", hn.Status.Servers)
	}
	t.Logf("pp-a reported: %s", hn.Status.Servers[i].Message)
}

// When another initiator preempts the active host's key, the agent
// notices within its renew interval and stops the server here through
// the CRI socket (termCommand first), without waiting for the controller.
func TestProcess_KeyPreempted_AgentStopsServerThroughCRI(t *testing.T) {
	sc := simcluster.Start(t, env, simcluster.FastTiming)
	sc.StartController()
	sc.StartHost("kp-a")
	sc.StartHost("kp-b")
	termRan := filepath.Join(sc.Dir, "term-ran")
	s := processServer(t, sc, "t-proc-preempt", "db", func(sp *hav1alpha1.HAServerSpec) {
		sp.SharedDisks = []hav1alpha1.SharedDisk{{Device: "/dev/mapper/mpatha"}}
		sp.TermCommand = []string{"/bin/sh", "-c", `echo "$HAMON_SIM_NODE" >> ` + termRan}
	}, "kp-a", "kp-b")
	testenv.Eventually(t, 60*time.Second, "db Online on kp-a", onlineOn(t, s, "kp-a"))
	pod := getServer(t, s).Status.Hosts[0].Pod
	testenv.Eventually(t, 5*time.Second, "the server writing on kp-a", func() bool { return sc.ServerPID("kp-a", s.Namespace, pod) != 0 })

	// A third initiator registers and preempts kp-a's key (what a rogue
	// or a person with sg_persist could do).
	disk := sc.Disk("mpatha")
	rogue := scsipr.Disk{Name: "mpatha", Paths: []scsipr.Path{disk.Path(simdisk.Nexus{Initiator: "rogue", Port: "p1"})}}
	if _, err := scsipr.DefaultClient.Acquire([]scsipr.Disk{rogue}, 0x726f677565, scsipr.TypeWriteExclusiveRegistrantsOnly); err != nil {
		t.Fatal(err)
	}
	preempted := time.Now()
	testenv.Eventually(t, 10*time.Second, "the server on kp-a stopped by its agent", func() bool { return sc.ServerPID("kp-a", s.Namespace, pod) == 0 })
	t.Logf("kp-a's server stopped %s after its key was preempted", time.Since(preempted).Round(10*time.Millisecond))
	ran, _ := os.ReadFile(termRan)
	if string(ran) != "kp-a\n" {
		t.Fatalf("termCommand ran as %q, want once on kp-a before the stop", ran)
	}
	testenv.Eventually(t, 10*time.Second, "kp-a reports the preemption", func() bool {
		var hn hav1alpha1.HANode
		if err := env.Client.Get(context.Background(), client.ObjectKey{Name: "kp-a"}, &hn); err != nil {
			return false
		}
		i := slices.IndexFunc(hn.Status.Servers, func(r hav1alpha1.NodeServerStatus) bool { return r.Key == "t-proc-preempt/db" })
		return i >= 0 && hn.Status.Servers[i].KeyPreempted
	})
}

// processRunning says a process whose command line contains substr runs.
func processRunning(substr string) bool {
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range dirs {
		if data, err := os.ReadFile(f); err == nil && strings.Contains(string(data), substr) {
			return true
		}
	}
	return false
}
