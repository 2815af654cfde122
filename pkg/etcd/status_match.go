package etcd

import (
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
)

// matchPod finds the pod that runs member mm: by the member ID the pod's endpoint reported, then
// by member name, then by a shared client or peer URL. Pods already matched are skipped.
func matchPod(mm *etcdserverpb.Member, members []discovery.Member, status func(int) *clientv3.StatusResponse, used map[int]bool) int {
	for i := range members {
		if st := status(i); !used[i] && st != nil && st.Header != nil && st.Header.MemberId == mm.ID {
			return i
		}
	}
	if mm.Name != "" {
		for i := range members {
			if !used[i] && status(i) == nil && members[i].Name == mm.Name {
				return i
			}
		}
	}
	for i := range members {
		if used[i] || status(i) != nil {
			continue
		}
		if overlaps(mm.ClientURLs, members[i].ClientURLs()) || overlaps(mm.PeerURLs, members[i].InitialAdvertisePeerURLs) {
			return i
		}
	}
	return -1
}

func overlaps(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if strings.TrimRight(x, "/") == strings.TrimRight(y, "/") {
				return true
			}
		}
	}
	return false
}

func inList(ml *clientv3.MemberListResponse, hexID string) bool {
	for _, m := range ml.Members {
		if FormatID(m.ID) == hexID {
			return true
		}
	}
	return false
}

func sortKey(m MemberStatus) string {
	if m.Pod != "" {
		return "0" + m.Pod
	}
	return "1" + m.Name + "/" + m.ID
}

// Fragmentation is the share of the database file not in use, in percent.
func Fragmentation(size, inUse int64) float64 {
	if size <= 0 || inUse > size {
		return 0
	}
	return float64(size-inUse) * 100 / float64(size)
}

func mustTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339, s)
	return t
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

func orUnknown(s string) string {
	if s == "" {
		return "Unknown"
	}
	return s
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}
