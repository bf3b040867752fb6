package simhost

import (
	"context"
	"errors"
	"net"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/hamon-ha/hamon/nodeagent/cri"
)

// criServer serves the part of the CRI RuntimeService the agent uses:
// Version, ListContainers, ExecSync and StopContainer. A container's id is
// its pod's UID.
type criServer struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	h *Host
}

// serveCRI listens on the host's socket; the returned func stops serving.
func (h *Host) serveCRI() (func(), error) {
	sock := h.SocketPath()
	_ = os.Remove(sock)
	l, err := net.Listen("unix", sock)
	if err != nil {
		return nil, err
	}
	srv := grpc.NewServer()
	runtimeapi.RegisterRuntimeServiceServer(srv, &criServer{h: h})
	go func() { _ = srv.Serve(l) }()
	return srv.Stop, nil
}

func (s *criServer) Version(context.Context, *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	return &runtimeapi.VersionResponse{Version: "0.1.0", RuntimeName: "hamon-simhost", RuntimeVersion: "0.1.0", RuntimeApiVersion: "v1"}, nil
}

func (s *criServer) ListContainers(_ context.Context, req *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	var out []*runtimeapi.Container
	f := req.GetFilter()
	for uid, pr := range s.h.procs {
		st := runtimeapi.ContainerState_CONTAINER_RUNNING
		select {
		case <-pr.done:
			st = runtimeapi.ContainerState_CONTAINER_EXITED
		default:
		}
		labels := map[string]string{
			cri.LabelPodNamespace: pr.pod.Namespace, cri.LabelPodName: pr.pod.Name, cri.LabelContainerName: pr.container,
		}
		if f.GetState() != nil && f.GetState().GetState() != st {
			continue
		}
		if id := f.GetId(); id != "" && id != string(uid) {
			continue
		}
		match := true
		for k, v := range f.GetLabelSelector() {
			match = match && labels[k] == v
		}
		if !match {
			continue
		}
		out = append(out, &runtimeapi.Container{Id: string(uid), PodSandboxId: string(uid), State: st, Labels: labels,
			Metadata: &runtimeapi.ContainerMetadata{Name: pr.container}, CreatedAt: pr.started.UnixNano()})
	}
	return &runtimeapi.ListContainersResponse{Containers: out}, nil
}

func (s *criServer) proc(id string) (*proc, error) {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	pr := s.h.procs[types.UID(id)]
	if pr == nil {
		return nil, status.Errorf(codes.NotFound, "container %q not found", id)
	}
	return pr, nil
}

func (s *criServer) ExecSync(ctx context.Context, req *runtimeapi.ExecSyncRequest) (*runtimeapi.ExecSyncResponse, error) {
	pr, err := s.proc(req.GetContainerId())
	if err != nil {
		return nil, err
	}
	select {
	case <-pr.done:
		return nil, status.Errorf(codes.FailedPrecondition, "container %q is not running", req.GetContainerId())
	default:
	}
	if t := req.GetTimeout(); t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(t)*time.Second)
		defer cancel()
	}
	// A resident command ends with the container, as it would in a real one.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-pr.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	code, out, err := pr.exec(ctx, req.GetCmd())
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return nil, status.Errorf(codes.DeadlineExceeded, "command %v timed out after %ds", req.GetCmd(), req.GetTimeout())
	case errors.Is(err, context.Canceled):
		// The container stopped under the command: killed with it.
		return &runtimeapi.ExecSyncResponse{Stdout: out, ExitCode: 137}, nil
	case err != nil:
		return nil, status.Errorf(codes.Unknown, "exec %v: %v", req.GetCmd(), err)
	}
	return &runtimeapi.ExecSyncResponse{Stdout: out, ExitCode: int32(code)}, nil //nolint:gosec // an exit code
}

func (s *criServer) StopContainer(_ context.Context, req *runtimeapi.StopContainerRequest) (*runtimeapi.StopContainerResponse, error) {
	pr, err := s.proc(req.GetContainerId())
	if err != nil {
		return nil, err
	}
	stopProc(pr, time.Duration(req.GetTimeout())*time.Second)
	return &runtimeapi.StopContainerResponse{}, nil
}
