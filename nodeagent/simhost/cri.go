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
// Version, ListContainers, ContainerStatus, ExecSync, StopContainer and
// GetContainerEvents (each container end, as containerd 1.7 streams it;
// Unimplemented with Host.NoContainerEvents, as containerd 1.6). A
// container's id is its pod's UID.
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
		labels := containerLabels(uid, pr)
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

// containerLabels are the labels a kubelet gives the container.
func containerLabels(uid types.UID, pr *proc) map[string]string {
	return map[string]string{
		cri.LabelPodNamespace: pr.pod.Namespace, cri.LabelPodName: pr.pod.Name, cri.LabelPodUID: string(uid),
		cri.LabelContainerName: pr.container,
	}
}

// containerStatus is what the runtime says of a container.
func containerStatus(uid types.UID, pr *proc) *runtimeapi.ContainerStatus {
	st := &runtimeapi.ContainerStatus{Id: string(uid), Metadata: &runtimeapi.ContainerMetadata{Name: pr.container},
		State: runtimeapi.ContainerState_CONTAINER_RUNNING, CreatedAt: pr.started.UnixNano(), StartedAt: pr.started.UnixNano(),
		Labels: containerLabels(uid, pr)}
	select {
	case <-pr.done:
		st.State, st.FinishedAt = runtimeapi.ContainerState_CONTAINER_EXITED, pr.finished.UnixNano()
		st.ExitCode = int32(pr.code) //nolint:gosec // an exit code
	default:
	}
	return st
}

func (s *criServer) ContainerStatus(_ context.Context,
	req *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	pr, err := s.proc(req.GetContainerId())
	if err != nil {
		return nil, err
	}
	return &runtimeapi.ContainerStatusResponse{Status: containerStatus(types.UID(req.GetContainerId()), pr)}, nil
}

// GetContainerEvents streams each container's end as it happens.
func (s *criServer) GetContainerEvents(_ *runtimeapi.GetEventsRequest, stream runtimeapi.RuntimeService_GetContainerEventsServer) error {
	if s.h.NoContainerEvents {
		return status.Error(codes.Unimplemented, "method GetContainerEvents not implemented")
	}
	exits, cancel := s.h.subscribeExits()
	defer cancel()
	for {
		select {
		case <-stream.Context().Done():
			return nil
		case e := <-exits:
			st := containerStatus(e.uid, e.pr)
			ev := &runtimeapi.ContainerEventResponse{ContainerId: string(e.uid),
				ContainerEventType: runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT,
				CreatedAt:          st.FinishedAt, ContainersStatuses: []*runtimeapi.ContainerStatus{st}}
			if err := stream.Send(ev); err != nil {
				return err
			}
		}
	}
}
