package charts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/hamon-ha/hamon/hack/testenv"
)

// These tests check the chart with the helm that hack/build-helm.sh builds
// into bin/helm, and apply what it renders to a real kube-apiserver (with a
// server-side dry run): the objects are judged by the API server's own
// validation, not by a schema copied into the test.

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env, nil) }

var (
	root     = testenv.RepoRoot()
	chartDir = filepath.Join(root, "charts", "hamon")
)

// valueSet is one way to install the chart.
type valueSet struct {
	name, release, namespace string
	// file is a values file in testdata ("" for the defaults).
	file string
	// apiVersions are passed as --api-versions (capabilities of a cluster).
	apiVersions []string
}

// The namespaces must exist for the dry run of namespaced objects.
var valueSets = []valueSet{
	{name: "defaults", release: "hamon", namespace: "hamon-system"},
	{name: "nondefault", release: "ha", namespace: "ha-ops", file: "nondefault.yaml",
		apiVersions: []string{"monitoring.coreos.com/v1/ServiceMonitor", "monitoring.coreos.com/v1/PodMonitor", "monitoring.coreos.com/v1/PrometheusRule"}},
	{name: "minimal", release: "hamon", namespace: "hamon-system", file: "minimal.yaml"},
	{name: "defaults+prometheus", release: "hamon", namespace: "hamon-system",
		apiVersions: []string{"monitoring.coreos.com/v1/ServiceMonitor", "monitoring.coreos.com/v1/PrometheusRule"}},
}

// values are the flags that choose the namespace and values.
func (v valueSet) values() []string {
	a := []string{"--namespace", v.namespace}
	if v.file != "" {
		a = append(a, "-f", filepath.Join(root, "charts", "testdata", v.file))
	}
	return a
}

// templateArgs are helm template's flags for v (helm lint has no
// --api-versions).
func (v valueSet) templateArgs() []string {
	a := v.values()
	for _, av := range v.apiVersions {
		a = append(a, "--api-versions", av)
	}
	return a
}

// pinnedHelm is the helm version hack/build-helm.sh builds.
func pinnedHelm(t *testing.T) string {
	t.Helper()
	script, err := os.ReadFile(filepath.Join(root, "hack", "build-helm.sh"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`HELM_VERSION:-(v[0-9][^}]*)}`).FindSubmatch(script)
	if m == nil {
		t.Fatal("hack/build-helm.sh: no pinned HELM_VERSION")
	}
	return string(m[1])
}

// helmBin is bin/helm. A missing or other helm fails the test: nothing is
// skipped for want of a binary.
func helmBin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(root, "bin", "helm")
	want := pinnedHelm(t)
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s not found: run `make helm-bin` (hack/build-helm.sh builds helm %s from Go module sources)", bin, want)
	}
	out, err := exec.Command(bin, "version", "--template", "{{.Version}}").Output()
	if err != nil {
		t.Fatalf("%s version: %v: run `make helm-bin`", bin, err)
	}
	if got := strings.TrimSpace(string(out)); got != want {
		t.Fatalf("%s is helm %s, hack/build-helm.sh pins %s: run `make helm-bin`", bin, got, want)
	}
	return bin
}

// helm runs bin/helm with its configuration and cache in a temporary
// directory, and returns its stdout and stderr.
func helm(t *testing.T, args ...string) (stdout []byte, stderr string, err error) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(helmBin(t), args...)
	cmd.Env = append(os.Environ(),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.Bytes(), errb.String(), err
}

// render runs helm template for v and returns the manifest stream.
func render(t *testing.T, v valueSet, extra ...string) []byte {
	t.Helper()
	args := append([]string{"template", v.release, chartDir}, v.templateArgs()...)
	out, stderr, err := helm(t, append(args, extra...)...)
	if err != nil {
		t.Fatalf("helm template (%s): %v\n%s", v.name, err, stderr)
	}
	return out
}

