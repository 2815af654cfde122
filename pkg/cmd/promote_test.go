package cmd

import (
	"errors"
	"strings"
	"testing"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	fakeetcd "github.com/kubectl-etcd/kubectl-etcd/pkg/transport/fake"
)

// Issue 16 item 5: the promotion is applied but its answer is lost; with --wait=false (one
// attempt) the command used to exit 6 although the member votes.
func TestPromoteLostAnswerExitsZero(t *testing.T) {
	for _, extra := range [][]string{{"--wait=false"}, {"--timeout", "1ms", "--poll-interval", "1h"}} {
		t.Run(strings.Join(extra, " "), func(t *testing.T) {
			cl := fakeCluster()
			const id4 = 0xa1b2c3d4e5f60718
			cl.Members = append(cl.Members, &fakeetcd.Member{ID: id4, Name: "cp-4", Learner: true, InSync: true, Version: "3.6.16",
				ClientURLs: []string{"https://cp-4:2379"}, PeerURLs: []string{"https://cp-4:2380"}})
			cl.PodMember["etcd-cp-4"] = id4
			cl.AfterPromote = func(*fakeetcd.Cluster, uint64) error { return errors.New("context deadline exceeded") }
			out, errOut, code := run(t, kubeadmPods(t, "cp-1", "cp-2", "cp-3", "cp-4"), cl, append([]string{"promote", "cp-4"}, extra...)...)
			if code != cmdutil.ExitOK || !strings.Contains(out, "member cp-4 (a1b2c3d4e5f60718): promoted (the server applied it; its answer was lost)") {
				t.Errorf("code %d\n%s\n%s", code, out, errOut)
			}
			if cl.Find(id4).Learner {
				t.Error("still a learner")
			}
		})
	}
}
