//go:build cluster

// Package clustertest is make test-cluster: hamon installed with its Helm
// chart on a real local cluster (hack/cluster/cluster.sh: kube-apiserver,
// etcd, kube-controller-manager, kube-scheduler and three kubelets with their
// own containerd, hc-a, hc-b and hc-c), the node agents on simulated shared
// disks, and the faults of the simulated-host e2e suite (hack/e2e) made the
// real way: a container killed through containerd, a failing patrol (the
// kubelet's exec readiness probe), a host lost (all its processes killed at
// once), a host cut off from the API server (iptables in its network
// namespace), a planned swap with kubectl hamon; then a helm upgrade to a
// rebuilt image and a helm uninstall. It prints a table of scenario, result
// and seconds.
//
// Environment: HAMON_CLUSTER_KEEP=1 leaves the cluster (and hamon) running
// at the end; HAMON_CLUSTER_REUSE=1 uses a cluster that is already up.
package clustertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/nodeagent/simdisk"
)

const (
	ns        = "hc-test"
	release   = "hamon"
	releaseNS = "hamon-system"
	// The three nodes of hack/cluster/cluster.sh.
	nodeA, nodeB, nodeC = "hc-a", "hc-b", "hc-c"
	labelServer         = "ha.hamon.io/server"
	labelRole           = "ha.hamon.io/role"
)

var (
	root      = repoRoot()
	clusterSh = filepath.Join(root, "hack/cluster/cluster.sh")
	kubectl   = filepath.Join(root, "bin/k8s/kubectl")
	helm      = filepath.Join(root, "bin/helm")
	runDir    = envOr("HAMON_CLUSTER_RUN", filepath.Join(root, "bin/run/cluster"))
	imagesDir = envOr("HAMON_CLUSTER_IMAGES", filepath.Join(root, "bin/cluster/images"))
)

func repoRoot() string {
	_, f, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(f), "../../.."))
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// row is one line of the table printed at the end.
type row struct {
	scenario, result, detail string
	seconds                  float64
}

type harness struct {
	t          *testing.T
	c          client.Client
	cs         kubernetes.Interface
	kubeconfig string
	path       string // PATH with kubectl and the kubectl-hamon plugin first
	rows       []row
	failed     bool
}

func TestCluster(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces, mounts and cgroups (make test-cluster)")
	}
	h := &harness{t: t, kubeconfig: filepath.Join(runDir, "pki/admin.kubeconfig")}
	h.path = filepath.Join(root, "bin/k8s") + ":" + filepath.Join(root, "bin/cluster/build/v1") + ":" + os.Getenv("PATH")
	defer h.printTable()

	if os.Getenv("HAMON_CLUSTER_REUSE") == "" {
		h.step("up", "cluster up (3 nodes Ready)", func() string {
			h.sh(10*time.Minute, clusterSh, "up")
			return ""
		})
		if os.Getenv("HAMON_CLUSTER_KEEP") == "" {
			t.Cleanup(func() {
				if t.Failed() {
					h.dumpLogs()
				}
				h.sh(5*time.Minute, clusterSh, "down")
			})
		}
	}
	if h.failed {
		return
	}
	h.connect()

	h.step("install", "helm install (controller + 3 agents Ready)", h.install)
	h.step("servers", "two servers Online (duo: 2 hosts, trio: 3 hosts)", h.createServers)
	h.step("crash", "crash: SIGKILL trio's active container (ctr task kill)", h.crash)
	h.step("patrol", "patrol fails on duo's active (readiness probe)", h.patrolFailure)
	h.step("termcommand", "Monitor mode: crash, termCommand before the standby starts", h.monitorTermCommand)
	h.step("hostloss", "host loss: hc-b killed (kubelet, containerd, agent, pods)", h.hostLoss)
	h.step("leaderloss", "host loss with the controller's leader on it (trio active there)", h.leaderLoss)
	h.step("partition", "partition: hc-a cut off from the API server", h.partition)
	h.step("swap", "planned swap: kubectl hamon swap trio", h.swap)
	h.step("poddelete", "kubectl delete pod of a diskless active (termCommand 15 s)", h.podDelete)
	h.step("drain", "kubectl drain of trio's active host, then uncordon", h.drain)
	h.step("kubelet", "kubelet restarted on every node (a node upgrade)", h.kubeletRestart)
	h.step("upgrade", "helm upgrade to a rebuilt image (v2)", h.upgrade)
	h.step("uninstall", "end both servers, helm uninstall", h.uninstall)
}

// step runs one scenario, times it and records its outcome; after a
// failure the remaining scenarios are recorded as not run.
func (h *harness) step(id, name string, fn func() string) {
	if h.failed {
		h.rows = append(h.rows, row{scenario: name, result: "not run"})
		return
	}
	start := time.Now()
	var detail string
	ok := h.t.Run(id, func(t *testing.T) {
		prev := h.t
		h.t = t
		defer func() { h.t = prev }()
		detail = fn()
	})
	r := row{scenario: name, result: "PASS", detail: detail, seconds: time.Since(start).Seconds()}
	if !ok {
		r.result, h.failed = "FAIL", true
	}
	h.rows = append(h.rows, r)
}

func (h *harness) printTable() {
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-62s %-7s %8s  %s\n", "SCENARIO", "RESULT", "SECONDS", "DETAIL")
	for _, r := range h.rows {
		secs := "-"
		if r.result != "not run" {
			secs = fmt.Sprintf("%.1f", r.seconds)
		}
		fmt.Fprintf(&b, "%-62s %-7s %8s  %s\n", r.scenario, r.result, secs, r.detail)
	}
	fmt.Print(b.String())
	_ = os.WriteFile(filepath.Join(root, "bin/cluster/latest.txt"), []byte(b.String()), 0o644)
}

// ---------------------------------------------------------------- plumbing

func (h *harness) connect() {
	cfg, err := clientcmd.BuildConfigFromFlags("", h.kubeconfig)
	if err != nil {
		h.t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	scheme := clientgoscheme.Scheme
	if err := hav1alpha1.AddToScheme(scheme); err != nil {
		h.t.Fatal(err)
	}
	if h.c, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		h.t.Fatal(err)
	}
	if h.cs, err = kubernetes.NewForConfig(cfg); err != nil {
		h.t.Fatal(err)
	}
}

