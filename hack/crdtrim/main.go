// Command crdtrim removes the descriptions inside embedded Kubernetes types
// (the pod template) from generated CRDs, keeping their validation.
//
// The HAServer CRD embeds a whole PodTemplateSpec; with its descriptions it
// weighs over 600 KB, more than the 256 KB that client-side `kubectl apply`
// can record in its last-applied annotation. The pod fields are documented
// by `kubectl explain pod.spec` already; hamon's own fields keep theirs.
//
//	go run ./hack/crdtrim config/crd/bases/ha.hamon.io_haservers.yaml spec.template
package main

import (
	"fmt"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: crdtrim CRD.yaml FIELD.PATH...")
		os.Exit(2)
	}
	if err := trim(os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "crdtrim:", err)
		os.Exit(1)
	}
}

func trim(file string, paths []string) error {
	raw, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var crd map[string]any
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	spec, _ := crd["spec"].(map[string]any)
	versions, _ := spec["versions"].([]any)
	for _, v := range versions {
		schema := dig(v, "schema", "openAPIV3Schema")
		for _, p := range paths {
			node := schema
			for _, field := range strings.Split(p, ".") {
				node = dig(node, "properties", field)
			}
			if node == nil {
				return fmt.Errorf("%s: no field %s", file, p)
			}
			props, _ := node.(map[string]any)["properties"].(map[string]any)
			for _, child := range props {
				stripDescriptions(child)
			}
		}
	}
	out, err := yaml.Marshal(crd)
	if err != nil {
		return err
	}
	return os.WriteFile(file, append([]byte("---\n"), out...), 0o644)
}

func dig(node any, keys ...string) any {
	for _, k := range keys {
		m, ok := node.(map[string]any)
		if !ok {
			return nil
		}
		node = m[k]
	}
	return node
}

func stripDescriptions(node any) {
	switch n := node.(type) {
	case map[string]any:
		delete(n, "description")
		for k, v := range n {
			if k == "properties" {
				// Property names may themselves be "description".
				if props, ok := v.(map[string]any); ok {
					for _, p := range props {
						stripDescriptions(p)
					}
				}
				continue
			}
			stripDescriptions(v)
		}
	case []any:
		for _, v := range n {
			stripDescriptions(v)
		}
	}
}
