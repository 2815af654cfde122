package portforward

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/metrics"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
)

// The metrics fixtures are real output of etcd's metrics listener, captured with
// hack/capture-etcdctl-testdata.sh (see pkg/transport/exec/testdata).
func fixture(t *testing.T, version, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../exec/testdata/" + version + "/" + name + ".stdout")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// localForwarder "forwards" to a local listener: it stands in for the API server in unit tests.
type localForwarder struct {
	port  int
	calls int
}

func (l *localForwarder) Forward(_ context.Context, _, pod string, port int) (*Forward, error) {
	l.calls++
	_, cancel := context.WithCancel(context.Background())
	f := NewForward(pod, port, l.port, cancel)
	return f, nil
}

func serve(t *testing.T, version string) (*localForwarder, *httptest.Server) {
	mux := http.NewServeMux()
	for _, p := range []string{"health", "readyz", "livez", "metrics"} {
		body := fixture(t, version, "http-"+p)
		mux.HandleFunc("/"+p, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) })
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	return &localForwarder{port: p}, srv
}

func TestMetricsSession(t *testing.T) {
	for _, v := range []string{"v3.6.16", "v3.7.3"} {
		t.Run(v, func(t *testing.T) {
			fw, _ := serve(t, v)
			c := &MetricsConnector{Connector: Connector{Forwarder: fw}}
			m := &discovery.Member{Namespace: "kube-system", Pod: "etcd-cp-1", MetricsURL: "http://127.0.0.1:2381", LocalClientURL: "https://127.0.0.1:2379"}
			s, err := c.Connect(context.Background(), m)
			if err != nil {
				t.Fatal(err)
			}
			st, err := s.Status(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if st.Version != v[1:] || st.DbSize != 20480 || st.DbSizeInUse != 16384 || st.DbSizeQuota != 2097152 || st.IsLearner {
				t.Errorf("status from metrics: %+v", st)
			}
			set, err := metrics.Parse(bytes.NewReader(fixture(t, v, "http-metrics")))
			if err != nil {
				t.Fatal(err)
			}
			isLeader := set.Get("etcd_server_is_leader") == 1
			if st.Header.MemberId == 0 || (st.Leader == st.Header.MemberId) != isLeader {
				t.Errorf("member id %x leader %x", st.Header.MemberId, st.Leader)
			}
			h, err := s.Health(context.Background())
			if err != nil || !h.Healthy {
				t.Errorf("health %+v %v", h, err)
			}
			probes, err := s.(*MetricsSession).Probes(context.Background())
			if err != nil || len(probes) != 2 || !probes[0].OK || !probes[1].OK {
				t.Errorf("probes %+v %v", probes, err)
			}
			if _, err := s.MemberList(context.Background()); !errors.Is(err, transport.ErrUnsupported) {
				t.Errorf("member list: %v", err)
			}
			// Scrape reads the same /metrics through the same forward.
			scraped, err := c.Scrape(context.Background(), m)
			if err != nil {
				t.Fatal(err)
			}
			if scraped.ServerID() != st.Header.MemberId {
				t.Errorf("scrape: id %x, want %x", scraped.ServerID(), st.Header.MemberId)
			}
			// The forward is opened once and reused by later sessions of the command.
			if _, err := c.Connect(context.Background(), m); err != nil || fw.calls != 1 {
				t.Errorf("forward reuse: calls %d err %v", fw.calls, err)
			}
		})
	}
}

func TestMetricsNeedsHTTPListener(t *testing.T) {
	c := &MetricsConnector{Connector: Connector{Forwarder: &localForwarder{}}}
	_, err := c.Connect(context.Background(), &discovery.Member{Pod: "etcd-a"})
	if err == nil || err.Error() != "pod etcd-a has no --listen-metrics-urls; without client certificates nothing can be read from it" {
		t.Errorf("got %v", err)
	}
}

func TestForwardErr(t *testing.T) {
	f := NewForward("etcd-cp-2", 2379, 40000, func() {})
	f.note("An error occurred forwarding: dial tcp 127.0.0.1:2379: connect: connection refused")
	f.Finish(errors.New("lost connection to pod"))
	if f.Alive() {
		t.Fatal("finished forward alive")
	}
	want := "port-forward to pod etcd-cp-2 port 2379: lost connection to pod (An error occurred forwarding: dial tcp 127.0.0.1:2379: connect: connection refused)"
	if got := f.Err().Error(); got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}
