package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
)

// Output formatting, without an API server: golden strings.

var (
	t0    = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	escRE = regexp.MustCompile("\x1b\\[[0-9;]*m")
)

func at(d time.Duration) *metav1.Time { t := metav1.NewTime(t0.Add(d)); return &t }

func fixtureServers() []hav1alpha1.HAServer {
	db := hav1alpha1.HAServer{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "db"}}
	db.Spec.Mode = hav1alpha1.ModeServer
	db.Spec.Hosts = []hav1alpha1.HostSpec{{Node: "node-a"}, {Node: "node-b"}, {Node: "node-c"}}
	db.Spec.SharedDisks = []hav1alpha1.SharedDisk{{Device: "/dev/mapper/mpatha"}}
	db.Status = hav1alpha1.HAServerStatus{
		Phase: hav1alpha1.PhaseOnline, ActiveNode: "node-a", StandbyNodes: "node-b", ReservationHolder: "node-a", FencingEpoch: 3,
		Hosts: []hav1alpha1.HostStatus{
			{Node: "node-a", Role: hav1alpha1.RoleActive, State: hav1alpha1.HostOnline, Alive: true},
			{Node: "node-b", Role: hav1alpha1.RoleStandby, State: hav1alpha1.HostStandby, Alive: true},
			{Node: "node-c", Role: hav1alpha1.RoleNone, State: hav1alpha1.HostFenced},
		},
		Switchovers: []hav1alpha1.Switchover{{Cause: "HostFailure", From: "node-c", To: "node-a", Started: at(-time.Hour),
			Finished: at(-time.Hour + 4*time.Second), Result: "Succeeded"}},
		LastRequest: &hav1alpha1.RequestStatus{ID: "swap-1", Action: hav1alpha1.ActionSwap, Outcome: hav1alpha1.RequestRefused,
			Reason: "NoStandby", Message: "no standby can take over"},
	}
	web := hav1alpha1.HAServer{ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: "web"}}
	web.Spec.Alias = "www"
	return []hav1alpha1.HAServer{db, web}
}

func TestRenderServersGolden(t *testing.T) {
	var b bytes.Buffer
	renderServers(&b, fixtureServers(), style{})
	want := "" +
		"SERVER      ALIAS  MODE     PHASE   HOST    ROLE     STATE          ALIVE  RESERVATION\n" +
		"default/db  db     Server   Online  node-a  Active   Online (ONL)   yes    holder (epoch 3)\n" +
		"                                    node-b  Standby  Standby (SBY)  yes\n" +
		"                                    node-c  None     Fenced         no\n" +
		"prod/web    www    Monitor  -       -\n" +
		"default/db last switchover: HostFailure node-c -> node-a, Succeeded, 4s\n" +
		"default/db last request: swap-1 Swap: Refused (NoStandby) no standby can take over\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
	// In colour, the same text with escapes around states, and the columns
	// still line up.
	var c bytes.Buffer
	renderServers(&c, fixtureServers(), style{colour: true})
	if escRE.ReplaceAllString(c.String(), "") != want {
		t.Fatalf("colour output, escapes removed, differs from the plain one:\n%s", c.String())
	}
	for _, w := range []string{"\x1b[32mOnline (ONL)\x1b[0m", "\x1b[36mStandby (SBY)\x1b[0m", "\x1b[31mFenced\x1b[0m", "\x1b[31mno\x1b[0m"} {
		if !strings.Contains(c.String(), w) {
			t.Errorf("no %q in %q", w, c.String())
		}
	}
}

