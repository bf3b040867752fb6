package v1alpha1_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/hack/testenv"
)

// These tests run against a real kube-apiserver and etcd: the validation
// under test is the API server's (OpenAPI schema and CEL rules in the CRD).

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env, nil) }

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

func TestSamplesAreAccepted(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "samples", "*.yaml"))
	if err != nil || len(files) < 3 {
		t.Fatalf("samples: %v %v", files, err)
	}
	ctx := context.Background()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range decodeAll(t, data) {
			u.SetNamespace("default")
			if err := env.Client.Create(ctx, u); err != nil {
				t.Errorf("%s: %s %s rejected: %v", filepath.Base(f), u.GetKind(), u.GetName(), err)
			}
		}
	}
}

// validServer is a minimal valid HAServer; each invalid case edits it.
const validServer = `
apiVersion: ha.hamon.io/v1alpha1
kind: HAServer
metadata: {name: NAME, namespace: default}
spec:
  hosts: [{node: a}, {node: b}]
  template:
    spec:
      containers: [{name: server, image: busybox}]
`

func serverWith(t *testing.T, name string, edit func(spec map[string]any)) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(strings.Replace(validServer, "NAME", name, 1)), &u.Object); err != nil {
		t.Fatal(err)
	}
	edit(u.Object["spec"].(map[string]any))
	return u
}

func TestInvalidServersAreRejectedNamingTheField(t *testing.T) {
	cmd := []any{"/bin/true"}
	cases := []struct {
		name string
		edit func(spec map[string]any)
		want []string // every one must appear in the error
	}{
		{"wrong mode", func(s map[string]any) { s["mode"] = "Active" }, []string{"spec.mode", `"Server", "Monitor"`}},
		{"wrong switchType", func(s map[string]any) { s["switchType"] = "Failover" }, []string{"spec.switchType", `"Switch", "Restart", "Manual"`}},
		{"wrong switchError", func(s map[string]any) { s["switchError"] = "Ignore" }, []string{"spec.switchError", `"Stop", "Retry"`}},
		{"one host", func(s map[string]any) { s["hosts"] = []any{map[string]any{"node": "a"}} }, []string{"spec.hosts", "at least 2 items"}},
		{"nine hosts", func(s map[string]any) {
			var hs []any
			for i := range 9 {
				hs = append(hs, map[string]any{"node": fmt.Sprintf("n%d", i)})
			}
			s["hosts"] = hs
		}, []string{"spec.hosts", "at most 8 items"}},
		{"duplicate node", func(s map[string]any) {
			s["hosts"] = []any{map[string]any{"node": "a"}, map[string]any{"node": "a"}}
		}, []string{"spec.hosts[1]", "Duplicate value"}},
		{"duplicate priority", func(s map[string]any) {
			s["hosts"] = []any{map[string]any{"node": "a", "standbyPriority": 1}, map[string]any{"node": "b", "standbyPriority": 1}}
		}, []string{"spec.hosts", "standbyPriority values must be unique"}},
		{"priority on some hosts only", func(s map[string]any) {
			s["hosts"] = []any{map[string]any{"node": "a", "standbyPriority": 1}, map[string]any{"node": "b"}}
		}, []string{"spec.hosts", "set standbyPriority on every host or on none"}},
		{"bad node name", func(s map[string]any) { s["hosts"] = []any{map[string]any{"node": "A_b"}, map[string]any{"node": "b"}} }, []string{"spec.hosts[0].node"}},
		{"switchRetry with switchError Stop", func(s map[string]any) { s["switchRetry"] = 3 }, []string{"spec.switchRetry", "only when spec.switchError is Retry"}},
		{"switchRetry over 100", func(s map[string]any) { s["switchError"] = "Retry"; s["switchRetry"] = 101 }, []string{"spec.switchRetry", "less than or equal to 100"}},
		{"empty termCommand", func(s map[string]any) { s["termCommand"] = []any{} }, []string{"spec.termCommand", "at least 1 items"}},
		{"empty argument in patrolCommand", func(s map[string]any) { s["patrolCommand"] = []any{""} }, []string{"spec.patrolCommand[0]", "at least 1 chars"}},
		{"patrol without command", func(s map[string]any) { s["patrol"] = map[string]any{"interval": "10s"} }, []string{"spec.patrol.command", "Required value"}},
		{"patrol timeout not shorter than interval", func(s map[string]any) {
			s["patrol"] = map[string]any{"command": cmd, "interval": "5s", "timeout": "5s"}
		}, []string{"spec.patrol.timeout", "must be shorter than spec.patrol.interval"}},
		{"patrol interval not a duration", func(s map[string]any) {
			s["patrol"] = map[string]any{"command": cmd, "interval": "ten seconds"}
		}, []string{"spec.patrol.interval", "should match"}},
		{"device neither mapper nor WWID", func(s map[string]any) { s["sharedDisks"] = []any{map[string]any{"device": "/dev/sdb"}} }, []string{"spec.sharedDisks[0].device", "must be /dev/mapper/<name> or a WWID"}},
		{"device with path traversal", func(s map[string]any) {
			s["sharedDisks"] = []any{map[string]any{"device": "/dev/mapper/../sda"}}
		}, []string{"spec.sharedDisks[0].device"}},
		{"duplicate device", func(s map[string]any) {
			s["sharedDisks"] = []any{map[string]any{"device": "/dev/mapper/m"}, map[string]any{"device": "/dev/mapper/m"}}
		}, []string{"spec.sharedDisks[1]", "Duplicate value"}},
		{"wrong reservation type", func(s map[string]any) {
			s["sharedDisks"] = []any{map[string]any{"device": "/dev/mapper/m", "reservation": "WriteExclusive"}}
		}, []string{"spec.sharedDisks[0].reservation", "WriteExclusiveRegistrantsOnly"}},
		{"missing template", func(s map[string]any) { delete(s, "template") }, []string{"spec.template", "Required value"}},
		{"bad group name", func(s map[string]any) { s["group"] = map[string]any{"name": "Bad Name"} }, []string{"spec.group.name"}},
		{"request without id", func(s map[string]any) { s["request"] = map[string]any{"action": "Swap"} }, []string{"spec.request.id", "Required value"}},
		{"unknown request action", func(s map[string]any) { s["request"] = map[string]any{"id": "r1", "action": "Reboot"} }, []string{"spec.request.action"}},
		{"force on a non-swap request", func(s map[string]any) {
			s["request"] = map[string]any{"id": "r1", "action": "Act", "force": true}
		}, []string{"spec.request.force", "only for action Swap"}},
		{"alias too long", func(s map[string]any) { s["alias"] = strings.Repeat("x", 64) }, []string{"spec.alias", "may not be more than 63"}},
	}
	ctx := context.Background()
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := serverWith(t, fmt.Sprintf("invalid-%d", i), c.edit)
			err := env.Client.Create(ctx, u)
			if err == nil {
				t.Fatalf("accepted, want an error naming %v", c.want)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestImmutableFields(t *testing.T) {
	ctx := context.Background()
	u := serverWith(t, "immutable", func(s map[string]any) { s["mode"] = "Server"; s["alias"] = "IMM" })
	if err := env.Client.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ field, value, want string }{
		{"mode", "Monitor", "spec.mode is immutable"},
		{"alias", "OTHER", "spec.alias is immutable"},
	} {
		cur := &unstructured.Unstructured{}
		cur.SetGroupVersionKind(u.GroupVersionKind())
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(u), cur); err != nil {
			t.Fatal(err)
		}
		if err := unstructured.SetNestedField(cur.Object, c.value, "spec", c.field); err != nil {
			t.Fatal(err)
		}
		err := env.Client.Update(ctx, cur)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("changing %s: got %v, want %q", c.field, err, c.want)
		}
	}
}

