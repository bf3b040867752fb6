package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/hack/testenv"
)

// The plugin against a real API server. A stand-in controller answers the
// requests as the real one would (the controller's own tests cover what it
// decides), and the tests write HANodes and Leases as the agents would;
// here what is tested is what the plugin writes, how it waits, what it
// prints and its exit codes.

var env *testenv.Env

func TestMain(m *testing.M) {
	testenv.Main(m, &env, func(e *testenv.Env) error {
		return e.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: defaultHamonNamespace}})
	})
}

// newServer creates an HAServer in default on nodes (node-a, node-b,
// node-c when none are given), Online on the first, the others Standby,
// the first holding the reservation.
func newServer(t *testing.T, name string, nodes ...string) *hav1alpha1.HAServer {
	t.Helper()
	if len(nodes) == 0 {
		nodes = []string{"node-a", "node-b", "node-c"}
	}
	s := &hav1alpha1.HAServer{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}}
	s.Spec.Mode = hav1alpha1.ModeServer
	for _, n := range nodes {
		s.Spec.Hosts = append(s.Spec.Hosts, hav1alpha1.HostSpec{Node: n})
	}
	s.Spec.SharedDisks = []hav1alpha1.SharedDisk{{Device: "/dev/mapper/mpatha"}}
	s.Spec.Template.Spec.Containers = []corev1.Container{{Name: "server", Image: "busybox"}}
	if err := env.Client.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	cleanup(t, s)
	now := metav1.Now()
	s.Status = hav1alpha1.HAServerStatus{
		Phase: hav1alpha1.PhaseOnline, ActiveNode: nodes[0], StandbyNodes: strings.Join(nodes[1:], ","),
		ReservationHolder: nodes[0], FencingEpoch: 1,
	}
	for i, n := range nodes {
		h := hav1alpha1.HostStatus{Node: n, Role: hav1alpha1.RoleStandby, State: hav1alpha1.HostStandby, Alive: true, Running: true,
			WantStandby: true, Since: &now}
		if i == 0 {
			h.Role, h.State, h.ActiveCopy = hav1alpha1.RoleActive, hav1alpha1.HostOnline, true
		}
		s.Status.Hosts = append(s.Status.Hosts, h)
	}
	if err := env.Client.Status().Update(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return s
}

// cleanup deletes obj at the end of the test, at once (no kubelet runs to
// finish a pod's graceful deletion), so that -count=N runs again.
func cleanup(t *testing.T, obj client.Object) {
	t.Helper()
	t.Cleanup(func() {
		if err := env.Client.Delete(context.Background(), obj, client.GracePeriodSeconds(0)); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting %s: %v", obj.GetName(), err)
		}
	})
}

// setStatus changes the server's status as the controller would.
func setStatus(t *testing.T, name string, change func(*hav1alpha1.HAServerStatus)) {
	t.Helper()
	for {
		var s hav1alpha1.HAServer
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: name}, &s); err != nil {
			t.Fatal(err)
		}
		change(&s.Status)
		err := env.Client.Status().Update(context.Background(), &s)
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) {
			t.Fatal(err)
		}
	}
}

// putHANode writes a node's HANode status as its agent would.
func putHANode(t *testing.T, node string, st hav1alpha1.HANodeStatus) {
	t.Helper()
	ctx := context.Background()
	var hn hav1alpha1.HANode
	err := env.Client.Get(ctx, client.ObjectKey{Name: node}, &hn)
	if apierrors.IsNotFound(err) {
		hn = hav1alpha1.HANode{ObjectMeta: metav1.ObjectMeta{Name: node}}
		err = env.Client.Create(ctx, &hn)
	}
	if err != nil {
		t.Fatal(err)
	}
	hn.Status = st
	if err := env.Client.Status().Update(ctx, &hn); err != nil {
		t.Fatal(err)
	}
}

