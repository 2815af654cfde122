package member

import (
	"context"
	"strings"
	"testing"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdtest"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	fakeetcd "github.com/kubectl-etcd/kubectl-etcd/pkg/transport/fake"
)

var ids = cmdtest.IDs

// cluster is three kubeadm etcd pods and the members they run.
func cluster(t *testing.T) ([]runtime.Object, *fakeetcd.Cluster) {
	t.Helper()
	objs, c := cmdtest.KubeadmCluster(t)
	for _, m := range c.Members {
		m.DBSize, m.InUse = 1<<20, 1<<19
	}
	return objs, c
}

// remove runs "member remove target" with confirm standing in for the operator's answer (nil:
// --yes). It returns stdout, stderr and the exit code.
func remove(t *testing.T, objs []runtime.Object, c *fakeetcd.Cluster, target string, confirm func(string) error) (string, string, int) {
	t.Helper()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	g := cmdtest.Globals(t, objs, c, "kubectl etcd member remove")
	o := &RemoveOptions{GlobalOptions: g, IOStreams: streams, Target: target, Yes: confirm == nil, confirm: confirm}
	err := o.Run(context.Background())
	if err != nil {
		errOut.WriteString(cmdutil.Message(err) + "\n")
	}
	return out.String(), errOut.String(), cmdutil.ExitCode(err)
}

func removed(c *fakeetcd.Cluster) bool { return cmdtest.Called(c, "member remove") }

// Issue 16 item 1: under NOSPACE with one member down, removing a serving member loses quorum.
func TestRemoveUnderNOSPACERefused(t *testing.T) {
	objs, c := cluster(t)
	c.Members[2].Down = true
	c.Members[0].Unhealthy = "Active Alarm(s): NOSPACE "
	c.Members[1].Unhealthy = "Active Alarm(s): NOSPACE "
	c.Alarms = []*etcdserverpb.AlarmMember{{MemberID: ids[0], Alarm: etcdserverpb.AlarmType_NOSPACE}}
	out, errOut, code := remove(t, objs, c, "cp-2", nil)
	if code != cmdutil.ExitRefused || !strings.Contains(errOut, "the cluster would lose quorum: 1 serving of 2 voters left, 2 needed; pass --force") {
		t.Errorf("code %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "State:    serving (NOSPACE alarm: reads only) voter") || !strings.Contains(out, "after:  2 voters (1 serving), quorum 2") {
		t.Errorf("plan:\n%s", out)
	}
	if removed(c) {
		t.Error("the member was removed")
	}
}

// The plan is made again after the prompt: a member that failed meanwhile stops the removal.
func TestRemoveRechecksAfterPrompt(t *testing.T) {
	objs, c := cluster(t)
	c.Members[2].Down = true // removing the failed cp-3 is safe...
	_, errOut, code := remove(t, objs, c, "cp-3", func(string) error {
		c.Lock()
		c.Members[1].Down = true // ...until cp-2 fails while the operator reads the prompt
		c.Unlock()
		return nil
	})
	if code != cmdutil.ExitRefused || !strings.Contains(errOut, "the cluster changed while waiting for the confirmation: serving voters: 1, was 2") ||
		!strings.Contains(errOut, "nothing was changed") {
		t.Errorf("code %d\n%s", code, errOut)
	}
	if removed(c) {
		t.Error("the member was removed although the plan got worse")
	}
}

func TestRemoveAfterPromptWhenNothingChanged(t *testing.T) {
	objs, c := cluster(t)
	c.Members[2].Down = true
	asked := ""
	_, errOut, code := remove(t, objs, c, "cp-3", func(q string) error { asked = q; return nil })
	if code != 0 || !strings.Contains(errOut, "Removed member cp-3 (fd422379fda50e48).") || !removed(c) {
		t.Errorf("code %d removed %v\n%s", code, removed(c), errOut)
	}
	if asked != "Remove member cp-3 (fd422379fda50e48) from the cluster?" {
		t.Errorf("asked %q", asked)
	}
}

func TestRemoveTargetGoneDuringPrompt(t *testing.T) {
	objs, c := cluster(t)
	c.Members[2].Down = true
	_, errOut, code := remove(t, objs, c, "cp-3", func(string) error {
		c.Lock()
		c.Members = c.Members[:2] // someone else removed it
		c.Unlock()
		return nil
	})
	if code != cmdutil.ExitNotFound || !strings.Contains(errOut, "left the cluster while waiting for the confirmation") || removed(c) {
		t.Errorf("code %d\n%s", code, errOut)
	}
}
