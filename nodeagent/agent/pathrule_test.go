package agent

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/nodeagent/cri"
	"github.com/hamon-ha/hamon/nodeagent/fencing"
	"github.com/hamon-ha/hamon/nodeagent/pathwatch"
	"github.com/hamon-ha/hamon/nodeagent/scsipr"
	"github.com/hamon-ha/hamon/nodeagent/simdisk"
)

func serverIn(phase string) hav1alpha1.HAServer {
	s := hav1alpha1.HAServer{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "db-" + phase}}
	s.Spec.SharedDisks = []hav1alpha1.SharedDisk{{Device: "/dev/mapper/mpatha"}}
	h := hav1alpha1.HostStatus{Node: "pr-a"}
	switch phase {
	case "terminating":
		h.State, h.ActiveCopy, h.Running = hav1alpha1.HostStopping, true, true
	case "standby":
		h.State, h.Role, h.Running = hav1alpha1.HostStandby, hav1alpha1.RoleStandby, true
	case "running":
		h.State, h.Role, h.Running, h.ActiveCopy = hav1alpha1.HostOnline, hav1alpha1.RoleActive, true, true
	case "switching":
		s.Status.TargetNode = "pr-a"
		s.Status.Switchover = &hav1alpha1.Switchover{To: "pr-a", Stage: "Reserving"}
		h.State, h.Role = hav1alpha1.HostStarting, hav1alpha1.RoleActive
	}
	s.Status.Hosts = []hav1alpha1.HostStatus{h}
	return s
}

func TestPhaseOf(t *testing.T) {
	want := map[string]pathwatch.Phase{
		"terminating": pathwatch.ActiveTerminating, "standby": pathwatch.Standby,
		"running": pathwatch.ActiveRunning, "switching": pathwatch.Switching,
	}
	for name, p := range want {
		s := serverIn(name)
		if got, ok := phaseOf(&s, "pr-a"); !ok || got != p {
			t.Errorf("%s: %v %t", name, got, ok)
		}
		if _, ok := phaseOf(&s, "elsewhere"); ok {
			t.Errorf("%s: a node that is not a host has a phase", name)
		}
	}
}

// 7.5.8: every path failing while the active server terminates terminates
// the OS; some paths, or a standby, only report.
func TestPathRuleTerminatesTheOSOnlyWhileTheActiveTerminates(t *testing.T) {
	dir := t.TempDir()
	record := filepath.Join(dir, "os-terminated")
	a := &Agent{
		Client: env.Client, Node: "pr-a", Key: KeyFor("test", "pr-a"),
		Disks: simdisk.Resolver{Root: dir, Initiator: "pr-a", Ports: []string{"p1", "p2"}},
		SCSI:  scsipr.Client{Retries: 1}, OS: fencing.Recorder{File: record},
	}
	down := func(p string) pathwatch.PathResult {
		return pathwatch.PathResult{Path: p, Err: &scsipr.Error{Kind: scsipr.KindTransport}}
	}
	ok := pathwatch.PathResult{Path: "pr-a@p2"}
	all := map[string][]pathwatch.PathResult{"mpatha": {down("pr-a@p1"), down("pr-a@p2")}}
	some := map[string][]pathwatch.PathResult{"mpatha": {down("pr-a@p1"), ok}}
	ctx := context.Background()
	terminated := func() bool { _, err := os.Stat(record); return err == nil }
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns"}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}

	a.applyPathRule(ctx, []hav1alpha1.HAServer{serverIn("terminating")}, some)
	a.applyPathRule(ctx, []hav1alpha1.HAServer{serverIn("terminating")}, some) // no news: no second event
	a.applyPathRule(ctx, []hav1alpha1.HAServer{serverIn("standby")}, all)
	a.applyPathRule(ctx, []hav1alpha1.HAServer{serverIn("running")}, all)
	if terminated() {
		t.Fatal("the OS was terminated outside the all-paths-while-terminating case")
	}
	var hn hav1alpha1.HANode
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "pr-a"}, &hn); err != nil {
		t.Fatal(err)
	}
	msgs := map[string]string{}
	for _, r := range hn.Status.Servers {
		msgs[r.Key] = r.Message
	}
	if !strings.Contains(msgs["ns/db-terminating"], "KAMN725-W") || strings.Contains(msgs["ns/db-terminating"], "KAMN726-E") {
		t.Errorf("some paths while terminating: %q", msgs["ns/db-terminating"])
	}
	if !strings.Contains(msgs["ns/db-standby"], "KAMN726-E") || !strings.Contains(msgs["ns/db-standby"], "goes on") {
		t.Errorf("standby, all paths: %q", msgs["ns/db-standby"])
	}
	a.applyPathRule(ctx, []hav1alpha1.HAServer{serverIn("terminating")}, all)
	if !terminated() {
		t.Fatal("every path failed while the active server terminated, and the OS was not terminated")
	}
	data, _ := os.ReadFile(record)
	if !strings.Contains(string(data), "KAMN726-E") {
		t.Fatalf("record %q", data)
	}
	// 7.4 step 1: the messages are Events on the HAServer too, and the
	// HANode says the host is terminating its OS.
	var evs eventsv1.EventList
	if err := env.Client.List(ctx, &evs, client.InNamespace("ns")); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, e := range evs.Items {
		got[e.Regarding.Name+" "+e.Reason]++
		if e.Type != corev1.EventTypeWarning || !strings.HasPrefix(e.Note, e.Reason+" on pr-a") {
			t.Errorf("event %s %s %q", e.Reason, e.Type, e.Note)
		}
	}
	want := map[string]int{"db-terminating KAMN725-W": 1, "db-standby KAMN726-E": 1, "db-running KAMN726-E": 1, "db-terminating KAMN726-E": 1}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "pr-a"}, &hn); err != nil {
		t.Fatal(err)
	}
	if hn.Status.Fencing != hav1alpha1.FencingTerminating {
		t.Errorf("HANode fencing %q, want Terminating", hn.Status.Fencing)
	}
}

