package cri

import (
	"context"
	"errors"
	"time"

	"github.com/go-logr/logr"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Exit is the end of a container, as the runtime tells it.
type Exit struct {
	Container
	// PodUID is the pod's UID, as the kubelet labels its containers.
	PodUID string
	// ID is the runtime's id of the container.
	ID string
	// ExitCode is its exit status.
	ExitCode int32
	// FinishedAt is when it ended (the node's clock).
	FinishedAt time.Time
}

// ExitFollower follows the ends of the node's containers.
type ExitFollower interface {
	// FollowExits sends each container's end to out until ctx ends.
	FollowExits(ctx context.Context, relist time.Duration, out chan<- Exit) error
}

// FollowExits sends each container's end to out until ctx ends: from the
// runtime's container events (GetContainerEvents, containerd 1.7 and
// later, CRI-O), or, where the runtime streams none (Unimplemented), from a
// list of its containers every relist, as the kubelet's PLEG does. A
// stream that breaks is opened again; ends in between reach the controller
// the slow way, through the kubelet.
func (c *Client) FollowExits(ctx context.Context, relist time.Duration, out chan<- Exit) error {
	log := logr.FromContextOrDiscard(ctx)
	for ctx.Err() == nil {
		err := c.followEvents(ctx, out)
		if status.Code(err) == codes.Unimplemented {
			log.Info("The container runtime streams no container events: relisting its containers", "every", relist)
			return c.relistExits(ctx, relist, out)
		}
		if ctx.Err() == nil {
			log.Error(err, "Container events stopped: following them again in a second")
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	return nil
}

// followEvents reads the runtime's container event stream.
func (c *Client) followEvents(ctx context.Context, out chan<- Exit) error {
	stream, err := c.rs.GetContainerEvents(ctx, &runtimeapi.GetEventsRequest{})
	if err != nil {
		return err
	}
	for {
		ev, err := stream.Recv()
		if err != nil {
			return err
		}
		if ev.GetContainerEventType() != runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT {
			continue
		}
		var st *runtimeapi.ContainerStatus
		for _, cs := range ev.GetContainersStatuses() {
			if cs.GetId() == ev.GetContainerId() {
				st = cs
			}
		}
		if st == nil { // not sent with the event: asked for
			resp, err := c.rs.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: ev.GetContainerId()})
			if err != nil {
				continue
			}
			st = resp.GetStatus()
		}
		if e, ok := exitOf(st.GetId(), st.GetLabels(), st); ok {
			if !send(ctx, out, e) {
				return ctx.Err()
			}
		}
	}
}

// relistExits lists the runtime's containers every relist and sends the
// end of each it saw running before.
func (c *Client) relistExits(ctx context.Context, relist time.Duration, out chan<- Exit) error {
	running := map[string]bool{}
	first := true
	for {
		resp, err := c.rs.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
		if err == nil {
			seen := make(map[string]bool, len(resp.GetContainers()))
			for _, x := range resp.GetContainers() {
				id := x.GetId()
				seen[id] = true
				now := x.GetState() == runtimeapi.ContainerState_CONTAINER_RUNNING
				if running[id] && x.GetState() == runtimeapi.ContainerState_CONTAINER_EXITED && !first {
					sr, err := c.rs.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
					if err == nil {
						if e, ok := exitOf(id, x.GetLabels(), sr.GetStatus()); ok && !send(ctx, out, e) {
							return nil
						}
					}
				}
				running[id] = now
			}
			for id := range running {
				if !seen[id] {
					delete(running, id)
				}
			}
			first = false
		} else if errors.Is(ctx.Err(), context.Canceled) {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(relist):
		}
	}
}

// exitOf makes an Exit of an exited container's status; ok is false for a
// container the kubelet did not make (no pod labels) or one still running.
func exitOf(id string, labels map[string]string, st *runtimeapi.ContainerStatus) (Exit, bool) {
	if st == nil || st.GetState() != runtimeapi.ContainerState_CONTAINER_EXITED || labels[LabelPodName] == "" {
		return Exit{}, false
	}
	e := Exit{Container: Container{Namespace: labels[LabelPodNamespace], Pod: labels[LabelPodName], Name: labels[LabelContainerName]},
		PodUID: labels[LabelPodUID], ID: id, ExitCode: st.GetExitCode()}
	if f := st.GetFinishedAt(); f > 0 {
		e.FinishedAt = time.Unix(0, f)
	}
	return e, true
}

func send(ctx context.Context, out chan<- Exit, e Exit) bool {
	select {
	case out <- e:
		return true
	case <-ctx.Done():
		return false
	}
}
