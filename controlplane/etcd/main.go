// Command etcd is build glue: the etcd server release that the pinned Kubernetes release
// depends on, started through etcd's own entry point. etcd's root module cannot be built with
// `go install pkg@version` because it carries replace directives.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
