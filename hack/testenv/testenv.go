// Package testenv starts a real kube-apiserver and etcd for tests, built
// from module sources by hack/build-k8s.sh into bin/k8s, with hamon's CRDs
// installed. No test skips because a binary is missing: it fails and says
// how to build it.
package testenv

import (
	"fmt"
	"maps"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
)

// Env is a running control plane.
type Env struct {
	*envtest.Environment
	// Config reaches the API server as an administrator.
	Config *rest.Config
	// Client is a client for hamon's kinds and the core kinds.
	Client client.Client
	// certDir keeps the API server's certificates and service-account key
	// across a restart, so that clients and tokens stay valid.
	certDir string
}

// RepoRoot is the root of the hamon checkout (found from this file).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// AssetsDir is where hack/build-k8s.sh puts kube-apiserver, etcd and
// kubectl: KUBEBUILDER_ASSETS when set, else bin/k8s.
func AssetsDir() string {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(), "bin", "k8s")
}

// Start starts etcd and kube-apiserver and installs the CRDs of config/crd/bases.
func Start() (*Env, error) {
	assets := AssetsDir()
	for _, b := range []string{"kube-apiserver", "etcd", "kubectl"} {
		if _, err := os.Stat(filepath.Join(assets, b)); err != nil {
			return nil, fmt.Errorf("%s not found in %s: run `make test` or hack/build-k8s.sh "+
				"to build the control plane from module sources", b, assets)
		}
	}
	if err := hav1alpha1.AddToScheme(scheme.Scheme); err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	// Machines without a default route cannot advertise a routable address;
	// loopback works with the endpoint reconciler off.
	env.ControlPlane.GetAPIServer().Configure().
		Set("advertise-address", "127.0.0.1").
		Set("endpoint-reconciler-type", "none").
		// make bench profiles it (BENCH_PROFILE): what paces a run.
		Set("profiling", "true")
	// A directory of ours, not one envtest allocates: envtest forgets its
	// own on Stop, and a restarted API server would serve new certificates.
	certDir, err := os.MkdirTemp("", "hamon-apiserver-")
	if err != nil {
		return nil, err
	}
	env.ControlPlane.GetAPIServer().CertDir = certDir
	// kube-apiserver drains for longer than tests want to wait: after this
	// long it is killed (StopAPIServer then carries on).
	env.ControlPlane.GetAPIServer().StopTimeout = 5 * time.Second
	cfg, err := env.Start()
	if err != nil {
		_ = os.RemoveAll(certDir)
		return nil, fmt.Errorf("starting the control plane: %w", err)
	}
	// Tests play kubelets and agents through this config: client-go's
	// default of 5 requests per second would throttle them into flakes.
	cfg.QPS, cfg.Burst = 500, 1000
	c, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		_ = env.Stop()
		_ = os.RemoveAll(certDir)
		return nil, err
	}
	return &Env{Environment: env, Config: cfg, Client: c, certDir: certDir}, nil
}

// Stop stops the control plane and removes its certificates.
func (e *Env) Stop() error {
	err := e.Environment.Stop()
	_ = os.RemoveAll(e.certDir)
	return err
}

// StopAPIServer stops kube-apiserver (etcd keeps running): every client's
// connection breaks. StartAPIServer starts it again on the same address
// with the same certificates, so every client's credentials still work.
func (e *Env) StopAPIServer() error {
	api := e.ControlPlane.GetAPIServer()
	if err := api.Stop(); err != nil {
		// A stop that timed out ends with SIGKILL: fine, if it is down.
		addr := net.JoinHostPort(api.Address, api.Port)
		if c, dialErr := net.DialTimeout("tcp", addr, time.Second); dialErr == nil {
			_ = c.Close()
			return fmt.Errorf("stopping kube-apiserver: %w", err)
		}
	}
	return nil
}

// StartAPIServer starts kube-apiserver again after StopAPIServer.
func (e *Env) StartAPIServer() error {
	if err := e.ControlPlane.GetAPIServer().Start(); err != nil {
		return fmt.Errorf("starting kube-apiserver again: %w", err)
	}
	return nil
}

// Eventually polls cond every 100 ms until it holds, and fails the test
// after timeout.
func Eventually(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	tb.Fatalf("timed out after %s waiting until %s", timeout, what)
}

// interrupted holds what must be stopped when the test binary is
// interrupted (SIGINT, SIGTERM: Ctrl-C, or a `timeout`), newest first: the
// harnesses' processes, then the control plane. A test's Cleanup runs only
// when the test ends; an interrupt ends the binary first.
var interrupted struct {
	sync.Mutex
	next  int
	stops map[int]func()
}

// OnInterrupt registers stop to run if the test binary is interrupted; the
// returned func unregisters it (call it from the harness's own Cleanup).
func OnInterrupt(stop func()) (unregister func()) {
	interrupted.Lock()
	defer interrupted.Unlock()
	if interrupted.stops == nil {
		interrupted.stops = map[int]func(){}
	}
	interrupted.next++
	id := interrupted.next
	interrupted.stops[id] = stop
	return func() {
		interrupted.Lock()
		defer interrupted.Unlock()
		delete(interrupted.stops, id)
	}
}

// stopOnInterrupt stops everything registered, then the control plane, and
// exits, when the binary gets SIGINT or SIGTERM.
func stopOnInterrupt(e *Env) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sig
		fmt.Fprintf(os.Stderr, "testenv: %s: stopping every process the tests started\n", s)
		interrupted.Lock()
		ids := slices.Sorted(maps.Keys(interrupted.stops))
		stops := interrupted.stops
		interrupted.Unlock()
		for _, id := range slices.Backward(ids) {
			stops[id]() // newest first
		}
		_ = e.Stop()
		os.Exit(128 + int(s.(syscall.Signal)))
	}()
}

// Main is a TestMain for packages whose tests use the control plane: it
// starts it, stores it in *env, runs setup (may be nil), runs the tests,
// stops it and exits. Interrupted (SIGINT, SIGTERM), it stops what the
// tests started (OnInterrupt) and the control plane before it exits; if
// the binary dies without either (a panic, SIGKILL), a reaper process
// kills the control plane (startReaper).
func Main(m *testing.M, env **Env, setup func(*Env) error) {
	reapIfAsked()
	e, err := Start()
	if err == nil {
		stopOnInterrupt(e)
		startReaper()
	}
	if err == nil && setup != nil {
		if err = setup(e); err != nil {
			_ = e.Stop()
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*env = e
	code := m.Run()
	_ = e.Stop()
	os.Exit(code)
}