// decodeAll reads every object of a YAML stream.
func decodeAll(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatalf("decode: %v", err)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

// find returns the rendered objects of a kind.
func find(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// one converts the only rendered object of a kind into out.
func one(t *testing.T, objs []*unstructured.Unstructured, kind string, out any) {
	t.Helper()
	found := find(objs, kind)
	if len(found) != 1 {
		t.Fatalf("%d objects of kind %s rendered, want 1", len(found), kind)
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(found[0].Object, out); err != nil {
		t.Fatalf("%s: %v", kind, err)
	}
}

func TestLint(t *testing.T) {
	for _, v := range valueSets {
		args := append([]string{"lint", "--strict", chartDir}, v.values()...)
		out, stderr, err := helm(t, args...)
		if err != nil || !strings.Contains(string(out), "0 chart(s) failed") {
			t.Errorf("helm lint --strict (%s): %v\n%s%s", v.name, err, out, stderr)
		}
	}
}

// kubectl runs bin/k8s/kubectl as a cluster administrator of the test's
// API server.
type kubectl struct{ bin, kubeconfig, cache string }

func newKubectl(t *testing.T) kubectl {
	t.Helper()
	user, err := env.AddUser(envtest.User{Name: "chart-test", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	k := kubectl{bin: filepath.Join(testenv.AssetsDir(), "kubectl"),
		kubeconfig: filepath.Join(dir, "kubeconfig"), cache: filepath.Join(dir, "cache")}
	if err := os.WriteFile(k.kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	return k
}

func (k kubectl) run(stdin []byte, args ...string) (string, error) {
	cmd := exec.Command(k.bin, append([]string{"--kubeconfig", k.kubeconfig, "--cache-dir", k.cache}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %w\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String(), nil
}

// TestRenderedObjectsAreAccepted applies every object the chart renders,
// for every value set, to the API server with a server-side dry run and
// strict field validation: admission, defaulting and validation run as
// for a real install, nothing is stored.
func TestRenderedObjectsAreAccepted(t *testing.T) {
	k := newKubectl(t)
	ctx := context.Background()
	for _, v := range valueSets {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: v.namespace}}
		if err := env.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	// The ServiceMonitor's and PodMonitor's APIs, for the value sets that
	// render them.
	for _, crd := range []string{"servicemonitor", "podmonitor", "prometheusrule"} {
		if _, err := k.run(nil, "apply", "-f", filepath.Join(root, "charts", "testdata", crd+"-crd.yaml")); err != nil {
			t.Fatal(err)
		}
		if _, err := k.run(nil, "wait", "--for=condition=Established", "--timeout=60s",
			"crd/"+crd+"s.monitoring.coreos.com"); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range valueSets {
		t.Run(v.name, func(t *testing.T) {
			manifest := render(t, v)
			objs := decodeAll(t, manifest)
			if len(objs) == 0 {
				t.Fatal("nothing rendered")
			}
			out, err := k.run(manifest, "apply", "--dry-run=server", "--validate=strict", "-o", "name", "-f", "-")
			if err != nil {
				t.Fatalf("the API server refused the chart's objects: %v", err)
			}
			accepted := strings.Fields(out)
			if len(accepted) != len(objs) {
				t.Fatalf("%d objects rendered, %d accepted:\n%s", len(objs), len(accepted), out)
			}
			kinds := map[string]int{}
			for _, o := range objs {
				kinds[o.GetKind()]++
			}
			t.Logf("accepted %d objects: %v", len(objs), kinds)
		})
	}
}

// TestPodSecurity admits the pods of the controller and the agent, as the
// API server would when the Deployment and the DaemonSet create them
// (dry run), under Pod Security: the controller passes "restricted"; the
// privileged agent needs a namespace labelled "privileged", and "baseline"
// refuses it (which shows that Pod Security is at work).
func TestPodSecurity(t *testing.T) {
	ctx := context.Background()
	objs := decodeAll(t, render(t, valueSets[0]))
	var dep appsv1.Deployment
	var ds appsv1.DaemonSet
	one(t, objs, "Deployment", &dep)
	one(t, objs, "DaemonSet", &ds)
	admit := func(level string, tmpl corev1.PodTemplateSpec) error {
		ns := "psa-" + level
		err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
			Labels: map[string]string{"pod-security.kubernetes.io/enforce": level}}})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: tmpl.Spec.ServiceAccountName, Namespace: ns}}
		if err := env.Client.Create(ctx, sa); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: tmpl.Spec.ServiceAccountName + "-x", Namespace: ns,
			Labels: tmpl.Labels}, Spec: tmpl.Spec}
		return env.Client.Create(ctx, pod, client.DryRunAll)
	}
	if err := admit("restricted", dep.Spec.Template); err != nil {
		t.Errorf("the controller's pod is refused under Pod Security \"restricted\": %v", err)
	}
	if err := admit("privileged", ds.Spec.Template); err != nil {
		t.Errorf("the agent's pod is refused under Pod Security \"privileged\": %v", err)
	}
	if err := admit("baseline", ds.Spec.Template); err == nil || !strings.Contains(err.Error(), "privileged") {
		t.Errorf("the agent's pod under Pod Security \"baseline\": %v, want a refusal naming privileged", err)
	}
}

// args splits a container's --flag=value arguments.
func args(c corev1.Container) map[string]string {
	m := map[string]string{}
	for _, a := range c.Args {
		k, v, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !ok {
			v = "true"
		}
		m[k] = v
	}
	return m
}

// TestWorkloads checks that the values reach the controller and the agent
// as the flags of cmd/manager and cmd/nodeagent, and the pods' security.
func TestWorkloads(t *testing.T) {
	cases := []struct {
		set         valueSet
		agent       map[string]string
		manager     map[string]string
		leaderElect bool
		criDir      string
		policies    bool
		pdb         bool
		service     bool
		monitor     bool
		podMonitor  bool
		fullname    string
	}{{
		set: valueSets[0], fullname: "hamon", leaderElect: true, policies: true, pdb: true, service: true,
		agent: map[string]string{"namespace": "hamon-system", "cluster-name": "hamon", "lease-duration": "10s",
			"renew-interval": "2s", "self-fence-deadline": "7s", "os-action": "reboot",
			"cri-endpoint": "unix:///run/containerd/containerd.sock", "health-probe-bind-address": ":8082",
			"metrics-bind-address": "0", "watchdog-device": "/dev/watchdog", "watchdog-timeout": "10s",
			"peer-listen": ":9440", "peer-timeout": "1s", "peer-tls-dir": "/etc/hamon/peer-tls"},
		manager: map[string]string{"agent-namespace": "hamon-system", "leader-election-namespace": "hamon-system",
			"metrics-bind-address": ":8080", "health-probe-bind-address": ":8081", "watchdog-timeout": "10s"},
		criDir: "/run/containerd",
	}, {
		set: valueSets[1], fullname: "ha-hamon", leaderElect: true, policies: true, pdb: true, service: true, monitor: true, podMonitor: true,
		agent: map[string]string{"namespace": "ha-ops", "cluster-name": "prod-a", "lease-duration": "15s",
			"renew-interval": "3s", "self-fence-deadline": "12s", "os-action": "poweroff",
			"cri-endpoint": "unix:///run/k3s/containerd/containerd.sock", "health-probe-bind-address": ":9082",
			"metrics-bind-address": ":9102", "zap-log-level": "2", "boot-id-file": "/proc/sys/kernel/random/boot_id",
			"watchdog-device": "/dev/watchdog1", "watchdog-timeout": "15s", "peer-listen": ":9441", "peer-timeout": "2s"},
		manager: map[string]string{"agent-namespace": "ha-ops", "metrics-bind-address": ":9080",
			"health-probe-bind-address": ":9081", "stop-timeout": "90s", "reserve-timeout": "45s", "start-timeout": "5m",
			"restart-timeout": "3m", "self-fence-wait": "30s", "watchdog-timeout": "15s", "fence-timeout": "2m", "retry-interval": "10s",
			"primary-wait": "2m", "zap-log-level": "debug", "zap-stacktrace-level": "panic"},
		criDir: "/run/k3s/containerd",
	}, {
		set: valueSets[2], fullname: "hamon",
		agent:   map[string]string{"namespace": "hamon-leases", "os-action": "none", "cri-endpoint": "unix:///var/run/crio/crio.sock"},
		manager: map[string]string{"agent-namespace": "hamon-leases"},
		criDir:  "/var/run/crio",
	}}
	// The chart carries whatever policies config/policy has.
	havePolicies := len(yamlFiles(t, filepath.Join(root, "config", "policy"))) > 0
	for _, c := range cases {
		t.Run(c.set.name, func(t *testing.T) {
			objs := decodeAll(t, render(t, c.set))
			var ds appsv1.DaemonSet
			var dep appsv1.Deployment
			one(t, objs, "DaemonSet", &ds)
			one(t, objs, "Deployment", &dep)
			checkAgent(t, &ds, c.agent, c.criDir)
			checkController(t, &dep, c.manager, c.leaderElect)
			if a, m := args(ds.Spec.Template.Spec.Containers[0]), args(dep.Spec.Template.Spec.Containers[0]); a["namespace"] != m["agent-namespace"] {
				t.Errorf("the agents keep their Leases in %q (--namespace) but the controller reads them in %q (--agent-namespace)",
					a["namespace"], m["agent-namespace"])
			}
			checkBindings(t, objs, c.fullname, c.set.namespace, dep.Spec.Template.Spec.ServiceAccountName,
				ds.Spec.Template.Spec.ServiceAccountName)
			for kind, want := range map[string]bool{
				"ValidatingAdmissionPolicy": c.policies && havePolicies, "ValidatingAdmissionPolicyBinding": c.policies && havePolicies,
				"PodDisruptionBudget": c.pdb, "Service": c.service, "ServiceMonitor": c.monitor, "PodMonitor": c.podMonitor,
				"PrometheusRule": c.monitor,
				"Role":           c.leaderElect, "RoleBinding": c.leaderElect,
			} {
				if got := len(find(objs, kind)) > 0; got != want {
					t.Errorf("%s rendered: %t, want %t", kind, got, want)
				}
			}
		})
	}
}

func checkAgent(t *testing.T, ds *appsv1.DaemonSet, want map[string]string, criDir string) {
	t.Helper()
	spec := ds.Spec.Template.Spec
	c := spec.Containers[0]
	got := args(c)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("agent --%s=%q, want %q (args %v)", k, got[k], v, c.Args)
		}
	}
	if !spec.HostNetwork {
		t.Error("the agent is not in the host's network namespace (multipathd's abstract socket)")
	}
	if spec.PriorityClassName != "system-node-critical" {
		t.Errorf("agent priorityClassName %q", spec.PriorityClassName)
	}
	if sc := c.SecurityContext; sc == nil || sc.Privileged == nil || !*sc.Privileged {
		t.Error("the agent is not privileged")
	}
	nodeName := slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
		return e.Name == "NODE_NAME" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "spec.nodeName"
	})
	if !nodeName {
		t.Error("NODE_NAME does not come from spec.nodeName")
	}
	hostPaths := map[string]string{}
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			hostPaths[v.Name] = v.HostPath.Path
		}
	}
	readOnly := map[string]bool{}
	for _, m := range c.VolumeMounts {
		if p, ok := hostPaths[m.Name]; ok {
			if m.MountPath != p {
				t.Errorf("host %s mounted at %s", p, m.MountPath)
			}
			readOnly[p] = m.ReadOnly
		}
	}
	for p, ro := range map[string]bool{"/dev": false, "/sys": true, "/run/udev": true, criDir: true} {
		if r, ok := readOnly[p]; !ok || r != ro {
			t.Errorf("host path %s: mounted %t, read-only %t; want mounted, read-only %t", p, ok, r, ro)
		}
	}
	if !strings.HasPrefix(want["cri-endpoint"], "unix://"+criDir+"/") {
		t.Errorf("the CRI endpoint %s is not in the mounted %s", want["cri-endpoint"], criDir)
	}
}

