//go:build scsivm && linux

package scsivm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/nodeagent/agent"
	"github.com/hamon-ha/hamon/nodeagent/cri"
	"github.com/hamon-ha/hamon/nodeagent/fencing"
	"github.com/hamon-ha/hamon/nodeagent/lease"
	"github.com/hamon-ha/hamon/nodeagent/scsipr"
)

// The agents of host A and host B run the project's node agent code
// (nodeagent/agent) against a fake API client: the HAServer's status says
// what the controller decided (take the reservation for an epoch, the
// server is active here, the host is a standby, ...), and the agent's
// report in its HANode says what it did on the real disk.

const (
	nodeA, nodeB = "node-a", "node-b"
	ns           = "ha"
	cluster      = "scsivm"
)

var (
	keyA = agent.KeyFor(cluster, nodeA)
	keyB = agent.KeyFor(cluster, nodeB)
)

func newAPI(t *testing.T) client.Client {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := hav1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(s).WithStatusSubresource(&hav1alpha1.HANode{}).Build()
}

// staticDisks is host B's view: no multipath, its raw paths.
type staticDisks struct{ disk scsipr.Disk }

func (s staticDisks) Resolve(string) (scsipr.Disk, error) { return s.disk, nil }

func bDisks(f fabric) staticDisks {
	d := scsipr.Disk{Name: f.MapName}
	for _, p := range f.B {
		d.Paths = append(d.Paths, scsipr.DevicePath{Dev: dev(p)})
	}
	return staticDisks{d}
}

// runtimeRecorder is the container runtime: it records what the agent
// stops (the agent's decision; there is no container in the guest). The
// embedded interface is nil: a method the tests do not expect panics.
type runtimeRecorder struct {
	cri.Runtime
	mu      sync.Mutex
	stopped []string
}

func (r *runtimeRecorder) Running(_ context.Context, c cri.Container) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !slices.Contains(r.stopped, c.String()), nil
}

func (r *runtimeRecorder) Exec(context.Context, cri.Container, []string, time.Duration) (cri.ExecResult, error) {
	return cri.ExecResult{}, nil
}

func (r *runtimeRecorder) Stop(_ context.Context, c cri.Container, _ time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = append(r.stopped, c.String())
	return nil
}

func (r *runtimeRecorder) Stopped() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.stopped...)
}

// osTerminator is the real fencing.Linux (reboot(2)); every call is logged
// to the kernel log first, so the serial console shows it even when the
// guest is gone a moment later.
type osTerminator struct {
	mu    sync.Mutex
	calls []string
}

func (o *osTerminator) Terminate(reason string) error {
	o.mu.Lock()
	o.calls = append(o.calls, reason)
	o.mu.Unlock()
	kmsg("scsivm: fencing.Linux.Terminate called: " + reason)
	return fencing.Linux{Action: fencing.ActionReboot, Log: func(m string) {
		fmt.Println("fencing.Linux: " + m)
		kmsg("scsivm: fencing.Linux: " + m)
	}}.Terminate(reason)
}

func (o *osTerminator) Calls() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.calls...)
}

type host struct {
	*agent.Agent
	api     client.Client
	runtime *runtimeRecorder
	os      *osTerminator
}

func newHost(t *testing.T, api client.Client, node string, disks agent.DiskResolver) *host {
	t.Helper()
	h := &host{api: api, runtime: &runtimeRecorder{}, os: &osTerminator{}}
	h.Agent = &agent.Agent{
		Client: api, Node: node, Namespace: "hamon-system", BootID: "boot-" + node,
		Key: agent.KeyFor(cluster, node), Disks: disks, SCSI: scsipr.Client{Timeout: 5 * time.Second, Retries: 5},
		Runtime: h.runtime, OS: h.os, Timing: lease.DefaultTiming,
	}
	return h
}

func (h *host) reconcile(t *testing.T, name string) {
	t.Helper()
	if _, err := h.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}); err != nil {
		t.Fatalf("%s reconciling %s: %v", h.Node, name, err)
	}
}

// report is the agent's report on one server, from its HANode.
func (h *host) report(t *testing.T, name string) hav1alpha1.NodeServerStatus {
	t.Helper()
	var hn hav1alpha1.HANode
	if err := h.api.Get(context.Background(), client.ObjectKey{Name: h.Node}, &hn); err != nil {
		return hav1alpha1.NodeServerStatus{}
	}
	for _, r := range hn.Status.Servers {
		if r.Key == ns+"/"+name {
			return r
		}
	}
	return hav1alpha1.NodeServerStatus{}
}

func (h *host) devices(t *testing.T) []hav1alpha1.DeviceStatus {
	t.Helper()
	var hn hav1alpha1.HANode
	if err := h.api.Get(context.Background(), client.ObjectKey{Name: h.Node}, &hn); err != nil {
		return nil
	}
	return hn.Status.Devices
}

