package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/controllers/testenv"
)

// The plugin against a real API server. A stand-in controller answers the
// requests as the real one would (the controller's own tests cover what it
// decides); here what is tested is what the plugin writes, how it waits,
// what it prints and its exit codes.

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env, nil) }

func newServer(t *testing.T, name string) *hav1alpha1.HAServer {
	t.Helper()
	s := &hav1alpha1.HAServer{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}}
	s.Spec.Mode = hav1alpha1.ModeServer
	s.Spec.Hosts = []hav1alpha1.HostSpec{{Node: "node-a"}, {Node: "node-b"}, {Node: "node-c"}}
	s.Spec.SharedDisks = []hav1alpha1.SharedDisk{{Device: "/dev/mapper/mpatha"}}
	s.Spec.Template.Spec.Containers = []corev1.Container{{Name: "server", Image: "busybox"}}
	if err := env.Client.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	s.Status = hav1alpha1.HAServerStatus{
		Phase: hav1alpha1.PhaseOnline, ActiveNode: "node-a", StandbyNodes: "node-b,node-c", ReservationHolder: "node-a", FencingEpoch: 1,
		Hosts: []hav1alpha1.HostStatus{
			{Node: "node-a", Role: hav1alpha1.RoleActive, State: hav1alpha1.HostOnline, Alive: true, Running: true, ActiveCopy: true, WantStandby: true, Since: &now},
			{Node: "node-b", Role: hav1alpha1.RoleStandby, State: hav1alpha1.HostStandby, Alive: true, Running: true, WantStandby: true, Since: &now},
			{Node: "node-c", Role: hav1alpha1.RoleStandby, State: hav1alpha1.HostStandby, Alive: true, Running: true, WantStandby: true, Since: &now},
		},
	}
	if err := env.Client.Status().Update(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return s
}

// answer plays the controller: it answers the next request on the server
// with outcome, once.
func answer(t *testing.T, name string, outcome hav1alpha1.RequestOutcome, reason string) {
	t.Helper()
	go func() {
		for range 100 {
			var s hav1alpha1.HAServer
			err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: name}, &s)
			fresh := err == nil && s.Spec.Request != nil && (s.Status.LastRequest == nil || s.Status.LastRequest.ID != s.Spec.Request.ID)
			if fresh {
				s.Status.LastRequest = &hav1alpha1.RequestStatus{ID: s.Spec.Request.ID, Action: s.Spec.Request.Action,
					Outcome: outcome, Reason: reason, Message: "answered by the test"}
				if env.Client.Status().Update(context.Background(), &s) == nil {
					return
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
}

func plugin(t *testing.T, stdin string, args ...string) (int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(context.Background(), append(args, "-n", "default"), strings.NewReader(stdin), &out, &errOut, env.Client)
	return code, out.String() + errOut.String()
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
		{[]string{"stop-standby", "req", "--node", "node-b"}, hav1alpha1.RequestDone, exitDone, hav1alpha1.ActionStopStandby},
		{[]string{"act", "req"}, hav1alpha1.RequestRefused, exitRefused, hav1alpha1.ActionAct},
		{[]string{"begin", "req", "--node", "node-a"}, hav1alpha1.RequestDone, exitDone, hav1alpha1.ActionBegin},
		{[]string{"end", "req"}, hav1alpha1.RequestFailed, exitRefused, hav1alpha1.ActionEnd},
		{[]string{"clear-reservation", "req", "--yes"}, hav1alpha1.RequestRefused, exitRefused, hav1alpha1.ActionClearReservation},
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
			if c.code == exitRefused && !strings.Contains(out, "(Because)") {
				t.Fatalf("the refusal does not say why:\n%s", out)
			}
		})
	}
}

func TestRequestTimesOut(t *testing.T) {
	newServer(t, "slow")
	code, out := plugin(t, "", "swap", "slow", "--timeout", "500ms")
	if code != exitTimeout || !strings.Contains(out, "timed out") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

func TestClearReservationAsksNamingTheHolder(t *testing.T) {
	newServer(t, "clr")
	code, out := plugin(t, "n\n", "clear-reservation", "clr")
	if code != exitRefused || !strings.Contains(out, `held by "node-a"`) || !strings.Contains(out, "not cleared") {
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
	if code != 0 || !strings.Contains(out, `"activeNode": "node-a"`) {
		t.Fatalf("json: %d\n%s", code, out)
	}
	if code, _ := plugin(t, "", "show", "-o", "xml"); code == 0 {
		t.Fatal("-o xml accepted")
	}
	if code, out := plugin(t, "", "show", "--hosts"); code != 0 || !strings.Contains(out, "FENCING") {
		t.Fatalf("hosts: %d\n%s", code, out)
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

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"frobnicate"}, {"swap"}, {"swap", "a", "b"}, {"plan", "x", "--fail", "disk"}} {
		if code, out := plugin(t, "", args...); code == 0 {
			t.Errorf("%v accepted:\n%s", args, out)
		}
	}
	if code, out := plugin(t, "", "swap", "--help"); code != 0 || !strings.Contains(out, "monswap") {
		t.Errorf("help: %d %s", code, out)
	}
}