func fixtureHosts(server *hav1alpha1.HAServer) *hostsView {
	dur := int32(10)
	renewA, renewB := metav1.NewMicroTime(t0.Add(-2*time.Second)), metav1.NewMicroTime(t0.Add(-40*time.Second))
	leases := []coordinationv1.Lease{
		{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}, Spec: coordinationv1.LeaseSpec{LeaseDurationSeconds: &dur, RenewTime: &renewA}},
		{ObjectMeta: metav1.ObjectMeta{Name: "node-b"}, Spec: coordinationv1.LeaseSpec{LeaseDurationSeconds: &dur, RenewTime: &renewB}},
	}
	disk := func(holder string, regs []string, states ...hav1alpha1.PathState) hav1alpha1.DeviceStatus {
		d := hav1alpha1.DeviceStatus{Name: "mpatha", HolderKey: holder, RegisteredKeys: regs, ReservationType: "Write Exclusive, Registrants Only"}
		for i, st := range states {
			p := hav1alpha1.PathStatus{Name: []string{"sdb", "sdc"}[i], State: st}
			if st == hav1alpha1.PathFailed {
				p.LastError = "TEST UNIT READY: transport failure"
			}
			d.Paths = append(d.Paths, p)
		}
		return d
	}
	other := hav1alpha1.DeviceStatus{Name: "mpathz", Paths: []hav1alpha1.PathStatus{{Name: "sdz", State: hav1alpha1.PathActive}}}
	nodes := []hav1alpha1.HANode{
		{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}, Status: hav1alpha1.HANodeStatus{
			AgentVersion: "v0.1.0", BootID: "9a8b7c6d-0000-0000-0000-000000000000", ReservationKey: "68000000000000a1",
			Fencing: hav1alpha1.FencingNone,
			Devices: []hav1alpha1.DeviceStatus{disk("68000000000000a1", []string{"68000000000000a1"}, hav1alpha1.PathActive, hav1alpha1.PathFailed), other},
			Servers: []hav1alpha1.NodeServerStatus{
				{Key: "default/db", Epoch: 3, Reservation: hav1alpha1.ReservationHeld},
				{Key: "prod/web", Reservation: hav1alpha1.ReservationNotRequired, PatrolFailed: true, PatrolPod: "web-node-a-x1"},
			}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "node-b"}, Status: hav1alpha1.HANodeStatus{
			AgentVersion: "v0.1.0", BootID: "1234", ReservationKey: "68000000000000b1", Fencing: hav1alpha1.FencingFenced,
			Devices: []hav1alpha1.DeviceStatus{disk("68000000000000a1", []string{"68000000000000a1", "68000000000000ff"},
				hav1alpha1.PathActive, hav1alpha1.PathActive)},
			Servers: []hav1alpha1.NodeServerStatus{{Key: "default/db", Epoch: 2, Reservation: hav1alpha1.ReservationFailed,
				KeyPreempted: true, Message: "PREEMPT AND ABORT: reservation conflict"}}}},
	}
	return newHostsView(t0, server, nodes, leases, nil)
}

