package nodehelper

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// logServer plays the API server's node proxy in front of a kubelet's /logs/: files by path
// below /var/log, Range served by net/http, and cuts: a response that dies after some bytes.
type logServer struct {
	t     *testing.T
	srv   *httptest.Server
	mu    sync.Mutex
	files map[string][]byte
	off   bool  // the kubelet's log handler is off
	cutAt int64 // the next response with data dies after this many bytes (0: none)
	gets  int
	cuts  int
}

func newLogServer(t *testing.T) *logServer {
	s := &logServer{t: t, files: map[string][]byte{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *logServer) client(node string) *NodeLogs {
	return &NodeLogs{HTTP: s.srv.Client(), Base: s.srv.URL, Node: node}
}

func (s *logServer) serve(w http.ResponseWriter, r *http.Request) {
	prefix := "/api/v1/nodes/cp-2/proxy/logs/"
	if !strings.HasPrefix(r.URL.Path, prefix) {
		http.Error(w, "wrong node or path "+r.URL.Path, http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	if s.off {
		s.mu.Unlock()
		http.NotFound(w, r)
		return
	}
	rel := strings.TrimPrefix(r.URL.Path, prefix)
	if rel == "" {
		s.mu.Unlock()
		_, _ = io.WriteString(w, "<pre>pods/</pre>")
		return
	}
	data, ok := s.files[rel]
	data = append([]byte(nil), data...)
	cut := s.cutAt
	if ok && cut > 0 {
		s.cutAt = 0
		s.cuts++
	}
	s.gets++
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	if cut > 0 {
		w = &cuttingWriter{ResponseWriter: w, left: cut}
	}
	http.ServeContent(w, r, rel, time.Time{}, bytes.NewReader(data))
}

// cuttingWriter aborts the response after left bytes, as a dropped connection would.
type cuttingWriter struct {
	http.ResponseWriter
	left int64
}

func (c *cuttingWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, _ := c.ResponseWriter.Write(p)
	c.left -= int64(n)
	if c.left <= 0 {
		c.ResponseWriter.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	return n, nil
}

func (s *logServer) write(rel string, p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[rel] = append(s.files[rel], p...)
}

func (s *logServer) rename(from, to string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[to] = s.files[from]
	delete(s.files, from)
}

// setContainer puts container name of pod into state (the kubelet's status update).
func setContainer(t *testing.T, f *fakeCluster, pod *Pod, name string, state corev1.ContainerState) {
	t.Helper()
	p, err := f.CoreV1().Pods(pod.Namespace).Get(context.Background(), pod.Name, metav1.GetOptions{})
	if err != nil {
		t.Error(err)
		return
	}
	for i := range p.Status.ContainerStatuses {
		if p.Status.ContainerStatuses[i].Name == name {
			p.Status.ContainerStatuses[i].State = state
		}
	}
	if _, err := f.CoreV1().Pods(pod.Namespace).UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		t.Error(err)
	}
}

func startLogsHelper(t *testing.T) (*fakeCluster, *logServer, *SnapshotHelper) {
	f := newFakeCluster()
	f.allow("create pods", "delete pods", "get nodes/proxy")
	srv := newLogServer(t)
	h := &SnapshotHelper{Runner: &Runner{Client: f, Poll: time.Millisecond},
		newLogs: func(node string) (*NodeLogs, error) { return srv.client(node), nil }}
	return f, srv, h
}

// helperPod waits (at most 10 s) until h has started its helper pod and returns it.
func helperPod(t *testing.T, f *fakeCluster, h *SnapshotHelper) *Pod {
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, pod := h.Used(); pod != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Error("no helper pod")
			return nil
		}
		time.Sleep(time.Millisecond)
	}
	pods, _ := List(context.Background(), f, "kube-system")
	return &Pod{Namespace: "kube-system", Name: pods[0].Name, UID: string(pods[0].UID), Node: "cp-2"}
}

// etcdctlWrites plays etcdctl on the node: it writes data into snapshot.db.part in chunks, then
// renames it and exits 0.
func etcdctlWrites(t *testing.T, f *fakeCluster, srv *logServer, h *SnapshotHelper, data []byte) {
	p := helperPod(t, f, h)
	if p == nil {
		return
	}
	dir := OwnLogDir(p.Namespace, p.Name, p.UID, snapshotDir) + "/"
	for i := 0; i < len(data); i += 100 << 10 {
		end := min(i+100<<10, len(data))
		srv.write(dir+"snapshot.db.part", data[i:end])
		time.Sleep(time.Millisecond)
	}
	srv.rename(dir+"snapshot.db.part", dir+"snapshot.db")
	setContainer(t, f, p, SnapshotContainer, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}})
}

func TestLogsRouteFollowsTheFileAndResumesAfterACut(t *testing.T) {
	f, srv, h := startLogsHelper(t)
	data := make([]byte, 3<<20+32)
	_, _ = rand.Read(data)
	srv.cutAt = 700 << 10 // the first response with data dies mid-way
	go etcdctlWrites(t, f, srv, h, data)
	rc, err := h.Open(context.Background(), kubeadmMember(), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("got %d bytes, want the %d written (equal: %v)", len(got), len(data), bytes.Equal(got[:min(len(got), len(data))], data[:min(len(got), len(data))]))
	}
	if srv.cuts != 1 {
		t.Errorf("%d cuts, want the download to have survived one", srv.cuts)
	}
	if route, pod := h.Used(); route != RouteLogs || !strings.HasPrefix(pod, "kube-system/kubectl-etcd-snap-") {
		t.Errorf("used %s %s", route, pod)
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}
	if left := f.helperPods(t); len(left) != 0 {
		t.Errorf("pods left after Close: %v", left)
	}
}

