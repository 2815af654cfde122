package kubeadm_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/plugintest"
)

// usageReport is the part of "usage -o json" this suite checks.
type usageReport struct {
	Source    string `json:"source"`
	Transport string `json:"transport"`
	Resources []struct {
		Resource         string `json:"resource"`
		Group            string `json:"group"`
		Objects          int64  `json:"objects"`
		Bytes            int64  `json:"bytes"`
		HistoryRevisions int64  `json:"historyRevisions"`
	} `json:"resources"`
	Namespaces []struct {
		Namespace string `json:"namespace"`
		Objects   int64  `json:"objects"`
		Bytes     int64  `json:"bytes"`
	} `json:"namespaces"`
}

func usageOf(t *testing.T, args ...string) usageReport {
	t.Helper()
	r := runPlugin(t, append([]string{"usage", "-o", "json", "--top", "50"}, args...)...)
	plugintest.WantCode(t, r, 0)
	var rep usageReport
	plugintest.Decode(t, r, &rep)
	return rep
}

// configMaps is the resource row of core configmaps, and ns the row of a namespace.
func (u usageReport) configMaps() (objects, bytes, history int64) {
	for _, x := range u.Resources {
		if x.Resource == "configmaps" && x.Group == "" {
			return x.Objects, x.Bytes, x.HistoryRevisions
		}
	}
	return 0, 0, 0
}

func (u usageReport) ns(name string) (objects, bytes int64) {
	for _, x := range u.Namespaces {
		if x.Namespace == name {
			return x.Objects, x.Bytes
		}
	}
	return 0, 0
}

// TestUsageThroughAPIServer: objects written through kubeadm's kube-apiserver (which stores them
// in the cluster's own etcd, protobuf-encoded) are what `usage` counts, live through both
// transports and from a snapshot file; the updates of one ConfigMap show up as history in the
// file (kube-apiserver compacts only revisions older than its previous 5-minute tick, so updates
// made just now are still stored).
func TestUsageThroughAPIServer(t *testing.T) {
	plugintest.SkipShort(t)
	const ns, count, size = "usage-e2e", 6, 20 << 10
	if out, err := kubectl(t, "create", "namespace", ns); err != nil {
		t.Fatalf("create namespace: %v\n%s", err, out)
	}
	defer func() { _, _ = kubectl(t, "delete", "namespace", ns, "--wait=false") }()
	for i := range count {
		val := strings.Repeat(string(rune('a'+i)), size)
		if out, err := kubectl(t, "-n", ns, "create", "configmap", fmt.Sprintf("cm-%d", i), "--from-literal=data="+val); err != nil {
			t.Fatalf("create configmap: %v\n%s", err, out)
		}
	}
	const updates = 20
	for i := range updates {
		patch := fmt.Sprintf(`{"data":{"n":"%d"}}`, i)
		if out, err := kubectl(t, "-n", ns, "patch", "configmap", "cm-0", "--type=merge", "-p", patch); err != nil {
			t.Fatalf("patch configmap: %v\n%s", err, out)
		}
	}

	// The prefix keeps out what kube-controller-manager adds to every namespace (the
	// kube-root-ca.crt ConfigMap, the default ServiceAccount), so the counts are exact.
	prefix := "/registry/configmaps/" + ns + "/cm-"
	var liveBytes []int64
	for _, tr := range [][]string{{"--transport", "exec"}, pf("cp-2")} {
		rep := usageOf(t, append([]string{"--prefix", prefix}, tr...)...)
		objs, bytes := rep.ns(ns)
		if rep.Source != "live" || objs != count || bytes < count*size {
			t.Errorf("usage %v: namespace %s has %d objects / %d bytes, want %d objects of at least %d bytes in all",
				tr, ns, objs, bytes, count, count*size)
		}
		if cm, cmBytes, _ := rep.configMaps(); cm != count || cmBytes != bytes {
			t.Errorf("usage %v: %d configmaps of %d bytes, want the %d written (%d bytes, as their namespace)", tr, cm, cmBytes, count, bytes)
		}
		liveBytes = append(liveBytes, bytes)
	}
	if liveBytes[0] != liveBytes[1] {
		t.Errorf("namespace %s: %d bytes through exec, %d through port-forward; the same keys must measure the same", ns, liveBytes[0], liveBytes[1])
	}

	file := filepath.Join(t.TempDir(), "usage.db")
	plugintest.WantCode(t, runPlugin(t, append([]string{"snapshot", "save", file}, pf("cp-1")...)...), 0)
	rep := usageOf(t, "--file", file, "--prefix", prefix)
	objs, bytes := rep.ns(ns)
	if rep.Source != "file" || objs != count || bytes != liveBytes[0] {
		t.Errorf("usage --file: namespace %s has %d objects / %d bytes, want %d objects / %d bytes as the live walk measured",
			ns, objs, bytes, count, liveBytes[0])
	}
	if _, _, hist := rep.configMaps(); hist < updates {
		t.Errorf("usage --file: configmaps hold %d old revisions, want at least the %d updates of cm-0", hist, updates)
	}
}