// The path watch speeds up exactly in the phases where a failed path may
// mean terminating the OS.
func TestPathRuleCritical(t *testing.T) {
	a := &Agent{Node: "pr-a"}
	want := map[string]bool{"terminating": true, "switching": true, "running": false, "standby": false}
	for phase, critical := range want {
		s := serverIn(phase)
		if got := a.pathRuleCritical(context.Background(), []hav1alpha1.HAServer{s}); got != critical {
			t.Errorf("%s: critical %v, want %v", phase, got, critical)
		}
		s.Spec.SharedDisks = nil
		if a.pathRuleCritical(context.Background(), []hav1alpha1.HAServer{s}) {
			t.Errorf("%s without shared disks counts as critical", phase)
		}
	}
	a.kickPathWatch()
	a.kickPathWatch() // never blocks
	select {
	case <-a.kickChan():
	default:
		t.Fatal("a kick was lost")
	}
}

func TestBoundedGivesUp(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	start := time.Now()
	_, err := bounded(50*time.Millisecond, func() (int, error) { <-release; return 1, nil })
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("bounded waited for a blocked call: %v after %s", err, time.Since(start))
	}
	if v, err := bounded(time.Second, func() (int, error) { return 7, nil }); v != 7 || err != nil {
		t.Fatalf("bounded lost the answer: %d %v", v, err)
	}
}

// 7.5.8: a termination the active server starts by itself counts as
// "terminating": every path failing after its container ended, while the
// status still says it runs, terminates the OS; while it runs, only
// reports.
func TestPathRule_ServerEndedByItself_IsTerminating(t *testing.T) {
	dir := t.TempDir()
	record := filepath.Join(dir, "os-terminated")
	rt := &containerStates{running: map[string]bool{"db-own-end-pr-a": true}}
	a := &Agent{
		Client: env.Client, Node: "pr-a", Key: KeyFor("test", "pr-a"), BootID: "boot-1",
		Disks: simdisk.Resolver{Root: dir, Initiator: "pr-a", Ports: []string{"p1", "p2"}},
		SCSI:  scsipr.Client{Retries: 1}, OS: fencing.Recorder{File: record}, Runtime: rt,
	}
	ctx := context.Background()
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns"}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	s := serverIn("running")
	s.Name = "db-own-end"
	s.Status.Hosts[0].Pod, s.Status.Hosts[0].BootID = "db-own-end-pr-a", "boot-1"
	down := func(p string) pathwatch.PathResult {
		return pathwatch.PathResult{Path: p, Err: &scsipr.Error{Kind: scsipr.KindTransport}}
	}
	all := map[string][]pathwatch.PathResult{"mpatha": {down("pr-a@p1"), down("pr-a@p2")}}
	terminated := func() bool { _, err := os.Stat(record); return err == nil }

	if p, _ := a.phaseHere(ctx, &s); p != pathwatch.ActiveRunning || a.pathRuleCritical(ctx, []hav1alpha1.HAServer{s}) {
		t.Fatalf("a running active copy: phase %v", p)
	}
	a.applyPathRule(ctx, []hav1alpha1.HAServer{s}, all)
	if terminated() {
		t.Fatal("the OS was terminated while the active server ran")
	}
	rt.set("db-own-end-pr-a", false) // the server ended by itself; the status has not caught up
	if p, _ := a.phaseHere(ctx, &s); p != pathwatch.ActiveTerminating || !a.pathRuleCritical(ctx, []hav1alpha1.HAServer{s}) {
		t.Fatalf("an active copy that ended by itself: phase %v", p)
	}
	// A status of an earlier boot says nothing of this boot's containers.
	old := s
	old.Status.Hosts = []hav1alpha1.HostStatus{s.Status.Hosts[0]}
	old.Status.Hosts[0].BootID = "boot-0"
	if p, _ := a.phaseHere(ctx, &old); p != pathwatch.ActiveRunning {
		t.Fatalf("a status of an earlier boot: phase %v", p)
	}
	a.applyPathRule(ctx, []hav1alpha1.HAServer{s}, all)
	if !terminated() {
		t.Fatal("every path failed after the active server ended by itself, and the OS was not terminated")
	}
}

// containerStates is a container runtime that only answers whether a
// pod's server container runs.
type containerStates struct {
	mu      sync.Mutex
	running map[string]bool
}

func (c *containerStates) set(pod string, running bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.running[pod] = running
}

func (c *containerStates) Running(_ context.Context, ct cri.Container) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.running[ct.Pod], nil
}

func (c *containerStates) Stop(context.Context, cri.Container, time.Duration) error { return nil }

func (c *containerStates) Exec(context.Context, cri.Container, []string, time.Duration) (cri.ExecResult, error) {
	return cri.ExecResult{}, nil
}
