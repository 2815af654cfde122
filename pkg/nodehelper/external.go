package nodehelper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// EtcdctlContainer is the container of the external-etcd helper in which etcdctl is exec'd.
const EtcdctlContainer = "etcdctl"

// DefaultExternalDeadline bounds the life of an external-etcd helper when the caller names no
// deadline: one command run, defrags of every member included.
const DefaultExternalDeadline = 30 * time.Minute

// ExternalSpec describes the helper that reaches an etcd cluster outside the Kubernetes API:
// a pod on a control-plane node, on the host network, with the API server's etcd client
// certificate, its key and the etcd CA mounted read-only at their node paths, from an image
// with etcdctl (kubeadm's etcd image). etcdctl is exec'd in it for every call, so the key is
// read on the node and never leaves it.
type ExternalSpec struct {
	Namespace, Node string
	// Image is the etcd image (etcdctl); ShellImage, when set, adds a shell container that
	// hands snapshots over (cat, wc), as the exec route of the snapshot helper.
	Image, ShellImage string
	Endpoints         []string
	// CAFile, CertFile and KeyFile are the API server's etcd client files on the node.
	CAFile, CertFile, KeyFile string
	Etcdctl                   string
	Deadline                  time.Duration
}

func (s ExternalSpec) etcdctl() string {
	if s.Etcdctl != "" {
		return s.Etcdctl
	}
	return "etcdctl"
}

// Spec builds the helper pod. The etcdctl container must stay up between execs and the etcd
// image has no shell and no sleep: it runs a watch of a key nobody writes, against the same
// endpoints with the same files, which blocks until the pod is deleted (and keeps waiting while
// etcd is unreachable: etcdctl retries).
func (s ExternalSpec) Spec() (Spec, error) {
	if s.Image == "" {
		return Spec{}, fmt.Errorf("no image with etcdctl for the helper pod")
	}
	if s.Node == "" {
		return Spec{}, fmt.Errorf("no control-plane node for the helper pod")
	}
	if len(s.Endpoints) == 0 || s.CAFile == "" || s.CertFile == "" || s.KeyFile == "" {
		return Spec{}, fmt.Errorf("the external etcd settings name no endpoints or not all of the CA, certificate and key files")
	}
	deadline := s.Deadline
	if deadline <= 0 {
		deadline = DefaultExternalDeadline
	}
	spec := Spec{Namespace: s.Namespace, Node: s.Node, Purpose: "etcdctl", Deadline: deadline,
		Describe: "etcdctl against the external etcd for one kubectl etcd command"}
	c := corev1.Container{Name: EtcdctlContainer, Image: s.Image,
		Command: []string{s.etcdctl(), "--endpoints=" + strings.Join(s.Endpoints, ","),
			"--cacert=" + s.CAFile, "--cert=" + s.CertFile, "--key=" + s.KeyFile,
			"watch", "kubectl-etcd/helper-keepalive"}}
	for i, f := range []string{s.CAFile, s.CertFile, s.KeyFile} {
		name := fmt.Sprintf("pki-%d", i)
		spec.Volumes = append(spec.Volumes, HostFile(name, f))
		c.VolumeMounts = append(c.VolumeMounts, ReadOnly(name, f))
	}
	if s.ShellImage != "" {
		spec.Volumes = append(spec.Volumes, ScratchVolume("out", 0))
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "out", MountPath: outMount})
		sh := corev1.Container{Name: ShellContainer, Image: s.ShellImage,
			Command:      []string{"sleep", strconv.FormatInt(int64(deadline/time.Second), 10)},
			VolumeMounts: []corev1.VolumeMount{ReadOnly("out", outMount)}}
		spec.Containers = []corev1.Container{c, sh}
	} else {
		spec.Containers = []corev1.Container{c}
	}
	return spec, nil
}

// External is a running external-etcd helper.
type External struct {
	Pod  *Pod
	Exec Executor
	spec ExternalSpec
	mu   sync.Mutex
	busy bool // a snapshot is being taken (one emptyDir, one file)
}

