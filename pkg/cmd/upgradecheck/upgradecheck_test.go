package upgradecheck

import (
	"context"
	"encoding/json"
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
		to      string
		want    string // the parsed target, "" for none
		wantErr string
	}{
		{to: "", want: ""},
		{to: "3.6", want: "3.6"},
		{to: "v3.7.3", want: "3.7.3"},
		{to: "3.6.16-0", want: "3.6.16"},
		{to: "  ", wantErr: "--to is empty"},
		{to: "3", wantErr: "bad etcd version"},
		{to: "latest", wantErr: "bad etcd version"},
		{to: "4.0", wantErr: "only etcd 3.x"},
	}
	for _, tc := range cases {
		o := &Options{To: tc.to, cmdPath: "kubectl etcd upgrade-check"}
		err := o.Validate()
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || cmdutil.ExitCode(err) != cmdutil.ExitError {
				t.Errorf("--to %q: error %v, want usage error with %q", tc.to, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("--to %q: %v", tc.to, err)
			continue
		}
		got := ""
		if o.target != nil {
			got = o.target.String()
		}
		if got != tc.want {
			t.Errorf("--to %q: target %q, want %q", tc.to, got, tc.want)
		}
	}
}

func cluster(t *testing.T, versions ...string) ([]runtime.Object, *fakeetcd.Cluster) {
	t.Helper()
	objs, c := cmdtest.KubeadmCluster(t)
	for i, m := range c.Members {
		m.Version, m.StorageVersion = versions[i], versions[i][:3]+".0"
	}
	return objs, c
}

func run(t *testing.T, objs []runtime.Object, c *fakeetcd.Cluster, to string) (*etcd.UpgradeReport, string, int) {
	t.Helper()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	g := cmdutil.NewGlobalOptions()
	g.Client = fake.NewSimpleClientset(objs...)
	g.NewConnector = func(transport.Mode) (transport.Connector, error) { return c.Connector(), nil }
	g.Output = "json"
	o := &Options{GlobalOptions: g, IOStreams: streams, To: to, cmdPath: "kubectl etcd upgrade-check"}
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
	var r etcd.UpgradeReport
	if jerr := json.Unmarshal(out.Bytes(), &r); jerr != nil {
		t.Fatalf("stdout is no report: %v\n%s", jerr, out.String())
	}
	return &r, errOut.String(), cmdutil.ExitCode(err)
}

func TestRunSafePlansLeaderLast(t *testing.T) {
	objs, c := cluster(t, "3.6.16", "3.6.16", "3.6.16")
	r, stderr, code := run(t, objs, c, "")
	if code != 0 || !r.Safe || r.Target != "3.7" {
		t.Fatalf("code %d safe %v target %s, want 0, safe, 3.7 (stderr %s; blockers %+v)", code, r.Safe, r.Target, stderr, r.Blockers)
	}
	if len(r.Plan) != 3 || r.Plan[2].Member != "cp-1" || !r.Plan[2].Leader || r.Plan[0].Leader || r.Plan[1].Leader {
		t.Errorf("plan %+v, want the two followers and then the leader cp-1", r.Plan)
	}
	if r.StorageVersion != "3.6.0" || len(r.Members) != 3 || r.Members[0].Version != "3.6.16" {
		t.Errorf("report %+v lacks the members' versions", r)
	}
}

func TestRunRefusals(t *testing.T) {
	cases := []struct {
		name     string
		versions []string
		to       string
		setup    func(c *fakeetcd.Cluster)
		blocker  string // the member named
		reason   string
	}{
		{name: "3.5.25 before 3.6", versions: []string{"3.5.26", "3.5.25", "3.5.26"}, to: "3.6", blocker: "cp-2", reason: "safe only from 3.5.26"},
		{name: "mixed members before the next step", versions: []string{"3.7.3", "3.7.3", "3.6.16"}, to: "3.8", blocker: "cp-3", reason: "upgrade to 3.7 first"},
		{name: "a member down", versions: []string{"3.6.16", "3.6.16", "3.6.16"}, to: "3.7", setup: func(c *fakeetcd.Cluster) { c.Members[1].Down = true },
			blocker: "cp-2", reason: "could not be read"},
		{name: "a downgrade enabled", versions: []string{"3.7.3", "3.7.3", "3.7.3"}, to: "3.8",
			setup: func(c *fakeetcd.Cluster) {
				c.Downgrade = &etcdserverpb.DowngradeInfo{Enabled: true, TargetVersion: "3.6.0"}
			}, reason: "a downgrade to 3.6.0 is enabled"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs, c := cluster(t, tc.versions...)
			if tc.setup != nil {
				tc.setup(c)
			}
			r, stderr, code := run(t, objs, c, tc.to)
			if code != cmdutil.ExitRefused || r.Safe {
				t.Fatalf("code %d safe %v, want 5 and not safe (stderr %s)", code, r.Safe, stderr)
			}
			found := false
			for _, b := range r.Blockers {
				if (tc.blocker == "" || b.Member == tc.blocker) && strings.Contains(b.Reason, tc.reason) {
					found = true
				}
			}
			if !found {
				t.Errorf("no blocker for %q with %q: %+v", tc.blocker, tc.reason, r.Blockers)
			}
			if !strings.Contains(stderr, "is not safe now") {
				t.Errorf("stderr %q lacks the verdict", stderr)
			}
		})
	}
}

// A step under way (one member already on the new minor) may be finished: that is no refusal.
func TestRunFinishingAStep(t *testing.T) {
	objs, c := cluster(t, "3.7.3", "3.6.16", "3.7.3")
	r, stderr, code := run(t, objs, c, "")
	if code != 0 || !r.Safe || r.Target != "3.7" {
		t.Fatalf("code %d safe %v target %s, want 0 safe 3.7 (stderr %s, blockers %+v)", code, r.Safe, r.Target, stderr, r.Blockers)
	}
	if len(r.Plan) != 1 || r.Plan[0].Member != "cp-2" || r.Plan[0].From != "3.6.16" {
		t.Errorf("plan %+v, want only cp-2 from 3.6.16", r.Plan)
	}
}
