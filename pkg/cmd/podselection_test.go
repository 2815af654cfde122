package cmd

import (
	"strings"
	"testing"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
)

// --pod narrows what a command shows or touches, never what it judges: the members outside the
// selection are still asked, so a healthy cluster stays healthy (they used to count as down,
// "no etcd pod found", and "status --pod etcd-cp-1", the README's example, exited 3).
func TestPodSelectionKeepsTheClusterVerdict(t *testing.T) {
	pods := kubeadmPods(t, "cp-1", "cp-2", "cp-3")

	out, errOut, code := run(t, pods, fakeCluster(), "status", "--pod", "etcd-cp-1")
	if code != 0 || errOut != "" || !strings.Contains(out, "Healthy: 3 of 3 voting members healthy") {
		t.Errorf("status --pod etcd-cp-1 on a healthy cluster: code %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "etcd-cp-1") || strings.Contains(out, "etcd-cp-2") || strings.Contains(out, "etcd-cp-3") {
		t.Errorf("status --pod etcd-cp-1 shows only etcd-cp-1's row:\n%s", out)
	}

	// A member down outside the selection still counts: the verdict is the cluster's, and its
	// error explains the exit code.
	cl := fakeCluster()
	cl.Members[2].Down = true
	out, errOut, code = run(t, pods, cl, "status", "--pod", "etcd-cp-1")
	if code != cmdutil.ExitDegraded || !strings.Contains(out, "Degraded: 2 of 3") || !strings.Contains(errOut, "error: etcd-cp-3:") {
		t.Errorf("status --pod etcd-cp-1 with cp-3 down: code %d\n%s\n%s", code, out, errOut)
	}

	for _, args := range [][]string{
		{"doctor", "--pod", "etcd-cp-1"},
		{"upgrade-check", "--pod", "etcd-cp-1", "--to", "3.6.16"},
		{"check", "consistency", "--pod", "etcd-cp-1"},
	} {
		cl := fakeCluster()
		for _, m := range cl.Members {
			m.Revision = 10
		}
		if out, errOut, code := run(t, pods, cl, args...); code != 0 {
			t.Errorf("%s on a healthy cluster: code %d\n%s\n%s", strings.Join(args, " "), code, out, errOut)
		}
	}

	_, errOut, code = run(t, pods, fakeCluster(), "status", "--pod", "etcd-cp-9")
	if code != cmdutil.ExitNoPods || !strings.Contains(errOut, "no etcd pods named etcd-cp-9") {
		t.Errorf("an unknown --pod: code %d %q", code, errOut)
	}
}

// defrag --pod defragments only the pods named, after checking every member.
func TestDefragPodSelection(t *testing.T) {
	pods := kubeadmPods(t, "cp-1", "cp-2", "cp-3")
	cl := fakeCluster()
	out, errOut, code := run(t, pods, cl, "defrag", "--pod", "etcd-cp-2", "--force", "--yes")
	if code != 0 || len(cl.Defragged) != 1 || cl.Defragged[0] != cl.Members[1].ID {
		t.Fatalf("defrag --pod etcd-cp-2: code %d, defragmented %x\n%s\n%s", code, cl.Defragged, out, errOut)
	}

	// A member outside the selection that is down stops it: a defrag blocks its member.
	cl = fakeCluster()
	cl.Members[2].Down = true
	_, errOut, code = run(t, pods, cl, "defrag", "--pod", "etcd-cp-2", "--force", "--yes")
	if code != cmdutil.ExitRefused || len(cl.Defragged) != 0 || !strings.Contains(errOut, "cp-3") {
		t.Errorf("defrag --pod etcd-cp-2 with cp-3 down: code %d, defragmented %x\n%s", code, cl.Defragged, errOut)
	}
}
