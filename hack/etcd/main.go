// Command etcd is etcd's own server entry point, wrapped in a module of ours
// because etcd's modules carry replace directives and cannot be `go install`ed.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
