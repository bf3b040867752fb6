// Command hamon-sim runs simulated hosts and injects faults into them.
//
//	hamon-sim host --node NODE --state DIR     # a kubelet-lite for NODE
//	hamon-sim kill --node NODE [--signal KILL] # the active server on NODE terminates abnormally
//	hamon-sim disk --disk-root DIR [--disk mpatha] # keys, reservation and writes of a simulated disk
//
// A simulated host registers its Node, runs the containers of the pods
// bound to it as local processes (command and args from the pod spec),
// reports their status as a kubelet does (Running and Ready, then
// Terminated with the exit code), runs the termCommand (preStop) before
// stopping one, and keeps the role file ($HAMON_ROLE_FILE) current from the
// pod's role label. Its node agent runs beside it (cmd/nodeagent with
// --sim-disk-root).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hamon-ha/hamon/nodeagent/scsipr"
	"github.com/hamon-ha/hamon/nodeagent/simdisk"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: hamon-sim host|kill [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	node := fs.String("node", "", "The simulated host's node name.")
	state := fs.String("state", "bin/run/sim", "Directory of the simulated hosts' state (pid and role files).")
	sig := fs.String("signal", "KILL", "kill: the signal (KILL: abnormal termination; TERM: the server ends by itself).")
	diskRoot := fs.String("disk-root", "", "disk: directory of the simulated shared disks.")
	disk := fs.String("disk", "mpatha", "disk: the disk to show.")
	_ = fs.Parse(os.Args[2:])
	if os.Args[1] == "disk" {
		if err := showDisk(*diskRoot, *disk); err != nil {
			fmt.Fprintln(os.Stderr, "hamon-sim:", err)
			os.Exit(1)
		}
		return
	}
	if *node == "" {
		fmt.Fprintln(os.Stderr, "--node is required")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "host":
		err = runHost(*node, filepath.Join(*state, *node))
	case "kill":
		err = kill(filepath.Join(*state, *node), *sig)
	default:
		err = fmt.Errorf("unknown command %q: want host or kill", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hamon-sim:", err)
		os.Exit(1)
	}
}

// kill signals the server processes of a host that run as active.
func kill(dir, sig string) error {
	signals := map[string]syscall.Signal{"KILL": syscall.SIGKILL, "TERM": syscall.SIGTERM, "INT": syscall.SIGINT}
	s, ok := signals[sig]
	if !ok {
		return fmt.Errorf("--signal %s: want KILL, TERM or INT", sig)
	}
	pids, _ := filepath.Glob(filepath.Join(dir, "*.pid"))
	n := 0
	for _, f := range pids {
		role, _ := os.ReadFile(strings.TrimSuffix(f, ".pid") + ".role")
		if strings.TrimSpace(string(role)) != "active" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil {
			continue
		}
		if err := syscall.Kill(pid, s); err == nil {
			n++
		}
	}
	if n == 0 {
		return fmt.Errorf("no active server runs in %s", dir)
	}
	return nil
}

type host struct {
	c    client.Client
	node string
	dir  string
	mu   sync.Mutex
	// procs are the running servers by pod UID.
	procs map[types.UID]*proc
}

type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	code int
	pod  types.NamespacedName
	base string
}

func runHost(node, dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 50, 100
	c, err := client.New(cfg, client.Options{Scheme: clientgoscheme.Scheme})
	if err != nil {
		return err
	}
	h := &host{c: c, node: node, dir: dir, procs: map[types.UID]*proc{}}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := h.registerNode(ctx); err != nil {
		return err
	}
	fmt.Printf("simulated host %s: running the pods bound to it\n", node)
	for {
		if err := h.sync(ctx); err != nil && ctx.Err() == nil {
			fmt.Fprintf(os.Stderr, "host %s: %v\n", node, err)
		}
		select {
		case <-ctx.Done():
			h.stopAll()
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (h *host) registerNode(ctx context.Context) error {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: h.node, Labels: map[string]string{"ha.hamon.io/simulated": "true"}}}
	if err := h.c.Create(ctx, n); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("registering node %s: %w", h.node, err)
	}
	return nil
}

