package nodehelper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

func externalSpec(shell string) ExternalSpec {
	return ExternalSpec{Namespace: "kube-system", Node: "cp-1", Image: "registry.k8s.io/etcd:3.7.0-0", ShellImage: shell,
		Endpoints: []string{"https://10.0.0.21:2379", "https://10.0.0.22:2379", "https://10.0.0.23:2379"},
		CAFile:    "/etc/kubernetes/pki/etcd/ca.crt", CertFile: "/etc/kubernetes/pki/apiserver-etcd-client.crt",
		KeyFile: "/etc/kubernetes/pki/apiserver-etcd-client.key"}
}

func TestExternalPodSpecGolden(t *testing.T) {
	for _, c := range []struct{ name, shell string }{
		{"external-pod.yaml", ""},
		{"external-pod-snapshot.yaml", "registry.k8s.io/kube-proxy:v1.37.2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			spec, err := externalSpec(c.shell).Spec()
			if err != nil {
				t.Fatal(err)
			}
			data, err := yaml.Marshal(spec.Pod())
			if err != nil {
				t.Fatal(err)
			}
			golden(t, c.name, data)
		})
	}
}

// The external helper mounts exactly the API server's etcd client certificate, its key and the
// etcd CA, read-only, type File, at their node paths; nothing else of the node.
func TestExternalPodMountsOnlyTheThreeFiles(t *testing.T) {
	for _, shell := range []string{"", "sh-image"} {
		spec, err := externalSpec(shell).Spec()
		if err != nil {
			t.Fatal(err)
		}
		p := spec.Pod()
		if p.Spec.NodeName != "cp-1" || !p.Spec.HostNetwork || *p.Spec.AutomountServiceAccountToken {
			t.Errorf("pod spec %+v", p.Spec)
		}
		want := map[string]bool{"/etc/kubernetes/pki/etcd/ca.crt": true, "/etc/kubernetes/pki/apiserver-etcd-client.crt": true,
			"/etc/kubernetes/pki/apiserver-etcd-client.key": true}
		hostVolumes := map[string]string{}
		for _, v := range p.Spec.Volumes {
			if hp := v.HostPath; hp != nil {
				if !want[hp.Path] || *hp.Type != corev1.HostPathFile {
					t.Errorf("host path %s (type %s) is not one of the three files", hp.Path, *hp.Type)
				}
				hostVolumes[v.Name] = hp.Path
			}
		}
		if len(hostVolumes) != 3 {
			t.Errorf("host volumes %v, want the three files", hostVolumes)
		}
		for _, c := range p.Spec.Containers {
			for _, vm := range c.VolumeMounts {
				if hp, ok := hostVolumes[vm.Name]; ok && (!vm.ReadOnly || vm.MountPath != hp || c.Name != EtcdctlContainer) {
					t.Errorf("container %s mounts %s at %s (read-only %v)", c.Name, hp, vm.MountPath, vm.ReadOnly)
				}
			}
			if *c.SecurityContext.ReadOnlyRootFilesystem != true || c.ImagePullPolicy != corev1.PullIfNotPresent {
				t.Errorf("container %s: %+v %s", c.Name, c.SecurityContext, c.ImagePullPolicy)
			}
		}
		if got := len(p.Spec.Containers); (shell == "" && got != 1) || (shell != "" && got != 2) {
			t.Errorf("shell %q: %d containers", shell, got)
		}
	}
}

func TestExternalSpecRefusesIncompleteSettings(t *testing.T) {
	s := externalSpec("")
	s.KeyFile = ""
	if _, err := s.Spec(); err == nil || !strings.Contains(err.Error(), "key") {
		t.Errorf("err = %v", err)
	}
}

// snapshotExec is a fake executor for the external snapshot: etcdctl "writes" the file, wc
// reports its size, cat streams it.
type snapshotExec struct {
	mu    sync.Mutex
	data  []byte
	calls []string
	fail  string // etcdctl's stderr when it fails
}

func (e *snapshotExec) Exec(_ context.Context, _, _, container string, argv []string, _ io.Reader, stdout, stderr io.Writer) error {
	e.mu.Lock()
	e.calls = append(e.calls, container+": "+strings.Join(argv, " "))
	e.mu.Unlock()
	switch {
	case container == EtcdctlContainer && e.fail != "":
		_, _ = io.WriteString(stderr, e.fail)
		return fmt.Errorf("exit 1")
	case container == EtcdctlContainer:
		return nil
	case argv[0] == "wc" && strings.HasSuffix(argv[2], ".part"):
		return fmt.Errorf("no such file")
	case argv[0] == "wc":
		_, _ = fmt.Fprintf(stdout, "%d %s\n", len(e.data), argv[2])
		return nil
	case argv[0] == "cat":
		_, _ = stdout.Write(e.data)
		return nil
	}
	return fmt.Errorf("unexpected %v", argv)
}

func TestExternalSnapshotStreamsFromTheHelper(t *testing.T) {
	ex := &snapshotExec{data: bytes.Repeat([]byte("x"), 5000)}
	x := &External{Pod: &Pod{r: &Runner{}, Namespace: "kube-system", Name: "kubectl-etcd-etcdctl-abc", Node: "cp-1"},
		Exec: ex, spec: externalSpec("sh")}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rc, err := x.OpenSnapshot(ctx, &SnapshotHelper{Exec: ex}, "https://10.0.0.22:2379", 5000)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	_ = rc.Close()
	if !bytes.Equal(got, ex.data) {
		t.Errorf("read %d bytes, want %d", len(got), len(ex.data))
	}
	want := "etcdctl: etcdctl --endpoints=https://10.0.0.22:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt " +
		"--cert=/etc/kubernetes/pki/apiserver-etcd-client.crt --key=/etc/kubernetes/pki/apiserver-etcd-client.key snapshot save /out/snapshot.db"
	ex.mu.Lock()
	calls := append([]string{}, ex.calls...)
	ex.mu.Unlock()
	if !slices.Contains(calls, want) {
		t.Errorf("calls %q, want one %q", calls, want)
	}
	// The pod belongs to the run: closing the stream does not delete it, and a second snapshot
	// may follow.
	if x.Pod.deleted {
		t.Error("closing the stream deleted the helper pod")
	}
	if rc, err = x.OpenSnapshot(ctx, &SnapshotHelper{Exec: ex}, "https://10.0.0.22:2379", 5000); err != nil {
		t.Fatalf("second snapshot: %v", err)
	}
	_ = rc.Close()
}

func TestExternalSnapshotReportsEtcdctlFailure(t *testing.T) {
	ex := &snapshotExec{fail: "Error: context deadline exceeded"}
	x := &External{Pod: &Pod{r: &Runner{}, Namespace: "kube-system", Name: "h", Node: "cp-1"}, Exec: ex, spec: externalSpec("sh")}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := x.OpenSnapshot(ctx, &SnapshotHelper{Exec: ex}, "https://10.0.0.22:2379", 0)
	if err == nil || !strings.Contains(err.Error(), "etcdctl snapshot save on node cp-1 failed") || !strings.Contains(err.Error(), "deadline exceeded") {
		t.Errorf("err = %v", err)
	}
}

func TestExternalSnapshotNeedsTheShell(t *testing.T) {
	x := &External{Pod: &Pod{r: &Runner{}, Name: "h"}, spec: externalSpec("")}
	if _, err := x.OpenSnapshot(context.Background(), &SnapshotHelper{}, "https://10.0.0.22:2379", 0); !errors.Is(err, ErrNoShell) {
		t.Errorf("err = %v, want ErrNoShell", err)
	}
}