// putLease writes a node's Lease as its agent would, renewed ago.
func putLease(t *testing.T, node string, ago time.Duration) {
	t.Helper()
	ctx := context.Background()
	renew := metav1.NewMicroTime(time.Now().Add(-ago))
	dur := int32(10)
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: node, Namespace: defaultHamonNamespace},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &node, LeaseDurationSeconds: &dur, RenewTime: &renew}}
	err := env.Client.Create(ctx, l)
	if apierrors.IsAlreadyExists(err) {
		var old coordinationv1.Lease
		if err = env.Client.Get(ctx, client.ObjectKeyFromObject(l), &old); err == nil {
			old.Spec = l.Spec
			err = env.Client.Update(ctx, &old)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
}

// agentStatus is an HANode status with one disk, mpatha, of two paths.
func agentStatus(key, holderKey string, registered []string, pathStates ...hav1alpha1.PathState) hav1alpha1.HANodeStatus {
	dev := hav1alpha1.DeviceStatus{Name: "mpatha", RegisteredKeys: registered, HolderKey: holderKey}
	if holderKey != "" {
		dev.ReservationType = "Write Exclusive, Registrants Only"
	}
	for i, st := range pathStates {
		p := hav1alpha1.PathStatus{Name: []string{"sdb", "sdc", "sdd"}[i], State: st}
		if st == hav1alpha1.PathFailed {
			p.LastError = "READ: input/output error"
		}
		dev.Paths = append(dev.Paths, p)
	}
	return hav1alpha1.HANodeStatus{AgentVersion: "v0.1.0-test", BootID: "0f1e2d3c-aaaa-bbbb-cccc-000000000001", ReservationKey: key,
		Fencing: hav1alpha1.FencingNone, Devices: []hav1alpha1.DeviceStatus{dev}}
}

// answer plays the controller: it answers the next request on the server
// with outcome, once, after steps (each a switchover stage) written
// stepDelay apart.
func answer(t *testing.T, name string, outcome hav1alpha1.RequestOutcome, reason string, stages ...string) {
	t.Helper()
	go func() {
		for range 200 {
			var s hav1alpha1.HAServer
			err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: name}, &s)
			fresh := err == nil && s.Spec.Request != nil && (s.Status.LastRequest == nil || s.Status.LastRequest.ID != s.Spec.Request.ID)
			if !fresh {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			rq := *s.Spec.Request
			for _, stage := range stages {
				time.Sleep(300 * time.Millisecond)
				s.Status.Switchover = &hav1alpha1.Switchover{Cause: "PlannedSwap", From: "node-a", To: "node-b", Stage: hav1alpha1.SwitchoverStage(stage), RequestID: rq.ID}
				s.Status.LastRequest = &hav1alpha1.RequestStatus{ID: rq.ID, Action: rq.Action, Outcome: hav1alpha1.RequestInProgress}
				if env.Client.Status().Update(context.Background(), &s) != nil {
					_ = env.Client.Get(context.Background(), client.ObjectKeyFromObject(&s), &s)
				}
			}
			s.Status.Switchover = nil
			s.Status.LastRequest = &hav1alpha1.RequestStatus{ID: rq.ID, Action: rq.Action,
				Outcome: outcome, Reason: reason, Message: "answered by the test"}
			if env.Client.Status().Update(context.Background(), &s) == nil {
				return
			}
		}
	}()
}

// plugin runs the plugin as from a pipe (not a terminal) and returns its
// exit code and what it printed.
func plugin(t *testing.T, stdin string, args ...string) (int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(context.Background(), append(args, "-n", "default"), strings.NewReader(stdin), &out, &errOut, env.Config)
	return code, out.String() + errOut.String()
}

// like says whether s contains pattern, where two spaces or more in
// pattern stand for any run of blanks (table padding) and <n> for a number.
func like(s, pattern string) bool {
	q := regexp.QuoteMeta(pattern)
	q = regexp.MustCompile(` {2,}`).ReplaceAllString(q, `\s+`)
	q = strings.ReplaceAll(q, "<n>", `\d+`)
	return regexp.MustCompile(q).MatchString(s)
}

// syncBuffer is a buffer the plugin writes while a test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestRequestsWriteWaitAndExit(t *testing.T) {
	newServer(t, "req")
	cases := []struct {
		args    []string
		outcome hav1alpha1.RequestOutcome
		code    int
		action  hav1alpha1.RequestAction
	}{
		{[]string{"swap", "req", "--node", "node-c"}, hav1alpha1.RequestDone, exitDone, hav1alpha1.ActionSwap},
		{[]string{"swap", "req", "--force"}, hav1alpha1.RequestDone, exitDone, hav1alpha1.ActionSwap},
		{[]string{"stop-standby", "req", "--node", "node-b"}, hav1alpha1.RequestDone, exitDone, hav1alpha1.ActionStopStandby},
		{[]string{"act", "req"}, hav1alpha1.RequestRefused, exitRefused, hav1alpha1.ActionAct},
		{[]string{"begin", "req", "--node", "node-a"}, hav1alpha1.RequestDone, exitDone, hav1alpha1.ActionBegin},
		{[]string{"end", "req"}, hav1alpha1.RequestFailed, exitRefused, hav1alpha1.ActionEnd},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			answer(t, "req", c.outcome, "Because")
			code, out := plugin(t, "", c.args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d\n%s", code, c.code, out)
			}
			var s hav1alpha1.HAServer
			if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "req"}, &s); err != nil {
				t.Fatal(err)
			}
			if s.Spec.Request == nil || s.Spec.Request.Action != c.action {
				t.Fatalf("request written: %+v", s.Spec.Request)
			}
			if c.args[0] == "swap" && s.Spec.Request.Force != (len(c.args) > 2 && c.args[2] == "--force") {
				t.Fatalf("force not written as asked: %+v", s.Spec.Request)
			}
			if c.code == exitRefused && !strings.Contains(out, "(Because)") {
				t.Fatalf("the refusal does not say why:\n%s", out)
			}
			if strings.Contains(out, "\x1b[") {
				t.Fatalf("escapes on a non-terminal:\n%q", out)
			}
		})
	}
}

