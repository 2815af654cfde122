package kubeadm_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/plugintest"
)

// These tests change the membership; they run after the read-only ones (file order) and each
// leaves a healthy 3-voter cluster behind.

type listedMember struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Started bool   `json:"started"`
	Learner bool   `json:"learner"`
}

func learners(ms []listedMember) int {
	n := 0
	for _, m := range ms {
		if m.Learner {
			n++
		}
	}
	return n
}

// stopEtcdForGood takes the etcd static pod off node (its manifest moved out of the kubelet's
// manifest directory) and waits until status sees that member unreachable. (Its mirror pod may
// linger in the API for a while: the member is judged by what etcd answers, not by the pod.)
func stopEtcdForGood(t *testing.T, node string) {
	t.Helper()
	onNode(t, node, "mv", "/etc/kubernetes/manifests/etcd.yaml", "/etc/kubernetes/etcd.yaml.stopped")
	eventually(t, "etcd on "+node+" down", 2*time.Minute, func() error {
		r, st := status(t, "--transport", "exec")
		if r.Code != 2 {
			return fmt.Errorf("status exit %d, want 2 (degraded)", r.Code)
		}
		for _, m := range st.Members {
			if m.Name == node && !m.Reachable {
				return nil
			}
		}
		return fmt.Errorf("member %s still reachable: %+v", node, st.Members)
	})
}

// removeAndReset is the first half of both runbooks: the dead member leaves the cluster, the node
// is reset as kubeadm reset does it and its Node object is deleted.
func removeAndReset(t *testing.T, node string) {
	t.Helper()
	r := runPlugin(t, "status", "--transport", "exec")
	plugintest.WantCode(t, r, 2)
	r = runPlugin(t, "member", "remove", node, "--dry-run", "--transport", "exec")
	plugintest.WantCode(t, r, 0)
	r = runPlugin(t, "member", "remove", node, "--yes", "--transport", "exec")
	plugintest.WantCode(t, r, 0)
	script(t, "reset", node)
	if _, err := kubectl(t, "delete", "node", node); err != nil {
		t.Fatal(err)
	}
	// The node's old mirror pods stay Terminating (no kubelet will confirm their deletion): delete
	// them for good, as after removing any dead node, so that the rejoined kubelet's new mirror
	// pods do not race with them.
	sel := "spec.nodeName=" + node
	if _, err := kubectl(t, "-n", "kube-system", "delete", "pods", "--field-selector", sel, "--force", "--grace-period=0"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the old pods of "+node+" gone", time.Minute, func() error {
		out, err := kubectl(t, "-n", "kube-system", "get", "pods", "--field-selector", sel, "-o", "name")
		if err == nil && strings.TrimSpace(out) != "" {
			err = fmt.Errorf("still there: %s", out)
		}
		return err
	})
}

// wantBackToThree: status is Healthy with 3 voters, the rejoined node's among them.
func wantBackToThree(t *testing.T) {
	t.Helper()
	var st clusterStatus
	var r *plugintest.Result
	// The rejoined member's mirror pod appears when its kubelet has registered it again.
	eventually(t, "three etcd pods with a ready, healthy member each", 2*time.Minute, func() error {
		r, st = status(t, "--transport", "exec")
		if r.Code != 0 {
			return fmt.Errorf("status exit %d:\n%s", r.Code, r)
		}
		for _, m := range st.Members {
			if !m.PodReady {
				return fmt.Errorf("pod %s not Ready yet", m.Pod)
			}
		}
		return nil
	})
	wantHealthy(t, "exec", r, st)
	// A mirror pod can be Ready in the API a moment before the kubelet serves port-forwards for
	// it ("pod does not exist" from the kubelet): the port-forward view gets the same grace.
	eventually(t, "status over port-forward healthy", time.Minute, func() error {
		r, st = status(t, pf("cp-1")...)
		if r.Code != 0 {
			return fmt.Errorf("status exit %d:\n%s", r.Code, r)
		}
		for _, m := range st.Members {
			if !m.PodReady {
				return fmt.Errorf("pod %s not Ready (again) yet", m.Pod)
			}
		}
		return nil
	})
	wantHealthy(t, "port-forward", r, st)
}