func checkController(t *testing.T, dep *appsv1.Deployment, want map[string]string, leaderElect bool) {
	t.Helper()
	spec := dep.Spec.Template.Spec
	c := spec.Containers[0]
	got := args(c)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("controller --%s=%q, want %q (args %v)", k, got[k], v, c.Args)
		}
	}
	if (got["leader-elect"] == "true") != leaderElect {
		t.Errorf("controller --leader-elect: %q, want %t", got["leader-elect"], leaderElect)
	}
	ps, sc := spec.SecurityContext, c.SecurityContext
	switch {
	case ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot:
		t.Error("the controller may run as root")
	case ps.SeccompProfile == nil || ps.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Error("the controller's seccomp profile is not RuntimeDefault")
	case sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("the controller's root filesystem is writable")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("the controller may escalate privileges")
	case sc.Capabilities == nil || !reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}):
		t.Error("the controller does not drop every capability")
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" ||
		c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Error("the controller's probes are not /healthz and /readyz")
	}
	ports := map[string]string{}
	for _, p := range c.Ports {
		ports[p.Name] = fmt.Sprintf(":%d", p.ContainerPort)
	}
	if ports["metrics"] != got["metrics-bind-address"] || ports["health"] != got["health-probe-bind-address"] {
		t.Errorf("container ports %v do not match the flags %v", ports, c.Args)
	}
}

