package exec

import (
	"context"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// The downgrade captures (testdata/<version>/downgrade-*) are real etcdctl -w json output: a
// downgrade to the previous minor validated, enabled and cancelled, and an invalid target.
func TestDowngradeThroughEtcdctl(t *testing.T) {
	for _, v := range versions {
		prev := map[string]string{"v3.6.16": "3.5", "v3.7.3": "3.6"}[v]
		cluster := strings.Join(strings.Split(strings.TrimPrefix(v, "v"), ".")[:2], ".")
		t.Run(v, func(t *testing.T) {
			for _, tc := range []struct {
				action  clientv3.DowngradeAction
				capture string
				argv    string
			}{
				{clientv3.DowngradeValidate, "downgrade-validate", "downgrade validate " + prev},
				{clientv3.DowngradeEnable, "downgrade-enable", "downgrade enable " + prev},
				{clientv3.DowngradeCancel, "downgrade-cancel", "downgrade cancel"},
			} {
				rec := &recorder{answer: func([]string) capture { return load(t, v, tc.capture) }}
				s, err := (&Connector{Executor: rec}).Connect(context.Background(), rke2Member())
				if err != nil {
					t.Fatal(err)
				}
				resp, err := s.Downgrade(context.Background(), tc.action, prev)
				if err != nil {
					t.Fatalf("%s: %v", tc.capture, err)
				}
				if resp.Version != cluster {
					t.Errorf("%s: cluster version %q, want %q", tc.capture, resp.Version, cluster)
				}
				if joined := strings.Join(rec.calls[0], " "); !strings.HasSuffix(joined, " "+tc.argv) || !strings.Contains(joined, "-w json") {
					t.Errorf("%s: argv %q, want it to end in %q", tc.capture, joined, tc.argv)
				}
			}
			rec := &recorder{answer: func([]string) capture { return load(t, v, "downgrade-validate-invalid") }}
			s, _ := (&Connector{Executor: rec}).Connect(context.Background(), rke2Member())
			_, err := s.Downgrade(context.Background(), clientv3.DowngradeValidate, "3.4")
			if err == nil || !strings.Contains(err.Error(), "invalid downgrade target version") {
				t.Errorf("invalid target: error %v, want etcd's reason", err)
			}

			st, err := DecodeEndpointStatus([]byte(load(t, v, "endpoint-status-downgrade").stdout))
			if err != nil {
				t.Fatal(err)
			}
			if di := st.DowngradeInfo; di == nil || !di.Enabled || di.TargetVersion != prev+".0" {
				t.Errorf("downgrade info %+v, want enabled to %s.0", st.DowngradeInfo, prev)
			}
			if st.StorageVersion == "" {
				t.Errorf("no storage version in %+v", st)
			}
		})
	}
}
