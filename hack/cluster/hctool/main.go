// Command hctool is the one helper binary of the images that make test-cluster
// builds (hack/cluster/images.sh): those images hold static binaries only, no
// shell, so the pause container, the demo server's patrol and its
// termination command are this program.
//
//	hctool pause                 block until SIGTERM or SIGINT (the pod sandbox)
//	hctool patrol [--dir DIR]    exit 1 while DIR/patrol-fail.<hostname> exists
//	hctool sleep DURATION        sleep, then exit 0
//	hctool mark FILE DURATION    write "start <ns>" to FILE, sleep, add "end <ns>"
//	hctool true | false          exit 0 | 1
//
// A pod's hostname is its name, so the test makes one pod's patrol fail by
// creating patrol-fail.<pod> in the shared directory.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	code, err := run(os.Args[1], os.Args[2:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "hctool:", err)
	}
	os.Exit(code)
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: hctool pause | patrol [--dir DIR] | sleep DURATION | mark FILE DURATION | true | false")
	os.Exit(2)
}

func run(cmd string, args []string) (int, error) {
	switch cmd {
	case "pause":
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		return 0, nil
	case "patrol":
		fs := flag.NewFlagSet("patrol", flag.ContinueOnError)
		dir := fs.String("dir", "/sim/disks", "Directory of the patrol-fail.<hostname> flags.")
		if err := fs.Parse(args); err != nil {
			return 2, err
		}
		host, err := os.Hostname()
		if err != nil {
			return 1, err
		}
		flagFile := filepath.Join(*dir, "patrol-fail."+host)
		if _, err := os.Stat(flagFile); err == nil {
			return 1, fmt.Errorf("patrol failed: %s exists", flagFile)
		} else if !errors.Is(err, os.ErrNotExist) {
			return 1, err
		}
		return 0, nil
	case "sleep":
		if len(args) != 1 {
			usage()
		}
		d, err := time.ParseDuration(args[0])
		if err != nil {
			return 2, err
		}
		time.Sleep(d)
		return 0, nil
	case "mark":
		// A termination command that says when it ran, for the test to
		// check that the standby started only after it ended.
		if len(args) != 2 {
			usage()
		}
		d, err := time.ParseDuration(args[1])
		if err != nil {
			return 2, err
		}
		if err := os.WriteFile(args[0], fmt.Appendf(nil, "start %d\n", time.Now().UnixNano()), 0o644); err != nil {
			return 1, err
		}
		time.Sleep(d)
		f, err := os.OpenFile(args[0], os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return 1, err
		}
		_, err = fmt.Fprintf(f, "end %d\n", time.Now().UnixNano())
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return 1, err
		}
		return 0, nil
	case "true":
		return 0, nil
	case "false":
		return 1, nil
	}
	usage()
	return 2, nil
}
