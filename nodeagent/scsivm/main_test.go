//go:build scsivm && linux

package scsivm

import (
	"os"
	"testing"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// TestMain gives the agents' logs (KAMN725-W, KAMN726-E, ...) a place:
// the test's output, and so the scenario's log.
func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stdout)))
	os.Exit(m.Run())
}
