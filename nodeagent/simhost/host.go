// Package simhost is a simulated host: a kubelet-lite that registers a
// Node, runs the containers of the pods bound to it as local processes
// (command and args from the pod spec), reports their status as a kubelet
// does (Running and Ready, then Terminated with the exit code), runs the
// preStop hook (termCommand) before stopping one, keeps the role file
// ($HAMON_ROLE_FILE) current from the pod's role label, and serves the CRI
// RuntimeService calls the node agent makes (list, exec, stop) on a unix
// socket, so the agent's CRI client runs unchanged against it.
package simhost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// RoleLabel is the pod label whose value the role file carries.
const RoleLabel = "ha.hamon.io/role"

// Host is one simulated host.
type Host struct {
	// Client reaches the API server.
	Client client.Client
	// Node is the host's node name.
	Node string
	// Dir holds the host's state: <ns>_<pod>.pid, .role and .log files and
	// the CRI socket cri.sock.
	Dir string
	// Interval is how often pods are synced (default 200ms).
	Interval time.Duration
	// NoOp runs no process for a container: it is Running until stopped
	// and every command run in it succeeds. For scale runs, where thousands
	// of servers would be thousands of processes.
	NoOp bool
	// PLEGPeriod is how often the kubelet-lite relists its containers
	// (default 1 s, a kubelet's generic PLEG): a container that ends by
	// itself is written in its pod's status only after the relist that
	// follows its end, as a kubelet does, not at the next sync.
	PLEGPeriod time.Duration
	// NoContainerEvents makes the CRI socket answer GetContainerEvents with
	// Unimplemented, as containerd before 1.7 does: the agent then relists.
	NoContainerEvents bool

	mu    sync.Mutex
	procs map[types.UID]*proc
	// off says the host was reset (PowerOff): nothing starts any more.
	off bool
	// booted is when Run began: the PLEG's relists are counted from it.
	booted time.Time
	// exitSubs are the CRI container-event streams, told of each end
	// (under subsMu: an end may be told under mu).
	subsMu   sync.Mutex
	exitSubs map[chan exitEvent]struct{}
}

// exitEvent is a container's end, for the CRI event streams.
type exitEvent struct {
	uid types.UID
	pr  *proc
}

// subscribeExits returns a channel told of every container end from now,
// and its cancel.
func (h *Host) subscribeExits() (<-chan exitEvent, func()) {
	ch := make(chan exitEvent, 256)
	h.subsMu.Lock()
	if h.exitSubs == nil {
		h.exitSubs = map[chan exitEvent]struct{}{}
	}
	h.exitSubs[ch] = struct{}{}
	h.subsMu.Unlock()
	return ch, func() {
		h.subsMu.Lock()
		delete(h.exitSubs, ch)
		h.subsMu.Unlock()
	}
}

// notifyExit tells the event streams a container ended (never blocks: a
// stream that does not keep up misses events, as a runtime's would).
func (h *Host) notifyExit(uid types.UID, pr *proc) {
	h.subsMu.Lock()
	defer h.subsMu.Unlock()
	for ch := range h.exitSubs {
		select {
		case ch <- exitEvent{uid: uid, pr: pr}:
		default:
		}
	}
}

// plegSaw says the kubelet-lite's PLEG has relisted since t: a container
// that ended at t is known to it.
func (h *Host) plegSaw(t time.Time) bool {
	period := h.PLEGPeriod
	if period <= 0 {
		return true
	}
	since := time.Since(h.booted)
	last := h.booted.Add(since / period * period)
	return last.After(t)
}

type proc struct {
	cmd       *exec.Cmd
	env       []string
	done      chan struct{}
	code      int
	pod       types.NamespacedName
	container string
	base      string
	started   time.Time
	// probed is when the readiness probe last ran; probeFailures counts
	// its failures in a row.
	probed        time.Time
	probeFailures int32
	stopOnce      sync.Once
	// terminating is set once the pod's deletion is being carried out.
	terminating atomic.Bool
	// finished is when the process ended (set before done is closed), which
	// the container's status reports, as a runtime does, however late.
	finished time.Time
	// execs are the process groups of the commands running in the container.
	execMu sync.Mutex
	execs  map[int]struct{}
	// onNoOpStop tells the event streams a no-op container stopped.
	onNoOpStop func()
}

