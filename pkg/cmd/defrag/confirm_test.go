package defrag

import (
	"context"
	"errors"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdtest"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
	fakeetcd "github.com/kubectl-etcd/kubectl-etcd/pkg/transport/fake"
)

// run runs "defrag --force --move-leader=false" on three fake members, with confirm standing in
// for the operator (nil with yes: --yes; nil without: the real prompt, on a stdin that is not a
// terminal). It returns stdout, stderr, the exit code and how many members were defragmented.
// setup, when given, adjusts the fake members first.
func run(t *testing.T, yes bool, confirm func(string) error, setup ...func(*fakeetcd.Cluster)) (string, string, int, int) {
	t.Helper()
	objs, c := cmdtest.KubeadmCluster(t)
	for _, m := range c.Members {
		m.DBSize, m.InUse = 100<<20, 40<<20
	}
	for _, f := range setup {
		f(c)
	}
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	g := cmdutil.NewGlobalOptions()
	g.Client = fake.NewSimpleClientset(objs...)
	g.NewConnector = func(transport.Mode) (transport.Connector, error) { return c.Connector(), nil }
	if err := g.Complete("kubectl etcd defrag"); err != nil {
		t.Fatal(err)
	}
	o := &Options{GlobalOptions: g, IOStreams: streams, Yes: yes, confirm: confirm, cmdPath: "kubectl etcd defrag"}
	o.DefragOptions = etcd.DefragOptions{Force: true, MoveLeader: false, MinFragmentation: etcd.DefaultMinFragmentation}
	err := o.Run(context.Background())
	if err != nil {
		errOut.WriteString(cmdutil.Message(err) + "\n")
	}
	return out.String(), errOut.String(), cmdutil.ExitCode(err), len(c.Defragged)
}

func TestLeaderInPlaceIsConfirmed(t *testing.T) {
	t.Run("stdin not a terminal and no --yes: refused, nothing done", func(t *testing.T) {
		out, errOut, code, n := run(t, false, nil)
		if code != cmdutil.ExitRefused || n != 0 || out != "" {
			t.Fatalf("exit %d, %d defragmented, stdout %q; want 5, none, nothing\n%s", code, n, out, errOut)
		}
		for _, want := range []string{"The plan:", "cp-1", "pass --yes to confirm"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("stderr lacks %q:\n%s", want, errOut)
			}
		}
	})
	t.Run("declined", func(t *testing.T) {
		var asked string
		_, errOut, code, n := run(t, false, func(q string) error {
			asked = q
			return errors.New("refused: not confirmed; nothing was changed")
		})
		if !strings.Contains(asked, "Defragment the leader cp-1 (8e9e05c52164694d, database 100.0 MiB) in place?") || n != 0 || code == 0 {
			t.Fatalf("asked %q, exit %d, %d defragmented\n%s", asked, code, n, errOut)
		}
	})
	t.Run("--yes", func(t *testing.T) {
		out, errOut, code, n := run(t, true, func(string) error { t.Fatal("asked despite --yes"); return nil })
		if code != 0 || n != 3 || !strings.Contains(out, "cp-1") {
			t.Fatalf("exit %d, %d defragmented\n%s\n%s", code, n, out, errOut)
		}
	})
}

// A cluster the run cannot read (here: no member reports a leader, so any member could be it)
// stops it with exit 9 and "cannot read the cluster", whatever --yes says.
func TestUnreadableClusterExits9(t *testing.T) {
	_, errOut, code, n := run(t, true, nil, func(c *fakeetcd.Cluster) { c.LeaderID = 0 })
	if code != 9 || n != 0 {
		t.Fatalf("exit %d, %d defragmented; want 9, none\n%s", code, n, errOut)
	}
	if !strings.Contains(errOut, "error: cannot read the cluster: no member reports a leader; no member was defragmented") {
		t.Errorf("stderr:\n%s", errOut)
	}
}
