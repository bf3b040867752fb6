package peer

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// serve starts an agent's peer server for node with the TLS material in
// dir, answering renewing.
func serve(t *testing.T, dir, node string, renewing bool) string {
	t.Helper()
	srvTLS, _, err := LoadTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		_ = (&Server{Node: node, Renewing: func() bool { return renewing }, TLS: srvTLS}).Serve(ctx, l)
	}()
	return l.Addr().String()
}

func client(t *testing.T, dir string) *Client {
	t.Helper()
	_, cliTLS, err := LoadTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &Client{TLS: cliTLS, Timeout: 2 * time.Second}
}

func tlsDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := WriteTLS(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestAsk_AnswerOfAPeerOfTheSameCA(t *testing.T) {
	dir := tlsDir(t)
	addr := serve(t, dir, "node-b", false)
	st, err := client(t, dir).Ask(context.Background(), "node-b", addr)
	if err != nil {
		t.Fatal(err)
	}
	if st.Node != "node-b" || st.Renewing {
		t.Fatalf("answer %+v, want node-b not renewing", st)
	}
}

// A pod without the agents' key cannot answer for a peer (nor ask one).
func TestAsk_OtherCAIsRefusedBothWays(t *testing.T) {
	ours, theirs := tlsDir(t), tlsDir(t)
	addr := serve(t, theirs, "node-b", false)
	if _, err := client(t, ours).Ask(context.Background(), "node-b", addr); err == nil {
		t.Fatal("a peer with a certificate of another CA was believed")
	}
	addr = serve(t, ours, "node-b", false)
	if _, err := client(t, theirs).Ask(context.Background(), "node-b", addr); err == nil {
		t.Fatal("a client with a certificate of another CA got an answer")
	}
}

func TestAsk_AnswerForAnotherNodeDoesNotCount(t *testing.T) {
	dir := tlsDir(t)
	addr := serve(t, dir, "node-c", false)
	_, err := client(t, dir).Ask(context.Background(), "node-b", addr)
	if err == nil || !strings.Contains(err.Error(), "node-c") {
		t.Fatalf("err = %v, want an answer for node-c refused", err)
	}
}
