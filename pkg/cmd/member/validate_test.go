package member

import (
	"testing"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdtest"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
)

func TestAddValidate(t *testing.T) {
	tests := []struct {
		name     string
		member   string
		peerURLs []string
		wantErr  string
	}{
		{name: "learner with one peer URL", member: "cp-3", peerURLs: []string{"https://10.0.0.14:2380"}},
		{name: "two peer URLs", member: "cp-3", peerURLs: []string{"https://10.0.0.14:2380", "http://[fd00::14]:2380"}},
		{name: "blank name", member: "  ", peerURLs: []string{"https://10.0.0.14:2380"}, wantErr: "member name must not be empty"},
		{name: "name starting with a dash", member: "-cp-4", peerURLs: []string{"https://10.0.0.14:2380"}},
		{name: "comma in the name", member: "cp-4,cp-5", peerURLs: []string{"https://10.0.0.14:2380"},
			wantErr: `member name "cp-4,cp-5" must not contain ",": it would break ETCD_INITIAL_CLUSTER (NAME=URL,...); choose another name, e.g. the node name`},
		{name: "equals sign in the name", member: "cp-4=https://10.0.0.99:2380", peerURLs: []string{"https://10.0.0.14:2380"},
			wantErr: `member name "cp-4=https://10.0.0.99:2380" must not contain "=": it would break ETCD_INITIAL_CLUSTER (NAME=URL,...); choose another name, e.g. the node name`},
		{name: "no peer URL", member: "cp-3", wantErr: "member peer urls not provided (--peer-urls)"},
		{name: "no port", member: "cp-3", peerURLs: []string{"https://10.0.0.14"},
			wantErr: `invalid peer URL "https://10.0.0.14": want http(s)://HOST:PORT, e.g. https://10.0.0.14:2380`},
		{name: "wrong scheme", member: "cp-3", peerURLs: []string{"unix://10.0.0.14:2380"},
			wantErr: `invalid peer URL "unix://10.0.0.14:2380": want http(s)://HOST:PORT, e.g. https://10.0.0.14:2380`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &AddOptions{GlobalOptions: &cmdutil.GlobalOptions{}, Name: tt.member, PeerURLs: tt.peerURLs, cmdPath: "kubectl etcd member add"}
			cmdtest.WantValidate(t, o.Validate(), tt.wantErr)
		})
	}
}

func TestRemoveValidate(t *testing.T) {
	tests := []struct {
		name, target, wantErr string
	}{
		{name: "hex ID", target: "8e9e05c52164694d"},
		{name: "node name", target: "cp-2"},
		{name: "empty", target: "", wantErr: "the member to remove must not be empty: give its name, pod, node or hex ID"},
		{name: "blank", target: " ", wantErr: "the member to remove must not be empty: give its name, pod, node or hex ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &RemoveOptions{GlobalOptions: &cmdutil.GlobalOptions{}, Target: tt.target, cmdPath: "kubectl etcd member remove"}
			cmdtest.WantValidate(t, o.Validate(), tt.wantErr)
		})
	}
}

// "member list" has no flags of its own: every completed option set is valid.
func TestListValidate(t *testing.T) {
	o := &ListOptions{GlobalOptions: &cmdutil.GlobalOptions{}}
	cmdtest.WantValidate(t, o.Validate(), "")
}
