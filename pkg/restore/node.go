package restore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/nodehelper"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/rebuild"
)

// Node is one node's part of a restore. StageNode does it with a helper pod; tests use a fake.
type Node interface {
	// Upload sends the plain snapshot (size bytes) to the helper, which then runs etcdutl
	// snapshot restore into the new data directory; Upload returns when that ended.
	Upload(ctx context.Context, r io.Reader, size int64) error
	// Manifests reads the node's static pod manifests (before Upload): the etcd one (named by
	// its pod name without the node suffix) and the control-plane components'.
	Manifests(ctx context.Context, etcdPod string) (etcdFile string, etcdData []byte, comps []Component, err error)
	// Prepare keeps a copy of every manifest the cutover removes and writes what the cutover
	// reads (the restored etcd manifest, the component list), each read back; it also checks
	// that the new data directory holds the restored member.
	Prepare(ctx context.Context, etcdFile string, etcdData, restored []byte, comps []Component, ports [2]int) error
	// Trigger starts the cutover (after the helper's delay); Abort cancels it within the delay.
	Trigger(ctx context.Context) error
	Abort(ctx context.Context) error
	// Discard removes what staging wrote (the restored member, the kept copies) after a
	// failure before the cutover; it says what it could not remove.
	Discard(ctx context.Context) error
	// Release leaves the helper to finish the cutover by itself (its deadline still bounds it).
	Release()
	// Close deletes the helper (while the API still answers).
	Close(ctx context.Context)
}

// Where the helper's containers see things.
const (
	mntStage     = "/stage"
	mntManifests = "/host/manifests"
	mntKeep      = "/host/keep"
	snapshotFile = mntStage + "/snapshot.db"
	// Container names.
	ctrStage   = "stage"
	ctrRestore = "restore"
	ctrCutover = "cutover"
)

// Layout is where a restore works on one node.
type Layout struct {
	Node        string `json:"node"`
	ManifestDir string `json:"manifestDir"`
	KeepDir     string `json:"keepDir"`
	// Prefix names what the restore keeps in KeepDir: PREFIX-<manifest> and PREFIX.log.
	Prefix string `json:"prefix"`
	// DataDir is the member's current data directory (never touched); RestoreDir the new one.
	DataDir    string `json:"dataDir"`
	RestoreDir string `json:"restoreDir"`
}

// Log is the progress file of the cutover on the node.
func (l Layout) Log() string { return path.Join(l.KeepDir, l.Prefix+".log") }

// Kept is where the copy of manifest file is kept.
func (l Layout) Kept(file string) string { return path.Join(l.KeepDir, l.Prefix+"-"+file) }

// Timing of the cutover on the nodes.
type Timing struct {
	// Delay is how long a helper waits after its trigger before it changes anything: the
	// plugin triggers every node, or aborts, within it.
	Delay time.Duration
	// Limit bounds each of the helper's waits for a port to close or open.
	Limit time.Duration
	// Settle is the pause between etcd's ports closing and the restored manifest going in.
	Settle time.Duration
}

// DefaultTiming is what "snapshot restore" uses.
var DefaultTiming = Timing{Delay: 15 * time.Second, Limit: 3 * time.Minute, Settle: 5 * time.Second}

// StageSpec is the helper pod of one node: an init container of the shell image that waits
// for the upload, an init container of the node's etcd image that runs etcdutl snapshot
// restore, and the shell container that waits for the trigger and cuts the node over.
func StageSpec(ns string, l Layout, member, shellImage, etcdImage string, restoreCmd []string, size int64, t Timing, deadline time.Duration) nodehelper.Spec {
	secs := func(d time.Duration) string { return strconv.FormatInt(int64(d/time.Second), 10) }
	stage := corev1.VolumeMount{Name: "stage", MountPath: mntStage}
	restored := corev1.VolumeMount{Name: "restored", MountPath: l.RestoreDir}
	return nodehelper.Spec{
		Namespace: ns, Node: l.Node, Purpose: "restore", Member: member, Deadline: deadline,
		Describe: fmt.Sprintf("kubectl etcd snapshot restore: stages member %s's restored data in %s and cuts node %s over", member, l.RestoreDir, l.Node),
		Volumes: []corev1.Volume{
			// The snapshot, and the files the cutover reads; the margin holds those.
			nodehelper.ScratchVolume("stage", size+stageSlack),
			hostDir("restored", l.RestoreDir, corev1.HostPathDirectoryOrCreate),
			hostDir("manifests", l.ManifestDir, corev1.HostPathDirectory),
			hostDir("keep", l.KeepDir, corev1.HostPathDirectoryOrCreate),
		},
		InitContainers: []corev1.Container{
			{Name: ctrStage, Image: shellImage, Command: []string{"/bin/sh", "-c", stageWait, "sh", mntStage, l.RestoreDir},
				VolumeMounts: []corev1.VolumeMount{stage, restored, {Name: "manifests", MountPath: mntManifests, ReadOnly: true}}},
			{Name: ctrRestore, Image: etcdImage, Command: restoreCmd,
				VolumeMounts: []corev1.VolumeMount{{Name: "stage", MountPath: mntStage, ReadOnly: true}, restored}},
		},
		Containers: []corev1.Container{
			{Name: ctrCutover, Image: shellImage,
				Command: []string{"/bin/sh", "-c", cutover, "sh", mntStage, mntManifests, mntKeep, l.Prefix, secs(t.Delay), secs(t.Limit), secs(t.Settle)},
				// The restored directory read-write: after a failure before the cutover the
				// plugin removes what etcdutl wrote there.
				VolumeMounts: []corev1.VolumeMount{stage, {Name: "manifests", MountPath: mntManifests}, {Name: "keep", MountPath: mntKeep}, restored}},
		},
	}
}

