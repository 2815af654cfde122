// Package plugin_test runs the kubectl-etcd binary as a real process against the e2e harness
// (real etcd members, a real kube-apiserver, kwok as the kubelet API) and checks its output,
// stderr and exit codes.
//
// The binary is $KUBECTL_ETCD when set (the Makefile sets it to bin/kubectl-etcd), else it is
// built once per test binary from the repository root (../../.. from this directory).
package plugin_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/harness"
	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/plugintest"
)

func TestMain(m *testing.M) {
	plugintest.HangLimit = 90 * time.Second
	plugintest.Main(m)
}

// The JSON of `status -o json` and `member list -o json`, as documented in the README (decoded
// with DisallowUnknownFields, so a renamed or added field shows up here).

type clusterStatus struct {
	Transport   string         `json:"transport"`
	ClusterID   string         `json:"clusterID,omitempty"`
	Leader      string         `json:"leader,omitempty"`
	State       string         `json:"state"`
	Quorum      quorum         `json:"quorum"`
	Members     []memberStatus `json:"members"`
	Alarms      []string       `json:"alarms,omitempty"`
	Downgrade   *downgrade     `json:"downgrade,omitempty"`
	Warnings    []string       `json:"warnings,omitempty"`
	Unavailable []string       `json:"unavailable,omitempty"`
}

// downgrade is etcd's downgrade state (3.6+), in the cluster's and in each member's status.
type downgrade struct {
	Enabled       bool   `json:"enabled"`
	TargetVersion string `json:"targetVersion,omitempty"`
}

type quorum struct {
	Voters         int `json:"voters"`
	HealthyVoters  int `json:"healthyVoters"`
	Learners       int `json:"learners"`
	Quorum         int `json:"quorum"`
	FaultTolerance int `json:"faultTolerance"`
	FailuresLeft   int `json:"failuresLeft"`
}

type memberStatus struct {
	Pod                  string     `json:"pod,omitempty"`
	Node                 string     `json:"node,omitempty"`
	Name                 string     `json:"name,omitempty"`
	ID                   string     `json:"id,omitempty"`
	Endpoint             string     `json:"endpoint,omitempty"`
	Reachable            bool       `json:"reachable"`
	Healthy              bool       `json:"healthy"`
	HealthError          string     `json:"healthError,omitempty"`
	HealthTook           string     `json:"healthTook,omitempty"`
	HealthInferred       bool       `json:"healthInferred,omitempty"`
	Leader               bool       `json:"leader"`
	Learner              bool       `json:"learner"`
	Version              string     `json:"version,omitempty"`
	StorageVersion       string     `json:"storageVersion,omitempty"`
	Downgrade            *downgrade `json:"downgrade,omitempty"`
	DBSize               int64      `json:"dbSize"`
	DBSizeInUse          int64      `json:"dbSizeInUse"`
	DBSizeQuota          int64      `json:"dbSizeQuota,omitempty"`
	FragmentationPercent float64    `json:"fragmentationPercent"`
	RaftTerm             uint64     `json:"raftTerm"`
	RaftIndex            uint64     `json:"raftIndex"`
	RaftAppliedIndex     uint64     `json:"raftAppliedIndex"`
	Revision             int64      `json:"revision"`
	LeaderID             string     `json:"leaderID,omitempty"`
	ClusterID            string     `json:"clusterID,omitempty"`
	Alarms               []string   `json:"alarms,omitempty"`
	Errors               []string   `json:"errors,omitempty"`
	HasPod               bool       `json:"hasPod"`
	PodPhase             string     `json:"podPhase,omitempty"`
	PodReady             bool       `json:"podReady"`
	Image                string     `json:"image,omitempty"`
	DataDir              string     `json:"dataDir,omitempty"`
	PeerURLs             []string   `json:"peerURLs,omitempty"`
	ClientURLs           []string   `json:"clientURLs,omitempty"`
	ServerCertNotAfter   string     `json:"serverCertNotAfter,omitempty"`
	ServerCertDaysLeft   *int       `json:"serverCertDaysLeft,omitempty"`
	WALFsyncP99Seconds   *float64   `json:"walFsyncP99Seconds,omitempty"`
	Problems             []string   `json:"problems,omitempty"`
}

type memberList struct {
	Transport         string       `json:"transport"`
	ClusterID         string       `json:"clusterID"`
	From              string       `json:"from"`
	Members           []memberInfo `json:"members"`
	PodsWithoutMember []string     `json:"podsWithoutMember,omitempty"`
}

type memberInfo struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Started    bool     `json:"started"`
	Learner    bool     `json:"learner"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
	Pod        string   `json:"pod,omitempty"`
	Node       string   `json:"node,omitempty"`
	HasPod     bool     `json:"hasPod"`
	PodPhase   string   `json:"podPhase,omitempty"`
	Problems   []string `json:"problems,omitempty"`
}

// member returns the member of st whose pod is etcd-<name>.
func (st *clusterStatus) member(t *testing.T, name string) memberStatus {
	t.Helper()
	for _, m := range st.Members {
		if m.Pod == "etcd-"+name {
			return m
		}
	}
	t.Fatalf("no member with pod etcd-%s in %+v", name, st.Members)
	return memberStatus{}
}

// stable drops what legitimately differs between two runs or two transports: raft term and
// indexes, revision, DB sizes, the health probe's latency (or that the health was read from
// the status, over exec) and the fsync latency, the transport and the serving certificate (only
// port-forward sees it).
func (st clusterStatus) stable() clusterStatus {
	st.Transport = ""
	ms := make([]memberStatus, len(st.Members))
	for i, m := range st.Members {
		m.HealthTook, m.HealthInferred = "", false
		m.RaftTerm, m.RaftIndex, m.RaftAppliedIndex, m.Revision = 0, 0, 0, 0
		m.DBSize, m.DBSizeInUse, m.FragmentationPercent = 0, 0, 0
		m.ServerCertNotAfter, m.ServerCertDaysLeft = "", nil
		m.WALFsyncP99Seconds = nil
		ms[i] = m
	}
	st.Members = ms
	return st
}

func (ml memberList) stable() memberList {
	ml.Transport, ml.From = "", ""
	return ml
}

func mustJSON(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// etcdVersion is the version string etcd reports ("3.6.16") for the cluster's EtcdVersion.
func etcdVersion(c *harness.Cluster) string { return strings.TrimPrefix(c.EtcdVersion, "v") }

// hexID is how the plugin prints a member ID.
func hexID(c *harness.Cluster, name string) string { return fmt.Sprintf("%x", c.MemberID(name)) }

// waitHealthy polls `status --transport exec` until it exits 0 (after members were restarted).
func waitHealthy(t *testing.T, c *harness.Cluster) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var r *plugintest.Result
	for time.Now().Before(deadline) {
		r = plugintest.Run(t, c, "status", "--transport", "exec", "--request-timeout", "5s")
		if r.Code == 0 {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("cluster did not become healthy within 60s; last run:\n%s", r)
}
