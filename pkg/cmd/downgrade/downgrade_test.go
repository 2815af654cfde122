package downgrade

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdtest"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
	fakeetcd "github.com/kubectl-etcd/kubectl-etcd/pkg/transport/fake"
)

func TestValidate(t *testing.T) {
	cases := []struct {
		action, version string
		wantErr         string
	}{
		{action: "validate", version: "3.6"},
		{action: "enable", version: "v3.6"},
		{action: "enable", version: "3.6.0"},
		{action: "cancel"},
		{action: "cancel", version: "3.6", wantErr: "cancel takes no VERSION"},
		{action: "enable", wantErr: "VERSION is required"},
		{action: "validate", version: "three", wantErr: "bad etcd version"},
		{action: "enable", version: "3.6.16", wantErr: "give 3.6, not 3.6.16"},
		{action: "start", version: "3.6", wantErr: "unknown downgrade action"},
	}
	for _, tc := range cases {
		o := &Options{Action: tc.action, Version: tc.version, cmdPath: "kubectl etcd downgrade " + tc.action}
		err := o.Validate()
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s %q: %v", tc.action, tc.version, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s %q: error %v, want %q", tc.action, tc.version, err, tc.wantErr)
		case tc.wantErr != "" && cmdutil.ExitCode(err) != cmdutil.ExitError:
			t.Errorf("%s %q: exit code %d, want 1", tc.action, tc.version, cmdutil.ExitCode(err))
		}
	}
}

func cluster(t *testing.T, version string) ([]runtime.Object, *fakeetcd.Cluster) {
	t.Helper()
	objs, c := cmdtest.KubeadmCluster(t)
	for _, m := range c.Members {
		m.Version = version
	}
	return objs, c
}

type runOpts struct {
	yes, dryRun bool
	confirm     func(string) error
}

func run(t *testing.T, objs []runtime.Object, c *fakeetcd.Cluster, action, version string, ro runOpts) (string, string, int) {
	t.Helper()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	g := cmdutil.NewGlobalOptions()
	g.Client = fake.NewSimpleClientset(objs...)
	g.NewConnector = func(transport.Mode) (transport.Connector, error) { return c.Connector(), nil }
	o := &Options{GlobalOptions: g, IOStreams: streams, Action: action, Version: version, Yes: ro.yes, DryRun: ro.dryRun,
		confirm: ro.confirm, cmdPath: "kubectl etcd downgrade " + action}
	if err := g.Complete(o.cmdPath); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	err := o.Run(context.Background())
	if err != nil {
		errOut.WriteString(cmdutil.Message(err) + "\n")
	}
	return out.String(), errOut.String(), cmdutil.ExitCode(err)
}

func calls(c *fakeetcd.Cluster) string { return strings.Join(c.Downgrades, ",") }

func TestValidateAction(t *testing.T) {
	objs, c := cluster(t, "3.7.3")
	out, stderr, code := run(t, objs, c, "validate", "3.6", runOpts{})
	if code != 0 || !strings.Contains(out, "Verdict:   valid") || !strings.Contains(out, "cluster version 3.7") {
		t.Errorf("validate 3.6 on 3.7: code %d\n%s%s", code, out, stderr)
	}
	if calls(c) != "0 3.6" || c.Downgrade != nil {
		t.Errorf("validate made calls %q and state %+v, want one validate and no change", calls(c), c.Downgrade)
	}

	objs, c = cluster(t, "3.7.3")
	_, stderr, code = run(t, objs, c, "validate", "3.5", runOpts{})
	if code != cmdutil.ExitRefused || !strings.Contains(stderr, "one minor version at a time") {
		t.Errorf("validate 3.5 on 3.7: code %d, stderr %s", code, stderr)
	}
	if calls(c) != "" {
		t.Errorf("a target the rules refuse still went to etcd: %q", calls(c))
	}
}