func TestRequestShowsStepsWhileWaiting(t *testing.T) {
	newServer(t, "steps")
	answer(t, "steps", hav1alpha1.RequestDone, "", "Terminating", "Reserving", "Activating")
	code, out := plugin(t, "", "swap", "steps")
	if code != exitDone {
		t.Fatalf("exit %d\n%s", code, out)
	}
	// Step lines, in order, then the outcome.
	var at []int
	for _, want := range []string{"request swap-", "] Online, active node-a\n", "] PlannedSwap: node-a -> node-b, Terminating\n",
		"] PlannedSwap: node-a -> node-b, Reserving\n", "] PlannedSwap: node-a -> node-b, Activating\n", "done: answered by the test\n"} {
		i := strings.Index(out, want)
		if i < 0 {
			t.Fatalf("no %q in\n%s", want, out)
		}
		at = append(at, i)
	}
	for i := 1; i < len(at); i++ {
		if at[i] < at[i-1] {
			t.Fatalf("steps out of order:\n%s", out)
		}
	}
}

func TestRequestSpinnerOnATerminal(t *testing.T) {
	newServer(t, "spin")
	answer(t, "spin", hav1alpha1.RequestDone, "", "Reserving")
	var out syncBuffer
	code := run(context.Background(), []string{"swap", "spin", "-n", "default"},
		console{in: strings.NewReader(""), out: &out, err: &out, tty: true, colour: true}, env.Config)
	got := out.String()
	if code != exitDone {
		t.Fatalf("exit %d\n%q", code, got)
	}
	for _, want := range []string{clearLine + paint(true, cyan, spinner[0]) + " Online, active node-a",
		clearLine + "  Online, active node-a\n", "PlannedSwap: node-a -> node-b, Reserving", paint(true, green, "done: answered by the test")} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in\n%q", want, got)
		}
	}
	if strings.Contains(got, "] Online") {
		t.Errorf("step lines on a terminal:\n%q", got)
	}
}

