package hotstandby

import (
	"os/exec"
	"strings"
	"testing"
)

// The decision logic is plain Go: it must not depend on Kubernetes, so it
// can be reasoned about and tested on its own (DESIGN.md).
func TestNoKubernetesImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "k8s.io/") || strings.HasPrefix(dep, "sigs.k8s.io/") {
			t.Errorf("hotstandby depends on %s", dep)
		}
	}
}
