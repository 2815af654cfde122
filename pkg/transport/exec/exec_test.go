package exec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
)

// The files under testdata/<version>/ are real etcdctl output, produced by
// hack/capture-etcdctl-testdata.sh against a real local etcd cluster of that version.
var versions = []string{"v3.6.16", "v3.7.3"}

type capture struct {
	stdout, stderr string
	code           int
}

func load(t *testing.T, version, name string) capture {
	t.Helper()
	read := func(ext string) string {
		b, err := os.ReadFile(filepath.Join("testdata", version, name+"."+ext))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	code, err := strconv.Atoi(strings.TrimSpace(read("code")))
	if err != nil {
		t.Fatal(err)
	}
	return capture{read("stdout"), read("stderr"), code}
}

// recorder is a fake Executor: it records every call and answers with a capture.
type recorder struct {
	calls  [][]string
	target []string // namespace, pod, container of the last call
	answer func(argv []string) capture
}

func (r *recorder) Exec(_ context.Context, ns, pod, container string, argv []string, _ io.Reader, stdout, stderr io.Writer) error {
	r.calls = append(r.calls, argv)
	r.target = []string{ns, pod, container}
	c := r.answer(argv)
	_, _ = io.WriteString(stdout, c.stdout)
	_, _ = io.WriteString(stderr, c.stderr)
	if c.code != 0 {
		return &ExitError{Code: c.code, Err: fmt.Errorf("command terminated with exit code %d", c.code)}
	}
	return nil
}

func rke2Member() *discovery.Member {
	return &discovery.Member{
		Namespace: "kube-system", Pod: "etcd-server-a", Container: "etcd-main",
		LocalClientURL: "https://127.0.0.1:2379",
		TrustedCAFile:  "/var/lib/rancher/rke2/server/tls/etcd/server-ca.crt",
		CertFile:       "/var/lib/rancher/rke2/server/tls/etcd/server-client.crt",
		KeyFile:        "/var/lib/rancher/rke2/server/tls/etcd/server-client.key",
	}
}

func TestArgvUsesPodPathsAndNoShell(t *testing.T) {
	rec := &recorder{answer: func([]string) capture { return load(t, "v3.6.16", "endpoint-status") }}
	conn := &Connector{Executor: rec}
	s, err := conn.Connect(context.Background(), rke2Member())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	if _, err := s.Status(ctx); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rec.target, "/"); got != "kube-system/etcd-server-a/etcd-main" {
		t.Errorf("exec target %s", got)
	}
	argv := rec.calls[0]
	if argv[0] != "etcdctl" {
		t.Errorf("argv[0] = %q, want etcdctl", argv[0])
	}
	for _, a := range argv {
		if a == "sh" || a == "-c" || a == "/bin/sh" || strings.ContainsAny(a, "|;&$`") {
			t.Errorf("argv must be plain words for a distroless image, found %q in %q", a, argv)
		}
	}
	joined := strings.Join(argv, " ")
	for _, want := range []string{
		"--endpoints=https://127.0.0.1:2379",
		"--cacert=/var/lib/rancher/rke2/server/tls/etcd/server-ca.crt",
		"--cert=/var/lib/rancher/rke2/server/tls/etcd/server-client.crt",
		"--key=/var/lib/rancher/rke2/server/tls/etcd/server-client.key",
		"-w json", "endpoint status",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("argv %q lacks %q", joined, want)
		}
	}
	// The command timeout follows the caller's deadline, a little shorter.
	if !strings.Contains(joined, "--command-timeout=7.") {
		t.Errorf("command timeout not derived from the 8s deadline: %s", joined)
	}
}

func TestArgvPlainHTTPHasNoCerts(t *testing.T) {
	m := rke2Member()
	m.LocalClientURL = "http://127.0.0.1:2379"
	s := &Session{member: m, etcdctl: "etcdctl"}
	if joined := strings.Join(s.Argv(context.Background(), "member", "list"), " "); strings.Contains(joined, "--cacert") {
		t.Errorf("certs passed for plain HTTP: %s", joined)
	}
}