func TestRenderHostsGolden(t *testing.T) {
	var b bytes.Buffer
	renderHosts(&b, fixtureHosts(nil), style{ages: true})
	want := "" +
		"HOST    ALIVE                 AGENT   BOOT      KEY               FENCING\n" +
		"node-a  yes (renewed 2s ago)  v0.1.0  9a8b7c6d  68000000000000a1  None\n" +
		"node-b  no (expired 30s ago)  v0.1.0  1234      68000000000000b1  Fenced\n" +
		"\n" +
		"HOST    DEVICE  PATHS                   REGISTERED               HOLDER  TYPE\n" +
		"node-a  mpatha  sdb Active, sdc Failed  node-a                   node-a  Write Exclusive, Registrants Only\n" +
		"node-a  mpathz  sdz Active              -                        none    -\n" +
		"node-b  mpatha  sdb Active, sdc Active  node-a,68000000000000ff  node-a  Write Exclusive, Registrants Only\n" +
		"  node-a mpatha sdc: TEST UNIT READY: transport failure\n" +
		"\n" +
		"HOST    SERVER      RESERVATION  EPOCH  NOTE\n" +
		"node-a  default/db  Held         3      -\n" +
		"node-a  prod/web    NotRequired  0      patrol failed (pod web-node-a-x1)\n" +
		"node-b  default/db  Failed       2      key preempted; PREEMPT AND ABORT: reservation conflict\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}

	// One server's hosts: its disks and reports only, a host without an
	// HANode said so; without ages (as --watch draws it).
	b.Reset()
	renderHosts(&b, fixtureHosts(&fixtureServers()[0]), style{})
	want = "" +
		"HOST    ALIVE          AGENT   BOOT      KEY               FENCING\n" +
		"node-a  yes            v0.1.0  9a8b7c6d  68000000000000a1  None\n" +
		"node-b  no (expired)   v0.1.0  1234      68000000000000b1  Fenced\n" +
		"node-c  no (no Lease)  -       -         -                 -\n" +
		"node-c: no HANode: its agent has not reported (does the node agent run there?)\n" +
		"\n" +
		"HOST    DEVICE  PATHS                   REGISTERED               HOLDER  TYPE\n" +
		"node-a  mpatha  sdb Active, sdc Failed  node-a                   node-a  Write Exclusive, Registrants Only\n" +
		"node-b  mpatha  sdb Active, sdc Active  node-a,68000000000000ff  node-a  Write Exclusive, Registrants Only\n" +
		"  node-a mpatha sdc: TEST UNIT READY: transport failure\n" +
		"\n" +
		"HOST    SERVER      RESERVATION  EPOCH  NOTE\n" +
		"node-a  default/db  Held         3      -\n" +
		"node-b  default/db  Failed       2      key preempted; PREEMPT AND ABORT: reservation conflict\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
	var c bytes.Buffer
	renderHosts(&c, fixtureHosts(&fixtureServers()[0]), style{colour: true})
	if escRE.ReplaceAllString(c.String(), "") != want {
		t.Fatalf("colour output, escapes removed, differs from the plain one:\n%s", c.String())
	}
	if !strings.Contains(c.String(), "sdc \x1b[31mFailed\x1b[0m") || !strings.Contains(c.String(), "\x1b[32myes\x1b[0m") {
		t.Fatalf("no colours: %q", c.String())
	}

	// Leases that cannot be read make aliveness unknown.
	hv := fixtureHosts(nil)
	hv.leaseErr = errForbidden
	b.Reset()
	renderHosts(&b, hv, style{ages: true})
	if !strings.Contains(b.String(), "node-a  unknown  v0.1.0") || !strings.Contains(b.String(), "alive unknown: leases is forbidden") {
		t.Fatalf("got\n%s", b.String())
	}
}

type forbidden struct{}

func (forbidden) Error() string { return "leases is forbidden" }

var errForbidden error = forbidden{}

func TestRenderPathsGolden(t *testing.T) {
	s := &fixtureServers()[0]
	var b bytes.Buffer
	failed := renderPaths(&b, s, fixtureHosts(s), style{})
	want := "" +
		"default/db: active node-a; reservation holder node-a (epoch 3), as the controller sees it\n" +
		"HOST    ROLE     ALIVE          DEVICE  PATH  STATE   HOLDER  ERROR\n" +
		"node-a  Active   yes            mpatha  sdb   Active  node-a  -\n" +
		"node-a  Active   yes            mpatha  sdc   Failed  node-a  TEST UNIT READY: transport failure\n" +
		"node-b  Standby  no (expired)   mpatha  sdb   Active  node-a  -\n" +
		"node-b  Standby  no (expired)   mpatha  sdc   Active  node-a  -\n" +
		"node-c  None     no (no Lease)  mpatha  -     -       -       no HANode: its agent has not reported\n" +
		"node-a (active): mpatha: 1 of 2 paths failed (sdc Failed): KAMN725-W\n"
	if !failed || b.String() != want {
		t.Fatalf("failed=%v, got\n%s\nwant\n%s", failed, b.String(), want)
	}

	// All paths of the active host's disk failed: KAMN726-E. A standby's
	// failed path alone is no failure.
	hv := fixtureHosts(s)
	hv.hanode["node-a"].Status.Devices[0].Paths[0].State = hav1alpha1.PathOffline
	b.Reset()
	if !renderPaths(&b, s, hv, style{}) || !strings.Contains(b.String(), "node-a (active): mpatha: all 2 paths failed (sdb Offline, sdc Failed): KAMN726-E") {
		t.Fatalf("got\n%s", b.String())
	}
	s.Status.ActiveNode, s.Status.Hosts[0].Role = "node-b", hav1alpha1.RoleStandby
	b.Reset()
	if renderPaths(&b, s, hv, style{}) || !strings.HasSuffix(b.String(), "node-b (active): mpatha: all 2 paths Active\n"+
		"node-b (active): mpatha: its agent reads the holder as node-a, not itself\n") {
		t.Fatalf("got\n%s", b.String())
	}
}