func TestRequestTimesOut(t *testing.T) {
	newServer(t, "slow")
	code, out := plugin(t, "", "swap", "slow", "--timeout", "500ms")
	if code != exitTimeout || !strings.Contains(out, "timed out after 500ms") || !strings.Contains(out, "the request stays written") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

func TestRequestRefusesAnUnknownNode(t *testing.T) {
	newServer(t, "badnode")
	code, out := plugin(t, "", "swap", "badnode", "--node", "node-z")
	if code != exitRefused || !strings.Contains(out, "--node node-z: not a host of default/badnode (its hosts: node-a, node-b, node-c)") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if code, out := plugin(t, "", "swap", "nosuch"); code != exitRefused || !strings.Contains(out, `no HAServer "nosuch" in namespace "default"`) {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

func TestClearReservation(t *testing.T) {
	nodes := []string{"clr-a", "clr-b", "clr-c"}
	newServer(t, "clr", nodes...)
	putHANode(t, "clr-a", agentStatus("6800000000000a01", "6800000000000a01", []string{"6800000000000a01"}, hav1alpha1.PathActive))
	putHANode(t, "clr-b", agentStatus("6800000000000b01", "6800000000000a01", []string{"6800000000000a01"}, hav1alpha1.PathActive))

	// Active: refused, nothing written.
	code, out := plugin(t, "y\n", "clear-reservation", "clr")
	if code != exitRefused || !strings.Contains(out, "refused: clr-a plays the active role for default/clr (Online)") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	// clr-a failed and fenced nothing; the controller still counts it
	// alive: refused.
	setStatus(t, "clr", func(st *hav1alpha1.HAServerStatus) {
		st.Phase, st.ActiveNode = hav1alpha1.PhaseWaiting, ""
		st.Hosts[0].Role, st.Hosts[0].State = hav1alpha1.RoleNone, hav1alpha1.HostFailed
	})
	code, out = plugin(t, "y\n", "clear-reservation", "clr", "--yes")
	if code != exitRefused || !strings.Contains(out, "the holder clr-a may be alive: the controller counts it alive") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	// Its agent still renews its Lease: refused, saying so.
	setStatus(t, "clr", func(st *hav1alpha1.HAServerStatus) { st.Hosts[0].Alive = false })
	putLease(t, "clr-a", time.Second)
	code, out = plugin(t, "y\n", "clear-reservation", "clr")
	if code != exitRefused || !like(out, "the holder clr-a may be alive: its agent renews its Lease (renewed <n>s ago)") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	// The Lease ran out: it asks, naming the holder as the controller and
	// clr-b's agent see it; no answer is no.
	putLease(t, "clr-a", time.Minute)
	var s hav1alpha1.HAServer
	_ = env.Client.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "clr"}, &s)
	code, out = plugin(t, "n\n", "clear-reservation", "clr")
	want := `Clear the reservation of the 1 shared disk(s) of default/clr (mpatha), held by "clr-a" (as the controller, ` +
		`clr-a's agent (mpatha) and clr-b's agent (mpatha) see it)?`
	if code != exitRefused || !strings.Contains(out, want) || !like(out, "clr-a: Lease expired <n>s ago, state Failed") ||
		!strings.Contains(out, "Only do this when clr-a is really down") || !strings.HasSuffix(out, "not cleared\n") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if code, out := plugin(t, "", "clear-reservation", "clr"); code != exitRefused || !strings.Contains(out, "not cleared (no answer") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	var after hav1alpha1.HAServer
	_ = env.Client.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "clr"}, &after)
	if after.Spec.Request != nil {
		t.Fatalf("a refused or unconfirmed clear wrote %+v", after.Spec.Request)
	}
	// Yes: the request is written and answered.
	answer(t, "clr", hav1alpha1.RequestDone, "")
	code, out = plugin(t, "y\n", "clear-reservation", "clr")
	if code != exitDone || !strings.Contains(out, "done: answered by the test") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	_ = env.Client.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "clr"}, &after)
	if after.Spec.Request == nil || after.Spec.Request.Action != hav1alpha1.ActionClearReservation {
		t.Fatalf("request written: %+v", after.Spec.Request)
	}
	// The controller may still refuse: exit 1 with its reason.
	answer(t, "clr", hav1alpha1.RequestRefused, "HolderMayBeAlive")
	if code, out := plugin(t, "", "clear-reservation", "clr", "--yes"); code != exitRefused || !strings.Contains(out, "(HolderMayBeAlive)") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

func TestShow(t *testing.T) {
	newServer(t, "shown")
	code, out := plugin(t, "", "show", "shown")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	for _, want := range []string{"default/shown", "node-a", "Active", "Online (ONL)", "Standby (SBY)", "holder (epoch 1)"} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Error("colour on a non-terminal")
	}
	code, out = plugin(t, "", "show", "shown", "-o", "json")
	if code != 0 || !strings.Contains(out, `"activeNode": "node-a"`) || !strings.Contains(out, `"kind": "HAServer"`) {
		t.Fatalf("json: %d\n%s", code, out)
	}
	code, out = plugin(t, "", "show", "shown", "-o", "yaml")
	var obj hav1alpha1.HAServer
	if err := yaml.Unmarshal([]byte(out), &obj); code != 0 || err != nil {
		t.Fatalf("yaml: %d %v\n%s", code, err, out)
	}
	if obj.Kind != "HAServer" || obj.APIVersion != "ha.hamon.io/v1alpha1" || obj.Name != "shown" || obj.Status.ActiveNode != "node-a" ||
		len(obj.ManagedFields) != 0 {
		t.Fatalf("yaml object: %+v", obj)
	}
	code, out = plugin(t, "", "show", "-o", "yaml")
	if code != 0 || !strings.Contains(out, "kind: List") || !strings.Contains(out, "name: shown") {
		t.Fatalf("yaml list: %d\n%s", code, out)
	}
	code, out = plugin(t, "", "show", "-A")
	if code != 0 || !strings.Contains(out, "default/shown") {
		t.Fatalf("-A: %d\n%s", code, out)
	}
	if code, out := plugin(t, "", "show", "-o", "xml"); code != exitUsage || !strings.Contains(out, "-o xml: want -o json or -o yaml") {
		t.Fatalf("-o xml: %d\n%s", code, out)
	}
	code, out = plugin(t, "", "show", "shown", "--history")
	if code != 0 || !strings.Contains(out, "default/shown has no switchover on record.") {
		t.Fatalf("--history: %d\n%s", code, out)
	}
	if code, out := plugin(t, "", "show", "--history"); code != exitUsage || !strings.Contains(out, "--history shows one server's switchovers: give NAME") {
		t.Fatalf("--history without NAME: %d\n%s", code, out)
	}
}

