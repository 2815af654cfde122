package alarm

import (
	"context"
	"errors"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdtest"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/printers"
)

// "alarm list" has no flags of its own, and "alarm disarm" only the boolean --force whose
// checks need the cluster: every completed option set is valid (a bad -o or --transport is
// refused earlier, by GlobalOptions.Complete).
func TestValidate(t *testing.T) {
	tests := []struct {
		name     string
		validate func() error
		wantErr  string
	}{
		{name: "list table", validate: (&ListOptions{GlobalOptions: &cmdutil.GlobalOptions{Format: printers.Table}}).Validate},
		{name: "list json", validate: (&ListOptions{GlobalOptions: &cmdutil.GlobalOptions{Format: printers.JSON}}).Validate},
		{name: "disarm", validate: (&DisarmOptions{GlobalOptions: &cmdutil.GlobalOptions{Format: printers.Table}}).Validate},
		{name: "disarm --force", validate: (&DisarmOptions{GlobalOptions: &cmdutil.GlobalOptions{Format: printers.Table}, Force: true}).Validate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmdtest.WantValidate(t, tt.validate(), tt.wantErr)
		})
	}
}

// Issue 21 item 6: when no member answers the alarm list (metrics-only), alarm list and alarm
// disarm fail with a non-zero exit instead of saying "no active alarms".
func TestUnreadableAlarmListIsAnError(t *testing.T) {
	objs, c := cmdtest.KubeadmCluster(t)
	c.AlarmListErr = errors.New("alarm list: not available without client certificates")
	for _, run := range []func(*cmdutil.GlobalOptions, genericiooptions.IOStreams) error{
		func(g *cmdutil.GlobalOptions, s genericiooptions.IOStreams) error {
			return NewListOptions(g, s).Run(context.Background())
		},
		func(g *cmdutil.GlobalOptions, s genericiooptions.IOStreams) error {
			return NewDisarmOptions(g, s).Run(context.Background())
		},
	} {
		streams, _, out, errOut := genericiooptions.NewTestIOStreams()
		err := run(cmdtest.Globals(t, objs, c, "kubectl etcd alarm"), streams)
		if cmdutil.ExitCode(err) == 0 || !strings.Contains(cmdutil.Message(err), "cannot read the alarm list from any member") ||
			strings.Contains(errOut.String()+out.String(), "no active alarms") {
			t.Errorf("err %v\n%s%s", err, out, errOut)
		}
	}
}