func (pr *proc) isTerminating() bool { return pr.terminating.Load() }

// SocketPath is where the host serves its CRI socket.
func (h *Host) SocketPath() string { return filepath.Join(h.Dir, "cri.sock") }

// Run registers the Node, serves the CRI socket and syncs the pods until
// ctx ends, then stops every process.
func (h *Host) Run(ctx context.Context) error {
	if err := os.MkdirAll(h.Dir, 0o750); err != nil {
		return err
	}
	h.procs = map[types.UID]*proc{}
	if h.Interval == 0 {
		h.Interval = 200 * time.Millisecond
	}
	if h.PLEGPeriod == 0 {
		h.PLEGPeriod = time.Second
	}
	h.booted = time.Now()
	if err := h.registerNode(ctx); err != nil {
		return err
	}
	stopCRI, err := h.serveCRI()
	if err != nil {
		return err
	}
	defer stopCRI()
	for {
		if err := h.sync(ctx); err != nil && ctx.Err() == nil {
			fmt.Fprintf(os.Stderr, "host %s: %v\n", h.Node, err)
		}
		select {
		case <-ctx.Done():
			h.stopAll()
			return nil
		case <-time.After(h.Interval):
		}
	}
}

func (h *Host) registerNode(ctx context.Context) error {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: h.Node, Labels: map[string]string{"ha.hamon.io/simulated": "true"}}}
	if err := h.Client.Create(ctx, n); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("registering node %s: %w", h.Node, err)
	}
	return nil
}

// sync makes the processes follow the pods, and the pods' status follow
// the processes.
func (h *Host) sync(ctx context.Context) error {
	var pods corev1.PodList
	onNode := client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("spec.nodeName", h.Node)}
	if err := h.Client.List(ctx, &pods, onNode); err != nil {
		return err
	}
	seen := map[types.UID]bool{}
	for i := range pods.Items {
		p := &pods.Items[i]
		seen[p.UID] = true
		h.mu.Lock()
		pr := h.procs[p.UID]
		h.mu.Unlock()
		switch {
		case p.DeletionTimestamp != nil && pr == nil:
			_ = h.Client.Delete(ctx, p, client.GracePeriodSeconds(0))
		case p.DeletionTimestamp != nil:
			h.startTermination(ctx, p, pr)
		case pr == nil && (p.Status.Phase == corev1.PodPending || p.Status.Phase == ""):
			if err := h.start(ctx, p); err != nil && !errors.Is(err, errHostOff) {
				_ = h.setTerminated(ctx, p, 128, "StartError: "+err.Error(), time.Time{})
			}
		case pr == nil && p.Status.Phase == corev1.PodRunning:
			// A pod that was running here before this host (re)started: its
			// container went with the host. A kubelet reports it the same way.
			_ = h.setTerminated(ctx, p, 137, "ContainerStatusUnknown", time.Time{})
		case pr != nil:
			select {
			case <-pr.done:
				// An end the kubelet did not cause is news to it at its
				// next relist (PLEG), not before.
				if p.Status.Phase == corev1.PodRunning && h.plegSaw(pr.finished) {
					_ = h.setTerminated(ctx, p, pr.code, "Exited", pr.finished)
				}
			default:
				if !pr.isTerminating() && p.Status.Phase != corev1.PodRunning {
					h.reportRunning(ctx, p, pr) // the write after its start was lost
					break
				}
				// Probes run only in a running container, as a kubelet's do.
				if pr.cmd != nil && !pr.isTerminating() {
					h.writeRole(pr.base, p)
					h.probeReadiness(ctx, p, pr)
				}
			}
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for uid, pr := range h.procs {
		if !seen[uid] {
			stopProc(pr, 2*time.Second)
			delete(h.procs, uid)
		}
	}
	return nil
}

func (h *Host) start(ctx context.Context, p *corev1.Pod) error {
	h.mu.Lock()
	off := h.off
	h.mu.Unlock()
	if off {
		return errHostOff
	}
	c := p.Spec.Containers[0]
	argv := append(append([]string(nil), c.Command...), c.Args...)
	if h.NoOp {
		return h.startNoOp(ctx, p)
	}
	if len(argv) == 0 {
		return errors.New("the server container has no command: a simulated host runs command and args as a process")
	}
	base := filepath.Join(h.Dir, p.Namespace+"_"+p.Name)
	h.writeRole(base, p)
	env := os.Environ()
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env = append(env, e.Name+"="+e.Value)
		}
	}
	// The role file stands in for the pod's downward-API volume (last wins).
	env = append(env, "HAMON_ROLE_FILE="+base+".role", "HAMON_SIM_NODE="+h.Node)
	// The server outlives any one request: it is stopped by stopProc, not
	// by a context. The simulated host runs what the pod says, as a kubelet does.
	cmd := exec.CommandContext(context.WithoutCancel(ctx), argv[0], argv[1:]...) //nolint:gosec // the pod's command
	cmd.Env = env
	logf, err := os.Create(base + ".log")
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group (a stop ends what it started too), and it dies
	// with the host process: a simulated host that goes down ends every
	// server on it, even one it was starting at that moment, whose pid
	// file was not written yet (found by the soak: such a server ran on,
	// untracked, beside the next active copy).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return err
	}
	if err := os.WriteFile(base+".pid", []byte(strconv.Itoa(cmd.Process.Pid)), 0o600); err != nil {
		return err
	}
	pr := &proc{cmd: cmd, env: env, done: make(chan struct{}), pod: types.NamespacedName{Namespace: p.Namespace, Name: p.Name},
		container: c.Name, base: base, started: time.Now()}
	uid := p.UID
	go func() {
		err := cmd.Wait()
		_ = logf.Close()
		_ = os.Remove(base + ".pid")
		pr.exited(err)
		h.notifyExit(uid, pr)
	}()
	h.mu.Lock()
	if h.off { // reset while it started
		h.mu.Unlock()
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		return errHostOff
	}
	h.procs[p.UID] = pr
	h.mu.Unlock()
	h.reportRunning(ctx, p, pr)
	return nil
}

