package nodehelper

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// HostDir is a directory of the node mounted into a shell helper.
type HostDir struct {
	// Name is the volume name.
	Name string
	// HostPath is the directory on the node; MountPath where the shell sees it.
	HostPath, MountPath string
	// Create makes the kubelet create the directory (and its parents) when it is missing
	// (hostPath type DirectoryOrCreate); otherwise it must exist (type Directory).
	Create bool
	// ReadOnly mounts it read-only.
	ReadOnly bool
}

// ShellSpec describes a shell helper: one container of a shell image that sleeps until the
// plugin has exec'd what it needs, with the named host directories and nothing else mounted.
type ShellSpec struct {
	Namespace, Node string
	// Image is the shell image; ShellImage finds the default.
	Image string
	// Purpose, Member, Describe and Deadline are those of Spec.
	Purpose, Member, Describe string
	Deadline                  time.Duration
	Dirs                      []HostDir
	// Scratch, when set, mounts there a small emptyDir: it lies where the kubelet keeps every
	// pod's emptyDir, so the shell can measure that filesystem.
	Scratch string
}

// Shell is a running shell helper. Every command is an argv exec'd in its container: scripts are
// constants of the caller, and what comes from the user or the cluster travels only as positional
// arguments or on stdin, never inside the script text.
type Shell struct {
	Pod  *Pod
	Exec Executor
}

// StartShell starts the shell helper of spec and waits until its container runs.
func (r *Runner) StartShell(ctx context.Context, exec Executor, s ShellSpec) (*Shell, error) {
	spec := Spec{Namespace: s.Namespace, Node: s.Node, Purpose: s.Purpose, Member: s.Member,
		Describe: s.Describe, Deadline: s.Deadline}
	c := corev1.Container{Name: ShellContainer, Image: s.Image,
		Command: []string{"sleep", strconv.FormatInt(int64(s.Deadline/time.Second), 10)}}
	for _, d := range s.Dirs {
		typ := corev1.HostPathDirectory
		if d.Create {
			typ = corev1.HostPathDirectoryOrCreate
		}
		spec.Volumes = append(spec.Volumes, corev1.Volume{Name: d.Name, VolumeSource: corev1.VolumeSource{
			HostPath: &corev1.HostPathVolumeSource{Path: d.HostPath, Type: ptr.To(typ)}}})
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: d.Name, MountPath: d.MountPath, ReadOnly: d.ReadOnly})
	}
	if s.Scratch != "" {
		spec.Volumes = append(spec.Volumes, ScratchVolume("scratch", 1<<20))
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "scratch", MountPath: s.Scratch})
	}
	spec.Containers = []corev1.Container{c}
	pod, err := r.Start(ctx, spec, ShellContainer, true)
	if err != nil {
		return nil, err
	}
	return &Shell{Pod: pod, Exec: exec}, nil
}

// ShellImage is override when set, else the image of the kube-proxy pod on node (kubeadm's
// kube-proxy image has /bin/sh, cat, rm, ln, grep and sleep, and is on every node).
func ShellImage(ctx context.Context, r *Runner, node, override string) (string, error) {
	if override != "" {
		return override, nil
	}
	img, err := kubeProxyImage(ctx, r, node)
	if err != nil {
		return "", fmt.Errorf("%w; name an image with /bin/sh, cat, ln and rm with --helper-image", err)
	}
	return img, nil
}

// Run execs argv in the shell container with stdin (may be nil) and returns its standard
// output. A failure carries the command's standard error.
func (s *Shell) Run(ctx context.Context, stdin io.Reader, argv ...string) (string, error) {
	var out, errOut bytes.Buffer
	if err := s.Exec.Exec(ctx, s.Pod.Namespace, s.Pod.Name, ShellContainer, argv, stdin, &out, &errOut); err != nil {
		msg := strings.TrimSpace(errOut.String())
		if msg == "" {
			return out.String(), fmt.Errorf("on node %s: %s: %w", s.Pod.Node, argv[0], err)
		}
		return out.String(), fmt.Errorf("on node %s: %s: %s: %w", s.Pod.Node, argv[0], lastLines(msg, 3), err)
	}
	return out.String(), nil
}

// Script runs the constant script with /bin/sh, args as its positional parameters $1, $2, ...
func (s *Shell) Script(ctx context.Context, stdin io.Reader, script string, args ...string) (string, error) {
	return s.Run(ctx, stdin, append([]string{"/bin/sh", "-c", script, "sh"}, args...)...)
}

// Close deletes the helper pod (also after ctx ended) and says so when that fails.
func (s *Shell) Close(ctx context.Context) { s.Pod.deleteOrWarn(ctx) }
