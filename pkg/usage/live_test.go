package usage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport/fake"
)

func cluster(kv map[string]string) (*fake.Cluster, []discovery.Member) {
	mk := func(id uint64, n string) *fake.Member {
		return &fake.Member{ID: id, Name: n, Version: "3.6.16", DBSize: 100 << 20, InUse: 40 << 20, RaftIndex: 1000, Revision: 77,
			PeerURLs: []string{"https://" + n + ":2380"}, ClientURLs: []string{"https://" + n + ":2379"}}
	}
	c := &fake.Cluster{
		ClusterID: 0xcdf818194e3a8c32, LeaderID: 1,
		Members:   []*fake.Member{mk(1, "cp-1"), mk(2, "cp-2"), mk(3, "cp-3")},
		PodMember: map[string]uint64{"etcd-cp-1": 1, "etcd-cp-2": 2, "etcd-cp-3": 3},
		KV:        kv,
	}
	var pods []discovery.Member
	for _, n := range []string{"cp-1", "cp-2", "cp-3"} {
		pods = append(pods, discovery.Member{Namespace: "kube-system", Pod: "etcd-" + n, Node: n, LocalClientURL: "https://127.0.0.1:2379"})
	}
	return c, pods
}

func keyspace() map[string]string {
	kv := map[string]string{KubeCompactKey: "70", "/app/x": "1"}
	for i := range 23 {
		kv[fmt.Sprintf("/registry/configmaps/ns%d/cm%02d", i%3, i)] = strings.Repeat("v", 10+i)
	}
	kv["/registry/example.com/widgets/ns0/w"] = "w"
	return kv
}

// Every key is counted once whatever the page size, including page sizes that end exactly on a
// page boundary; the leader is spared; every range is serializable through the transport.
func TestLiveWalk(t *testing.T) {
	want := map[string]int64{}
	var wantBytes int64
	for k, v := range keyspace() {
		want[ParseKey([]byte(k)).ResourceName()]++
		wantBytes += int64(len(k) + len(v))
	}
	for _, page := range []int64{1, 2, 5, 13, 26, 27, 1000} {
		t.Run(fmt.Sprint(page), func(t *testing.T) {
			c, pods := cluster(keyspace())
			var picked etcd.MemberStatus
			r, err := Live(context.Background(), c.Connector(), pods, "", LiveOptions{PageSize: page, Top: 3}, func(m etcd.MemberStatus) { picked = m })
			if err != nil {
				t.Fatal(err)
			}
			if picked.Leader || r.Pod == "etcd-cp-1" {
				t.Errorf("walked the leader %s", r.Pod)
			}
			got := map[string]int64{}
			for _, x := range append(r.Resources, r.Prefixes...) {
				got[x.Resource+dot(x.Group)] = x.Objects
			}
			for k, n := range want {
				if got[k] != n {
					t.Errorf("%s: %d objects, want %d (all: %v)", k, got[k], n, got)
				}
			}
			if r.Totals.Keys != int64(len(keyspace())) || r.Totals.Bytes != wantBytes || r.DB.LiveData != wantBytes {
				t.Errorf("totals %+v, want %d keys %d bytes", r.Totals, len(keyspace()), wantBytes)
			}
			if r.Revision != 77 || r.KubeCompactRevision != 70 || r.DB.Size != 100<<20 || r.DB.InUse != 40<<20 || r.DB.Free != 60<<20 || r.DB.History != 40<<20-wantBytes {
				t.Errorf("revision %d kube compact %d db %+v", r.Revision, r.KubeCompactRevision, r.DB)
			}
			if len(r.Objects) != 3 || r.Objects[0].Name != "cm22" || len(r.Unavailable) == 0 {
				t.Errorf("objects %+v unavailable %v", r.Objects, r.Unavailable)
			}
		})
	}
}

func dot(g string) string {
	if g == "" {
		return ""
	}
	return "." + g
}

func TestLiveWalkPrefix(t *testing.T) {
	c, pods := cluster(keyspace())
	r, err := Live(context.Background(), c.Connector(), pods, "cp-3", LiveOptions{PageSize: 4, Prefix: "/registry/configmaps/ns1/", Rate: 1000}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Pod != "etcd-cp-3" || r.Totals.Keys != 8 || len(r.Resources) != 1 || len(r.Prefixes) != 0 || r.DB.History != 0 {
		t.Errorf("pod %s totals %+v resources %+v db %+v", r.Pod, r.Totals, r.Resources, r.DB)
	}
	for _, call := range c.Calls {
		if strings.Contains(call, "range") && !strings.Contains(call, `"/registry/configmaps/ns1`) && !strings.Contains(call, KubeCompactKey) {
			t.Errorf("range outside the prefix: %s", call)
		}
	}
}

// A failure in the middle of the walk is an error naming the member, not a partial report.
func TestLiveWalkFails(t *testing.T) {
	c, pods := cluster(keyspace())
	c.RangeErrAfter = 2
	_, err := Live(context.Background(), c.Connector(), pods, "", LiveOptions{PageSize: 5}, nil)
	if err == nil || !strings.Contains(err.Error(), "etcd-cp-2") || !strings.Contains(err.Error(), "page 3") {
		t.Errorf("err = %v", err)
	}
}

// Large values: a page over the transport's limit is asked again with fewer keys, and every key
// is still counted once; a single key over the limit is an error naming the page.
func TestLiveWalkShrinksLargePages(t *testing.T) {
	kv := keyspace()
	for i := range 40 {
		kv[fmt.Sprintf("/registry/secrets/ns0/sh.helm.release.v1.app.v%02d", i)] = strings.Repeat("h", 1000)
	}
	var wantBytes int64
	for k, v := range kv {
		wantBytes += int64(len(k) + len(v))
	}
	c, pods := cluster(kv)
	c.MaxRangeBytes = 5000 // at most 4 of the large values per page
	var sizes []int64
	r, err := Live(context.Background(), c.Connector(), pods, "", LiveOptions{PageSize: 500, Shrunk: func(n int64) { sizes = append(sizes, n) }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Totals.Keys != int64(len(kv)) || r.Totals.Bytes != wantBytes {
		t.Errorf("totals %+v, want %d keys %d bytes", r.Totals, len(kv), wantBytes)
	}
	if len(sizes) == 0 || sizes[len(sizes)-1] > 4 {
		t.Errorf("page sizes after shrinking %v, want down to 4 keys or fewer", sizes)
	}

	c, pods = cluster(kv)
	c.MaxRangeBytes = 500 // one large value alone is over it
	_, err = Live(context.Background(), c.Connector(), pods, "", LiveOptions{PageSize: 500}, nil)
	if !errors.Is(err, transport.ErrTooLarge) || !strings.Contains(err.Error(), ", 1 keys)") {
		t.Errorf("a key over the limit: %v", err)
	}
}