// errHostOff: the host was reset; it starts nothing.
var errHostOff = errors.New("the host is down")

// reportRunning writes that the pod's container runs. The container
// started whatever the API server says: a write that fails (the API server
// away, the host cut off) is written again at the next sync, as a
// kubelet's status manager does, never reported as a start error.
func (h *Host) reportRunning(ctx context.Context, p *corev1.Pod, pr *proc) {
	c := p.Spec.Containers[0]
	started := metav1.NewTime(pr.started)
	// Ready at once, as a kubelet does, unless a readiness probe must pass first.
	ready := h.NoOp || c.ReadinessProbe == nil || c.ReadinessProbe.Exec == nil
	p.Status.Phase = corev1.PodRunning
	p.Status.StartTime = &started
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: condition(ready), LastTransitionTime: metav1.Now()}}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: c.Name, Image: c.Image, Ready: ready,
		ContainerID: "simhost://" + string(p.UID),
		State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}}}}
	if err := h.Client.Status().Update(ctx, p); err != nil {
		fmt.Fprintf(os.Stderr, "host %s: pod %s/%s started; its status not written yet: %v\n", h.Node, p.Namespace, p.Name, err)
	}
}

// exitCode is a process's exit status as a container runtime reports it:
// 128+N when killed by signal N.
func exitCode(err error) int {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		if err != nil {
			return 128
		}
		return 0
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ee.ExitCode()
}

func (h *Host) writeRole(base string, p *corev1.Pod) {
	role := p.Labels[RoleLabel]
	if cur, err := os.ReadFile(base + ".role"); err == nil && string(cur) == role {
		return
	}
	_ = os.WriteFile(base+".role.tmp", []byte(role), 0o600)
	_ = os.Rename(base+".role.tmp", base+".role")
}

// setTerminated reports the container terminated with code, finished at
// finished (now when zero).
func (h *Host) setTerminated(ctx context.Context, p *corev1.Pod, code int, reason string, finished time.Time) error {
	if finished.IsZero() {
		finished = time.Now()
	}
	phase := corev1.PodSucceeded
	if code != 0 {
		phase = corev1.PodFailed
	}
	name := p.Spec.Containers[0].Name
	p.Status.Phase = phase
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: metav1.Now()}}
	term := &corev1.ContainerStateTerminated{ExitCode: int32(code), //nolint:gosec // an exit code
		Reason: reason, FinishedAt: metav1.NewTime(finished)}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: name, State: corev1.ContainerState{Terminated: term}}}
	return h.Client.Status().Update(ctx, p)
}