func TestShowHosts(t *testing.T) {
	nodes := []string{"sh-a", "sh-b", "sh-c"}
	newServer(t, "hosted", nodes...)
	putHANode(t, "sh-a", agentStatus("6800000000005a01", "6800000000005a01", []string{"6800000000005a01"},
		hav1alpha1.PathActive, hav1alpha1.PathFailed))
	putHANode(t, "sh-b", agentStatus("6800000000005b01", "6800000000005a01", []string{"6800000000005a01"},
		hav1alpha1.PathActive, hav1alpha1.PathActive))
	putLease(t, "sh-a", 2*time.Second)
	putLease(t, "sh-b", time.Minute)

	code, out := plugin(t, "", "show", "hosted", "--hosts")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	for _, want := range []string{
		"HOST  ALIVE", "sh-a  yes (renewed <n>s ago)  v0.1.0-test  0f1e2d3c  6800000000005a01  None",
		"sh-b  no (expired <n>s ago)", "sh-c  no (no Lease)", "sh-c: no HANode",
		"sh-a  mpatha  sdb Active, sdc Failed  sh-a  sh-a  Write Exclusive, Registrants Only",
		"sh-a mpatha sdc: READ: input/output error",
	} {
		if !like(out, want) {
			t.Errorf("show --hosts lacks %q:\n%s", want, out)
		}
	}
	// Without a name: every HANode; -o yaml prints them.
	code, out = plugin(t, "", "show", "--hosts", "-o", "yaml")
	if code != 0 || !strings.Contains(out, "kind: HANode") || !strings.Contains(out, "name: sh-a") || !strings.Contains(out, "name: sh-b") {
		t.Fatalf("hosts yaml: %d\n%s", code, out)
	}
}

