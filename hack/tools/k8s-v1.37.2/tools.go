//go:build tools

// Package tools pins the Kubernetes binaries the e2e harnesses run: kube-apiserver and kubectl
// (KWOK harness), and kubeadm, kubelet, kube-controller-manager and kube-scheduler (kubeadm
// cluster; hack/e2e-tools.sh kubeadm).
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubeadm"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
