package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// reaperEnv, set in a test binary's environment, makes it the reaper of
// the test process it names instead of a test run.
const reaperEnv = "HAMON_TESTENV_REAP"

// startReaper runs this test binary again as the reaper of this process:
// a test that panics (or a binary killed with SIGKILL) runs no deferred
// code and no signal handler, and its kube-apiserver and etcd would run
// on, reparented to init. The reaper watches this process's children of
// those names and kills them once this process is gone. After a normal
// end it finds none and exits.
func startReaper() {
	cmd := exec.Command(os.Args[0]) // this test binary, as the reaper
	cmd.Env = append(os.Environ(), reaperEnv+"="+strconv.Itoa(os.Getpid()))
	// Its own process group: an interrupt of the test's group leaves it to
	// do its work after the test has ended.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err == nil {
		go func() { _ = cmd.Wait() }()
	}
}

// reapIfAsked is the reaper's whole run, when the environment asks for it:
// it never returns then.
func reapIfAsked() {
	v := os.Getenv(reaperEnv)
	if v == "" {
		return
	}
	watched, err := strconv.Atoi(v)
	if err != nil || watched <= 1 {
		os.Exit(2)
	}
	var last []int
	for alive(watched) {
		last = controlPlaneChildren(watched)
		time.Sleep(500 * time.Millisecond)
	}
	for _, pid := range last {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	os.Exit(0)
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// controlPlaneChildren are parent's children named kube-apiserver or etcd.
func controlPlaneChildren(parent int) []int {
	var out []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		data, err := os.ReadFile(filepath.Join(d, "stat"))
		if err != nil {
			continue
		}
		s := string(data)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		name, rest := s[open+1:end], strings.Fields(s[end+1:])
		if len(rest) < 2 || (name != "kube-apiserver" && name != "etcd") {
			continue
		}
		if ppid, _ := strconv.Atoi(rest[1]); ppid == parent {
			pid, _ := strconv.Atoi(filepath.Base(d))
			out = append(out, pid)
		}
	}
	return out
}