func TestShowWatch(t *testing.T) {
	newServer(t, "watched")
	var out syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
	defer cancel()
	done := make(chan int)
	go func() {
		done <- Main(ctx, []string{"show", "watched", "--watch", "-n", "default"}, strings.NewReader(""), &out, &out, env.Config)
	}()
	testenv.Eventually(t, 5*time.Second, "the first frame", func() bool { return strings.Contains(out.String(), "Online (ONL)") })
	setStatus(t, "watched", func(st *hav1alpha1.HAServerStatus) {
		st.Phase, st.ActiveNode = hav1alpha1.PhaseSwitchingOver, ""
		st.Hosts[0].State, st.Hosts[0].Alive = hav1alpha1.HostFenced, false
		st.Switchover = &hav1alpha1.Switchover{Cause: "HostFailure", From: "node-a", To: "node-b", Stage: "Reserving"}
	})
	testenv.Eventually(t, 5*time.Second, "the update", func() bool {
		return strings.Contains(out.String(), "default/watched switchover in progress: HostFailure node-a -> node-b, stage Reserving")
	})
	// It stops when its context ends (here a deadline; Ctrl-C in use).
	select {
	case code := <-done:
		if code != exitDone {
			t.Fatalf("exit %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("--watch did not stop at the deadline")
	}
	got := out.String()
	if n := strings.Count(got, "=== "); n != 2 {
		t.Fatalf("%d frames, want 2 (one per change):\n%s", n, got)
	}
	if !strings.Contains(got[strings.LastIndex(got, "=== "):], "Fenced") {
		t.Fatalf("the last frame lacks the new state:\n%s", got)
	}
}

func TestShowHostsWatch(t *testing.T) {
	newServer(t, "hwatched", "hw-a", "hw-b")
	putHANode(t, "hw-a", agentStatus("680000000000ca01", "680000000000ca01", nil, hav1alpha1.PathActive, hav1alpha1.PathActive))
	putLease(t, "hw-a", 0)
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int)
	go func() {
		done <- Main(ctx, []string{"show", "hwatched", "--hosts", "--watch", "-n", "default"}, strings.NewReader(""), &out, &out, env.Config)
	}()
	testenv.Eventually(t, 5*time.Second, "the first frame", func() bool { return strings.Contains(out.String(), "sdb Active, sdc Active") })
	putHANode(t, "hw-a", agentStatus("680000000000ca01", "680000000000ca01", nil, hav1alpha1.PathActive, hav1alpha1.PathFailed))
	testenv.Eventually(t, 5*time.Second, "the failed path", func() bool { return strings.Contains(out.String(), "sdb Active, sdc Failed") })
	cancel()
	if code := <-done; code != exitDone {
		t.Fatalf("exit %d", code)
	}
}

func TestPaths(t *testing.T) {
	newServer(t, "pathy", "pa-a", "pa-b", "pa-c")
	putHANode(t, "pa-a", agentStatus("680000000000aa01", "680000000000aa01", []string{"680000000000aa01"},
		hav1alpha1.PathActive, hav1alpha1.PathActive))
	putHANode(t, "pa-b", agentStatus("680000000000ab01", "680000000000aa01", []string{"680000000000aa01"},
		hav1alpha1.PathActive, hav1alpha1.PathFailed))
	putLease(t, "pa-a", time.Second)
	putLease(t, "pa-b", time.Second)

	// A standby's failed path is shown, but the active host's paths are fine.
	code, out := plugin(t, "", "paths", "pathy")
	if code != exitDone {
		t.Fatalf("exit %d\n%s", code, out)
	}
	for _, want := range []string{
		"default/pathy: active pa-a; reservation holder pa-a (epoch 1), as the controller sees it",
		"pa-b  Standby  yes  mpatha  sdc  Failed  pa-a  READ: input/output error",
		"pa-c  Standby  no (no Lease)  mpatha  -  -  -  no HANode: its agent has not reported",
		"pa-a (active): mpatha: all 2 paths Active",
	} {
		if !like(out, want) {
			t.Errorf("paths lacks %q:\n%s", want, out)
		}
	}
	// A failed path on the active host: exit 1.
	putHANode(t, "pa-a", agentStatus("680000000000aa01", "680000000000aa01", []string{"680000000000aa01"},
		hav1alpha1.PathFailed, hav1alpha1.PathActive))
	code, out = plugin(t, "", "paths", "pathy")
	if code != exitRefused || !strings.Contains(out, "pa-a (active): mpatha: 1 of 2 paths failed (sdb Failed): KAMN725-W") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

func TestPlan(t *testing.T) {
	newServer(t, "planned")
	code, out := plugin(t, "", "plan", "planned", "--fail", "host")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	for _, want := range []string{"node-b takes the reservation", "promote the standby copy on node-b", "active node-b", "node-a Fenced"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	code, out = plugin(t, "", "plan", "planned", "--fail", "server")
	if code != 0 || !strings.Contains(out, "active node-b") || !strings.Contains(out, "node-a Failed") {
		t.Fatalf("server failure plan: %d\n%s", code, out)
	}
	// plan changes nothing.
	var s hav1alpha1.HAServer
	_ = env.Client.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "planned"}, &s)
	if s.Status.ActiveNode != "node-a" || s.Spec.Request != nil {
		t.Fatal("plan changed the server")
	}
}

// readArchive opens a tar.gz and returns its members by name.
func readArchive(t *testing.T, data []byte) (names []string, files map[string]string) {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	files = map[string]string{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		files[h.Name] = string(body)
	}
	return names, files
}

// logRequests records the pods/log requests the plugin sends through the
// API server.
type logRequests struct {
	mu    sync.Mutex
	next  http.RoundTripper
	query []string
}

func (l *logRequests) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/log") {
		l.mu.Lock()
		l.query = append(l.query, r.URL.Path+"?"+r.URL.RawQuery)
		l.mu.Unlock()
	}
	return l.next.RoundTrip(r)
}

