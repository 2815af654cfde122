//go:build tools

// Package tools pins the kube-apiserver and kubectl that the e2e harness runs.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
