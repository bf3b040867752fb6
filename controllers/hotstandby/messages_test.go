package hotstandby

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// Every message id in the code (the machine's, the controller's and the node agent's) is in the catalogue, and every id in the
// catalogue is used somewhere, so a person can look up what they see.
func TestMessageCatalogue(t *testing.T) {
	id := regexp.MustCompile(`"((?:HAMN|KAMN)\d{3}-[IWE])"`)
	used := map[string]bool{}
	files, _ := filepath.Glob("*.go")
	controllers, _ := filepath.Glob("../*.go")              // the controller emits a few of its own
	agent, _ := filepath.Glob("../../nodeagent/agent/*.go") // and the node agent its events on the HAServer
	for _, f := range append(append(files, controllers...), agent...) {
		if f == "messages.go" || f == "messages_test.go" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range id.FindAllStringSubmatch(string(data), -1) {
			used[m[1]] = true
			if _, ok := Messages[m[1]]; !ok {
				t.Errorf("%s uses %s, which is not in the catalogue", f, m[1])
			}
		}
	}
	for k := range Messages {
		if !used[k] && k[:4] == "HAMN" {
			t.Errorf("%s is in the catalogue but never emitted", k)
		}
	}
}
