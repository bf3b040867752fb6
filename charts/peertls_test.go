package charts

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/hamon-ha/hamon/nodeagent/peer"
)

// The Secret the chart creates for the agents' peer check (Helm's genCA
// and genSignedCert) is one the agent loads, and two agents holding it
// complete the mutual TLS handshake and believe each other.
func TestPeerTLSSecretWorksForTheAgents(t *testing.T) {
	var sec corev1.Secret
	one(t, decodeAll(t, render(t, valueSets[0])), "Secret", &sec)
	if sec.Type != corev1.SecretTypeTLS {
		t.Fatalf("Secret %s of type %s, want %s", sec.Name, sec.Type, corev1.SecretTypeTLS)
	}
	dir := t.TempDir()
	for _, f := range []string{peer.CAFile, peer.CertFile, peer.KeyFile} {
		if err := os.WriteFile(filepath.Join(dir, f), sec.Data[f], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	srvTLS, cliTLS, err := peer.LoadTLS(dir)
	if err != nil {
		t.Fatalf("the agent cannot load the chart's Secret: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_ = (&peer.Server{Node: "n2", Renewing: func() bool { return false }, TLS: srvTLS}).Serve(ctx, l)
	}()
	st, err := (&peer.Client{TLS: cliTLS, Timeout: 5 * time.Second}).Ask(ctx, "n2", l.Addr().String())
	if err != nil || st.Renewing {
		t.Fatalf("asking a peer with the chart's certificate: %+v, %v", st, err)
	}
}