// checkBindings checks that the ServiceAccounts the pods run as are bound
// to the ClusterRoles generated from config/rbac.
func checkBindings(t *testing.T, objs []*unstructured.Unstructured, fullname, namespace, managerSA, agentSA string) {
	t.Helper()
	bound := map[string]string{}
	for _, u := range find(objs, "ClusterRoleBinding") {
		var b rbacv1.ClusterRoleBinding
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &b); err != nil {
			t.Fatal(err)
		}
		for _, s := range b.Subjects {
			if s.Kind == rbacv1.ServiceAccountKind && s.Namespace == namespace {
				bound[s.Name] = b.RoleRef.Name
			}
		}
	}
	if bound[managerSA] != fullname+"-manager" || bound[agentSA] != fullname+"-nodeagent" {
		t.Errorf("ServiceAccounts bound to ClusterRoles: %v; want %s -> %s-manager, %s -> %s-nodeagent",
			bound, managerSA, fullname, agentSA, fullname)
	}
}

// TestWrongValuesAreRefused checks that wrong values fail the install (helm
// template validates the values as helm install and upgrade do) with a
// message that names the value.
func TestWrongValuesAreRefused(t *testing.T) {
	cases := []struct {
		set  []string
		want []string
	}{
		{[]string{"agent.osAction=shutdown"}, []string{"/agent/osAction", "'reboot', 'poweroff', 'none'"}},
		{[]string{"agent.leaseDuration=5s"}, []string{"agent.selfFenceDeadline (7s) must be shorter than agent.leaseDuration (5s)"}},
		{[]string{"agent.leaseDuration=8s", "agent.selfFenceDeadline=8s"}, []string{"agent.selfFenceDeadline (8s)", "agent.leaseDuration (8s)"}},
		{[]string{"agent.renewInterval=4s"}, []string{"agent.renewInterval (4s) must be at most half of agent.selfFenceDeadline (7s)"}},
		{[]string{"agent.leaseDuration=10500ms"}, []string{"agent.leaseDuration (10500ms) must be a whole number of seconds"}},
		{[]string{"agent.leaseDuration=10"}, []string{"/agent/leaseDuration", "want string"}},
		{[]string{"agent.selfFenceDeadline=7 seconds"}, []string{"/agent/selfFenceDeadline", "does not match pattern"}},
		{[]string{"agent.leaseDuraton=10s"}, []string{"/agent", "leaseDuraton"}},
		{[]string{"agent.criSocket=containerd.sock"}, []string{"/agent/criSocket"}},
		{[]string{"clusterName="}, []string{"/clusterName"}},
		{[]string{"controller.replicas=0"}, []string{"/controller/replicas"}},
		{[]string{"controller.leaderElect=false"}, []string{"controller.replicas is 2 but controller.leaderElect is false"}},
		{[]string{"controller.timing.stopTimeout=soon"}, []string{"/controller/timing/stopTimeout"}},
		{[]string{"image.pullPolicy=Sometimes"}, []string{"/image/pullPolicy"}},
		{[]string{"leaseNamespace=elsewhere"}, []string{"leaseNamespace (elsewhere) must be the release namespace (hamon-system)"}},
		{[]string{"agent.watchdog.timeout=5s"}, []string{"agent.watchdog.timeout (5s) must be at least three agent.renewInterval (2s)"}},
		{[]string{"agent.watchdog.timeout=10500ms"}, []string{"/agent/watchdog/timeout"}},
		{[]string{"controller.timing.selfFenceWait=15s"}, []string{"controller.timing.selfFenceWait (15s) must be at least twice agent.watchdog.timeout (10s)"}},
		{[]string{"agent.peer.port=0"}, []string{"/agent/peer/port"}},
	}
	for _, c := range cases {
		args := []string{"template", "hamon", chartDir, "--namespace", "hamon-system"}
		for _, s := range c.set {
			args = append(args, "--set", s)
		}
		_, stderr, err := helm(t, args...)
		if err == nil {
			t.Errorf("--set %v: accepted", c.set)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("--set %v: the message does not say %q:\n%s", c.set, w, stderr)
			}
		}
	}
}