func TestCollect(t *testing.T) {
	ctx := context.Background()
	nodes := []string{"col-a", "col-b", "col-c"}
	s := newServer(t, "col", nodes...)
	setStatus(t, "col", func(st *hav1alpha1.HAServerStatus) {
		start, end := metav1.NewTime(time.Now().Add(-time.Minute)), metav1.NewTime(time.Now().Add(-55*time.Second))
		st.Switchovers = []hav1alpha1.Switchover{{Cause: "HostFailure", From: "col-b", To: "col-a", Started: &start, Finished: &end, Result: "Succeeded"}}
	})
	putHANode(t, "col-a", agentStatus("680000000000c0a1", "680000000000c0a1", []string{"680000000000c0a1"}, hav1alpha1.PathActive, hav1alpha1.PathFailed))
	putHANode(t, "col-b", agentStatus("680000000000c0b1", "680000000000c0a1", []string{"680000000000c0a1"}, hav1alpha1.PathActive))
	putLease(t, "col-a", time.Second)
	putLease(t, "col-b", 5*time.Minute)
	// The server's pod, the controller's and col-a's agent's (no kubelet
	// runs: their logs cannot be read).
	mkPod := func(ns, name, node, container string, lbls map[string]string) {
		t.Helper()
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls},
			Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: container, Image: "hamon"}}}}
		if err := env.Client.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		cleanup(t, p)
	}
	mkPod("default", "col-col-a-1", "col-a", "server", map[string]string{"ha.hamon.io/server": "col"})
	mkPod(defaultHamonNamespace, "hamon-controller-1", "col-c", "manager",
		map[string]string{"app.kubernetes.io/name": "hamon", "app.kubernetes.io/component": "controller"})
	mkPod(defaultHamonNamespace, "hamon-nodeagent-col-a", "col-a", "nodeagent",
		map[string]string{"app.kubernetes.io/name": "hamon", "app.kubernetes.io/component": "nodeagent"})
	for i, ev := range []struct{ typ, reason, msg string }{
		{corev1.EventTypeNormal, "KAMN001-I", "the server started on col-a"},
		{corev1.EventTypeWarning, "KAMN725-W", "a path of mpatha failed on col-a"},
	} {
		e := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("col.%d", i)},
			InvolvedObject: corev1.ObjectReference{Kind: "HAServer", APIVersion: "ha.hamon.io/v1alpha1", Namespace: "default", Name: "col", UID: s.UID},
			Type:           ev.typ, Reason: ev.reason, Message: ev.msg, Count: 1,
			FirstTimestamp: metav1.NewTime(time.Now().Add(time.Duration(i-5) * time.Second)),
			LastTimestamp:  metav1.NewTime(time.Now().Add(time.Duration(i-5) * time.Second)),
			Source:         corev1.EventSource{Component: "hamon-controller"}}
		if err := env.Client.Create(ctx, e); err != nil {
			t.Fatal(err)
		}
		cleanup(t, e)
	}

	cfg := rest.CopyConfig(env.Config)
	logs := &logRequests{}
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { logs.next = rt; return logs }
	dir := t.TempDir()
	t.Chdir(dir)
	var out, errOut bytes.Buffer
	code := Main(ctx, []string{"collect", "col", "-n", "default", "--tail", "300", "--limit-bytes", "65536"},
		strings.NewReader(""), &out, &errOut, cfg)
	if code != exitDone {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errOut.String())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || !regexp.MustCompile(`^hamon-collect-default-col-\d{8}T\d{6}Z\.tar\.gz$`).MatchString(entries[0].Name()) {
		t.Fatalf("files written: %v", entries)
	}
	file := entries[0].Name()
	if !strings.Contains(out.String(), "Wrote "+file) || !strings.Contains(out.String(), "could not be collected") {
		t.Fatalf("what collect says:\n%s", out.String())
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	names, files := readArchive(t, data)
	base := strings.TrimSuffix(file, ".tar.gz") + "/"
	if len(names) < 2 || names[0] != base || names[1] != base+"SUMMARY.txt" {
		t.Fatalf("the archive starts with %v, want the directory then SUMMARY.txt", names[:min(len(names), 2)])
	}
	for _, m := range []string{
		"haserver.yaml", "events.yaml", "events.txt", "pods/col-col-a-1.yaml",
		"hanodes/col-a.yaml", "hanodes/col-b.yaml", "hanodes/col-c.txt",
		"leases/col-a.yaml", "leases/col-b.yaml", "leases/col-c.txt",
		"hamon-pods/hamon-controller-1.yaml", "hamon-pods/hamon-nodeagent-col-a.yaml",
		"logs/server/col-col-a-1/server.UNAVAILABLE.txt",
		"logs/controller/hamon-controller-1/manager.UNAVAILABLE.txt",
		"logs/agent/col-a/hamon-nodeagent-col-a/nodeagent.UNAVAILABLE.txt",
		"logs/agent/col-b/NOT-FOUND.txt", "logs/agent/col-c/NOT-FOUND.txt",
	} {
		if _, ok := files[base+m]; !ok {
			t.Errorf("no %s in the archive; it has %v", m, names)
		}
	}
	var got hav1alpha1.HAServer
	if err := yaml.Unmarshal([]byte(files[base+"haserver.yaml"]), &got); err != nil || got.Name != "col" || got.Kind != "HAServer" {
		t.Errorf("haserver.yaml: %v %+v", err, got.TypeMeta)
	}
	if !strings.Contains(files[base+"events.txt"], "Warning HAServer/col KAMN725-W: a path of mpatha failed on col-a") {
		t.Errorf("events.txt:\n%s", files[base+"events.txt"])
	}
	if why := files[base+"logs/server/col-col-a-1/server.UNAVAILABLE.txt"]; !strings.Contains(why,
		"could not read the log of container server of pod default/col-col-a-1") || !strings.Contains(why, "kubelet of node col-a") {
		t.Errorf("why the log is missing:\n%s", why)
	}
	summary := files[base+"SUMMARY.txt"]
	for _, want := range []string{
		"hamon error information for HAServer default/col",
		"phase Online, active col-a, standby col-b,col-c, fencing epoch 1",
		"HostFailure col-b -> col-a, Succeeded, 5s; started ",
		"as the controller sees it: holder col-a, epoch 1",
		"col-b  mpatha  sdb Active  col-a  col-a",
		"col-a (active): mpatha: 1 of 2 paths failed (sdc Failed): KAMN725-W",
		"== RECENT WARNING EVENTS", "Warning HAServer/col KAMN725-W",
		"logs/agent/col-c/NOT-FOUND.txt: no pod on node col-c",
		"== FILES", "hanodes/col-a.yaml (",
	} {
		if !like(summary, want) {
			t.Errorf("SUMMARY.txt lacks %q:\n%s", want, summary)
		}
	}
	if strings.Contains(summary, "KAMN001-I") {
		t.Errorf("SUMMARY.txt lists a Normal event among the warnings:\n%s", summary)
	}
	// Logs are asked for with a tail and a byte limit.
	logs.mu.Lock()
	defer logs.mu.Unlock()
	if len(logs.query) != 3 {
		t.Fatalf("log requests: %v", logs.query)
	}
	for _, q := range logs.query {
		if !strings.Contains(q, "tailLines=300") || !strings.Contains(q, "limitBytes=65536") {
			t.Errorf("log request without tail or limit: %s", q)
		}
	}

	// -o names the file; an existing file is not overwritten; -o - writes
	// the archive to stdout.
	code, msg := plugin(t, "", "collect", "col", "-o", file)
	if code != exitRefused || !strings.Contains(msg, "-o "+file+": the file exists") {
		t.Fatalf("exit %d\n%s", code, msg)
	}
	out.Reset()
	errOut.Reset()
	if code := Main(ctx, []string{"collect", "col", "-n", "default", "-o", "-"}, strings.NewReader(""), &out, &errOut, env.Config); code != exitDone {
		t.Fatalf("exit %d\n%s", code, errOut.String())
	}
	if names, _ := readArchive(t, out.Bytes()); len(names) < 10 || !strings.Contains(errOut.String(), "Wrote -") {
		t.Fatalf("-o -: %v\n%s", names, errOut.String())
	}
	if code, msg := plugin(t, "", "collect", "nosuch"); code != exitRefused || !strings.Contains(msg, `no HAServer "nosuch"`) {
		t.Fatalf("exit %d\n%s", code, msg)
	}
}