func TestProgressGolden(t *testing.T) {
	var b bytes.Buffer
	p := &progress{w: &b, start: t0}
	p.Step(t0.Add(200*time.Millisecond), "Online, active node-a")
	p.Step(t0.Add(300*time.Millisecond), "Online, active node-a")
	p.Tick(t0.Add(400 * time.Millisecond))
	p.Step(t0.Add(1300*time.Millisecond), "PlannedSwap: node-a -> node-b, Reserving")
	p.Step(t0.Add(75*time.Second), "PlannedSwap: node-a -> node-b, Activating")
	p.Done("done: switched to node-b", green)
	want := "" +
		"  [0.2s] Online, active node-a\n" +
		"  [1.3s] PlannedSwap: node-a -> node-b, Reserving\n" +
		"  [1m15s] PlannedSwap: node-a -> node-b, Activating\n" +
		"done: switched to node-b\n"
	if b.String() != want {
		t.Fatalf("not a terminal: got\n%q\nwant\n%q", b.String(), want)
	}

	b.Reset()
	p = &progress{w: &b, tty: true, start: t0}
	p.Step(t0, "Online, active node-a")
	p.Tick(t0.Add(100 * time.Millisecond))
	p.Step(t0.Add(200*time.Millisecond), "PlannedSwap: node-a -> node-b, Reserving")
	p.Tick(t0.Add(300 * time.Millisecond))
	p.Done("refused (NoStandby): no standby", red)
	want = "" +
		"\r\x1b[K⠋ Online, active node-a  0.0s" +
		"\r\x1b[K⠙ Online, active node-a  0.1s" +
		"\r\x1b[K  Online, active node-a\n" +
		"\r\x1b[K⠙ PlannedSwap: node-a -> node-b, Reserving  0.2s" +
		"\r\x1b[K⠹ PlannedSwap: node-a -> node-b, Reserving  0.3s" +
		"\r\x1b[K  PlannedSwap: node-a -> node-b, Reserving\n" +
		"refused (NoStandby): no standby\n"
	if b.String() != want {
		t.Fatalf("terminal: got\n%q\nwant\n%q", b.String(), want)
	}
	b.Reset()
	p = &progress{w: &b, tty: true, colour: true, start: t0}
	p.Step(t0, "x")
	p.Done("done: ok", green)
	if want := "\r\x1b[K\x1b[36m⠋\x1b[0m x  0.0s\r\x1b[K  x\n\x1b[32mdone: ok\x1b[0m\n"; b.String() != want {
		t.Fatalf("colour: got %q want %q", b.String(), want)
	}
}

func TestTableLinesUpColouredCells(t *testing.T) {
	var b bytes.Buffer
	tb := &table{}
	tb.row("A", "B", "C")
	tb.row(paint(true, red, "long cell"), "x", "")
	tb.row("s", paint(true, green, "yy"), "z")
	tb.write(&b)
	want := "A          B   C\n" + "\x1b[31mlong cell\x1b[0m  x\n" + "s          \x1b[32myy\x1b[0m  z\n"
	if b.String() != want {
		t.Fatalf("got %q want %q", b.String(), want)
	}
}

func TestWatchFrames(t *testing.T) {
	o := &options{now: func() time.Time { return t0 }}
	if got := o.watchFrame("body\n"); got != "=== 2026-01-02T03:04:05Z\nbody\n" {
		t.Errorf("table: %q", got)
	}
	o.output = "yaml"
	if got := o.watchFrame("a: 1\n"); got != "---\na: 1\n" {
		t.Errorf("yaml: %q", got)
	}
	o.output, o.tty = "", true
	if got := o.watchFrame("body\n"); got != "\x1b[H\x1b[2Jkubectl hamon show, redrawn on every change; 2026-01-02T03:04:05Z; Ctrl-C stops\n\nbody\n" {
		t.Errorf("terminal: %q", got)
	}
}