func hostDir(name, p string, t corev1.HostPathType) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: p, Type: ptr.To(t)}}}
}

// StageNode is the Node of a started helper pod.
type StageNode struct {
	Pod    *nodehelper.Pod
	Exec   nodehelper.Executor
	Layout Layout
	// Warn reports a helper that could not be deleted (the error names the command that does).
	Warn func(error)
}

// run execs argv in container c.
func (n *StageNode) run(ctx context.Context, c string, stdin io.Reader, argv ...string) (string, error) {
	var out, errOut bytes.Buffer
	if err := n.Exec.Exec(ctx, n.Pod.Namespace, n.Pod.Name, c, argv, stdin, &out, &errOut); err != nil {
		if msg := strings.TrimSpace(errOut.String()); msg != "" {
			return out.String(), fmt.Errorf("on node %s: %s: %w", n.Layout.Node, msg, err)
		}
		return out.String(), fmt.Errorf("on node %s: %w", n.Layout.Node, err)
	}
	return out.String(), nil
}

func (n *StageNode) script(ctx context.Context, c string, stdin io.Reader, s string, args ...string) (string, error) {
	return n.run(ctx, c, stdin, append([]string{"/bin/sh", "-c", s, "sh"}, args...)...)
}

// Upload implements Node.
func (n *StageNode) Upload(ctx context.Context, r io.Reader, size int64) error {
	out, err := n.script(ctx, ctrStage, r, upload, snapshotFile)
	if err != nil {
		return fmt.Errorf("uploading the snapshot: %w", err)
	}
	if got, _ := strconv.ParseInt(strings.TrimSpace(out), 10, 64); got != size {
		return fmt.Errorf("on node %s: the uploaded snapshot has %s bytes, want %d", n.Layout.Node, strings.TrimSpace(out), size)
	}
	if _, err := n.script(ctx, ctrStage, nil, touch, path.Join(mntStage, ".uploaded")); err != nil {
		return err
	}
	t, err := n.Pod.WaitTerminated(ctx, ctrRestore)
	if err != nil {
		return fmt.Errorf("on node %s: waiting for etcdutl snapshot restore: %w", n.Layout.Node, err)
	}
	if t.ExitCode != 0 {
		return fmt.Errorf("on node %s: etcdutl snapshot restore exited with code %d: %s", n.Layout.Node, t.ExitCode, lastLines(t.Message, 4))
	}
	return n.waitCutover(ctx)
}