func TestDefaultsAreApplied(t *testing.T) {
	ctx := context.Background()
	u := serverWith(t, "defaults", func(s map[string]any) {
		s["patrol"] = map[string]any{"command": []any{"true"}}
		s["sharedDisks"] = []any{map[string]any{"device": "36001405d27e5d898829468b90ce4ef8c"}}
		s["group"] = map[string]any{"name": "g"}
	})
	if err := env.Client.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	var got hav1alpha1.HAServer
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(u), &got); err != nil {
		t.Fatal(err)
	}
	s := got.Spec
	if s.Mode != hav1alpha1.ModeMonitor || s.SwitchType != hav1alpha1.SwitchTypeSwitch || s.SwitchError != hav1alpha1.SwitchErrorStop {
		t.Errorf("mode/switchType/switchError defaults: %q %q %q", s.Mode, s.SwitchType, s.SwitchError)
	}
	if s.Patrol.Interval != "10s" || s.Patrol.Timeout != "5s" || s.Patrol.Retries != 2 {
		t.Errorf("patrol defaults: %+v", s.Patrol)
	}
	if s.SharedDisks[0].Reservation != hav1alpha1.ReservationWriteExclusiveRegistrantsOnly {
		t.Errorf("reservation default: %q", s.SharedDisks[0].Reservation)
	}
	if s.Group.Exchange == nil || !*s.Group.Exchange || !s.GroupExchange() {
		t.Errorf("group exchange default: %v", s.Group.Exchange)
	}
	if got.EffectiveAlias() != "defaults" {
		t.Errorf("alias default: %q", got.EffectiveAlias())
	}
}

func TestInvalidGroupsAreRejected(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		spec map[string]any
		want string
	}{
		{"skipUnits without reduced activation", map[string]any{"skipUnits": []any{"x"}}, "spec.skipUnits needs spec.startLevel: 1"},
		{"startLevel 2", map[string]any{"startLevel": 2}, "spec.startLevel"},
		{"wrong managerRerun", map[string]any{"managerRerun": "Later"}, "spec.managerRerun"},
		{"group request other than Swap", map[string]any{"request": map[string]any{"id": "r", "action": "End"}}, "can only be Swap"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "ha.hamon.io/v1alpha1", "kind": "HAServerGroup",
				"metadata": map[string]any{"name": fmt.Sprintf("g%d", i), "namespace": "default"},
				"spec":     c.spec,
			}}
			err := env.Client.Create(ctx, u)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}
