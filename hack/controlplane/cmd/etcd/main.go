// Command etcd is upstream etcd's server entry point, built inside this module so
// that it shares the pinned dependency graph of the Kubernetes binaries. `go install`
// of go.etcd.io/etcd/server/v3 is refused because its go.mod carries replace
// directives; a wrapper main package has no such limit.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