// yamlFiles lists the .yaml files under dir, relative to it ("" when dir
// does not exist).
func yamlFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if errors.Is(err, os.ErrNotExist) && p == dir {
			return filepath.SkipDir
		}
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		out = append(out, rel)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// sameFiles fails when two directories' YAML files differ in names or bytes.
func sameFiles(t *testing.T, want, got, fix string) {
	t.Helper()
	wf, gf := yamlFiles(t, want), yamlFiles(t, got)
	if !slices.Equal(wf, gf) {
		t.Errorf("%s holds %v, want %v: %s", got, gf, wf, fix)
		return
	}
	for _, f := range wf {
		a, err := os.ReadFile(filepath.Join(want, f))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(got, f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from %s: %s", filepath.Join(got, f), filepath.Join(want, f), fix)
		}
	}
}

func TestCRDsAreConfigCRDs(t *testing.T) {
	sameFiles(t, filepath.Join(root, "config", "crd", "bases"), filepath.Join(chartDir, "crds"),
		"run `make chart-sync` after `make manifests`")
}

// TestChartIsInSyncWithConfig runs hack/chart-sync.sh into a temporary
// directory: every file it generates must be in charts/hamon as it is.
func TestChartIsInSyncWithConfig(t *testing.T) {
	tmp := t.TempDir()
	cmd := exec.Command(filepath.Join(root, "hack", "chart-sync.sh"))
	cmd.Env = append(os.Environ(), "CHART_DIR="+tmp)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hack/chart-sync.sh: %v\n%s", err, out)
	}
	for _, d := range []string{"crds", "templates/rbac", "templates/policy"} {
		sameFiles(t, filepath.Join(tmp, d), filepath.Join(chartDir, d),
			"charts/hamon is out of date with config/: run `make chart-sync`")
	}
}