// StartExternal starts the helper of s and waits until its etcdctl container runs (and the
// shell container, when there is one). An image that cannot be pulled is named in the error.
func (r *Runner) StartExternal(ctx context.Context, exec Executor, s ExternalSpec) (*External, error) {
	spec, err := s.Spec()
	if err != nil {
		return nil, err
	}
	wait := EtcdctlContainer
	if s.ShellImage != "" {
		wait = ShellContainer
	}
	pod, err := r.Start(ctx, spec, wait, true)
	if err != nil {
		return nil, err
	}
	if wait != EtcdctlContainer {
		if err := pod.waitStarted(ctx, EtcdctlContainer, true); err != nil {
			pod.deleteOrWarn(ctx)
			return nil, err
		}
	}
	return &External{Pod: pod, Exec: exec, spec: s}, nil
}

// HasShell says whether the helper has the shell container that hands snapshots over.
func (x *External) HasShell() bool { return x.spec.ShellImage != "" }

// Close deletes the helper pod (also after ctx ended) and says so when that fails.
func (x *External) Close(ctx context.Context) { x.Pod.deleteOrWarn(ctx) }

// ErrNoShell says the helper was started without the shell container that hands snapshots over.
var ErrNoShell = errors.New("the helper pod has no shell container to hand the snapshot over")

// OpenSnapshot takes a snapshot from endpoint with etcdctl exec'd in the helper, into its
// emptyDir, and returns the stream of the file (database and sha256 trailer), read with cat in
// the shell container once etcdctl is done, as the exec route of the snapshot helper does.
// h gives the progress callback; its Exec is used for wc and cat. Closing the stream stops the
// download; the pod stays (Close deletes it).
func (x *External) OpenSnapshot(ctx context.Context, h *SnapshotHelper, endpoint string, dbSize int64) (io.ReadCloser, error) {
	if x.spec.ShellImage == "" {
		return nil, ErrNoShell
	}
	x.mu.Lock()
	if x.busy {
		x.mu.Unlock()
		return nil, fmt.Errorf("helper pod %s is already taking a snapshot", x.Pod)
	}
	x.busy = true
	x.mu.Unlock()
	file := path.Join(outMount, snapshotFile)
	argv := []string{x.spec.etcdctl(), "--endpoints=" + endpoint, "--cacert=" + x.spec.CAFile,
		"--cert=" + x.spec.CertFile, "--key=" + x.spec.KeyFile, "snapshot", "save", file}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan *corev1.ContainerStateTerminated, 1)
	go func() {
		var errOut bytes.Buffer
		err := x.Exec.Exec(runCtx, x.Pod.Namespace, x.Pod.Name, EtcdctlContainer, argv, nil, io.Discard, &errOut)
		t := &corev1.ContainerStateTerminated{Reason: "Completed", Message: errOut.String()}
		if err != nil {
			t.ExitCode, t.Reason = 1, "Error"
			var coded interface{ ExitStatus() int }
			if errors.As(err, &coded) {
				t.ExitCode = int32(coded.ExitStatus())
			}
			if strings.TrimSpace(t.Message) == "" {
				t.Message = err.Error()
			}
		}
		done <- t
	}()
	var (
		ended *corev1.ContainerStateTerminated
		emu   sync.Mutex
	)
	state := func(ctx context.Context) (*corev1.ContainerStateTerminated, error) {
		emu.Lock()
		defer emu.Unlock()
		if ended == nil {
			select {
			case t := <-done:
				ended = t
			default:
			}
		}
		if ended == nil && ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return ended, nil
	}
	rc, err := h.openExec(ctx, x.Pod, dbSize, state, true)
	if err != nil {
		cancel()
		x.release()
		return nil, err
	}
	return &externalStream{ReadCloser: rc, stop: cancel, x: x}, nil
}

func (x *External) release() {
	x.mu.Lock()
	x.busy = false
	x.mu.Unlock()
}

type externalStream struct {
	io.ReadCloser
	stop context.CancelFunc
	x    *External
	once sync.Once
}

func (s *externalStream) Close() error {
	err := s.ReadCloser.Close()
	s.once.Do(func() {
		s.stop()
		s.x.release()
	})
	return err
}
