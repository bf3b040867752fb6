// Package cri runs commands in, and stops, a server's container through
// the node's container runtime (the CRI RuntimeService, as the kubelet
// does for exec probes): the agent needs no API server for it and never
// runs the server's commands as root on the host.
//
// The real runtime is containerd (or CRI-O) on its unix socket; a simulated
// host serves the same gRPC service (nodeagent/simhost), so the agent's
// code path is the same in both.
package cri

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// The labels the kubelet puts on every container it creates: how a
// container is found from its pod without the API server.
const (
	LabelPodName       = "io.kubernetes.pod.name"
	LabelPodNamespace  = "io.kubernetes.pod.namespace"
	LabelPodUID        = "io.kubernetes.pod.uid"
	LabelContainerName = "io.kubernetes.container.name"
)

// MaxOutput is how much of a command's output is kept: the output comes
// from the server's container and is untrusted, so it is capped before it
// reaches a status message or a log.
const MaxOutput = 4096

// ErrNoContainer says the container does not run on this node (any more).
var ErrNoContainer = errors.New("no running container")

// Container names a container by its pod, as the kubelet labels it.
type Container struct {
	Namespace, Pod, Name string
}

func (c Container) String() string { return c.Namespace + "/" + c.Pod + "/" + c.Name }

// ExecResult is how a command ended.
type ExecResult struct {
	// ExitCode is the command's exit status.
	ExitCode int32
	// Output is the start of its stdout then stderr, at most MaxOutput bytes.
	Output string
}

// Runtime is what the agent needs of the node's container runtime.
type Runtime interface {
	// Exec runs cmd in the container and waits for it to end, at most
	// timeout (0: no limit, for a resident patrol command). A command that
	// ran and failed is a result with a non-zero ExitCode, not an error.
	Exec(ctx context.Context, c Container, cmd []string, timeout time.Duration) (ExecResult, error)
	// Stop stops the container: SIGTERM, then SIGKILL after grace. A
	// container that is not running is not an error.
	Stop(ctx context.Context, c Container, grace time.Duration) error
	// Running says the container runs.
	Running(ctx context.Context, c Container) (bool, error)
}

// Client is a Runtime over a CRI socket.
type Client struct {
	conn *grpc.ClientConn
	rs   runtimeapi.RuntimeServiceClient
}

// Dial connects to a CRI endpoint such as
// unix:///run/containerd/containerd.sock. The connection is lazy: a runtime
// that is down fails the calls, not Dial.
func Dial(endpoint string) (*Client, error) {
	if !strings.HasPrefix(endpoint, "unix://") {
		return nil, fmt.Errorf("CRI endpoint %q: want unix:///path/to/socket", endpoint)
	}
	conn, err := grpc.NewClient("unix://"+strings.TrimPrefix(endpoint, "unix://"),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20)))
	if err != nil {
		return nil, fmt.Errorf("CRI endpoint %s: %w", endpoint, err)
	}
	return &Client{conn: conn, rs: runtimeapi.NewRuntimeServiceClient(conn)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Version asks the runtime its name and version (a health check).
func (c *Client) Version(ctx context.Context) (string, error) {
	v, err := c.rs.Version(ctx, &runtimeapi.VersionRequest{})
	if err != nil {
		return "", err
	}
	return v.GetRuntimeName() + " " + v.GetRuntimeVersion(), nil
}

// find returns the id of the running container c.
func (c *Client) find(ctx context.Context, ct Container) (string, error) {
	resp, err := c.rs.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{
		State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING},
		LabelSelector: map[string]string{
			LabelPodNamespace: ct.Namespace, LabelPodName: ct.Pod, LabelContainerName: ct.Name,
		},
	}})
	if err != nil {
		return "", fmt.Errorf("listing the containers of %s: %w", ct, err)
	}
	for _, x := range resp.GetContainers() {
		// The runtime's filter is trusted to narrow the list, not to be exact.
		l := x.GetLabels()
		if x.GetState() == runtimeapi.ContainerState_CONTAINER_RUNNING &&
			l[LabelPodNamespace] == ct.Namespace && l[LabelPodName] == ct.Pod && l[LabelContainerName] == ct.Name {
			return x.GetId(), nil
		}
	}
	return "", fmt.Errorf("%s: %w", ct, ErrNoContainer)
}

// Exec implements Runtime.
func (c *Client) Exec(ctx context.Context, ct Container, cmd []string, timeout time.Duration) (ExecResult, error) {
	if len(cmd) == 0 {
		return ExecResult{}, errors.New("empty command")
	}
	id, err := c.find(ctx, ct)
	if err != nil {
		return ExecResult{}, err
	}
	secs := int64(0)
	if timeout > 0 {
		secs = max(1, int64((timeout+time.Second-1)/time.Second))
		var cancel context.CancelFunc
		// The runtime enforces the timeout; the call's own deadline is a
		// backstop for a runtime that does not answer.
		ctx, cancel = context.WithTimeout(ctx, time.Duration(secs)*time.Second+5*time.Second)
		defer cancel()
	}
	resp, err := c.rs.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: cmd, Timeout: secs})
	if err != nil {
		if status.Code(err) == codes.DeadlineExceeded {
			return ExecResult{}, fmt.Errorf("%s: command timed out after %s: %w", ct, timeout, context.DeadlineExceeded)
		}
		return ExecResult{}, fmt.Errorf("exec in %s: %w", ct, err)
	}
	out := append(append([]byte(nil), capped(resp.GetStdout())...), capped(resp.GetStderr())...)
	return ExecResult{ExitCode: resp.GetExitCode(), Output: string(capped(out))}, nil
}

func capped(b []byte) []byte {
	if len(b) > MaxOutput {
		return b[:MaxOutput]
	}
	return b
}

// Running implements Runtime.
func (c *Client) Running(ctx context.Context, ct Container) (bool, error) {
	_, err := c.find(ctx, ct)
	if errors.Is(err, ErrNoContainer) {
		return false, nil
	}
	return err == nil, err
}

// Stop implements Runtime.
func (c *Client) Stop(ctx context.Context, ct Container, grace time.Duration) error {
	id, err := c.find(ctx, ct)
	if errors.Is(err, ErrNoContainer) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = c.rs.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: int64(grace / time.Second)})
	if err != nil && status.Code(err) != codes.NotFound {
		return fmt.Errorf("stopping %s: %w", ct, err)
	}
	return nil
}