// configObjects reads every object of the YAML files under config/<dir>.
func configObjects(t *testing.T, dir string) map[string]*unstructured.Unstructured {
	t.Helper()
	out := map[string]*unstructured.Unstructured{}
	base := filepath.Join(root, "config", dir)
	for _, f := range yamlFiles(t, base) {
		if path.Base(f) == "kustomization.yaml" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(base, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range decodeAll(t, data) {
			out[u.GetKind()+"/"+u.GetName()] = u
		}
	}
	return out
}

// TestRBACAndPoliciesAreConfigs checks the rendered ClusterRoles and
// admission policies against config/rbac and config/policy: for a release
// named hamon in hamon-system they are the same objects (the ClusterRoles
// generated by controller-gen: the same rules, with the chart's labels);
// for another release, the same rules under the release's names.
func TestRBACAndPoliciesAreConfigs(t *testing.T) {
	generated := map[string]bool{"ClusterRole/hamon-manager": true, "ClusterRole/hamon-nodeagent": true}
	for _, v := range valueSets[:2] {
		t.Run(v.name, func(t *testing.T) {
			fullname := map[string]string{"hamon": "hamon", "ha": "ha-hamon"}[v.release]
			rendered := map[string]*unstructured.Unstructured{}
			for _, u := range decodeAll(t, render(t, v)) {
				rendered[u.GetKind()+"/"+u.GetName()] = u
			}
			want := configObjects(t, "rbac")
			for k, u := range configObjects(t, "policy") {
				want[k] = u
			}
			if want["ClusterRole/hamon-manager"] == nil || want["ClusterRole/hamon-nodeagent"] == nil {
				t.Fatal("config/rbac has no ClusterRole hamon-manager or hamon-nodeagent")
			}
			for key, w := range want {
				name := fullname + strings.TrimPrefix(w.GetName(), "hamon")
				got := rendered[w.GetKind()+"/"+name]
				switch {
				case got == nil:
					t.Errorf("%s of config/ is not in the chart as %s: run `make chart-sync`", key, name)
				case w.GetKind() == "ClusterRole":
					var a, b rbacv1.ClusterRole
					if err := runtime.DefaultUnstructuredConverter.FromUnstructured(w.Object, &a); err != nil {
						t.Fatal(err)
					}
					if err := runtime.DefaultUnstructuredConverter.FromUnstructured(got.Object, &b); err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(a.Rules, b.Rules) || !reflect.DeepEqual(a.AggregationRule, b.AggregationRule) {
						t.Errorf("ClusterRole %s: the chart's rules differ from config/ (%s): run `make chart-sync`", name, key)
					}
					if v.release == "hamon" && !generated[key] && !reflect.DeepEqual(w.Object, got.Object) {
						t.Errorf("ClusterRole %s differs from config/: run `make chart-sync`", name)
					}
				case v.release == "hamon" && !reflect.DeepEqual(w.Object, got.Object):
					t.Errorf("%s differs from config/: run `make chart-sync`", key)
				}
			}
		})
	}
}

// TestValuesAreDocumented checks that every value of values.schema.json is
// in values.yaml and in the chart's README table.
func TestValuesAreDocumented(t *testing.T) {
	var schema map[string]any
	data, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if data, err = os.ReadFile(filepath.Join(chartDir, "values.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &values); err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(chartDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var leaves []string
	var walk func(node map[string]any, vals map[string]any, prefix string)
	walk = func(node map[string]any, vals map[string]any, prefix string) {
		props, _ := node["properties"].(map[string]any)
		for k, p := range props {
			if prefix == "" && k == "global" {
				continue
			}
			name := strings.TrimPrefix(prefix+"."+k, ".")
			v, ok := vals[k]
			if !ok {
				t.Errorf("%s is in values.schema.json but not in values.yaml", name)
				continue
			}
			pm, _ := p.(map[string]any)
			if _, nested := pm["properties"]; nested {
				vm, _ := v.(map[string]any)
				walk(pm, vm, name)
				continue
			}
			leaves = append(leaves, name)
		}
	}
	walk(schema, values, "")
	if len(leaves) < 40 {
		t.Fatalf("only %d values found", len(leaves))
	}
	for _, l := range leaves {
		if !bytes.Contains(readme, []byte("`"+l+"`")) {
			t.Errorf("%s is not in charts/hamon/README.md's values table", l)
		}
	}
}
