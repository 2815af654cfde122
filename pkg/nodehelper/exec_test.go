package nodehelper

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// fakeExec plays the shell container: wc -c and cat of files it holds; cutAfter makes the first
// cat stop after that many bytes with a broken stream.
type fakeExec struct {
	mu       sync.Mutex
	files    map[string][]byte
	cutAfter int
	calls    []string
}

func (e *fakeExec) Exec(ctx context.Context, _, _, container string, argv []string, _ io.Reader, stdout, stderr io.Writer) error {
	e.mu.Lock()
	e.calls = append(e.calls, container+": "+strings.Join(argv, " "))
	data, ok := e.files[argv[len(argv)-1]]
	cut := e.cutAfter
	if argv[0] == "cat" {
		e.cutAfter = 0
	}
	e.mu.Unlock()
	if !ok {
		fmt.Fprintf(stderr, "%s: %s: No such file or directory\n", argv[0], argv[len(argv)-1])
		return errors.New("command terminated with exit code 1")
	}
	switch argv[0] {
	case "wc":
		fmt.Fprintf(stdout, "%d %s\n", len(data), argv[len(argv)-1])
	case "cat":
		if cut > 0 {
			_, _ = stdout.Write(data[:cut])
			return errors.New("stream reset")
		}
		_, err := io.Copy(stdout, bytes.NewReader(data))
		return err
	}
	return ctx.Err()
}

func TestExecRouteWaitsForEtcdctlAndResumesOnce(t *testing.T) {
	data := make([]byte, 2<<20+32)
	_, _ = rand.Read(data)
	f := newFakeCluster()
	f.allow("create pods", "delete pods", "create pods/exec")
	f.state = func(name string) corev1.ContainerState {
		if name == SnapshotContainer { // etcdctl already done
			return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}
		}
		return corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	}
	ex := &fakeExec{files: map[string][]byte{"/out/snapshot.db": data}, cutAfter: 1 << 20}
	h := &SnapshotHelper{Runner: &Runner{Client: f}, Exec: ex, Route: RouteExec, Image: "shell:1"}
	rc, err := h.Open(context.Background(), kubeadmMember(), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("got %d bytes, want %d", len(got), len(data))
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}
	cats := 0
	for _, c := range ex.calls {
		if strings.HasPrefix(c, "shell: cat ") {
			cats++
		}
	}
	if cats != 2 {
		t.Errorf("%d cats, want 2 (one cut, one resumed): %q", cats, ex.calls)
	}
	if left := f.helperPods(t); len(left) != 0 {
		t.Errorf("pods left: %v", left)
	}
}

func TestExecRouteEtcdctlFailed(t *testing.T) {
	f := newFakeCluster()
	f.allow("create pods", "delete pods", "create pods/exec")
	f.state = func(name string) corev1.ContainerState {
		if name == SnapshotContainer {
			return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1,
				Message: "{\"level\":\"info\"}\nError: context deadline exceeded"}}
		}
		return corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	}
	h := &SnapshotHelper{Runner: &Runner{Client: f}, Exec: &fakeExec{}, Route: RouteExec, Image: "shell:1"}
	_, err := h.Open(context.Background(), kubeadmMember(), 1<<20)
	if err == nil || !strings.Contains(err.Error(), "etcdctl snapshot save on node cp-2 failed (exit code 1)") ||
		!strings.Contains(err.Error(), "context deadline exceeded") {
		t.Fatalf("error %v", err)
	}
	if left := f.helperPods(t); len(left) != 0 {
		t.Errorf("pods left: %v", left)
	}
}