func TestClearCheck(t *testing.T) {
	s := &fixtureServers()[0]
	hv := fixtureHosts(s)
	if c := clearCheck(s, hv); !strings.HasPrefix(c.refusal, "node-a plays the active role for default/db (Online)") {
		t.Fatalf("active: %+v", c)
	}
	// node-a failed; its Lease is fresh: refused.
	s.Status.ActiveNode, s.Status.Hosts[0].Role, s.Status.Hosts[0].State, s.Status.Hosts[0].Alive = "", hav1alpha1.RoleNone, hav1alpha1.HostFailed, false
	if c := clearCheck(s, hv); c.refusal != "the holder node-a may be alive: its agent renews its Lease (renewed 2s ago). "+
		"Clear only a dead host's reservation: make sure node-a is down and its Lease has expired, then try again." {
		t.Fatalf("lease fresh: %+v", c)
	}
	// Fenced (as the controller says), it may be cleared however fresh
	// its Lease, as the controller allows.
	s.Status.Hosts[0].State = hav1alpha1.HostFenced
	c := clearCheck(s, hv)
	want := "Clear the reservation of the 1 shared disk(s) of default/db (mpatha), held by \"node-a\" (as the controller, " +
		"node-a's agent (mpatha) and node-b's agent (mpatha) see it)?\n" +
		"  node-a: Lease renewed 2s ago, state Fenced, fenced\n" +
		"Only do this when node-a is really down: a live holder would lose its disks while it writes. [y/N] "
	if c.refusal != "" || c.question != want || !strings.HasPrefix(want, c.summary) {
		t.Fatalf("fenced: %+v\nwant question %q", c, want)
	}
	// A holder key no agent uses; no holder the controller knows.
	s.Status.ReservationHolder = ""
	hv.hanode["node-a"].Status.Devices[0].HolderKey = "68000000000000ee"
	hv.hanode["node-b"].Status.Devices[0].HolderKey = ""
	c = clearCheck(s, hv)
	if c.refusal != "" || !strings.Contains(c.question, `held by "68000000000000ee" (as node-a's agent (mpatha) sees it)?`) ||
		!strings.Contains(c.question, "key 68000000000000ee belongs to no HANode") {
		t.Fatalf("unknown key: %+v", c)
	}
	hv.hanode["node-a"].Status.Devices[0].HolderKey = ""
	if c := clearCheck(s, hv); !strings.Contains(c.question, "held by no host, as far as the controller and the agents know?") {
		t.Fatalf("no holder: %+v", c)
	}
}

// Every command's help names the HA Monitor command (or section) it
// replaces.
func TestHelpNamesTheHAMonitorCommand(t *testing.T) {
	want := map[string]string{
		"show": "monshow", "paths": "monpath", "swap": "monswap", "stop-standby": "monsbystp", "end": "monend",
		"begin": "monbegin", "act": "monact", "clear-reservation": "monscsiclr", "collect": "error information collection (7.4.2)",
		"plan": "HA Monitor has no such command",
	}
	for name := range commands {
		w, ok := want[name]
		if !ok {
			t.Errorf("command %s: which HA Monitor command does it replace? add it here", name)
			continue
		}
		var out bytes.Buffer
		if code := run(t.Context(), []string{name, "--help"}, console{out: &out, err: &out}, nil); code != exitDone {
			t.Errorf("%s --help: exit %d", name, code)
		}
		if !strings.Contains(out.String(), w) || !strings.Contains(out.String(), "HA Monitor") || !strings.Contains(out.String(), "Flags:\n") {
			t.Errorf("%s --help does not name %q:\n%s", name, w, out.String())
		}
		if !strings.Contains(usage, "\n  "+name+" ") {
			t.Errorf("the usage does not list %s", name)
		}
	}
}