func TestEnableAndCancel(t *testing.T) {
	objs, c := cluster(t, "3.7.3")
	out, stderr, code := run(t, objs, c, "enable", "3.6", runOpts{yes: true})
	if code != 0 || c.Downgrade == nil || !c.Downgrade.Enabled || c.Downgrade.TargetVersion != "3.6.0" {
		t.Fatalf("enable: code %d state %+v\n%s%s", code, c.Downgrade, out, stderr)
	}
	if !strings.Contains(out, "enabled, target 3.6.0") || !strings.Contains(stderr, "Downgrade to 3.6 enabled") {
		t.Errorf("enable output does not show the new state:\n%s%s", out, stderr)
	}
	// enabled twice: refused before etcd is asked again
	n := len(c.Downgrades)
	_, stderr, code = run(t, objs, c, "enable", "3.6", runOpts{yes: true})
	if code != cmdutil.ExitRefused || !strings.Contains(stderr, "already enabled") || len(c.Downgrades) != n {
		t.Errorf("second enable: code %d calls %q stderr %s", code, calls(c), stderr)
	}
	// upgrade-check style rule: the other commands see it; cancel takes it back
	out, stderr, code = run(t, objs, c, "cancel", "", runOpts{yes: true})
	if code != 0 || c.Downgrade.Enabled || !strings.Contains(out, "Downgrade: not enabled") {
		t.Errorf("cancel: code %d state %+v\n%s%s", code, c.Downgrade, out, stderr)
	}
	n = len(c.Downgrades)
	_, stderr, code = run(t, objs, c, "cancel", "", runOpts{yes: true})
	if code != 0 || !strings.Contains(stderr, "nothing to cancel") || len(c.Downgrades) != n {
		t.Errorf("cancel without a downgrade: code %d calls %q stderr %s", code, calls(c), stderr)
	}
}

func TestEnableDryRunAndConfirmation(t *testing.T) {
	objs, c := cluster(t, "3.7.3")
	_, stderr, code := run(t, objs, c, "enable", "3.6", runOpts{dryRun: true})
	if code != 0 || c.Downgrade != nil || calls(c) != "0 3.6" || !strings.Contains(stderr, "dry run") {
		t.Errorf("dry run: code %d calls %q state %+v stderr %s", code, calls(c), c.Downgrade, stderr)
	}

	_, _, code = run(t, objs, c, "enable", "3.6", runOpts{confirm: func(q string) error {
		if !strings.Contains(q, "Enable the downgrade of the etcd cluster to 3.6?") {
			t.Errorf("question %q", q)
		}
		return fmt.Errorf("%w: not confirmed; nothing was changed", etcd.ErrRefused)
	}})
	if code != cmdutil.ExitRefused || c.Downgrade != nil {
		t.Errorf("declined: code %d state %+v", code, c.Downgrade)
	}

	// Someone enables a downgrade while the operator reads the preview: refused, nothing sent.
	_, stderr, code = run(t, objs, c, "enable", "3.6", runOpts{confirm: func(string) error {
		c.Lock()
		c.Downgrade = &etcdserverpb.DowngradeInfo{Enabled: true, TargetVersion: "3.6.0"}
		c.Unlock()
		return nil
	}})
	if code != cmdutil.ExitRefused || !strings.Contains(stderr, "changed while waiting") {
		t.Errorf("changed meanwhile: code %d stderr %s", code, stderr)
	}
	for _, call := range c.Downgrades {
		if strings.HasPrefix(call, "1 ") {
			t.Errorf("enable was sent although the cluster changed: %q", calls(c))
		}
	}
}

func TestEnableRefusedOnMixedOrDegraded(t *testing.T) {
	objs, c := cluster(t, "3.7.3")
	c.Members[2].Version = "3.6.16"
	_, stderr, code := run(t, objs, c, "enable", "3.6", runOpts{yes: true})
	if code != cmdutil.ExitRefused || !strings.Contains(stderr, "different minor versions") || c.Downgrade != nil {
		t.Errorf("mixed: code %d state %+v stderr %s", code, c.Downgrade, stderr)
	}
	objs, c = cluster(t, "3.7.3")
	c.Members[1].Down = true
	_, stderr, code = run(t, objs, c, "enable", "3.6", runOpts{yes: true})
	if code != cmdutil.ExitRefused || !strings.Contains(stderr, "every member must be healthy") || c.Downgrade != nil {
		t.Errorf("degraded: code %d state %+v stderr %s", code, c.Downgrade, stderr)
	}
}