func TestDecodeCapturedOutput(t *testing.T) {
	for _, v := range versions {
		t.Run(v, func(t *testing.T) {
			st, err := DecodeEndpointStatus([]byte(load(t, v, "endpoint-status").stdout))
			if err != nil {
				t.Fatal(err)
			}
			// The IDs are larger than 2^53: any float64 step would change their low bits.
			if st.Header.ClusterId != 17300438976491492131 {
				t.Errorf("cluster id %d", st.Header.ClusterId)
			}
			if st.Header.MemberId != 13668033151171901709 {
				t.Errorf("member id %d", st.Header.MemberId)
			}
			if st.Leader == 0 || st.DbSize == 0 || st.RaftIndex == 0 || !strings.HasPrefix(st.Version, strings.TrimPrefix(v, "v")) {
				t.Errorf("status fields missing: %+v", st)
			}

			ml, err := DecodeMemberList([]byte(load(t, v, "member-list").stdout))
			if err != nil {
				t.Fatal(err)
			}
			if len(ml.Members) != 4 {
				t.Fatalf("members %d", len(ml.Members))
			}
			learners, unstarted := 0, 0
			for _, m := range ml.Members {
				if m.IsLearner {
					learners++
				}
				if m.Name == "" {
					unstarted++
				}
			}
			if learners != 1 || unstarted != 1 {
				t.Errorf("learners %d unstarted %d", learners, unstarted)
			}
			found := false
			for _, m := range ml.Members {
				if m.ID == 13668033151171901709 && m.Name == "m1" {
					found = true
				}
			}
			if !found {
				t.Error("member m1 with its exact 64-bit ID not found")
			}

			al, err := DecodeAlarmList([]byte(load(t, v, "alarm-list-empty").stdout))
			if err != nil || len(al.Alarms) != 0 {
				t.Errorf("empty alarms: %v %v", al, err)
			}
			al, err = DecodeAlarmList([]byte(load(t, v, "alarm-list-nospace").stdout))
			if err != nil || len(al.Alarms) == 0 || al.Alarms[0].Alarm.String() != "NOSPACE" {
				t.Errorf("nospace alarms: %v %v", al, err)
			}
			h, err := DecodeEndpointHealth([]byte(load(t, v, "endpoint-health").stdout))
			if err != nil || !h.Healthy || h.Took <= 0 {
				t.Errorf("health %+v %v", h, err)
			}
		})
	}
}

func sessionAnswering(t *testing.T, version string, byCmd map[string]string) (*Session, *recorder) {
	rec := &recorder{answer: func(argv []string) capture {
		cmd := strings.Join(argv[len(argv)-2:], " ")
		name, ok := byCmd[cmd]
		if !ok {
			t.Fatalf("unexpected etcdctl %s", cmd)
		}
		return load(t, version, name)
	}}
	return &Session{member: rke2Member(), exec: rec, etcdctl: "etcdctl"}, rec
}

func TestUnhealthyHealthIsAResultNotAnError(t *testing.T) {
	for _, v := range versions {
		s, _ := sessionAnswering(t, v, map[string]string{"endpoint health": "endpoint-health-nospace"})
		h, err := s.Health(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if h.Healthy || !strings.Contains(h.Error, "NOSPACE") {
			t.Errorf("%s: %+v", v, h)
		}
		s, _ = sessionAnswering(t, v, map[string]string{"endpoint health": "endpoint-health-down"})
		h, err = s.Health(context.Background())
		if err != nil || h.Healthy || h.Error != "context deadline exceeded" {
			t.Errorf("%s down: %+v %v", v, h, err)
		}
	}
}

func TestEtcdctlFailureBecomesClearError(t *testing.T) {
	for _, v := range versions {
		s, _ := sessionAnswering(t, v, map[string]string{"endpoint status": "endpoint-status-down"})
		_, err := s.Status(context.Background())
		if err == nil {
			t.Fatalf("%s: want error", v)
		}
		msg := err.Error()
		for _, want := range []string{"etcdctl endpoint status exited with code 1", "Failed to get the status of endpoint", "context deadline exceeded"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: %q lacks %q", v, msg, want)
			}
		}
		if strings.Contains(msg, `"level"`) {
			t.Errorf("%s: structured log leaked into the message: %q", v, msg)
		}
	}
}

func TestEtcdctlMessage(t *testing.T) {
	cases := map[string]string{
		"Error: etcdserver: member not found\n":                       "etcdserver: member not found",
		`{"level":"warn","msg":"x"}` + "\nError: unhealthy cluster\n": "unhealthy cluster",
		`{"level":"warn","msg":"retrying","error":"rpc error: boom"}`: "retrying: rpc error: boom",
		"": "",
	}
	for in, want := range cases {
		if got := etcdctlMessage(in); got != want {
			t.Errorf("etcdctlMessage(%q) = %q, want %q", in, got, want)
		}
	}
}