// sh runs a command with the cluster's KUBECONFIG and fails the test when
// it fails; it returns the output.
func (h *harness) sh(timeout time.Duration, name string, args ...string) string {
	h.t.Helper()
	out, err := h.try(timeout, name, args...)
	if err != nil {
		h.t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return out
}

func (h *harness) try(timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+h.kubeconfig, "PATH="+h.path, "NO_COLOR=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (h *harness) logf(format string, args ...any) { h.t.Helper(); h.t.Logf(format, args...) }

// eventually polls cond every 200 ms until it holds, and says how long that took.
func (h *harness) eventually(limit time.Duration, what string, cond func() bool) time.Duration {
	h.t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			h.t.Fatalf("not within %s: %s", limit, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return time.Since(start)
}

func ctx() context.Context { return context.Background() }

func (h *harness) server(name string) *hav1alpha1.HAServer {
	h.t.Helper()
	var s hav1alpha1.HAServer
	for i := 0; ; i++ {
		err := h.c.Get(ctx(), client.ObjectKey{Namespace: ns, Name: name}, &s)
		if err == nil {
			return &s
		}
		if i == 20 {
			h.t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func hostOf(s *hav1alpha1.HAServer, node string) *hav1alpha1.HostStatus {
	for i := range s.Status.Hosts {
		if s.Status.Hosts[i].Node == node {
			return &s.Status.Hosts[i]
		}
	}
	return nil
}

func (h *harness) dumpLogs() {
	logs, _ := filepath.Glob(filepath.Join(runDir, "logs", "*.log"))
	for _, f := range logs {
		data, _ := os.ReadFile(f)
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		h.t.Logf("==== %s (last %d lines)\n%s", filepath.Base(f), min(15, len(lines)),
			strings.Join(lines[max(0, len(lines)-15):], "\n"))
	}
	out, _ := h.try(time.Minute, kubectl, "get", "pods", "-A", "-o", "wide")
	h.t.Logf("==== pods\n%s", out)
	out, _ = h.try(time.Minute, kubectl, "get", "haservers", "-A", "-o", "wide")
	h.t.Logf("==== haservers\n%s", out)
	for _, c := range []string{"controller", "nodeagent"} {
		out, _ = h.try(time.Minute, kubectl, "logs", "-n", releaseNS, "-l", "app.kubernetes.io/component="+c,
			"--tail=30", "--prefix", "--all-containers")
		h.t.Logf("==== %s logs\n%s", c, out)
	}
}

// ---------------------------------------------------------------- install

func (h *harness) values(tag string) string {
	v := map[string]any{
		"image":       map[string]any{"repository": "localhost/hamon-controller", "tag": tag, "pullPolicy": "Never"},
		"clusterName": "hc",
		"sharedDisks": map[string]any{"allowed": []string{"*=/dev/mapper/*"}},
		"agent": map[string]any{
			"imageRepository": "localhost/hamon-nodeagent",
			// The agent acts for simulated hosts: never terminate this machine's OS,
			// nor arm its watchdog (the simulated hosts of make test-e2e prove the
			// watchdog; here it would reset the machine the tests run on).
			"osAction": "none",
			"watchdog": map[string]any{"enabled": false, "device": "/dev/watchdog", "timeout": "10s"},
			"extraArgs": []string{"--sim-disk-root=/var/lib/hamon-sim/disks",
				"--boot-id-file=/var/lib/hamon-sim/boot_id"},
			"extraVolumes": []any{map[string]any{"name": "hamon-sim",
				"hostPath": map[string]any{"path": "/var/lib/hamon-sim", "type": "Directory"}}},
			"extraVolumeMounts": []any{map[string]any{"name": "hamon-sim", "mountPath": "/var/lib/hamon-sim"}},
		},
	}
	data, _ := json.Marshal(v)
	f := filepath.Join(h.t.TempDir(), "values.json")
	if err := os.WriteFile(f, data, 0o600); err != nil {
		h.t.Fatal(err)
	}
	return f
}

func (h *harness) install() string {
	h.sh(time.Minute, kubectl, "create", "namespace", releaseNS)
	h.sh(time.Minute, kubectl, "label", "namespace", releaseNS, "pod-security.kubernetes.io/enforce=privileged")
	h.sh(time.Minute, kubectl, "create", "namespace", ns)
	start := time.Now()
	h.sh(5*time.Minute, helm, "install", release, filepath.Join(root, "charts/hamon"), "-n", releaseNS,
		"-f", h.values("v1"), "--wait", "--timeout", "4m")
	waited := time.Since(start)
	h.waitAgents(nil)
	return fmt.Sprintf("helm --wait %.1fs; 3 HANodes, 3 Leases renewed", waited.Seconds())
}

// waitAgents waits for an agent pod Ready on every node, each node's
// Lease renewed and HANode reported, and the controllers Ready; with a tag,
// that they all run the images of that tag.
func (h *harness) waitAgents(tag *string) {
	h.t.Helper()
	h.eventually(3*time.Minute, "an agent Ready on every node, Leases renewed", func() bool {
		var pods corev1.PodList
		if err := h.c.List(ctx(), &pods, client.InNamespace(releaseNS),
			client.MatchingLabels{"app.kubernetes.io/component": "nodeagent"}); err != nil {
			return false
		}
		ready := map[string]bool{}
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && podReady(&p) && (tag == nil || p.Spec.Containers[0].Image == "localhost/hamon-nodeagent:"+*tag) {
				ready[p.Spec.NodeName] = true
			}
		}
		for _, n := range []string{nodeA, nodeB, nodeC} {
			l, err := h.cs.CoordinationV1().Leases(releaseNS).Get(ctx(), n, metav1.GetOptions{})
			if !ready[n] || err != nil || l.Spec.RenewTime == nil || time.Since(l.Spec.RenewTime.Time) > 5*time.Second {
				return false
			}
			var hn hav1alpha1.HANode
			if h.c.Get(ctx(), client.ObjectKey{Name: n}, &hn) != nil || hn.Status.BootID == "" {
				return false
			}
		}
		return true
	})
	h.eventually(2*time.Minute, "the controllers Ready", func() bool {
		d, err := h.cs.AppsV1().Deployments(releaseNS).Get(ctx(), release+"-controller", metav1.GetOptions{})
		return err == nil && d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas == *d.Spec.Replicas &&
			d.Status.ReadyReplicas == *d.Spec.Replicas && d.Status.Replicas == *d.Spec.Replicas &&
			(tag == nil || d.Spec.Template.Spec.Containers[0].Image == "localhost/hamon-controller:"+*tag)
	})
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// ---------------------------------------------------------------- servers

// newServer is a Server-mode HAServer running the demo server: it writes
// the counter to its shared disk through its host's path while its role
// file says active. Its patrol is hctool patrol: it fails while
// patrol-fail.<pod> exists in the disks' directory.
func newServer(name, disk string, hosts ...string) *hav1alpha1.HAServer {
	s := &hav1alpha1.HAServer{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	s.Spec.Mode = hav1alpha1.ModeServer
	s.Spec.SwitchType = hav1alpha1.SwitchTypeSwitch
	for i, n := range hosts {
		p := int32(i + 1)
		s.Spec.Hosts = append(s.Spec.Hosts, hav1alpha1.HostSpec{Node: n, StandbyPriority: &p})
	}
	s.Spec.SharedDisks = []hav1alpha1.SharedDisk{{Device: "/dev/mapper/" + disk}}
	s.Spec.Patrol = &hav1alpha1.PatrolSpec{Command: []string{"/hctool", "patrol", "--dir", "/sim/disks"},
		Interval: "2s", Timeout: "1s", Retries: 1}
	s.Spec.TermCommand = []string{"/hctool", "true"}
	grace := int64(5)
	s.Spec.Template.Spec = corev1.PodSpec{
		TerminationGracePeriodSeconds: &grace,
		Containers: []corev1.Container{{
			Name: "server", Image: "localhost/hamon-demo:v1", ImagePullPolicy: corev1.PullNever,
			Command: []string{"/demo-server", "--disk=" + disk, "--interval=250ms"},
			Env: []corev1.EnvVar{
				{Name: "HAMON_SIM_DISK_ROOT", Value: "/sim/disks"},
				{Name: "HAMON_SIM_NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
			},
			VolumeMounts: []corev1.VolumeMount{{Name: "disks", MountPath: "/sim/disks"}},
		}},
		Volumes: []corev1.Volume{{Name: "disks", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
			Path: "/var/lib/hamon-sim/disks", Type: ptr(corev1.HostPathDirectory)}}}},
	}
	return s
}

func ptr[T any](v T) *T { return &v }

// activeService follows the active server: it selects the role label.
func activeService(name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-active", Namespace: ns},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{labelServer: name, labelRole: "active"},
			Ports:    []corev1.ServicePort{{Name: "db", Port: 5432, TargetPort: intstr.FromInt32(5432)}},
		},
	}
}

func (h *harness) createServers() string {
	for _, s := range []*hav1alpha1.HAServer{
		newServer("duo", "mpatha", nodeA, nodeB),
		newServer("trio", "mpathb", nodeC, nodeA, nodeB),
	} {
		if err := h.c.Create(ctx(), activeService(s.Name)); err != nil {
			h.t.Fatal(err)
		}
		if err := h.c.Create(ctx(), s); err != nil {
			h.t.Fatal(err)
		}
	}
	d1 := h.waitOnline("duo", nodeA, 3*time.Minute)
	d2 := h.waitOnline("trio", nodeC, 3*time.Minute)
	h.waitStandby("duo", 2*time.Minute, nodeB)
	h.waitStandby("trio", 2*time.Minute, nodeA, nodeB)
	h.check("duo", nodeA, time.Time{})
	h.check("trio", nodeC, time.Time{})
	return fmt.Sprintf("duo Online on hc-a in %.1fs, trio on hc-c in %.1fs", d1.Seconds(), d2.Seconds())
}

// waitOnline waits until node is the server's Online active host.
func (h *harness) waitOnline(name, node string, limit time.Duration) time.Duration {
	h.t.Helper()
	return h.eventually(limit, name+" Online on "+node, func() bool {
		s := h.server(name)
		hs := hostOf(s, node)
		return s.Status.Phase == hav1alpha1.PhaseOnline && s.Status.ActiveNode == node && hs != nil &&
			hs.State == hav1alpha1.HostOnline
	})
}

func (h *harness) waitStandby(name string, limit time.Duration, nodes ...string) time.Duration {
	h.t.Helper()
	return h.eventually(limit, name+" standby on "+strings.Join(nodes, ","), func() bool {
		s := h.server(name)
		for _, n := range nodes {
			if hs := hostOf(s, n); hs == nil || hs.State != hav1alpha1.HostStandby {
				return false
			}
		}
		return true
	})
}

// activePod is the pod the controller runs on node for the server.
func (h *harness) pod(name, node string) *corev1.Pod {
	h.t.Helper()
	hs := hostOf(h.server(name), node)
	if hs == nil || hs.Pod == "" {
		h.t.Fatalf("%s has no pod on %s", name, node)
	}
	p, err := h.cs.CoreV1().Pods(ns).Get(ctx(), hs.Pod, metav1.GetOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

// endpointsFollow waits until the server's Service has exactly one ready
// endpoint, the active pod on node.
func (h *harness) endpointsFollow(name, node string, limit time.Duration) time.Duration {
	h.t.Helper()
	want := hostOf(h.server(name), node).Pod
	var got []string
	d := h.eventually(limit, name+"-active's endpoints on "+want+" alone", func() bool {
		got = h.readyEndpoints(name)
		return len(got) == 1 && got[0] == want
	})
	return d
}

func (h *harness) readyEndpoints(name string) []string {
	var slices discoveryv1.EndpointSliceList
	if err := h.c.List(ctx(), &slices, client.InNamespace(ns),
		client.MatchingLabels{discoveryv1.LabelServiceName: name + "-active"}); err != nil {
		return nil
	}
	var out []string
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && *e.Conditions.Ready && e.TargetRef != nil {
				out = append(out, e.TargetRef.Name)
			}
		}
	}
	sort.Strings(out)
	return out
}

// check is what every scenario ends with: one active host, its pod the
// only one labelled active and the Service's only ready endpoint, the disk
// reserved by that host and its writers one after another, and the events
// since the scenario began.
func (h *harness) check(name, node string, since time.Time) string {
	h.t.Helper()
	s := h.server(name)
	var online []string
	for _, hs := range s.Status.Hosts {
		if hs.State == hav1alpha1.HostOnline {
			online = append(online, hs.Node)
		}
	}
	if len(online) != 1 || online[0] != node || s.Status.ActiveNode != node {
		h.t.Fatalf("%s: Online hosts %v, activeNode %q; want %s alone", name, online, s.Status.ActiveNode, node)
	}
	var pods corev1.PodList
	if err := h.c.List(ctx(), &pods, client.InNamespace(ns), client.MatchingLabels{labelServer: name, labelRole: "active"}); err != nil {
		h.t.Fatal(err)
	}
	var active []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			active = append(active, p.Spec.NodeName)
		}
	}
	if len(active) != 1 || active[0] != node {
		h.t.Fatalf("%s: running pods labelled active on %v, want %s alone", name, active, node)
	}
	h.endpointsFollow(name, node, 30*time.Second)
	disk := strings.TrimPrefix(s.Spec.SharedDisks[0].Device, "/dev/mapper/")
	if holder := h.diskHolder(disk); holder != node {
		h.t.Fatalf("%s: %s reserved by %q, want %s", name, disk, holder, node)
	}
	if s.Status.ReservationHolder != node {
		h.t.Fatalf("%s: status.reservationHolder %q, want %s", name, s.Status.ReservationHolder, node)
	}
	// From the scenario's start: what matters is that nobody writes once
	// the new active did (an earlier scenario's writers would blur it).
	window := since
	if since.IsZero() {
		window = time.Now().Add(-5 * time.Second)
	}
	writers := h.writersNow(disk, node, window)
	ev := h.events(name, since)
	h.logf("%s: active %s, endpoints %v, %s reserved by %s, writers %v; events: %s", name, node,
		h.readyEndpoints(name), disk, node, writers, strings.Join(ev, " "))
	out, _ := h.try(time.Minute, kubectl, "get", "haservers", "-n", ns, "-o", "wide")
	h.logf("\n%s", out)
	if !since.IsZero() && len(ev) == 0 {
		h.t.Fatalf("%s: no event since %s", name, since.Format(time.TimeOnly))
	}
	return strings.Join(writers, ">")
}

// events lists the server's events since a time, as REASON(count).
func (h *harness) events(name string, since time.Time) []string {
	var evs corev1.EventList
	if err := h.c.List(ctx(), &evs, client.InNamespace(ns)); err != nil {
		h.t.Fatal(err)
	}
	sort.Slice(evs.Items, func(i, j int) bool { return evTime(&evs.Items[i]).Before(evTime(&evs.Items[j])) })
	var out []string
	for _, e := range evs.Items {
		if e.InvolvedObject.Kind == "HAServer" && e.InvolvedObject.Name == name && !evTime(&e).Before(since.Truncate(time.Second)) {
			out = append(out, e.Reason)
		}
	}
	return out
}

func evTime(e *corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

// diskHolder reads the simulated disk's reservation holder (its state
// file, as the SAN would report it).
func (h *harness) diskHolder(disk string) string {
	h.t.Helper()
	data, err := os.ReadFile(filepath.Join(runDir, "disks", disk, "state.json"))
	if err != nil {
		h.t.Fatal(err)
	}
	var st struct {
		Holder *struct {
			Initiator string `json:"initiator"`
		} `json:"holder"`
		Registrations []json.RawMessage `json:"registrations"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		h.t.Fatal(err)
	}
	if st.Holder == nil {
		return ""
	}
	return st.Holder.Initiator
}

// writersNow checks the disk's write log since a time (the scenario's
// start): once node, the new active, wrote, nobody else did, and
// node writes now. A host whose writes the disk refuses (fenced) does not
// appear: the log has the writes that landed.
func (h *harness) writersNow(disk, node string, since time.Time) []string {
	h.t.Helper()
	d, err := simdisk.Open(filepath.Join(runDir, "disks", disk), 1024)
	if err != nil {
		h.t.Fatal(err)
	}
	var order []string
	h.eventually(30*time.Second, node+" writes "+disk, func() bool {
		log, err := d.Writes()
		if err != nil {
			h.t.Fatal(err)
		}
		order = order[:0]
		nodeWrote := false
		for _, w := range log {
			if w.Time.Before(since) {
				continue
			}
			// Once the new active wrote, nobody else may: an earlier
			// active of the window (even one that is active again now)
			// wrote only before it.
			if w.Nexus.Initiator == node {
				nodeWrote = true
			} else if nodeWrote {
				h.t.Fatalf("%s: %s wrote at %s after %s took over: two writers (%v)", disk, w.Nexus.Initiator,
					w.Time.Format("15:04:05.000"), node, order)
			}
			if len(order) > 0 && order[len(order)-1] == w.Nexus.Initiator {
				continue
			}
			order = append(order, w.Nexus.Initiator)
		}
		return len(order) > 0 && order[len(order)-1] == node && time.Since(log[len(log)-1].Time) < 3*time.Second
	})
	return order
}

func (h *harness) lastSwitchover(name string) hav1alpha1.Switchover {
	h.t.Helper()
	sw := h.server(name).Status.Switchovers
	if len(sw) == 0 {
		h.t.Fatalf("%s: no switchover recorded", name)
	}
	return sw[len(sw)-1]
}

func (h *harness) expectSwitchover(name, from, to, cause string) hav1alpha1.Switchover {
	h.t.Helper()
	sw := h.lastSwitchover(name)
	if sw.From != from || sw.To != to || (cause != "" && string(sw.Cause) != cause) {
		h.t.Fatalf("%s: last switchover %+v, want %s → %s (%s)", name, sw, from, to, cause)
	}
	return sw
}

// begin brings a host back as standby (kubectl hamon begin --node).
func (h *harness) begin(name, node string) time.Duration {
	h.t.Helper()
	start := time.Now()
	h.sh(3*time.Minute, kubectl, "hamon", "begin", name, "-n", ns, "--node", node, "--timeout", "2m")
	h.waitStandby(name, 2*time.Minute, node)
	return time.Since(start)
}

// ---------------------------------------------------------------- scenarios

func (h *harness) crash() string {
	p := h.pod("trio", nodeC)
	cid := strings.TrimPrefix(p.Status.ContainerStatuses[0].ContainerID, "containerd://")
	since := time.Now()
	signals := h.exitSignals("trio", nodeC, p)
	h.sh(time.Minute, clusterSh, "ctr", nodeC, "tasks", "kill", "-s", "SIGKILL", cid)
	d := h.waitOnline("trio", nodeA, 2*time.Minute)
	e := h.endpointsFollow("trio", nodeA, time.Minute)
	sw := h.expectSwitchover("trio", nodeC, nodeA, "ServerFailure")
	w := h.check("trio", nodeA, since)
	sig := <-signals
	decided := "?"
	if sw.StartedAt != nil {
		decided = fmt.Sprintf("%.2fs", sw.StartedAt.Sub(since).Seconds())
	}
	b := h.begin("trio", nodeC)
	// More crashes, for a distribution: from the container's end (as the
	// runtime tells it, in the switchover's failedAt) to the new active
	// Online (finishedAt).
	ends := []float64{endToOnline(sw)}
	for range 9 {
		from := h.server("trio").Status.ActiveNode
		p := h.pod("trio", from)
		cid := strings.TrimPrefix(p.Status.ContainerStatuses[0].ContainerID, "containerd://")
		h.sh(time.Minute, clusterSh, "ctr", from, "tasks", "kill", "-s", "SIGKILL", cid)
		var to string
		h.eventually(time.Minute, "trio Online off "+from, func() bool {
			s := h.server("trio")
			to = s.Status.ActiveNode
			return s.Status.Phase == hav1alpha1.PhaseOnline && to != "" && to != from && s.Status.Switchover == nil
		})
		ends = append(ends, endToOnline(h.expectSwitchover("trio", from, to, "ServerFailure")))
		h.begin("trio", from)
	}
	if h.server("trio").Status.ActiveNode != nodeA { // where the next steps expect it
		h.sh(3*time.Minute, kubectl, "hamon", "swap", "trio", "-n", ns, "--node", nodeA, "--timeout", "2m")
		h.waitOnline("trio", nodeA, time.Minute)
	}
	slices.Sort(ends)
	return fmt.Sprintf("hc-c→hc-a Online %.1fs, endpoints %.1fs (%s); the crash seen by the agent (CRI) %s, by the kubelet (pod status) %s, "+
		"switchover decided %s; writers %s; begin hc-c %.1fs; 10 crashes, container end → Online: p50 %.0f ms, max %.0f ms",
		d.Seconds(), e.Seconds(), sw.Cause, sig.agent, sig.kubelet, decided, w, b.Seconds(), ends[len(ends)/2], ends[len(ends)-1])
}

// endToOnline is a switchover's time from the failure (the container's
// end, as the runtime or the kubelet told it) to the new active Online,
// in milliseconds (-1 when unknown).
func endToOnline(sw hav1alpha1.Switchover) float64 {
	if sw.FailedAt == nil || sw.FinishedAt == nil {
		return -1
	}
	return float64(sw.FinishedAt.Sub(sw.FailedAt.Time).Microseconds()) / 1000
}

// exitSignals reports when each of the two signals of a crash of server's
// container in pod p on node reached the API server, from now: the agent's
// report (the runtime's event or its relist) and the kubelet's pod status
// (its PLEG relist, then the status write). Read every 20 ms, so each is
// late by at most that.
func (h *harness) exitSignals(server, node string, p *corev1.Pod) <-chan struct{ agent, kubelet string } {
	out := make(chan struct{ agent, kubelet string }, 1)
	since := time.Now()
	go func() {
		agent, kubelet := "not seen in 30 s", "not seen in 30 s"
		var gotAgent, gotKubelet bool
		for time.Since(since) < 30*time.Second && (!gotAgent || !gotKubelet) {
			var hn hav1alpha1.HANode
			if !gotAgent && h.c.Get(ctx(), client.ObjectKey{Name: node}, &hn) == nil {
				if r := hn.Status.Report(hav1alpha1.ReportKey(ns, server)); r != nil && r.ContainerExit != nil && r.ContainerExit.Pod == p.Name {
					gotAgent, agent = true, fmt.Sprintf("%.2fs", time.Since(since).Seconds())
				}
			}
			if !gotKubelet {
				cur, err := h.cs.CoreV1().Pods(ns).Get(ctx(), p.Name, metav1.GetOptions{})
				switch {
				case apierrors.IsNotFound(err):
					gotKubelet, kubelet = true, fmt.Sprintf("never (the pod was deleted at %.2fs)", time.Since(since).Seconds())
				case err == nil && len(cur.Status.ContainerStatuses) > 0 && cur.Status.ContainerStatuses[0].State.Terminated != nil:
					gotKubelet, kubelet = true, fmt.Sprintf("%.2fs", time.Since(since).Seconds())
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		out <- struct{ agent, kubelet string }{agent, kubelet}
	}()
	return out
}

func (h *harness) patrolFailure() string {
	p := h.pod("duo", nodeA)
	flag := filepath.Join(runDir, "disks", "patrol-fail."+p.Name)
	since := time.Now()
	if err := os.WriteFile(flag, []byte("test-cluster\n"), 0o644); err != nil {
		h.t.Fatal(err)
	}
	defer func() { _ = os.Remove(flag) }()
	d := h.waitOnline("duo", nodeB, 2*time.Minute)
	e := h.endpointsFollow("duo", nodeB, time.Minute)
	sw := h.expectSwitchover("duo", nodeA, nodeB, "")
	w := h.check("duo", nodeB, since)
	_ = os.Remove(flag)
	b := h.begin("duo", nodeA)
	return fmt.Sprintf("hc-a→hc-b Online %.1fs, endpoints %.1fs (%s); writers %s; begin hc-a %.1fs",
		d.Seconds(), e.Seconds(), sw.Cause, w, b.Seconds())
}

// leader is the node of the controller replica holding the leader Lease.
func (h *harness) leader() string {
	l, err := h.cs.CoordinationV1().Leases(releaseNS).Get(ctx(), "hamon-controller.ha.hamon.io", metav1.GetOptions{})
	if err != nil || l.Spec.HolderIdentity == nil {
		return "?"
	}
	pod, _, _ := strings.Cut(*l.Spec.HolderIdentity, "_")
	p, err := h.cs.CoreV1().Pods(releaseNS).Get(ctx(), pod, metav1.GetOptions{})
	if err != nil {
		return "?"
	}
	return p.Spec.NodeName
}

func (h *harness) hostLoss() string {
	leader := h.leader()
	since := time.Now()
	h.sh(time.Minute, clusterSh, "node-kill", nodeB)
	d := h.waitOnline("duo", nodeA, 3*time.Minute)
	e := h.endpointsFollow("duo", nodeA, time.Minute)
	sw := h.expectSwitchover("duo", nodeB, nodeA, "HostFailure")
	w := h.check("duo", nodeA, since)
	h.check("trio", nodeA, time.Time{})
	// The host comes back: a reboot (a new boot ID), and rejoins as standby.
	start := time.Now()
	h.sh(5*time.Minute, clusterSh, "node-start", nodeB, "--reboot")
	h.waitAgents(nil)
	rejoin := h.rejoin(nodeB, "duo", "trio")
	return fmt.Sprintf("duo hc-b→hc-a Online %.1fs, endpoints %.1fs (%s, leader was on %s); writers %s; reboot+rejoin %.1fs (%s)",
		d.Seconds(), e.Seconds(), sw.Cause, leader, w, time.Since(start).Seconds(), rejoin)
}

// leaderLoss kills the node that runs both trio's active copy and the
// controller's leader. The other replica, which watched the agents'
// renewals all along, leads once the leader Lease runs out (0.8 × the
// host lease) and switches trio over at once: within the host lease + 2 s
// of the loss (#20), where a cold replica would take leader election plus
// a whole host lease.
func (h *harness) leaderLoss() string {
	leader := h.leader()
	if leader == "?" {
		h.t.Fatal("no controller replica leads")
	}
	if h.server("trio").Status.ActiveNode != leader {
		h.sh(3*time.Minute, kubectl, "hamon", "swap", "trio", "-n", ns, "--node", leader, "--timeout", "2m")
		h.waitOnline("trio", leader, time.Minute)
	}
	time.Sleep(3 * time.Second) // the other replica sees a few renewals of the leader's host
	since := time.Now()
	h.sh(time.Minute, clusterSh, "node-kill", leader)
	var to string
	d := h.eventually(time.Minute, "trio Online off "+leader, func() bool {
		s := h.server("trio")
		to = s.Status.ActiveNode
		return s.Status.Phase == hav1alpha1.PhaseOnline && to != "" && to != leader
	})
	newLeader, elected := "?", "?"
	if l, err := h.cs.CoordinationV1().Leases(releaseNS).Get(ctx(), "hamon-controller.ha.hamon.io", metav1.GetOptions{}); err == nil &&
		l.Spec.AcquireTime != nil {
		newLeader, elected = h.leader(), fmt.Sprintf("%.1fs", l.Spec.AcquireTime.Sub(since).Seconds())
	}
	sw := h.expectSwitchover("trio", leader, to, "HostFailure")
	decided := "?"
	if sw.StartedAt != nil {
		decided = fmt.Sprintf("%.1fs", sw.StartedAt.Sub(since).Seconds())
	}
	w := h.check("trio", to, since)
	start := time.Now()
	h.sh(5*time.Minute, clusterSh, "node-start", leader, "--reboot")
	h.waitAgents(nil)
	servers := []string{"trio"}
	if hostOf(h.server("duo"), leader) != nil {
		servers = append(servers, "duo")
	}
	rejoin := h.rejoin(leader, servers...)
	// The steps after this one start from both servers active on hc-a.
	for _, name := range []string{"duo", "trio"} {
		if h.server(name).Status.ActiveNode != nodeA {
			h.sh(3*time.Minute, kubectl, "hamon", "swap", name, "-n", ns, "--node", nodeA, "--timeout", "2m")
			h.waitOnline(name, nodeA, time.Minute)
		}
	}
	return fmt.Sprintf("trio %s→%s Online %.1fs after the loss (host lease 10s: target ≤ 12s); new leader on %s at %s, switchover decided %s; "+
		"writers %s; reboot+rejoin %.1fs (%s)", leader, to, d.Seconds(), newLeader, elected, decided, w, time.Since(start).Seconds(), rejoin)
}

// rejoin waits for node to be a standby of each server again, asking with
// kubectl hamon begin --node when the controller waits for an operator.
func (h *harness) rejoin(node string, servers ...string) string {
	h.t.Helper()
	var how []string
	for _, name := range servers {
		var state hav1alpha1.HostState
		ok := true
		start := time.Now()
		for {
			hs := hostOf(h.server(name), node)
			if hs != nil && hs.State == hav1alpha1.HostStandby {
				break
			}
			if hs != nil {
				state = hs.State
			}
			if time.Since(start) > 20*time.Second {
				ok = false
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if ok {
			how = append(how, fmt.Sprintf("%s: standby by itself", name))
			continue
		}
		h.logf("%s: %s still %s after 20 s: kubectl hamon begin --node %s", name, node, state, node)
		h.begin(name, node)
		how = append(how, fmt.Sprintf("%s: %s, then begin", name, state))
	}
	return strings.Join(how, "; ")
}

func (h *harness) partition() string {
	leader := h.leader()
	since := time.Now()
	h.sh(time.Minute, clusterSh, "partition", nodeA)
	healed := false
	defer func() {
		if !healed {
			_, _ = h.try(time.Minute, clusterSh, "heal", nodeA)
		}
	}()
	// Both servers switch at once; each time is measured from the cut.
	type res struct{ d, e time.Duration }
	got := map[string]res{}
	for _, st := range []struct{ name, to string }{{"duo", nodeB}, {"trio", nodeC}} {
		h.waitOnline(st.name, st.to, 3*time.Minute)
		d := time.Since(since)
		got[st.name] = res{d: d, e: h.endpointsFollow(st.name, st.to, time.Minute)}
	}
	h.expectSwitchover("duo", nodeA, nodeB, "HostFailure")
	h.expectSwitchover("trio", nodeA, nodeC, "HostFailure")
	wd := h.check("duo", nodeB, since)
	wt := h.check("trio", nodeC, since)
	// Heal: the partitioned host's copies, refused by the disks meanwhile,
	// are stopped; the host stays fenced until it reboots.
	h.sh(time.Minute, clusterSh, "heal", nodeA)
	healed = true
	h.eventually(time.Minute, "hc-a's agent renews its Lease again", func() bool {
		l, err := h.cs.CoordinationV1().Leases(releaseNS).Get(ctx(), nodeA, metav1.GetOptions{})
		return err == nil && l.Spec.RenewTime != nil && time.Since(l.Spec.RenewTime.Time) < 3*time.Second
	})
	states := []string{}
	for _, name := range []string{"duo", "trio"} {
		hs := hostOf(h.server(name), nodeA)
		states = append(states, name+"@hc-a="+string(hs.State))
	}
	h.check("duo", nodeB, time.Time{})
	h.check("trio", nodeC, time.Time{})
	start := time.Now()
	h.sh(time.Minute, clusterSh, "node-kill", nodeA)
	h.sh(5*time.Minute, clusterSh, "node-start", nodeA, "--reboot")
	h.waitAgents(nil)
	rejoin := h.rejoin(nodeA, "duo", "trio")
	return fmt.Sprintf("duo hc-a→hc-b %.1fs (endpoints +%.1fs), trio hc-a→hc-c %.1fs (+%.1fs), leader was on %s; writers %s / %s; healed: %s; reboot+rejoin %.1fs (%s)",
		got["duo"].d.Seconds(), got["duo"].e.Seconds(), got["trio"].d.Seconds(), got["trio"].e.Seconds(), leader,
		wd, wt, strings.Join(states, " "), time.Since(start).Seconds(), rejoin)
}

func (h *harness) swap() string {
	s := h.server("trio")
	from := s.Status.ActiveNode
	since := time.Now()
	out := h.sh(3*time.Minute, kubectl, "hamon", "swap", "trio", "-n", ns, "--timeout", "2m")
	d := time.Since(since)
	h.logf("kubectl hamon swap trio:\n%s", out)
	to := h.server("trio").Status.ActiveNode
	if to == from || to == "" {
		h.t.Fatalf("trio still on %q after swap", to)
	}
	h.waitOnline("trio", to, time.Minute)
	e := h.endpointsFollow("trio", to, time.Minute)
	sw := h.expectSwitchover("trio", from, to, "")
	if !sw.Planned {
		h.t.Fatalf("swap not recorded as planned: %+v", sw)
	}
	w := h.check("trio", to, since)
	return fmt.Sprintf("%s→%s, kubectl hamon swap returned Done after %.1fs, endpoints followed %.1fs later; writers %s",
		from, to, d.Seconds(), e.Seconds(), w)
}

// podDelete deletes the active pod of a diskless two-host server whose
// termCommand takes 15 s: the copy runs its termCommand (the preStop hook)
// to the end on the real kubelet, no second copy runs meanwhile (polled
// from the pods' container states), and the deletion ends the server as a
// forced termination (Table 4-3 #1): Stopped, no switchover.
func (h *harness) podDelete() string {
	s := &hav1alpha1.HAServer{ObjectMeta: metav1.ObjectMeta{Name: "solo", Namespace: ns}}
	s.Spec.Mode = hav1alpha1.ModeServer
	s.Spec.Hosts = []hav1alpha1.HostSpec{{Node: nodeA}, {Node: nodeC}}
	s.Spec.TermCommand = []string{"/hctool", "sleep", "15s"}
	grace := int64(30)
	s.Spec.Template.Spec = corev1.PodSpec{TerminationGracePeriodSeconds: &grace, Containers: []corev1.Container{{
		Name: "server", Image: "localhost/hamon-demo:v1", ImagePullPolicy: corev1.PullNever, Command: []string{"/hctool", "pause"},
	}}}
	if err := h.c.Create(ctx(), s); err != nil {
		h.t.Fatal(err)
	}
	defer func() { _ = h.c.Delete(ctx(), s) }()
	h.waitOnline("solo", nodeA, 2*time.Minute)
	h.waitStandby("solo", 2*time.Minute, nodeC)
	active := h.pod("solo", nodeA)
	h.sh(time.Minute, kubectl, "delete", "pod", "-n", ns, active.Name, "--wait=false")
	deleted := time.Now()
	var ran time.Duration
	for time.Since(deleted) < 90*time.Second {
		var pods corev1.PodList
		if err := h.c.List(ctx(), &pods, client.InNamespace(ns), client.MatchingLabels{labelServer: "solo"}); err != nil {
			h.t.Fatal(err)
		}
		runningOnA, anyRuns := 0, false
		for _, p := range pods.Items {
			cs := p.Status.ContainerStatuses
			if len(cs) == 0 || cs[0].State.Running == nil {
				continue
			}
			anyRuns = true
			if p.Spec.NodeName == nodeA {
				runningOnA++
			}
			if p.UID == active.UID {
				ran = time.Since(deleted)
			} else if p.Labels[labelRole] == "active" {
				h.t.Fatalf("%s on %s runs as active while the deleted %s may still run", p.Name, p.Spec.NodeName, active.Name)
			}
		}
		if runningOnA > 1 {
			h.t.Fatalf("%d copies of solo run on %s at once", runningOnA, nodeA)
		}
		if !anyRuns {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if ran < 10*time.Second {
		h.t.Fatalf("the deleted copy ran %s after its deletion: its 15 s termCommand did not run", ran)
	}
	h.eventually(time.Minute, "solo Stopped", func() bool { return h.server("solo").Status.Phase == hav1alpha1.PhaseStopped })
	if sws := h.server("solo").Status.Switchovers; len(sws) != 1 {
		h.t.Fatalf("the deletion switched over: %+v", sws)
	}
	return fmt.Sprintf("the deleted active copy ran %.1fs more (termCommand 15 s) alone; then solo Stopped, standby too, no switchover", ran.Seconds())
}

// monitorTermCommand: a Monitor-mode server's container is killed (an
// abnormal termination, Table 4-4 row 2). The kubelet runs no preStop hook
// for a container that already exited; hamon runs the termCommand in a pod
// of its own on the old host (footnote 1), and the standby starts only
// once it ended. The termCommand (hctool mark) writes when it began and
// ended, and takes 3 s.
func (h *harness) monitorTermCommand() string {
	mark := filepath.Join(runDir, "disks", "termcommand-mono")
	_ = os.Remove(mark)
	s := &hav1alpha1.HAServer{ObjectMeta: metav1.ObjectMeta{Name: "mono", Namespace: ns}}
	s.Spec.Mode = hav1alpha1.ModeMonitor
	s.Spec.Hosts = []hav1alpha1.HostSpec{{Node: nodeA}, {Node: nodeB}}
	s.Spec.Patrol = &hav1alpha1.PatrolSpec{Command: []string{"/hctool", "true"}, Interval: "2s", Timeout: "1s", Retries: 1}
	s.Spec.TermCommand = []string{"/hctool", "mark", "/sim/disks/termcommand-mono", "3s"}
	grace := int64(5)
	s.Spec.Template.Spec = corev1.PodSpec{TerminationGracePeriodSeconds: &grace, Containers: []corev1.Container{{
		Name: "server", Image: "localhost/hamon-demo:v1", ImagePullPolicy: corev1.PullNever, Command: []string{"/hctool", "pause"},
		VolumeMounts: []corev1.VolumeMount{{Name: "disks", MountPath: "/sim/disks"}},
	}}, Volumes: []corev1.Volume{{Name: "disks", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
		Path: "/var/lib/hamon-sim/disks", Type: ptr(corev1.HostPathDirectory)}}}}}
	if err := h.c.Create(ctx(), s); err != nil {
		h.t.Fatal(err)
	}
	defer func() { _ = h.c.Delete(ctx(), s) }()
	h.waitOnline("mono", nodeA, 2*time.Minute)
	p := h.pod("mono", nodeA)
	cid := strings.TrimPrefix(p.Status.ContainerStatuses[0].ContainerID, "containerd://")
	killed := time.Now()
	h.sh(time.Minute, clusterSh, "ctr", nodeA, "tasks", "kill", "-s", "SIGKILL", cid)
	d := h.waitOnline("mono", nodeB, 2*time.Minute)
	data, err := os.ReadFile(mark)
	if err != nil {
		h.t.Fatalf("the termCommand did not run: %v", err)
	}
	var begun, ended int64
	if _, err := fmt.Sscanf(string(data), "start %d\nend %d\n", &begun, &ended); err != nil {
		h.t.Fatalf("the termCommand's mark %q: %v", data, err)
	}
	standby := h.pod("mono", nodeB)
	// Pod times have whole seconds: the standby's pod was made no sooner
	// than the second in which the termCommand ended.
	if made := standby.CreationTimestamp.Unix(); made < time.Unix(0, ended).Unix() {
		h.t.Fatalf("the standby's pod was made at %s, before the termCommand ended at %s",
			standby.CreationTimestamp.UTC().Format(time.RFC3339), time.Unix(0, ended).UTC().Format(time.RFC3339Nano))
	}
	return fmt.Sprintf("termCommand ran on hc-a %.1fs after the kill for %.1fs; hc-b Online %.1fs after the kill",
		time.Unix(0, begun).Sub(killed).Seconds(), time.Duration(ended-begun).Seconds(), d.Seconds())
}

// drain runs kubectl drain on trio's active host: the cordon moves trio
// (and any other server active there) off with a planned switchover before
// the eviction of its pod is allowed (PodDisruptionBudget), the drain
// completes, nothing runs there any more, and after kubectl uncordon the
// standbys come back.
func (h *harness) drain() string {
	node := h.server("trio").Status.ActiveNode
	before := h.snap()
	since := time.Now()
	out := h.sh(5*time.Minute, kubectl, "drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=4m")
	took := time.Since(since)
	h.logf("kubectl drain %s:\n%s", node, out)
	defer h.sh(time.Minute, kubectl, "uncordon", node)
	var moved []string
	for _, name := range []string{"duo", "trio"} {
		s := h.server(name)
		if s.Status.ActiveNode == node || s.Status.ActiveNode == "" {
			h.t.Fatalf("%s is active on %q after draining %s", name, s.Status.ActiveNode, node)
		}
		if before.active[name] == node {
			sw := h.lastSwitchover(name)
			if sw.From != node || sw.Cause != "NodeDrain" || !sw.Planned {
				h.t.Fatalf("%s left %s by %+v, want a planned NodeDrain switchover", name, node, sw)
			}
			moved = append(moved, fmt.Sprintf("%s %s→%s (%s)", name, node, sw.To, h.check(name, sw.To, since)))
		}
		if hs := hostOf(s, node); hs != nil && hs.State != hav1alpha1.HostStopped {
			h.t.Fatalf("%s on the drained %s is %s, want Stopped", name, node, hs.State)
		}
	}
	var pods corev1.PodList
	if err := h.c.List(ctx(), &pods, client.InNamespace(ns)); err != nil {
		h.t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.Spec.NodeName == node && p.Status.Phase == corev1.PodRunning {
			h.t.Fatalf("%s still runs on the drained %s", p.Name, node)
		}
	}
	h.sh(time.Minute, kubectl, "uncordon", node)
	back := time.Now()
	for _, name := range []string{"duo", "trio"} {
		if hostOf(h.server(name), node) != nil {
			h.waitStandby(name, 2*time.Minute, node)
		}
	}
	return fmt.Sprintf("kubectl drain %s returned after %.1fs; moved: %s; standbys back %.1fs after uncordon",
		node, took.Seconds(), strings.Join(moved, ", "), time.Since(back).Seconds())
}

// kubeletRestart restarts the kubelet of every node, one after another, as
// a node upgrade does: the containers keep running, and nothing switches
// over or restarts.
func (h *harness) kubeletRestart() string {
	before := h.snap()
	pods := map[string]string{}
	for _, name := range []string{"duo", "trio"} {
		pods[name] = hostOf(h.server(name), before.active[name]).Pod
	}
	since := time.Now()
	for _, n := range []string{nodeA, nodeB, nodeC} {
		h.sh(time.Minute, clusterSh, "kubelet-restart", n)
		restarted := time.Now()
		// The kubelet's own heartbeat: its node Lease renewed after the restart.
		h.eventually(2*time.Minute, n+"'s kubelet back (its node Lease renewed after the restart)", func() bool {
			var l coordinationv1.Lease
			if err := h.c.Get(ctx(), client.ObjectKey{Namespace: "kube-node-lease", Name: n}, &l); err != nil {
				return false
			}
			return l.Spec.RenewTime != nil && l.Spec.RenewTime.After(restarted.Add(time.Second))
		})
	}
	time.Sleep(10 * time.Second)
	after := h.snap()
	for _, name := range []string{"duo", "trio"} {
		if after.active[name] != before.active[name] || after.switchovers[name] != before.switchovers[name] {
			h.t.Fatalf("%s: active %s → %s, switchovers %s → %s across kubelet restarts", name,
				before.active[name], after.active[name], before.switchovers[name], after.switchovers[name])
		}
		if p := hostOf(h.server(name), after.active[name]).Pod; p != pods[name] {
			h.t.Fatalf("%s: the active pod changed from %s to %s across kubelet restarts", name, pods[name], p)
		}
		h.check(name, after.active[name], time.Time{})
	}
	return fmt.Sprintf("kubelets of hc-a, hc-b, hc-c restarted in turn in %.1fs: no switchover, same active pods (duo on %s, trio on %s)",
		time.Since(since).Seconds(), after.active["duo"], after.active["trio"])
}

// snapshot is what an upgrade must not change.
type snapshot struct{ active, switchovers map[string]string }

func (h *harness) snap() snapshot {
	sn := snapshot{active: map[string]string{}, switchovers: map[string]string{}}
	for _, name := range []string{"duo", "trio"} {
		s := h.server(name)
		sn.active[name] = s.Status.ActiveNode
		sn.switchovers[name] = fmt.Sprint(len(s.Status.Switchovers))
	}
	return sn
}

func (h *harness) upgrade() string {
	before := h.snap()
	start := time.Now()
	// v2 goes to a directory of its own: nodes import every image of
	// imagesDir when they boot, and v2 is for this upgrade only.
	v2 := filepath.Join(filepath.Dir(imagesDir), "images-v2")
	h.sh(10*time.Minute, filepath.Join(root, "hack/cluster/images.sh"), "v2", v2)
	h.sh(5*time.Minute, clusterSh, "import", filepath.Join(v2, "hamon-controller-v2.tar"),
		filepath.Join(v2, "hamon-nodeagent-v2.tar"))
	built := time.Since(start)
	start = time.Now()
	stop := h.watchSilence()
	h.sh(5*time.Minute, helm, "upgrade", release, filepath.Join(root, "charts/hamon"), "-n", releaseNS,
		"--reuse-values", "--set", "image.tag=v2", "--wait", "--timeout", "4m")
	h.waitAgents(ptr("v2"))
	rolled := time.Since(start)
	// The agents restarted one by one: a host is lost only when its agent is
	// down for longer than the lease (10 s).
	time.Sleep(5 * time.Second)
	silence := stop()
	after := h.snap()
	for _, name := range []string{"duo", "trio"} {
		if after.active[name] != before.active[name] || after.switchovers[name] != before.switchovers[name] {
			s := h.server(name)
			h.t.Fatalf("%s changed during the upgrade: active %s→%s, switchovers %s→%s; last %+v", name,
				before.active[name], after.active[name], before.switchovers[name], after.switchovers[name],
				s.Status.Switchovers[len(s.Status.Switchovers)-1])
		}
		h.check(name, after.active[name], time.Time{})
		for _, hs := range h.server(name).Status.Hosts {
			if !hs.Alive {
				h.t.Fatalf("%s: host %s not alive after the upgrade", name, hs.Node)
			}
		}
	}
	return fmt.Sprintf("images rebuilt+imported %.1fs; rollout (2 controllers, 3 agents one by one) %.1fs; "+
		"longest agent silence %s (lease 10s); no switchover, actives %s/%s",
		built.Seconds(), rolled.Seconds(), silence, after.active["duo"], after.active["trio"])
}

// watchSilence polls the agents' Leases until the returned function is
// called, which says the longest time a node's Lease went without a
// renewal, and whose: how close the rollout came to a host failure.
func (h *harness) watchSilence() func() string {
	done := make(chan struct{})
	result := make(chan string, 1)
	go func() {
		worst, who := time.Duration(0), ""
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				result <- fmt.Sprintf("%.1fs on %s", worst.Seconds(), who)
				return
			case <-tick.C:
			}
			ls, err := h.cs.CoordinationV1().Leases(releaseNS).List(ctx(), metav1.ListOptions{})
			if err != nil {
				continue
			}
			for _, l := range ls.Items {
				if l.Spec.RenewTime == nil || !slices.Contains([]string{nodeA, nodeB, nodeC}, l.Name) {
					continue
				}
				if d := time.Since(l.Spec.RenewTime.Time); d > worst {
					worst, who = d, l.Name
				}
			}
		}
	}()
	return func() string { close(done); return <-result }
}

func (h *harness) uninstall() string {
	var notes []string
	for _, name := range []string{"duo", "trio"} {
		holder := h.server(name).Status.ActiveNode
		h.sh(3*time.Minute, kubectl, "hamon", "end", name, "-n", ns, "--timeout", "2m")
		h.eventually(time.Minute, name+" Stopped", func() bool {
			s := h.server(name)
			for _, hs := range s.Status.Hosts {
				if hs.State != hav1alpha1.HostStopped {
					return false
				}
			}
			return s.Status.Phase == hav1alpha1.PhaseStopped
		})
		// End releases the reservation once the active copy has stopped: no
		// disk stays reserved by a server that no longer runs.
		disk := strings.TrimPrefix(h.server(name).Spec.SharedDisks[0].Device, "/dev/mapper/")
		h.eventually(time.Minute, disk+" released after "+name+" ended", func() bool { return h.diskHolder(disk) == "" })
		// monscsiclr is refused while the last holder's agent is alive.
		out, err := h.try(time.Minute, kubectl, "hamon", "clear-reservation", name, "-n", ns, "--yes", "--timeout", "1m")
		h.logf("kubectl hamon clear-reservation %s: %v\n%s", name, err, out)
		cleared := "refused (holder alive)"
		if err == nil {
			cleared = "done"
		}
		notes = append(notes, fmt.Sprintf("%s Stopped, %s released (last active %s), clear-reservation %s",
			name, disk, holder, cleared))
	}
	start := time.Now()
	h.sh(5*time.Minute, helm, "uninstall", release, "-n", releaseNS, "--wait", "--timeout", "3m")
	h.eventually(2*time.Minute, "no hamon pod left", func() bool {
		var pods corev1.PodList
		err := h.c.List(ctx(), &pods, client.InNamespace(releaseNS))
		return err == nil && len(pods.Items) == 0
	})
	gone := time.Since(start)
	h.eventually(2*time.Minute, "no container left on any node", func() bool {
		for _, n := range []string{nodeA, nodeB, nodeC} {
			out, err := h.try(time.Minute, clusterSh, "ctr", n, "tasks", "ls", "-q")
			if err != nil || strings.TrimSpace(out) != "" {
				return false
			}
		}
		return true
	})
	// What is left: the CRDs (helm keeps crds/), so the HAServers and
	// HANodes, the Leases; the servers' state must be Stopped, not Failed or
	// switching.
	time.Sleep(3 * time.Second)
	var left []string
	for _, name := range []string{"duo", "trio"} {
		s := h.server(name)
		if s.Status.Phase != hav1alpha1.PhaseStopped || s.Status.Switchover != nil {
			h.t.Fatalf("%s left in phase %s (switchover %+v)", name, s.Status.Phase, s.Status.Switchover)
		}
		var pods corev1.PodList
		if err := h.c.List(ctx(), &pods, client.InNamespace(ns), client.MatchingLabels{labelServer: name}); err != nil {
			h.t.Fatal(err)
		}
		left = append(left, fmt.Sprintf("%s %s (%d pods)", name, s.Status.Phase, len(pods.Items)))
	}
	var leases []string
	ls, _ := h.cs.CoordinationV1().Leases(releaseNS).List(ctx(), metav1.ListOptions{})
	for _, l := range ls.Items {
		leases = append(leases, l.Name)
	}
	var nodes hav1alpha1.HANodeList
	_ = h.c.List(ctx(), &nodes)
	return fmt.Sprintf("%s; uninstall %.1fs; left: %s, %d HANodes, Leases %v",
		strings.Join(notes, "; "), gone.Seconds(), strings.Join(left, ", "), len(nodes.Items), leases)
}