// sync makes the processes follow the pods, and the pods' status follow
// the processes.
func (h *host) sync(ctx context.Context) error {
	var pods corev1.PodList
	if err := h.c.List(ctx, &pods, client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("spec.nodeName", h.node)}); err != nil {
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
		case p.DeletionTimestamp != nil:
			if pr != nil {
				h.terminate(p, pr)
			}
			_ = h.c.Delete(ctx, p, client.GracePeriodSeconds(0))
		case pr == nil && (p.Status.Phase == corev1.PodPending || p.Status.Phase == ""):
			if err := h.start(ctx, p); err != nil {
				h.setTerminated(ctx, p, 128, "StartError: "+err.Error())
			}
		case pr != nil:
			h.writeRole(pr.base, p)
			select {
			case <-pr.done:
				if p.Status.Phase == corev1.PodRunning {
					h.setTerminated(ctx, p, pr.code, "Exited")
				}
			default:
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

func (h *host) start(ctx context.Context, p *corev1.Pod) error {
	c := p.Spec.Containers[0]
	argv := append(append([]string(nil), c.Command...), c.Args...)
	if len(argv) == 0 {
		return errors.New("the server container has no command: a simulated host runs command and args as a process")
	}
	base := filepath.Join(h.dir, p.Namespace+"_"+p.Name)
	h.writeRole(base, p)
	cmd := exec.Command(argv[0], argv[1:]...) //nolint:gosec // the simulated host runs what the pod says, as a kubelet does
	cmd.Env = os.Environ()
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			cmd.Env = append(cmd.Env, e.Name+"="+e.Value)
		}
	}
	// The role file stands in for the pod's downward-API volume (last wins).
	cmd.Env = append(cmd.Env, "HAMON_ROLE_FILE="+base+".role", "HAMON_SIM_NODE="+h.node)
	logf, err := os.Create(base + ".log")
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return err
	}
	if err := os.WriteFile(base+".pid", []byte(strconv.Itoa(cmd.Process.Pid)), 0o600); err != nil {
		return err
	}
	pr := &proc{cmd: cmd, done: make(chan struct{}), pod: types.NamespacedName{Namespace: p.Namespace, Name: p.Name}, base: base}
	go func() {
		err := cmd.Wait()
		_ = logf.Close()
		pr.code = 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			pr.code = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				pr.code = 128 + int(ws.Signal())
			}
		}
		_ = os.Remove(base + ".pid")
		close(pr.done)
	}()
	h.mu.Lock()
	h.procs[p.UID] = pr
	h.mu.Unlock()
	now := metav1.Now()
	p.Status.Phase = corev1.PodRunning
	p.Status.StartTime = &now
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: c.Name, Image: c.Image, Ready: true,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}}
	return h.c.Status().Update(ctx, p)
}

func (h *host) writeRole(base string, p *corev1.Pod) {
	role := p.Labels["ha.hamon.io/role"]
	if cur, err := os.ReadFile(base + ".role"); err == nil && string(cur) == role {
		return
	}
	_ = os.WriteFile(base+".role.tmp", []byte(role), 0o600)
	_ = os.Rename(base+".role.tmp", base+".role")
}

func (h *host) setTerminated(ctx context.Context, p *corev1.Pod, code int, reason string) {
	phase := corev1.PodSucceeded
	if code != 0 {
		phase = corev1.PodFailed
	}
	name := p.Spec.Containers[0].Name
	p.Status.Phase = phase
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: metav1.Now()}}
	term := &corev1.ContainerStateTerminated{ExitCode: int32(code), Reason: reason, FinishedAt: metav1.Now()} //nolint:gosec // an exit code
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: name, State: corev1.ContainerState{Terminated: term}}}
	_ = h.c.Status().Update(ctx, p)
}

// terminate runs the preStop hook (termCommand), then stops the process.
func (h *host) terminate(p *corev1.Pod, pr *proc) {
	c := p.Spec.Containers[0]
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Exec != nil && len(c.Lifecycle.PreStop.Exec.Command) > 0 {
		argv := c.Lifecycle.PreStop.Exec.Command
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...) //nolint:gosec // the pod's own preStop hook
		cmd.Env = append(os.Environ(), "HAMON_SERVER_PID="+strconv.Itoa(pr.cmd.Process.Pid))
		_ = cmd.Run()
		cancel()
	}
	stopProc(pr, 5*time.Second)
	h.mu.Lock()
	delete(h.procs, p.UID)
	h.mu.Unlock()
}

func stopProc(pr *proc, grace time.Duration) {
	select {
	case <-pr.done:
		return
	default:
	}
	_ = syscall.Kill(-pr.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-pr.done:
	case <-time.After(grace):
		_ = syscall.Kill(-pr.cmd.Process.Pid, syscall.SIGKILL)
		<-pr.done
	}
}

func (h *host) stopAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for uid, pr := range h.procs {
		stopProc(pr, 2*time.Second)
		delete(h.procs, uid)
	}
}

// showDisk prints a simulated disk's registrations, reservation and writes
// per writer, the way a person checks that a fenced host stopped writing.
func showDisk(root, name string) error {
	if root == "" {
		return errors.New("--disk-root is required")
	}
	d, err := simdisk.Open(filepath.Join(root, name), 1024)
	if err != nil {
		return err
	}
	observer := d.Path(simdisk.Nexus{Initiator: "hamon-sim", Port: "observer"})
	disk := scsipr.Disk{Name: name, Paths: []scsipr.Path{observer}}
	keys, err := scsipr.DefaultClient.ReadKeys(disk)
	if err != nil {
		return err
	}
	res, err := scsipr.DefaultClient.ReadReservation(disk)
	if err != nil {
		return err
	}
	fmt.Printf("disk %s: generation %d, registered keys %v\n", name, keys.Generation, keys.Keys)
	if res.Held {
		fmt.Printf("  reservation: %s held by key %s\n", res.Type, res.Key)
	} else {
		fmt.Println("  reservation: none")
	}
	writes, err := d.Writes()
	if err != nil {
		return err
	}
	type span struct {
		n           int
		first, last time.Time
		key         scsipr.Key
	}
	by := map[string]*span{}
	var order []string
	for _, w := range writes {
		s, ok := by[w.Nexus.Initiator]
		if !ok {
			s = &span{first: w.Time, key: w.Key}
			by[w.Nexus.Initiator] = s
			order = append(order, w.Nexus.Initiator)
		}
		s.n++
		s.last = w.Time
	}
	for _, h := range order {
		s := by[h]
		fmt.Printf("  %-8s %5d writes, key %s, %s .. %s\n", h, s.n, s.key, s.first.Format("15:04:05.000"), s.last.Format("15:04:05.000"))
	}
	return nil
}
