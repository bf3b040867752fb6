// Package peer is the agents' direct line to one another, which does not
// pass through the API server: when an agent cannot renew its Lease, it
// asks the agents of the hosts that could take its servers over whether
// they can. Only if every one of them answers that it cannot either is it
// an outage of the API server (nobody can start a server elsewhere), and
// the agent keeps its servers running; otherwise it is isolated and stops
// the ones no disk reservation protects.
//
// The line is HTTPS with mutual TLS: every agent presents a certificate
// of the cluster's agent CA (the chart creates it) and accepts only peers
// that do. A pod without the agents' key cannot answer for a peer, so it
// cannot keep an isolated host's servers running.
package peer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// ServerName is the name in the agents' certificate that every agent
// checks its peer's certificate against (the addresses are pod IPs, which
// no certificate names).
const ServerName = "hamon-agent"

// StatusPath is the one request a peer answers.
const StatusPath = "/v1/status"

// Status is a peer's answer.
type Status struct {
	// Node is the answering agent's node.
	Node string `json:"node"`
	// Renewing says the peer's last attempt to renew its own Lease
	// succeeded: it reaches the API server. False is the peer's
	// confirmation of an outage; it will not take part in a takeover
	// before it has renewed again for twice the watchdog timeout.
	Renewing bool `json:"renewing"`
}

// TLSFiles are the file names in the directory of the agent's TLS
// material (a kubernetes.io/tls Secret with ca.crt, mounted).
const (
	CAFile   = "ca.crt"
	CertFile = "tls.crt"
	KeyFile  = "tls.key"
)

// LoadTLS reads the agent CA and the agent's certificate from dir and
// returns the configurations of the server (client certificate required,
// from the CA) and of the client (server certificate of the CA, named
// ServerName; its own certificate presented).
func LoadTLS(dir string) (server, client *tls.Config, err error) {
	caPEM, err := os.ReadFile(filepath.Join(dir, CAFile))
	if err != nil {
		return nil, nil, fmt.Errorf("the agent CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, nil, fmt.Errorf("%s holds no PEM certificate", filepath.Join(dir, CAFile))
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, nil, fmt.Errorf("the agent certificate: %w", err)
	}
	server = &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	client = &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert},
		RootCAs: pool, ServerName: ServerName}
	return server, client, nil
}

// Server answers peers.
type Server struct {
	Node string
	// Renewing says whether the agent's last renewal attempt succeeded; it
	// is called for every question (the agent notes that it confirmed an
	// outage when it answers false).
	Renewing func() bool
	TLS      *tls.Config
}

// Serve answers on l until ctx ends.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+StatusPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(Status{Node: s.Node, Renewing: s.Renewing()})
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 2 * time.Second, TLSConfig: s.TLS}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	err := srv.ServeTLS(l, "", "")
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Client asks peers.
type Client struct {
	TLS *tls.Config
	// LocalAddr is the address questions are sent from (a simulated host's
	// own loopback address); nil: any.
	LocalAddr net.Addr
	// Timeout bounds one question.
	Timeout time.Duration
}

// Ask asks the agent of node at addr (host:port) for its status. The
// answer counts only if it comes from that node.
func (c *Client) Ask(ctx context.Context, node, addr string) (Status, error) {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	d := &net.Dialer{LocalAddr: c.LocalAddr}
	tr := &http.Transport{DialContext: d.DialContext, TLSClientConfig: c.TLS, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+StatusPath, nil)
	if err != nil {
		return Status{}, err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return Status{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return Status{}, fmt.Errorf("peer %s at %s: %s", node, addr, resp.Status)
	}
	var st Status
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&st); err != nil {
		return Status{}, fmt.Errorf("peer %s at %s: %w", node, addr, err)
	}
	if st.Node != node {
		return Status{}, fmt.Errorf("the agent at %s answers for %q, not %s", addr, st.Node, node)
	}
	return st, nil
}