// startTermination carries out a pod's deletion in a goroutine of its
// own, once: a kubelet's pod workers handle the pods of a node
// concurrently, so one pod's long preStop hook delays no other pod.
func (h *Host) startTermination(ctx context.Context, p *corev1.Pod, pr *proc) {
	if pr.terminating.Swap(true) {
		return
	}
	grace := defaultGrace
	if p.DeletionGracePeriodSeconds != nil {
		grace = time.Duration(*p.DeletionGracePeriodSeconds) * time.Second
	}
	pod := p.DeepCopy()
	go func() {
		h.terminate(pod, pr, grace)
		// The container's end is reported, then the pod removed, as a
		// kubelet does once every container of a deleted pod has stopped.
		h.reportTerminated(ctx, pod, pr)
		_ = h.Client.Delete(ctx, pod, client.GracePeriodSeconds(0))
		h.mu.Lock()
		delete(h.procs, pod.UID)
		h.mu.Unlock()
	}()
}

// defaultGrace is a pod's terminationGracePeriodSeconds when it sets none.
const defaultGrace = 30 * time.Second

// minGraceAfterPreStop is what a kubelet leaves for SIGTERM when the
// preStop hook used up the grace period.
const minGraceAfterPreStop = 2 * time.Second

// terminate stops a container as a kubelet does within the grace period:
// the preStop hook (termCommand) only if the container still runs (a
// kubelet runs no hook in an exited container), then SIGTERM, then SIGKILL
// when the grace period is over.
func (h *Host) terminate(p *corev1.Pod, pr *proc, grace time.Duration) {
	start := time.Now()
	c := p.Spec.Containers[0]
	select {
	case <-pr.done:
	default:
		if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Exec != nil && len(c.Lifecycle.PreStop.Exec.Command) > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), grace)
			_, _, _ = pr.exec(ctx, c.Lifecycle.PreStop.Exec.Command)
			cancel()
		}
	}
	stopProc(pr, max(grace-time.Since(start), minGraceAfterPreStop))
}

// reportTerminated records the container's end in the pod's status,
// reading the pod afresh (its status may have changed since it was read).
func (h *Host) reportTerminated(ctx context.Context, p *corev1.Pod, pr *proc) {
	for range 5 {
		var cur corev1.Pod
		if err := h.Client.Get(ctx, client.ObjectKeyFromObject(p), &cur); err != nil || cur.UID != p.UID {
			return
		}
		if cs := cur.Status.ContainerStatuses; len(cs) > 0 && cs[0].State.Terminated != nil {
			return
		}
		if h.setTerminated(ctx, &cur, pr.code, "Exited", pr.finished) == nil {
			return
		}
	}
}

// exec runs a command "in the container": a local process with the
// container's environment and the server's pid in HAMON_SERVER_PID.
func (pr *proc) exec(ctx context.Context, argv []string) (code int, out []byte, err error) {
	if len(argv) == 0 {
		return 0, nil, errors.New("empty command")
	}
	if pr.cmd == nil { // a no-op container
		return 0, nil, nil
	}
	select {
	case <-pr.done:
		return 0, nil, errContainerEnded // a runtime execs in no stopped container
	default:
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...) //nolint:gosec // the pod's own command, run as the simulated container
	cmd.Env = append(append([]string(nil), pr.env...), "HAMON_SERVER_PID="+strconv.Itoa(pr.cmd.Process.Pid))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err = cmd.Start(); err == nil {
		pr.addExec(cmd.Process.Pid)
		err = cmd.Wait()
		pr.removeExec(cmd.Process.Pid)
	}
	out = buf.Bytes()
	if ctx.Err() != nil {
		return 0, out, ctx.Err()
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return 0, out, err
	}
	return exitCode(err), out, nil
}

// exited records the end of the container's process (err from its Wait):
// every command still running in the container ends with it, then the
// exit code is known and done is closed.
func (pr *proc) exited(err error) {
	pr.endExecs()
	pr.code, pr.finished = exitCode(err), time.Now()
	close(pr.done)
}

// errContainerEnded is an exec in a container that is no longer running.
var errContainerEnded = errors.New("the container is not running")

// addExec and removeExec track the process groups of the commands run in
// the container, so that they end with it.
func (pr *proc) addExec(pgid int) {
	pr.execMu.Lock()
	defer pr.execMu.Unlock()
	if pr.execs == nil {
		pr.execs = map[int]struct{}{}
	}
	pr.execs[pgid] = struct{}{}
}