// A command that prints without end (or a hostile image) cannot exhaust the plugin's memory:
// stdout and stderr are capped, with a clear error.
func TestOutputIsBounded(t *testing.T) {
	for _, c := range []struct {
		name string
		out  capture
		want string
	}{
		{"stdout", capture{stdout: strings.Repeat("x", MaxStdout+1)}, "more than 64 MiB on stdout"},
		{"stderr", capture{stderr: strings.Repeat("y", MaxStderr+1), code: 1}, "more than 1 MiB on stderr"},
	} {
		rec := &recorder{answer: func([]string) capture { return c.out }}
		s, err := (&Connector{Executor: rec}).Connect(context.Background(), rke2Member())
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Status(context.Background())
		// Only stdout over its cap means an answer too large (a smaller page may pass).
		if errors.Is(err, transport.ErrTooLarge) != (c.name == "stdout") {
			t.Errorf("%s: errors.Is(err, transport.ErrTooLarge) = %v", c.name, c.name != "stdout")
		}
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "etcdctl endpoint status") {
			msg := fmt.Sprint(err)
			if len(msg) > 200 {
				msg = msg[:200] + "..."
			}
			t.Errorf("%s: want an error saying %q, got %s", c.name, c.want, msg)
		}
	}
}

func TestLimitedBufferKeepsWhatFits(t *testing.T) {
	b := newLimitedBuffer("stdout", 10)
	if n, err := b.Write([]byte("123456")); n != 6 || err != nil {
		t.Fatal(n, err)
	}
	if n, err := b.Write([]byte("7890ab")); n != 4 || err == nil || !b.exceeded {
		t.Fatalf("n=%d err=%v exceeded=%v", n, err, b.exceeded)
	}
	if b.String() != "1234567890" {
		t.Errorf("kept %q", b.String())
	}
}

// Issue 21 item 15: the member name follows "--", so a name starting with "-" cannot become an
// etcdctl option.
func TestMemberAddNameAfterDoubleDash(t *testing.T) {
	for _, learner := range []bool{true, false} {
		rec := &recorder{answer: func([]string) capture { return load(t, "v3.6.16", "member-add-learner") }}
		s := &Session{member: rke2Member(), exec: rec, etcdctl: "etcdctl"}
		if _, err := s.MemberAdd(context.Background(), "--learner", []string{"https://10.0.0.14:2380"}, learner); err != nil {
			t.Fatal(err)
		}
		argv := rec.calls[0]
		want := []string{"member", "add", "--peer-urls=https://10.0.0.14:2380", "--", "--learner"}
		if learner {
			want = []string{"member", "add", "--peer-urls=https://10.0.0.14:2380", "--learner", "--", "--learner"}
		}
		if tail := argv[len(argv)-len(want):]; !slices.Equal(tail, want) {
			t.Errorf("learner=%v: argv ends with %q, want %q", learner, tail, want)
		}
	}
}

// Issue 21 item 11: etcdctl can only disarm every alarm at once, so the session reads the list
// first and disarms nothing when an alarm not given is active.
func TestAlarmDisarmOnlyWhenNothingElseIsActive(t *testing.T) {
	for _, v := range versions {
		al, err := DecodeAlarmList([]byte(load(t, v, "alarm-list-nospace").stdout))
		if err != nil || len(al.Alarms) != 1 {
			t.Fatalf("%s: %v %v", v, al, err)
		}
		nospace := al.Alarms[0]
		s, rec := sessionAnswering(t, v, map[string]string{"alarm list": "alarm-list-nospace", "alarm disarm": "alarm-disarm"})
		other := &etcdserverpb.AlarmMember{MemberID: 1, Alarm: etcdserverpb.AlarmType_NOSPACE}
		_, err = s.AlarmDisarm(context.Background(), []*etcdserverpb.AlarmMember{other})
		var extra *transport.ExtraAlarmsError
		if !errors.As(err, &extra) || len(extra.Extra) != 1 || extra.Extra[0].MemberID != nospace.MemberID {
			t.Fatalf("%s: err %v", v, err)
		}
		if len(rec.calls) != 1 || !slices.Contains(rec.calls[0], "list") {
			t.Fatalf("%s: calls %q; want only the alarm list", v, rec.calls)
		}
		resp, err := s.AlarmDisarm(context.Background(), []*etcdserverpb.AlarmMember{nospace})
		if err != nil || len(resp.Alarms) != 1 || len(rec.calls) != 3 || !slices.Contains(rec.calls[2], "disarm") {
			t.Errorf("%s: %v %v calls %q", v, resp, err, rec.calls)
		}
	}
}