// deviceReport runs the agent's path watch loop (DeviceReport: probe every
// path, apply the phase rule of REFERENCE.md 1.8, write HANode) until done
// says so, and returns how long it took.
func (h *host) deviceReport(t *testing.T, timeout time.Duration, done func() bool) time.Duration {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		_ = h.DeviceReport(300 * time.Millisecond)(ctx)
	}()
	start := time.Now()
	defer func() {
		cancel()
		select {
		case <-finished:
		case <-time.After(30 * time.Second):
			t.Errorf("%s: DeviceReport did not return 30 s after its context ended", h.Node)
		}
	}()
	for !done() {
		if time.Since(start) > timeout {
			t.Fatalf("%s: the path watch did not decide in %v", h.Node, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start).Round(10 * time.Millisecond)
}

// Phases of a host in an HAServer's status, as the controller writes them.
type phase string

const (
	phaseTakeover    phase = "takeover"    // told to take the reservation (Switchover stage Reserving)
	phaseActive      phase = "active"      // Online here
	phaseTerminating phase = "terminating" // the active server is stopping here
	phaseStandby     phase = "standby"
	phaseFenced      phase = "fenced" // rejoined after a fence, as a standby
)

// putServer creates or replaces the HAServer name with node in phase (and
// the other host in the complementary role).
func putServer(t *testing.T, api client.Client, name, node string, p phase, epoch int64) {
	t.Helper()
	other := nodeB
	if node == nodeB {
		other = nodeA
	}
	s := &hav1alpha1.HAServer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	s.Spec.Mode = hav1alpha1.ModeServer
	s.Spec.Hosts = []hav1alpha1.HostSpec{{Node: nodeA}, {Node: nodeB}}
	s.Spec.SharedDisks = []hav1alpha1.SharedDisk{{Device: "/dev/mapper/mpatha", Reservation: hav1alpha1.ReservationWriteExclusiveRegistrantsOnly}}
	s.Spec.Template.Spec.Containers = []corev1.Container{{Name: "db", Image: "db"}}
	me := hav1alpha1.HostStatus{Node: node, Pod: name + "-" + node, Alive: true}
	them := hav1alpha1.HostStatus{Node: other, Pod: name + "-" + other, Alive: true}
	st := &s.Status
	st.FencingEpoch = epoch
	switch p {
	case phaseTakeover:
		st.Phase, st.TargetNode = hav1alpha1.PhaseSwitchingOver, node
		st.Switchover = &hav1alpha1.Switchover{From: other, To: node, Stage: hav1alpha1.StageReserving, Cause: "scsivm"}
		// The controller's request, with an id that grows with the epoch.
		st.AgentRequests = []hav1alpha1.AgentRequest{{ID: epoch, Node: node, Action: hav1alpha1.AgentReserve, Epoch: epoch}}
		me.Role, me.State = hav1alpha1.RoleActive, hav1alpha1.HostStarting
		them.State = hav1alpha1.HostFailed
	case phaseActive:
		st.Phase, st.ActiveNode, st.ReservationHolder = hav1alpha1.PhaseOnline, node, node
		me.Role, me.State, me.Running, me.ActiveCopy = hav1alpha1.RoleActive, hav1alpha1.HostOnline, true, true
		them.Role, them.State, them.Running = hav1alpha1.RoleStandby, hav1alpha1.HostStandby, true
	case phaseTerminating:
		st.Phase, st.ActiveNode = hav1alpha1.PhaseOnline, node
		me.Role, me.State, me.Running, me.ActiveCopy = hav1alpha1.RoleActive, hav1alpha1.HostStopping, true, true
		them.Role, them.State, them.Running = hav1alpha1.RoleStandby, hav1alpha1.HostStandby, true
	case phaseStandby, phaseFenced:
		st.Phase, st.ActiveNode, st.ReservationHolder = hav1alpha1.PhaseOnline, other, other
		me.Role, me.State, me.Running = hav1alpha1.RoleStandby, hav1alpha1.HostStandby, true
		them.Role, them.State, them.Running, them.ActiveCopy = hav1alpha1.RoleActive, hav1alpha1.HostOnline, true, true
	}
	st.Hosts = []hav1alpha1.HostStatus{me, them}
	if node == nodeB {
		st.Hosts = []hav1alpha1.HostStatus{them, me}
	}
	ctx := context.Background()
	var cur hav1alpha1.HAServer
	if err := api.Get(ctx, client.ObjectKeyFromObject(s), &cur); err == nil {
		s.ResourceVersion = cur.ResourceVersion
		if err := api.Update(ctx, s); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := api.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
}

func deleteServer(t *testing.T, api client.Client, name string) {
	t.Helper()
	s := &hav1alpha1.HAServer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := client.IgnoreNotFound(api.Delete(context.Background(), s)); err != nil {
		t.Fatal(err)
	}
}

// takeOver has h take the disk through its agent, as the controller asks
// before activating a server there: the report must say Held.
func takeOver(t *testing.T, h *host, name string, epoch int64) hav1alpha1.NodeServerStatus {
	t.Helper()
	putServer(t, h.api, name, h.Node, phaseTakeover, epoch)
	start := time.Now()
	h.reconcile(t, name)
	r := h.report(t, name)
	t.Logf("%s's agent, told to take the reservation (epoch %d), took %v: %s %q", h.Node, epoch,
		time.Since(start).Round(time.Millisecond), r.Reservation, r.Message)
	if r.Epoch != epoch || r.Reservation != hav1alpha1.ReservationHeld {
		t.Fatalf("%s: report %+v, want Held for epoch %d", h.Node, r, epoch)
	}
	return r
}

func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// refuseOS stands in for the OS terminator where a termination is
// expected but would end the scenario too early.
type refuseOS struct {
	mu    sync.Mutex
	calls []string
}

func (o *refuseOS) Terminate(reason string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, reason)
	kmsg("scsivm: (OS termination recorded, not carried out, in this scenario): " + reason)
	return errors.New("OS termination not carried out in this scenario")
}

func logDevices(t *testing.T, h *host) {
	t.Helper()
	for _, d := range h.devices(t) {
		t.Logf("%s's HANode: device %s keys %v holder %s (%s)", h.Node, d.Name, d.RegisteredKeys, d.HolderKey, d.ReservationType)
		for _, p := range d.Paths {
			t.Logf("    path %s %s %s", p.Name, p.State, p.LastError)
		}
	}
}
