//go:build e2e

package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// An interrupted run (Ctrl-C, or SIGTERM from a `timeout`) leaves nothing
// behind: the e2e binary is run again as a child, on a scenario that takes
// a minute, and interrupted once its control plane, controller, simulated
// hosts, agents and servers run. Every process under it then must be gone.
// (Before, kube-apiserver, etcd, the controller, the hosts, the agents and
// the servers all ran on.)
func TestInterrupted_LeavesNoProcessBehind(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			var out bytes.Buffer
			child := exec.Command(os.Args[0], "-test.run", "^TestAPIServerOutage_NoStopNoSwitchover$", "-test.v")
			child.Stdout, child.Stderr = &out, &out
			if err := child.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- child.Wait() }()
			var procs map[int]string
			deadline := time.Now().Add(2 * time.Minute)
			for {
				procs = descendants(child.Process.Pid)
				if running(procs, "kube-apiserver", "etcd", "manager", "hamon-sim host", "nodeagent", "/bin/sh -c trap") {
					break
				}
				if time.Now().After(deadline) {
					_ = child.Process.Kill()
					t.Fatalf("the child's processes did not all start: %v\n%s", procs, out.String())
				}
				time.Sleep(500 * time.Millisecond)
			}
			time.Sleep(2 * time.Second)
			procs = descendants(child.Process.Pid)
			if err := child.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				t.Logf("the child ended after %s: %v", sig, err)
			case <-time.After(time.Minute):
				_ = child.Process.Kill()
				t.Fatalf("the child did not exit within a minute of %s\n%s", sig, out.String())
			}
			var left []string
			testenvEventually(t, 10*time.Second, func() bool {
				left = left[:0]
				for pid, id := range procs {
					if identity(pid) == id {
						left = append(left, strconv.Itoa(pid)+" "+cmdline(pid))
					}
				}
				return len(left) == 0
			})
			if len(left) > 0 {
				t.Fatalf("%d of %d processes left behind after %s: %v", len(left), len(procs), sig, left)
			}
			t.Logf("%s: all %d processes of the interrupted run ended", sig, len(procs))
		})
	}
}

func testenvEventually(t *testing.T, limit time.Duration, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if cond() {
			return
		}
	}
}

// descendants are the processes under pid (by parent, at any depth), each
// with its identity (pid and start time: a reused pid is another process).
func descendants(root int) map[int]string {
	parent := map[int]int{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, _ := strconv.Atoi(filepath.Base(d))
		if f := statFields(pid); len(f) > 1 {
			parent[pid], _ = strconv.Atoi(f[1])
		}
	}
	out := map[int]string{}
	for pid := range parent {
		for p := parent[pid]; p > 1; p = parent[p] {
			if p == root {
				out[pid] = identity(pid)
				break
			}
		}
	}
	return out
}

// statFields are the fields of /proc/pid/stat after the command name.
func statFields(pid int) []string {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

// identity is pid with its start time, "" when it is gone (or a zombie).
func identity(pid int) string {
	f := statFields(pid)
	if len(f) < 20 || f[0] == "Z" {
		return ""
	}
	return strconv.Itoa(pid) + "@" + f[19]
}

func cmdline(pid int) string {
	data, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return strings.TrimSpace(strings.ReplaceAll(string(data), "\x00", " "))
}

// running says each of the names is in some process's command line.
func running(procs map[int]string, names ...string) bool {
	for _, n := range names {
		found := false
		for pid := range procs {
			found = found || strings.Contains(cmdline(pid), n)
		}
		if !found {
			return false
		}
	}
	return true
}

// panicEnv makes TestPanicsForTheReaper panic (it is skipped otherwise).
const panicEnv = "HAMON_E2E_PANIC"

// A test binary that panics runs neither its deferred code nor its signal
// handler: its kube-apiserver and etcd would run on (found here two hours
// after a bench run panicked). The reaper testenv starts beside the control
// plane kills them once the binary is gone.
func TestPanicked_LeavesNoControlPlaneBehind(t *testing.T) {
	var out bytes.Buffer
	child := exec.Command(os.Args[0], "-test.run", "^TestPanicsForTheReaper$", "-test.v")
	child.Env = append(os.Environ(), panicEnv+"=1")
	child.Stdout, child.Stderr = &out, &out
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()
	var procs map[int]string
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		procs = descendants(child.Process.Pid)
		if running(procs, "kube-apiserver", "etcd") {
			break
		}
		if time.Now().After(deadline) {
			_ = child.Process.Kill()
			t.Fatalf("the child's control plane did not start: %v\n%s", procs, out.String())
		}
	}
	select {
	case err := <-exited:
		if !strings.Contains(out.String(), "panic: the reaper's test") {
			t.Fatalf("the child did not panic (%v):\n%s", err, out.String())
		}
	case <-time.After(time.Minute):
		_ = child.Process.Kill()
		t.Fatalf("the child did not end\n%s", out.String())
	}
	var left []string
	testenvEventually(t, 10*time.Second, func() bool {
		left = left[:0]
		for pid, id := range procs {
			if identity(pid) == id && (strings.Contains(cmdline(pid), "kube-apiserver") || strings.Contains(cmdline(pid), "etcd")) {
				left = append(left, strconv.Itoa(pid)+" "+cmdline(pid))
			}
		}
		return len(left) == 0
	})
	if len(left) > 0 {
		for _, l := range left {
			if pid, err := strconv.Atoi(strings.Fields(l)[0]); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		t.Fatalf("the panicked run left its control plane behind: %v", left)
	}
}

// TestPanicsForTheReaper is the child of TestPanicked_LeavesNoControlPlaneBehind.
func TestPanicsForTheReaper(t *testing.T) {
	if os.Getenv(panicEnv) == "" {
		t.Skip("only as the child of TestPanicked_LeavesNoControlPlaneBehind")
	}
	time.Sleep(time.Second)
	panic("the reaper's test")
}