func TestLogsRouteEtcdctlFailsForNoSpace(t *testing.T) {
	f, srv, h := startLogsHelper(t)
	go func() {
		p := helperPod(t, f, h)
		if p == nil {
			return
		}
		srv.write(OwnLogDir(p.Namespace, p.Name, p.UID, snapshotDir)+"/snapshot.db.part", make([]byte, 4096))
		setContainer(t, f, p, SnapshotContainer, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: 5, Message: "Error: write /out/snapshot.db.part: no space left on device"}})
	}()
	rc, err := h.Open(context.Background(), kubeadmMember(), 1<<20)
	if err == nil {
		_, err = io.ReadAll(rc)
		_ = rc.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "exit code 5") || !strings.Contains(err.Error(), "no room for the snapshot on the node's /var/log") ||
		!strings.Contains(err.Error(), "--helper-route exec") {
		t.Fatalf("error %v", err)
	}
	if left := f.helperPods(t); len(left) != 0 {
		t.Errorf("pods left: %v", left)
	}
}

func TestLogsRouteInterruptedDeletesThePod(t *testing.T) {
	f, srv, h := startLogsHelper(t)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		p := helperPod(t, f, h)
		if p == nil {
			return
		}
		srv.write(OwnLogDir(p.Namespace, p.Name, p.UID, snapshotDir)+"/snapshot.db.part", make([]byte, 4096))
		time.Sleep(20 * time.Millisecond)
		cancel() // Ctrl-C while etcdctl still writes
	}()
	rc, err := h.Open(ctx, kubeadmMember(), 1<<20)
	if err == nil {
		_, err = io.ReadAll(rc)
		_ = rc.Close()
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want the cancellation", err)
	}
	if left := f.helperPods(t); len(left) != 0 {
		t.Errorf("pods left: %v", left)
	}
}

func TestNodeLogsProbe(t *testing.T) {
	srv := newLogServer(t)
	if err := srv.client("cp-2").Probe(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv.off = true
	err := srv.client("cp-2").Probe(context.Background())
	if !errors.Is(err, ErrLogsUnavailable) || !strings.Contains(err.Error(), "does not serve /logs/") {
		t.Fatalf("error %v", err)
	}
}

func TestContentRangeTotal(t *testing.T) {
	for in, want := range map[string]int64{"bytes 0-9/10": 10, "bytes */4096": 4096, "": -1, "bytes 0-1/*": -1} {
		if got := contentRangeTotal(in); got != want {
			t.Errorf("%q: %d, want %d", in, got, want)
		}
	}
}

// etcdctl creates snapshot.db.part before etcd sends anything; net/http serves a Range of an
// empty file as 200 with no body. Open must not take that for the start of the stream (the
// caller takes the member lock then), and must not spin on it.
func TestLogsRouteWaitsForTheFirstBytes(t *testing.T) {
	f, srv, h := startLogsHelper(t)
	data := make([]byte, 1<<20+32)
	_, _ = rand.Read(data)
	var firstBytes atomic.Bool
	go func() {
		p := helperPod(t, f, h)
		if p == nil {
			return
		}
		dir := OwnLogDir(p.Namespace, p.Name, p.UID, snapshotDir) + "/"
		srv.write(dir+"snapshot.db.part", nil) // created, empty
		srv.mu.Lock()
		srv.gets = 0
		srv.mu.Unlock()
		time.Sleep(300 * time.Millisecond)
		srv.mu.Lock()
		emptyGets := srv.gets
		srv.mu.Unlock()
		if emptyGets > 30 {
			t.Errorf("%d requests for an empty file in 300ms: the reader spins", emptyGets)
		}
		firstBytes.Store(true)
		srv.write(dir+"snapshot.db.part", data)
		srv.rename(dir+"snapshot.db.part", dir+"snapshot.db")
		setContainer(t, f, p, SnapshotContainer, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}})
	}()
	rc, err := h.Open(context.Background(), kubeadmMember(), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if !firstBytes.Load() {
		t.Error("Open returned before etcdctl wrote a byte")
	}
	got, err := io.ReadAll(rc)
	_ = rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes (%v), want %d", len(got), err, len(data))
	}
}

// etcdctl exited 0 but its file is gone: an error, not an endless wait.
func TestLogsRouteExitedWithoutAFile(t *testing.T) {
	f, _, h := startLogsHelper(t)
	f.state = func(string) corev1.ContainerState {
		return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}
	}
	_, err := h.Open(context.Background(), kubeadmMember(), 1<<20)
	if err == nil || !strings.Contains(err.Error(), "exited 0, but neither") {
		t.Fatalf("error %v", err)
	}
	if left := f.helperPods(t); len(left) != 0 {
		t.Errorf("pods left: %v", left)
	}
}