func TestGroupSwap(t *testing.T) {
	ctx := context.Background()
	g := &hav1alpha1.HAServerGroup{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "grp"}}
	if err := env.Client.Create(ctx, g); err != nil {
		t.Fatal(err)
	}
	cleanup(t, g)
	// The stand-in controller: InProgress with a target, then Done.
	go func() {
		for range 200 {
			var cur hav1alpha1.HAServerGroup
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(g), &cur); err == nil && cur.Spec.Request != nil {
				rq := cur.Spec.Request
				cur.Status.TargetNode = "node-b"
				cur.Status.LastRequest = &hav1alpha1.RequestStatus{ID: rq.ID, Action: rq.Action, Outcome: hav1alpha1.RequestInProgress,
					Message: "switching 2 members"}
				if env.Client.Status().Update(ctx, &cur) != nil {
					continue
				}
				time.Sleep(300 * time.Millisecond)
				cur.Status.LastRequest = &hav1alpha1.RequestStatus{ID: rq.ID, Action: rq.Action, Outcome: hav1alpha1.RequestDone,
					Message: "every member on node-b"}
				_ = env.Client.Status().Update(ctx, &cur)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	code, out := plugin(t, "", "swap", "-g", "grp", "--node", "node-b")
	if code != exitDone || !like(out, "] in progress: switching 2 members, target node-b\n") || !strings.Contains(out, "done: every member on node-b") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	var cur hav1alpha1.HAServerGroup
	_ = env.Client.Get(ctx, client.ObjectKeyFromObject(g), &cur)
	if cur.Spec.Request == nil || cur.Spec.Request.Action != hav1alpha1.ActionSwap || cur.Spec.Request.Node != "node-b" {
		t.Fatalf("request written: %+v", cur.Spec.Request)
	}
	if code, out := plugin(t, "", "swap", "-g", "nogroup"); code != exitRefused || !strings.Contains(out, `no HAServerGroup "nogroup"`) {
		t.Fatalf("exit %d\n%s", code, out)
	}
}