// etcdctl's --cluster forms, captured: every member's status and health from one process; with
// a member down, the others' statuses still come back with the failure (exit code 1), and the
// member down is reported unhealthy.
func TestClusterReadsDecodeCapturedOutput(t *testing.T) {
	for _, v := range versions {
		t.Run(v, func(t *testing.T) {
			s, rec := sessionAnswering(t, v, map[string]string{"status --cluster": "endpoint-status-cluster", "health --cluster": "endpoint-health-cluster"})
			st, err := s.ClusterStatus(context.Background())
			if err != nil || len(st) != 3 {
				t.Fatalf("status: %d answers, %v", len(st), err)
			}
			for _, e := range st {
				if e.Endpoint == "" || e.Status.Header.MemberId == 0 || e.Status.Leader == 0 || e.Status.Version == "" {
					t.Errorf("status fields missing: %+v", e)
				}
			}
			h, err := s.ClusterHealth(context.Background())
			if err != nil || len(h) != 3 {
				t.Fatalf("health: %d answers, %v", len(h), err)
			}
			for _, e := range h {
				if !e.Healthy || e.Took <= 0 || e.Endpoint == "" {
					t.Errorf("health %+v", e)
				}
			}
			for _, argv := range rec.calls {
				if !slices.Contains(argv, "--cluster") || !slices.Contains(argv, "--endpoints=https://127.0.0.1:2379") {
					t.Errorf("argv %v: want --cluster asked of the pod's own endpoint", argv)
				}
			}

			s, _ = sessionAnswering(t, v, map[string]string{"status --cluster": "endpoint-status-cluster-down", "health --cluster": "endpoint-health-cluster-down"})
			st, err = s.ClusterStatus(context.Background())
			if err == nil || len(st) != 2 {
				t.Errorf("one member down: %d statuses, err %v; want the other 2 and an error", len(st), err)
			}
			h, err = s.ClusterHealth(context.Background())
			if err != nil || len(h) != 3 {
				t.Fatalf("health with one member down: %d answers, %v", len(h), err)
			}
			unhealthy := 0
			for _, e := range h {
				if !e.Healthy && e.Error != "" {
					unhealthy++
				}
			}
			if unhealthy != 1 {
				t.Errorf("health with one member down: %+v", h)
			}
		})
	}
}

// With Via, every etcdctl call runs in the helper's container, against the member's endpoint
// with the certificate paths as they are in that container (an external member has no pod).
func TestViaRunsInTheHelper(t *testing.T) {
	rec := &recorder{answer: func([]string) capture { return load(t, "v3.6.16", "endpoint-status") }}
	conn := &Connector{Executor: rec, Via: &Target{Namespace: "kube-system", Pod: "kubectl-etcd-etcdctl-x1", Container: "etcdctl"}}
	m := &discovery.Member{Namespace: "kube-system", Container: "etcdctl", External: true, Name: "etcd-2",
		LocalClientURL: "https://10.0.0.22:2379", TrustedCAFile: "/etc/kubernetes/pki/etcd/ca.crt",
		CertFile: "/etc/kubernetes/pki/apiserver-etcd-client.crt", KeyFile: "/etc/kubernetes/pki/apiserver-etcd-client.key"}
	s, err := conn.Connect(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Status(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rec.target, "/"); got != "kube-system/kubectl-etcd-etcdctl-x1/etcdctl" {
		t.Errorf("exec target %s", got)
	}
	joined := strings.Join(rec.calls[0], " ")
	for _, want := range []string{"--endpoints=https://10.0.0.22:2379", "--cacert=/etc/kubernetes/pki/etcd/ca.crt",
		"--cert=/etc/kubernetes/pki/apiserver-etcd-client.crt", "--key=/etc/kubernetes/pki/apiserver-etcd-client.key"} {
		if !strings.Contains(joined, want) {
			t.Errorf("argv %q lacks %s", joined, want)
		}
	}
}