// TestRunbookReplaceMember plays README "Replace a failed member" for kubeadm: cp-3's etcd is
// gone for good; the member is removed, the node reset and joined again with kubeadm join
// --control-plane (which adds the learner and promotes it), and promote afterwards is a no-op.
func TestRunbookReplaceMember(t *testing.T) {
	plugintest.SkipShort(t)
	stopEtcdForGood(t, "cp-3")
	removeAndReset(t, "cp-3")
	script(t, "join", "cp-3")
	r := runPlugin(t, "promote", "cp-3", "--transport", "exec")
	plugintest.WantCode(t, r, 0)
	if !strings.Contains(r.Stdout+r.Stderr, "already a voting member") {
		t.Errorf("promote after kubeadm's own promotion:\n%s", r)
	}
	wantBackToThree(t)
}

// TestRunbookLearnerJoin plays README "kubeadm: a new control-plane member joins as a learner"
// for a join interrupted after kubeadm added the learner and wrote its etcd manifest: the member
// list shows the learner, promote names why it cannot check it and promote --force completes it
// (etcd's own in-sync check), and a rerun exits 0.
func TestRunbookLearnerJoin(t *testing.T) {
	plugintest.SkipShort(t)
	stopEtcdForGood(t, "cp-2")
	removeAndReset(t, "cp-2")
	script(t, "join", "cp-2", "--interrupt-after-learner")

	// The member list shows the learner at once (started or not); the kubelet then starts it
	// from the manifest kubeadm left, and it publishes its name.
	var ml struct {
		Members []listedMember `json:"members"`
	}
	r := runPlugin(t, "member", "list", "-o", "json", "--transport", "exec")
	plugintest.WantCode(t, r, 0)
	plugintest.Decode(t, r, &ml)
	if learners(ml.Members) != 1 || len(ml.Members) != 3 {
		t.Fatalf("after the interrupted join: want 3 members, one of them a learner:\n%s", r)
	}
	eventually(t, "the learner cp-2 started", 2*time.Minute, func() error {
		r = runPlugin(t, "member", "list", "-o", "json", "--transport", "exec")
		if r.Code != 0 {
			return fmt.Errorf("member list exit %d", r.Code)
		}
		plugintest.Decode(t, r, &ml)
		for _, m := range ml.Members {
			if m.Learner && m.Name == "cp-2" && m.Started {
				return nil
			}
		}
		return fmt.Errorf("no started learner cp-2:\n%s", r.Stdout)
	})
	// kubeadm 1.37 points a joining control-plane node's kubelet at its own API server, which
	// needs the local etcd, i.e. this learner: the kubelet cannot register, so there is no pod.
	r = runPlugin(t, "promote", "cp-2", "--transport", "exec", "--timeout", "5s")
	plugintest.WantCode(t, r, 6)
	if !strings.Contains(r.Stderr, "--force lets etcd judge") {
		t.Errorf("promote of a learner without a pod should point at --force:\n%s", r)
	}
	r = runPlugin(t, "promote", "cp-2", "--force", "--transport", "exec", "--timeout", "30s")
	// Promoted; the command then waits for the cluster to be healthy, which needs cp-2's API
	// server back (it is in a crash-loop back-off): exit 0, or 2 saying exactly that.
	if !strings.Contains(r.Stdout+r.Stderr, "cp-2") || !strings.Contains(r.Stdout+r.Stderr, "promoted") ||
		!(r.Code == 0 || r.Code == 2 && strings.Contains(r.Stderr, "promoted, but the cluster is not healthy yet")) {
		t.Fatalf("promote --force:\n%s", r)
	}
	r = runPlugin(t, "member", "list", "-o", "json", "--transport", "exec")
	plugintest.WantCode(t, r, 0)
	plugintest.Decode(t, r, &ml)
	for _, m := range ml.Members {
		if m.Learner {
			t.Fatalf("a learner is left after promote --force:\n%s", r)
		}
	}
	// What systemctl restart kubelet does: the back-off is forgotten, the API server starts.
	script(t, "kubelet-restart", "cp-2")
	wantBackToThree(t)
	r = runPlugin(t, "promote", "cp-2", "--transport", "exec")
	plugintest.WantCode(t, r, 0)
	if !strings.Contains(r.Stdout+r.Stderr, "already a voting member") {
		t.Errorf("promote rerun:\n%s", r)
	}
}
