package nodehelper

import (
	"context"
	"encoding/json"
	"fmt"

	"k8s.io/client-go/kubernetes"
)

// KubeletFree is the free space, in bytes, of the filesystem of the kubelet's root directory
// (where every pod's emptyDir lies) as node's kubelet reports it in its stats summary:
// GET /api/v1/nodes/NODE/proxy/stats/summary (RBAC get nodes/proxy).
func KubeletFree(ctx context.Context, client kubernetes.Interface, node string) (int64, error) {
	data, err := client.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", node, "proxy", "stats", "summary").DoRaw(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading the stats summary of node %s's kubelet: %w", node, err)
	}
	return SummaryFree(data)
}

// SummaryFree reads node.fs.availableBytes from a kubelet stats summary.
func SummaryFree(data []byte) (int64, error) {
	var s struct {
		Node struct {
			FS *struct {
				AvailableBytes *int64 `json:"availableBytes"`
			} `json:"fs"`
		} `json:"node"`
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return 0, fmt.Errorf("reading the kubelet's stats summary: %w", err)
	}
	if s.Node.FS == nil || s.Node.FS.AvailableBytes == nil {
		return 0, fmt.Errorf("the kubelet's stats summary has no node.fs.availableBytes")
	}
	return *s.Node.FS.AvailableBytes, nil
}
