package simhost

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/hamon-ha/hamon/nodeagent/cri"
)

// startProc runs a "container" the way Host.start does, without the API.
func startProc(t *testing.T, h *Host, uid, ns, pod string) *proc {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), "/bin/sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pr := &proc{cmd: cmd, env: append(os.Environ(), "HAMON_SIM_NODE=n1"), done: make(chan struct{}),
		pod: types.NamespacedName{Namespace: ns, Name: pod}, container: "server", started: time.Now()}
	go func() { pr.exited(cmd.Wait()) }()
	h.mu.Lock()
	h.procs[types.UID(uid)] = pr
	h.mu.Unlock()
	t.Cleanup(func() { stopProc(pr, time.Second) })
	return pr
}

// serveTestCRI serves a host's CRI socket (without the API) and dials it,
// as the agent does; both end with the test.
func serveTestCRI(t *testing.T, noEvents bool) (*Host, *cri.Client) {
	t.Helper()
	dir, err := os.MkdirTemp("", "simhost-") // short: a socket path has at most 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	h := &Host{Dir: dir, procs: map[types.UID]*proc{}, NoContainerEvents: noEvents}
	stop, err := h.serveCRI()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	rt, err := cri.Dial("unix://" + h.SocketPath())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close() })
	return h, rt
}

// The agent's CRI client against the simulated host's CRI server: the
// same gRPC calls it makes to containerd.
func TestCRIClientAgainstSimulatedRuntime(t *testing.T) {
	h, rt := serveTestCRI(t, false)
	ctx := context.Background()
	if v, err := rt.Version(ctx); err != nil || !strings.HasPrefix(v, "hamon-simhost") {
		t.Fatalf("Version: %q %v", v, err)
	}
	pr := startProc(t, h, "uid-1", "ns", "db-a")
	startProc(t, h, "uid-2", "ns", "other")
	c := cri.Container{Namespace: "ns", Pod: "db-a", Name: "server"}

	if ok, err := rt.Running(ctx, c); !ok || err != nil {
		t.Fatalf("Running: %v %v", ok, err)
	}
	res, err := rt.Exec(ctx, c, []string{"/bin/sh", "-c", `echo "on $HAMON_SIM_NODE"; exit 7`}, 5*time.Second)
	if err != nil || res.ExitCode != 7 || res.Output != "on n1\n" {
		t.Fatalf("Exec: %+v %v, want exit 7 with the container's environment", res, err)
	}
	res, err = rt.Exec(ctx, c, []string{"/bin/sh", "-c", "head -c 100000 /dev/zero"}, 5*time.Second)
	if err != nil || len(res.Output) != cri.MaxOutput {
		t.Fatalf("output not capped: %d bytes, %v", len(res.Output), err)
	}
	start := time.Now()
	if _, err := rt.Exec(ctx, c, []string{"/bin/sleep", "30"}, time.Second); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a command past its timeout: %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the timeout was not enforced: %s", d)
	}
	if _, err := rt.Exec(ctx, cri.Container{Namespace: "ns", Pod: "nope", Name: "server"}, []string{"true"}, time.Second); !errors.Is(err, cri.ErrNoContainer) {
		t.Fatalf("exec in a missing container: %v, want ErrNoContainer", err)
	}

	// A resident command ends when its container is stopped.
	resident := make(chan cri.ExecResult, 1)
	go func() {
		r, _ := rt.Exec(ctx, c, []string{"/bin/sleep", "60"}, 0)
		resident <- r
	}()
	time.Sleep(300 * time.Millisecond)
	if err := rt.Stop(ctx, c, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case <-pr.done:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not stop the container")
	}
	select {
	case r := <-resident:
		if r.ExitCode == 0 {
			t.Fatalf("the resident command ended with 0 when its container stopped")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the resident command outlived its container")
	}
	if err := rt.Stop(ctx, c, time.Second); err != nil {
		t.Fatalf("stopping a stopped container: %v", err)
	}
	if ok, err := rt.Running(ctx, c); ok || err != nil {
		t.Fatalf("Running after Stop: %v %v", ok, err)
	}
	if _, err := rt.Exec(ctx, c, []string{"true"}, time.Second); !errors.Is(err, cri.ErrNoContainer) {
		t.Fatalf("exec in a stopped container: %v, want ErrNoContainer", err)
	}
}

// When a container ends, every process in it ends, the commands exec'd in
// it included (a runtime kills its cgroup): no resident patrol shell is
// left behind (ppid 1). And nothing can be exec'd in an ended container.
func TestContainerEnd_EndsItsExecs(t *testing.T) {
	h := &Host{procs: map[types.UID]*proc{}}
	cmd := exec.CommandContext(context.Background(), "/bin/sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pr := &proc{cmd: cmd, done: make(chan struct{}), started: time.Now()}
	go func() { pr.exited(cmd.Wait()) }()
	h.procs["uid"] = pr
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	execDone := make(chan error, 1)
	go func() {
		_, _, err := pr.exec(context.Background(), []string{"/bin/sh", "-c", "echo $$ > " + pidFile + "; exec sleep 60"})
		execDone <- err
	}()
	for i := 0; ; i++ {
		if b, err := os.ReadFile(pidFile); err == nil && len(b) > 0 {
			break
		}
		if i == 100 {
			t.Fatal("the exec did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopProc(pr, time.Second)
	select {
	case err := <-execDone:
		if err != nil {
			t.Fatalf("the exec'd command, killed with its container: %v, want its exit code", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the command exec'd in the container outlived it")
	}
	if _, _, err := pr.exec(context.Background(), []string{"/bin/true"}); !errors.Is(err, errContainerEnded) {
		t.Fatalf("exec in an ended container: %v, want %v", err, errContainerEnded)
	}
}

// The agent's exit follower against the simulated runtime, with container
// events (containerd 1.7) and without (1.6: it relists): each end of a
// container that ran is told once, with its pod, exit code and end time;
// the containers that had ended before it looked are not.
func TestFollowExits_EventsAndRelist(t *testing.T) {
	for _, noEvents := range []bool{false, true} {
		t.Run(map[bool]string{false: "events", true: "relist"}[noEvents], func(t *testing.T) {
			h, rt := serveTestCRI(t, noEvents)
			ended := startProc(t, h, "uid-0", "ns", "ended-before")
			stopProc(ended, time.Second)
			h.notifyExit("uid-0", ended)
			pr := startProc(t, h, "uid-1", "ns", "db-a")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			exits := make(chan cri.Exit, 8)
			go func() { _ = rt.FollowExits(ctx, 50*time.Millisecond, exits) }()
			time.Sleep(300 * time.Millisecond) // following (a first relist)
			before := time.Now()
			_ = syscall.Kill(-pr.cmd.Process.Pid, syscall.SIGKILL)
			<-pr.done
			h.notifyExit("uid-1", pr)
			select {
			case e := <-exits:
				if e.Pod != "db-a" || e.Namespace != "ns" || e.Name != "server" || e.PodUID != "uid-1" || e.ExitCode != 137 ||
					e.FinishedAt.Before(before.Add(-time.Second)) {
					t.Fatalf("exit %+v, want db-a's SIGKILL (137) just now", e)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the container's end was not told")
			}
			select {
			case e := <-exits:
				t.Fatalf("told again, or of a container that ended before: %+v", e)
			case <-time.After(300 * time.Millisecond):
			}
		})
	}
}
