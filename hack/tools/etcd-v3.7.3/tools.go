//go:build tools

// Package tools pins the etcd server, etcdctl and etcdutl that the e2e harness runs.
package tools

import (
	_ "go.etcd.io/etcd/etcdctl/v3"
	_ "go.etcd.io/etcd/etcdutl/v3"
	_ "go.etcd.io/etcd/server/v3"
)