// Bad input: a clear error naming the flag and the fix, exit 2, and no
// API server needed to say so.
func TestUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"swap"}, "which HAServer? give its name: kubectl hamon swap NAME"},
		{[]string{"swap", "a", "b"}, "one server name at most, got a b"},
		{[]string{"swap", "a", "-g", "grp"}, "give either a server NAME (a) or -g GROUP (grp), not both"},
		{[]string{"swap", "-g", "grp", "--force"}, "--force is for one server"},
		{[]string{"swap", "a", "--timeout", "0s"}, "--timeout 0s: give a duration longer than zero"},
		{[]string{"swap", "a", "--timeout", "soon"}, `invalid value "soon" for flag -timeout`},
		{[]string{"end", "a", "--node", "x"}, "flag provided but not defined: -node"},
		{[]string{"plan", "x"}, `--fail "": say what fails, --fail server or --fail host`},
		{[]string{"plan", "x", "--fail", "disk"}, `--fail "disk"`},
		{[]string{"show", "-o", "xml"}, "-o xml: want -o json or -o yaml, or no -o for a table"},
		{[]string{"show", "db", "-A"}, "-A lists every namespace and NAME picks one server: give -n NS with db instead of -A"},
		{[]string{"show", "--hamon-namespace", ""}, "--hamon-namespace is empty"},
		{[]string{"collect", "x", "--tail", "0"}, "--tail 0: give a number of lines of at least 1"},
		{[]string{"collect", "x", "--limit-bytes", "-1"}, "--limit-bytes -1: give a number of bytes of at least 1"},
		{[]string{"collect", "x", "--agent-selector", "a b"}, `--agent-selector "a b": want a label selector`},
		{[]string{"collect", "x", "--controller-selector", ""}, `--controller-selector "": want a label selector`},
	}
	for _, c := range cases {
		var out bytes.Buffer
		code := run(t.Context(), c.args, console{out: &out, err: &out}, nil)
		if code != exitUsage || !strings.Contains(out.String(), c.want) {
			t.Errorf("%v: exit %d, want %d and %q:\n%s", c.args, code, exitUsage, c.want, out.String())
		}
	}
}

func micro(d time.Duration) *metav1.MicroTime { t := metav1.NewMicroTime(t0.Add(d)); return &t }

// kubectl hamon show NAME --history: each switchover with its stages, the
// one in progress last; an old entry (whole seconds) shown as such.
func TestRenderHistoryGolden(t *testing.T) {
	s := fixtureServers()[0]
	s.Status.Switchovers = append(s.Status.Switchovers, hav1alpha1.Switchover{Cause: "ServerFailure", From: "node-a", To: "node-b",
		FailedAt: micro(-time.Minute - 1200*time.Millisecond), Started: at(-time.Minute), StartedAt: micro(-time.Minute), Fenced: at(-time.Minute), FencedAt: micro(-time.Minute + 80*time.Millisecond),
		Finished: at(-time.Minute), FinishedAt: micro(-time.Minute + 312*time.Millisecond), Result: "Succeeded"})
	s.Status.Switchover = &hav1alpha1.Switchover{Cause: "PlannedSwap", From: "node-b", To: "node-a", Stage: "Reserving",
		Started: at(-2 * time.Second), StartedAt: micro(-2 * time.Second), Fenced: at(-time.Second), FencedAt: micro(-1500 * time.Millisecond)}
	var b bytes.Buffer
	renderHistory(&b, &s, t0)
	want := "\n" +
		"Switchovers of default/db (the status keeps the last 2):\n" +
		"STARTED                  CAUSE          FROM    TO      RESULT                   DETECTION  FENCING  ACTIVATION  TOTAL\n" +
		"2026-01-02 02:04:05.000  HostFailure    node-c  node-a  Succeeded                -          -        -           4s\n" +
		"2026-01-02 03:03:05.000  ServerFailure  node-a  node-b  Succeeded                1.2s       80ms     232ms       312ms\n" +
		"2026-01-02 03:04:03.000  PlannedSwap    node-b  node-a  in progress (Reserving)  -          500ms    1.5s…       2s…\n" +
		"(switchovers recorded before hamon kept microseconds are shown to the second)\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}
