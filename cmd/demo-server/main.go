// Command demo-server is the server of hamon's demo: while its role file
// says active it writes a counter to a simulated shared disk through its
// host's path, once every interval. A fenced host that kept writing would
// show in the disk's write log; its writes are refused instead.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hamon-ha/hamon/nodeagent/simdisk"
)

func main() {
	root := flag.String("disk-root", os.Getenv("HAMON_SIM_DISK_ROOT"), "Directory of the simulated shared disks.")
	disk := flag.String("disk", "mpatha", "The shared disk to write.")
	port := flag.String("port", "p1", "The target port (path) to write through.")
	every := flag.Duration("interval", 200*time.Millisecond, "Time between two writes.")
	flag.Parse()
	node, roleFile := os.Getenv("HAMON_SIM_NODE"), os.Getenv("HAMON_ROLE_FILE")
	if *root == "" || node == "" {
		fmt.Fprintln(os.Stderr, "demo-server: needs --disk-root (or $HAMON_SIM_DISK_ROOT) and $HAMON_SIM_NODE")
		os.Exit(2)
	}
	d, err := simdisk.Open(*root+"/"+*disk, 1024)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo-server:", err)
		os.Exit(1)
	}
	n := simdisk.Nexus{Initiator: node, Port: *port}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	var counter uint64
	fmt.Printf("demo-server on %s: writing %s through %s while active\n", node, *disk, n)
	for {
		select {
		case <-sig:
			fmt.Println("demo-server: terminated normally")
			return
		case <-time.After(*every):
		}
		role, _ := os.ReadFile(roleFile)
		if strings.TrimSpace(string(role)) != "active" {
			continue
		}
		counter++
		cdb := make([]byte, 10)
		cdb[0] = simdisk.OpWrite10
		binary.BigEndian.PutUint16(cdb[7:9], 1)
		block := make([]byte, simdisk.BlockSize)
		binary.BigEndian.PutUint64(block, counter)
		copy(block[8:], node)
		r, err := d.Execute(n, cdb, block)
		if err == nil {
			err = r.Err()
		}
		if err != nil {
			fmt.Printf("write %d refused: %v\n", counter, err)
			continue
		}
		if counter%25 == 0 {
			fmt.Printf("wrote %d\n", counter)
		}
	}
}