func (pr *proc) removeExec(pgid int) {
	pr.execMu.Lock()
	defer pr.execMu.Unlock()
	delete(pr.execs, pgid)
}

// endExecs kills every command still running in the container: when a
// container ends, every process in it ends, as a container runtime sees to
// (its cgroup, its PID namespace).
func (pr *proc) endExecs() {
	pr.execMu.Lock()
	defer pr.execMu.Unlock()
	for pgid := range pr.execs {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

func stopProc(pr *proc, grace time.Duration) {
	select {
	case <-pr.done:
		return
	default:
	}
	if pr.cmd == nil { // a no-op container stops at once, normally
		pr.stopOnce.Do(func() {
			pr.finished = time.Now()
			close(pr.done)
			if pr.onNoOpStop != nil {
				pr.onNoOpStop()
			}
		})
		return
	}
	_ = syscall.Kill(-pr.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-pr.done:
	case <-time.After(grace):
		_ = syscall.Kill(-pr.cmd.Process.Pid, syscall.SIGKILL)
		<-pr.done
	}
}

// PowerOff ends every process of the host at once and lets none start
// after, as a reset does (the watchdog's): a server that was starting when
// the host went down does not outlive it.
func (h *Host) PowerOff() (killed int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.off = true
	for uid, pr := range h.procs {
		if pr.cmd != nil && pr.cmd.Process != nil {
			_ = syscall.Kill(-pr.cmd.Process.Pid, syscall.SIGKILL)
			killed++
		}
		pr.endExecs()
		delete(h.procs, uid)
	}
	return killed
}

func (h *Host) stopAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for uid, pr := range h.procs {
		stopProc(pr, 2*time.Second)
		delete(h.procs, uid)
	}
}

func condition(b bool) corev1.ConditionStatus {
	if b {
		return corev1.ConditionTrue
	}
	return corev1.ConditionFalse
}

// probeReadiness runs the server container's exec readiness probe every
// periodSeconds, as a kubelet does, and flips the pod's Ready condition
// after successThreshold passes or failureThreshold failures.
func (h *Host) probeReadiness(ctx context.Context, p *corev1.Pod, pr *proc) {
	c := p.Spec.Containers[0]
	pb := c.ReadinessProbe
	if pb == nil || pb.Exec == nil || p.Status.Phase != corev1.PodRunning || len(p.Status.ContainerStatuses) == 0 {
		return
	}
	period := time.Duration(max(1, pb.PeriodSeconds)) * time.Second
	if time.Since(pr.probed) < period {
		return
	}
	pr.probed = time.Now()
	pctx, cancel := context.WithTimeout(ctx, time.Duration(max(1, pb.TimeoutSeconds))*time.Second)
	code, _, err := pr.exec(pctx, pb.Exec.Command)
	cancel()
	select {
	case <-pr.done:
		return // the container ended meanwhile: an exec in it would have failed
	default:
	}
	ready := p.Status.ContainerStatuses[0].Ready
	if err == nil && code == 0 {
		pr.probeFailures, ready = 0, true
	} else {
		pr.probeFailures++
		if pr.probeFailures >= max(1, pb.FailureThreshold) {
			ready = false
		}
	}
	if ready == p.Status.ContainerStatuses[0].Ready {
		return
	}
	p.Status.ContainerStatuses[0].Ready = ready
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: condition(ready), LastTransitionTime: metav1.Now()}}
	_ = h.Client.Status().Update(ctx, p)
}

// startNoOp "runs" a container without a process (Host.NoOp).
func (h *Host) startNoOp(ctx context.Context, p *corev1.Pod) error {
	c := p.Spec.Containers[0]
	pr := &proc{done: make(chan struct{}), pod: types.NamespacedName{Namespace: p.Namespace, Name: p.Name},
		container: c.Name, base: filepath.Join(h.Dir, p.Namespace+"_"+p.Name), started: time.Now()}
	uid := p.UID
	pr.onNoOpStop = func() { h.notifyExit(uid, pr) }
	h.mu.Lock()
	h.procs[p.UID] = pr
	h.mu.Unlock()
	h.reportRunning(ctx, p, pr)
	return nil
}
