// Package snapshot_test runs "kubectl etcd snapshot ..." as a real process against the e2e
// harness (real etcd members, a real kube-apiserver, kwok as the kubelet API) and checks the
// files it leaves behind with etcd's own tools: the real etcdutl restores what the plugin saved
// and a real etcd serves the restored data.
//
// The binary is $KUBECTL_ETCD when set (the Makefile sets it to bin/kubectl-etcd), else it is
// built once per test binary from the repository root (../../.. from this directory).
package snapshot_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/harness"
	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/plugintest"
)

func TestMain(m *testing.M) { plugintest.Main(m) }

// start starts the plugin in dir against cluster c (nil: the test's own environment).
func start(t *testing.T, c *harness.Cluster, dir string, args ...string) *plugintest.Proc {
	t.Helper()
	return plugintest.Start(t, c, plugintest.Options{Dir: dir}, args...)
}

// run runs the plugin in dir to completion.
func run(t *testing.T, c *harness.Cluster, dir string, args ...string) *plugintest.Result {
	t.Helper()
	return start(t, c, dir, args...).Wait(t)
}

// wantCrashFree fails when the plugin died of a Go panic or fatal runtime error.
func wantCrashFree(t *testing.T, r *plugintest.Result) {
	t.Helper()
	for _, s := range []string{"panic:", "fatal error:", "goroutine "} {
		if strings.Contains(r.Stderr, s) {
			t.Fatalf("the plugin crashed (%q on stderr; exit code %d) instead of giving a verdict\n%s", s, r.Code, truncate(r.String(), 1500))
			return
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "\n... (truncated)"
}

func args(a ...any) []string {
	var out []string
	for _, x := range a {
		switch v := x.(type) {
		case string:
			out = append(out, v)
		case []string:
			out = append(out, v...)
		default:
			panic(fmt.Sprintf("args: %T", x))
		}
	}
	return out
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// wantAbsent fails when any of the paths exists.
func wantAbsent(t *testing.T, r *plugintest.Result, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if exists(p) {
			t.Errorf("%s exists after the run, want it absent\n%s", p, r)
		}
	}
}

// hexID is how the plugin prints a member or cluster ID.
func hexID(id uint64) string { return fmt.Sprintf("%x", id) }

// The JSON the plugin prints (only the fields the tests check).

type snapshotMetadata struct {
	File              string `json:"file"`
	Size              int64  `json:"size"`
	SHA256            string `json:"sha256"`
	DBSHA256          string `json:"dbSHA256"`
	ClusterID         string `json:"clusterID"`
	MemberID          string `json:"memberID"`
	MemberName        string `json:"memberName"`
	Pod               string `json:"pod"`
	Node              string `json:"node"`
	Revision          int64  `json:"revision"`
	EtcdVersion       string `json:"etcdVersion"`
	StorageVersion    string `json:"storageVersion"`
	DBSize            int64  `json:"dbSize"`
	KubernetesVersion string `json:"kubernetesVersion"`
	Time              string `json:"time"`
	Took              string `json:"took"`
	PluginVersion     string `json:"pluginVersion"`
}

type statusReport struct {
	File           string   `json:"file"`
	Size           int64    `json:"size"`
	SHA256         string   `json:"sha256"`
	Hash           uint32   `json:"hash"`
	Revision       int64    `json:"revision"`
	TotalKeys      int      `json:"totalKeys"`
	TotalSize      int64    `json:"totalSize"`
	StorageVersion string   `json:"storageVersion"`
	Trailer        string   `json:"trailer"`
	Bolt           string   `json:"bolt"`
	Verdict        string   `json:"verdict"`
	Problems       []string `json:"problems"`
}

type onNodeResult struct {
	Pod        string `json:"pod"`
	Node       string `json:"node"`
	MemberID   string `json:"memberID"`
	MemberName string `json:"memberName"`
	Path       string `json:"path"`
	HostPath   string `json:"hostPath"`
	Trailer    string `json:"trailer"`
	Hash       uint32 `json:"hash"`
	Revision   int64  `json:"revision"`
	TotalKeys  int    `json:"totalKeys"`
	TotalSize  int64  `json:"totalSize"`
}

type restorePlan struct {
	Snapshot       string        `json:"snapshot"`
	SnapshotOnNode string        `json:"snapshotOnNode"`
	InitialCluster string        `json:"initialCluster"`
	BumpRevision   int64         `json:"bumpRevision"`
	Nodes          []restoreNode `json:"nodes"`
	Steps          []string      `json:"steps"`
	Warnings       []string      `json:"warnings"`
}

type restoreNode struct {
	Node        string   `json:"node"`
	Pod         string   `json:"pod"`
	Name        string   `json:"name"`
	PeerURLs    []string `json:"peerURLs"`
	DataDir     string   `json:"dataDir"`
	RestoreDir  string   `json:"restoreDir"`
	Command     []string `json:"command"`
	CommandLine string   `json:"commandLine"`
}

type memberList struct {
	ClusterID string `json:"clusterID"`
	Members   []struct {
		ID       string   `json:"id"`
		Name     string   `json:"name"`
		Started  bool     `json:"started"`
		Learner  bool     `json:"learner"`
		PeerURLs []string `json:"peerURLs"`
		Pod      string   `json:"pod"`
		Node     string   `json:"node"`
	} `json:"members"`
}

// etcdutlStatus is `etcdutl snapshot status -w json`.
type etcdutlStatus struct {
	Hash      uint32 `json:"hash"`
	Revision  int64  `json:"revision"`
	TotalKey  int    `json:"totalKey"`
	TotalSize int64  `json:"totalSize"`
}