// waitCutover waits until the cutover container runs.
func (n *StageNode) waitCutover(ctx context.Context) error {
	for {
		pod, err := n.Pod.Get(ctx)
		if err != nil {
			return err
		}
		if st := nodehelper.ContainerState(pod, ctrCutover); st != nil {
			if st.Running != nil {
				return nil
			}
			if st.Terminated != nil {
				return fmt.Errorf("on node %s: the cutover container ended before its trigger (exit code %d): %s", n.Layout.Node, st.Terminated.ExitCode, lastLines(st.Terminated.Message, 3))
			}
		}
		if pod.Status.Phase == corev1.PodFailed {
			return fmt.Errorf("on node %s: helper pod %s failed: %s %s", n.Layout.Node, n.Pod, pod.Status.Reason, pod.Status.Message)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Manifests implements Node.
func (n *StageNode) Manifests(ctx context.Context, etcdPod string) (string, []byte, []Component, error) {
	out, err := n.script(ctx, ctrStage, nil, listFiles, mntManifests)
	if err != nil {
		return "", nil, nil, fmt.Errorf("listing the static pod manifests: %w", err)
	}
	var etcdFile string
	var etcdData []byte
	var comps []Component
	for _, f := range strings.Fields(out) {
		data, err := n.run(ctx, ctrStage, nil, "cat", path.Join(mntManifests, f))
		if err != nil {
			return "", nil, nil, fmt.Errorf("reading manifest %s: %w", f, err)
		}
		if p, err := rebuild.ManifestPod([]byte(data)); err == nil && p.Name == etcdPod {
			if etcdFile != "" {
				return "", nil, nil, fmt.Errorf("on node %s: both %s and %s define pod %s", n.Layout.Node, etcdFile, f, etcdPod)
			}
			etcdFile, etcdData = f, []byte(data)
			continue
		}
		c, ok, err := ComponentOf(f, []byte(data))
		if err != nil {
			return "", nil, nil, fmt.Errorf("on node %s: %w", n.Layout.Node, err)
		}
		if ok {
			comps = append(comps, c)
		}
	}
	if etcdFile == "" {
		return "", nil, nil, fmt.Errorf("on node %s: no manifest in %s defines pod %s", n.Layout.Node, n.Layout.ManifestDir, etcdPod)
	}
	return etcdFile, etcdData, comps, nil
}

// write puts data at file (a path in the cutover container) and reads it back.
func (n *StageNode) write(ctx context.Context, file string, data []byte) error {
	if _, err := n.script(ctx, ctrCutover, bytes.NewReader(data), writeFile, file); err != nil {
		return err
	}
	back, err := n.run(ctx, ctrCutover, nil, "cat", file)
	if err != nil {
		return err
	}
	if back != string(data) {
		return fmt.Errorf("on node %s: %s does not read back as written", n.Layout.Node, file)
	}
	return nil
}

// Prepare implements Node.
func (n *StageNode) Prepare(ctx context.Context, etcdFile string, etcdData, restored []byte, comps []Component, ports [2]int) error {
	ok, err := n.script(ctx, ctrCutover, nil, restoredOK, n.Layout.RestoreDir)
	if err != nil {
		return err
	}
	if strings.TrimSpace(ok) != "yes" {
		return fmt.Errorf("on node %s: %s holds no restored member after etcdutl ended", n.Layout.Node, n.Layout.RestoreDir)
	}
	// The restored member holds the data now: no copy of the snapshot stays on the node, not
	// even until the kubelet cleans up the helper's emptyDir.
	if _, err := n.run(ctx, ctrCutover, nil, "rm", "-f", "--", snapshotFile); err != nil {
		return err
	}
	keep := func(file string, data []byte) error {
		return n.write(ctx, path.Join(mntKeep, n.Layout.Prefix+"-"+file), data)
	}
	if err := keep(etcdFile, etcdData); err != nil {
		return err
	}
	var list strings.Builder
	for _, c := range comps {
		data, err := n.run(ctx, ctrCutover, nil, "cat", path.Join(mntManifests, c.File))
		if err != nil {
			return err
		}
		if err := keep(c.File, []byte(data)); err != nil {
			return err
		}
		fmt.Fprintf(&list, "%s %d\n", c.File, c.Port)
	}
	// On the node's disk, not in the pod: whoever finishes the cutover by hand needs it.
	if err := keep("restored-"+etcdFile, restored); err != nil {
		return err
	}
	if err := n.write(ctx, path.Join(mntStage, "components"), []byte(list.String())); err != nil {
		return err
	}
	return n.write(ctx, path.Join(mntStage, "etcd"), fmt.Appendf(nil, "%s %d %d\n", etcdFile, ports[0], ports[1]))
}

// Trigger implements Node.
func (n *StageNode) Trigger(ctx context.Context) error {
	_, err := n.script(ctx, ctrCutover, nil, touch, path.Join(mntStage, "go"))
	return err
}

// Abort implements Node.
func (n *StageNode) Abort(ctx context.Context) error {
	_, err := n.script(ctx, ctrCutover, nil, touch, path.Join(mntStage, "abort"))
	return err
}

// Discard implements Node: from the cutover container when it runs, else from the stage
// container (staging stopped before etcdutl ran).
func (n *StageNode) Discard(ctx context.Context) error {
	for _, c := range []string{ctrCutover, ctrStage} {
		if _, err := n.script(ctx, c, nil, discard, n.Layout.RestoreDir, mntKeep, n.Layout.Prefix); err == nil {
			return nil
		}
	}
	return fmt.Errorf("on node %s: could not remove %s/member and %s-* (remove them by hand)", n.Layout.Node, n.Layout.RestoreDir, path.Join(n.Layout.KeepDir, n.Layout.Prefix))
}

// Release implements Node.
func (n *StageNode) Release() { n.Pod.Release() }

// Close implements Node.
func (n *StageNode) Close(ctx context.Context) {
	if err := n.Pod.Delete(ctx); err != nil && n.Warn != nil {
		n.Warn(err)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
