// Package usage_test runs "kubectl etcd usage" as a real process against the e2e harness and
// checks the live report (exec and port-forward) and the --file report of a snapshot against
// the keys the test wrote.
//
// The harness's kube-apiserver keeps its own storage etcd, apart from the cluster members, so
// the tests write kube-shaped keys straight into the members with clientv3. The check through a
// real kube-apiserver writing into the measured etcd belongs on the kubeadm cluster.
package usage_test

import (
	"testing"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/plugintest"
)

func TestMain(m *testing.M) { plugintest.Main(m) }

// The JSON of "usage -o json" (only the fields the tests check).
type report struct {
	Source              string `json:"source"`
	Pod                 string `json:"pod"`
	Transport           string `json:"transport"`
	Revision            int64  `json:"revision"`
	KubeCompactRevision int64  `json:"kubeCompactRevision"`
	Leases              int64  `json:"leases"`
	DB                  struct {
		Size     int64 `json:"size"`
		InUse    int64 `json:"inUse"`
		Free     int64 `json:"free"`
		LiveData int64 `json:"liveData"`
		History  int64 `json:"history"`
	} `json:"db"`
	Totals struct {
		Keys         int64 `json:"keys"`
		Bytes        int64 `json:"bytes"`
		HistoryBytes int64 `json:"historyBytes"`
	} `json:"totals"`
	Resources  []resource `json:"resources"`
	Prefixes   []resource `json:"prefixes"`
	Namespaces []struct {
		Namespace string `json:"namespace"`
		Objects   int64  `json:"objects"`
		Bytes     int64  `json:"bytes"`
	} `json:"namespaces"`
	Objects []struct {
		Key   string `json:"key"`
		Bytes int64  `json:"bytes"`
	} `json:"objects"`
}

type resource struct {
	Resource         string `json:"resource"`
	Group            string `json:"group"`
	Objects          int64  `json:"objects"`
	Bytes            int64  `json:"bytes"`
	HistoryRevisions int64  `json:"historyRevisions"`
	HistoryBytes     int64  `json:"historyBytes"`
	Largest          *struct {
		Key   string `json:"key"`
		Bytes int64  `json:"bytes"`
	} `json:"largest"`
}

func (r *report) resource(name, group string) resource {
	for _, x := range append(r.Resources, r.Prefixes...) {
		if x.Resource == name && x.Group == group {
			return x
		}
	}
	return resource{}
}
