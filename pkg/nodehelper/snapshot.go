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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/rest"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
)

// Route is how the bytes of a snapshot taken on a node come back.
type Route string

const (
	// RouteAuto picks RouteLogs when RBAC and the kubelet allow it, else RouteExec.
	RouteAuto Route = "auto"
	// RouteLogs: etcdctl writes into the helper pod's own log directory and the plugin downloads
	// the file from the kubelet's log server, following it while it grows.
	RouteLogs Route = "logs"
	// RouteExec: etcdctl writes into an emptyDir and the plugin execs cat in a second container
	// (a shell image: kube-proxy's, or --helper-image).
	RouteExec Route = "exec"
)

// Routes lists the values of --helper-route.
var Routes = []Route{RouteAuto, RouteLogs, RouteExec}

// Names of the containers and files of the snapshot helper.
const (
	SnapshotContainer = "snapshot"
	ShellContainer    = "shell"
	snapshotDir       = "kubectl-etcd" // under the pod's log directory (never *.log: log shippers take those)
	outMount          = "/out"
	snapshotFile      = "snapshot.db"
)

// KubeProxySelector finds kubeadm's kube-proxy pods, whose image has sleep, cat and wc.
const KubeProxySelector = "k8s-app=kube-proxy"

// Executor runs a command in a container (the exec transport's).
type Executor interface {
	Exec(ctx context.Context, namespace, pod, container string, argv []string, stdin io.Reader, stdout, stderr io.Writer) error
}

// SnapshotHelper takes snapshots with a helper pod on the member's node: etcdctl from the
// member's own image, with the node's etcd client certificate mounted read-only, so that no
// private key ever leaves the node, and the bytes are brought back by one of the Routes.
type SnapshotHelper struct {
	Runner *Runner
	Config *rest.Config
	Exec   Executor
	// Route chooses how the bytes come back (default RouteAuto).
	Route Route
	// Image is the shell image of RouteExec (--helper-image); default: the image of the
	// kube-proxy pod on the member's node.
	Image string
	// Etcdctl is the etcdctl binary in the etcd image.
	Etcdctl string
	// Deadline bounds the helper pod's life (default 10m plus 1s per MiB of the database).
	Deadline time.Duration
	// Notify is told, in one line each, which route and pod are used and why.
	Notify func(string)
	// Why says why a helper is used at all; it opens the line that names the pod.
	Why string
	// SaveProgress, when set, is told how many bytes etcdctl has written on the node, while the
	// route cannot download yet (RouteExec).
	SaveProgress func(written, total int64)

	newLogs func(node string) (*NodeLogs, error)

	mu    sync.Mutex
	route Route
	pod   string
}

// Used says which route and helper pod the last snapshot used.
func (h *SnapshotHelper) Used() (Route, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.route, h.pod
}

func (h *SnapshotHelper) notify(format string, args ...any) {
	if h.Notify != nil {
		h.Notify(fmt.Sprintf(format, args...))
	}
}

// ErrNoRoute says no route can bring a snapshot back from the node; the message says what each
// route lacks.
var ErrNoRoute = errors.New("no way to bring a snapshot back from the node")

// plan is a chosen route: where the bytes go and how they come back.
type plan struct {
	route Route
	image string // shell image (RouteExec)
	logs  *NodeLogs
}

// choose picks the route for member m, checking RBAC with access reviews and the kubelet's
// log server with one request, and says why when it falls back.
func (h *SnapshotHelper) choose(ctx context.Context, m *discovery.Member) (*plan, error) {
	client := h.Runner.Client
	ns := m.Namespace
	if miss := Missing(ctx, client, Permission{Verb: "create", Resource: "pods", Namespace: ns},
		Permission{Verb: "delete", Resource: "pods", Namespace: ns}); len(miss) > 0 {
		return nil, fmt.Errorf("%w: RBAC denied %s (the helper pod needs create, get and delete on pods)", ErrNotStarted, joinPerms(miss))
	}
	want := h.Route
	if want == "" {
		want = RouteAuto
	}
	var whyNotLogs string
	if want == RouteAuto || want == RouteLogs {
		if p := (Permission{Verb: "get", Resource: "nodes", Subresource: "proxy"}); !Allowed(ctx, client, p) {
			whyNotLogs = "RBAC denied " + p.String()
		} else {
			logs, err := h.logsFor(m.Node)
			if err == nil {
				err = logs.Probe(ctx)
			}
			if err == nil {
				return &plan{route: RouteLogs, logs: logs}, nil
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			whyNotLogs = err.Error()
		}
		if want == RouteLogs {
			return nil, fmt.Errorf("%w: --helper-route=logs: %s", ErrNoRoute, whyNotLogs)
		}
	}
	var whyNotExec string
	if p := (Permission{Verb: "create", Resource: "pods", Subresource: "exec", Namespace: ns}); !Allowed(ctx, client, p) {
		whyNotExec = "RBAC denied " + p.String()
	}
	image, how := h.Image, "--helper-image"
	if whyNotExec == "" && image == "" {
		var err error
		image, err = kubeProxyImage(ctx, h.Runner, m.Node)
		how = "the kube-proxy pod on node " + m.Node
		if err != nil {
			whyNotExec = err.Error()
		}
	}
	if whyNotExec != "" {
		if want == RouteExec {
			return nil, fmt.Errorf("%w: --helper-route=exec: %s", ErrNoRoute, whyNotExec)
		}
		return nil, fmt.Errorf("%w: the kubelet log route is out (%s) and the exec route too (%s); grant get nodes/proxy, or pass --helper-image IMAGE (an image on the node with sleep, cat and wc)",
			ErrNoRoute, whyNotLogs, whyNotExec)
	}
	if whyNotLogs != "" {
		h.notify("not using the kubelet log route (%s): node %s will hand the snapshot over through exec of cat in image %s (from %s)", whyNotLogs, m.Node, image, how)
	}
	return &plan{route: RouteExec, image: image}, nil
}

func (h *SnapshotHelper) logsFor(node string) (*NodeLogs, error) {
	if h.newLogs != nil {
		return h.newLogs(node)
	}
	return NewNodeLogs(h.Config, node)
}

func joinPerms(ps []Permission) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.String())
	}
	return strings.Join(s, " and ")
}

// kubeProxyImage is the image of the kube-proxy pod on node: kubeadm's kube-proxy image
// (distroless-iptables) has sleep, cat and wc, and its DaemonSet tolerates every taint, so the
// image is on every control-plane node.
func kubeProxyImage(ctx context.Context, r *Runner, node string) (string, error) {
	list, err := r.Client.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{
		LabelSelector: KubeProxySelector, FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String()})
	if err != nil {
		return "", fmt.Errorf("cannot look for the kube-proxy pod on node %s: %w", node, err)
	}
	for _, p := range list.Items {
		for _, c := range p.Spec.Containers {
			if c.Name == "kube-proxy" || len(p.Spec.Containers) == 1 {
				return c.Image, nil
			}
		}
	}
	return "", fmt.Errorf("no kube-proxy pod runs on node %s (a kube-proxy replacement?), so no image with sleep, cat and wc is known there", node)
}

// clientFiles are the etcd client CA, certificate and key for member m, as paths inside the
// etcd container: kubeadm's healthcheck-client pair when the member uses kubeadm's layout,
// else the certificate and key of the member's own flags.
func clientFiles(m *discovery.Member) (ca, cert, key string, err error) {
	if m.TrustedCAFile == "" || m.CertFile == "" || m.KeyFile == "" {
		return "", "", "", fmt.Errorf("the etcd flags of %s do not name --trusted-ca-file, --cert-file and --key-file, so there is no client certificate to use on the node", m)
	}
	dir := path.Dir(m.TrustedCAFile)
	if path.Dir(m.CertFile) == dir && path.Base(m.CertFile) == "server.crt" {
		return m.TrustedCAFile, path.Join(dir, "healthcheck-client.crt"), path.Join(dir, "healthcheck-client.key"), nil
	}
	return m.TrustedCAFile, m.CertFile, m.KeyFile, nil
}

// HostPathOf maps a path inside the etcd container to the node through its hostPath mounts.
func HostPathOf(m *discovery.Member, p string) (string, error) {
	best, host := "", ""
	for mp, hp := range m.HostPaths {
		mp = path.Clean(mp)
		if (p == mp || strings.HasPrefix(p, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > len(best) {
			best, host = mp, hp
		}
	}
	if best == "" {
		return "", fmt.Errorf("%s of %s is not in a hostPath mount of the etcd pod, so its place on the node is unknown", p, m)
	}
	return path.Join(host, strings.TrimPrefix(p, best)), nil
}

// spec builds the helper pod: container "snapshot" runs etcdctl snapshot save into /out, with
// the three certificate files mounted read-only at their node paths; for RouteExec a "shell"
// container waits beside it so that cat can be exec'd.
func (h *SnapshotHelper) spec(m *discovery.Member, pl *plan, dbSize int64) (Spec, error) {
	if m.Image == "" {
		return Spec{}, fmt.Errorf("%s names no image", m)
	}
	if m.Node == "" {
		return Spec{}, fmt.Errorf("%s is on no node", m)
	}
	if m.LocalClientURL == "" {
		return Spec{}, fmt.Errorf("%s listens on no client URL that a pod on its node can reach", m)
	}
	ca, cert, key, err := clientFiles(m)
	if err != nil {
		return Spec{}, err
	}
	deadline := h.Deadline
	if deadline <= 0 {
		deadline = 10*time.Minute + time.Duration(dbSize>>20)*time.Second
	}
	etcdctl := h.Etcdctl
	if etcdctl == "" {
		etcdctl = "etcdctl"
	}
	s := Spec{Namespace: m.Namespace, Node: m.Node, Purpose: "snap", Member: m.Name, Deadline: deadline,
		Describe: fmt.Sprintf("etcd snapshot of member %s for kubectl etcd snapshot save", m.Name)}
	c := corev1.Container{Name: SnapshotContainer, Image: m.Image,
		Command: []string{etcdctl, "--endpoints=" + m.LocalClientURL, "--cacert=" + ca, "--cert=" + cert, "--key=" + key,
			"snapshot", "save", path.Join(outMount, snapshotFile)}}
	for i, f := range []string{ca, cert, key} {
		hp, err := HostPathOf(m, f)
		if err != nil {
			return Spec{}, err
		}
		name := fmt.Sprintf("pki-%d", i)
		s.Volumes = append(s.Volumes, HostFile(name, hp))
		c.VolumeMounts = append(c.VolumeMounts, ReadOnly(name, f))
	}
	switch pl.route {
	case RouteLogs:
		s.Volumes = append(s.Volumes, PodLogsVolume("out"))
		c.VolumeMounts = append(c.VolumeMounts, OwnLogDirMount("out", snapshotDir, outMount))
		s.Containers = []corev1.Container{c}
	case RouteExec:
		// Room for the snapshot and a quarter more (the database grows while it is copied);
		// no limit when the size is unknown.
		limit := int64(0)
		if dbSize > 0 {
			limit = dbSize + dbSize/4 + 64<<20
		}
		s.Volumes = append(s.Volumes, ScratchVolume("out", limit))
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "out", MountPath: outMount})
		sh := corev1.Container{Name: ShellContainer, Image: pl.image,
			Command:      []string{"sleep", strconv.FormatInt(int64(deadline/time.Second), 10)},
			VolumeMounts: []corev1.VolumeMount{ReadOnly("out", outMount)}}
		s.Containers = []corev1.Container{c, sh}
	}
	return s, nil
}

// Open starts a helper pod on member m's node and returns the snapshot stream (the database
// followed by its sha256, as etcd sends it). Closing the stream deletes the pod; so does every
// failure of Open. dbSize sizes the deadline and the scratch volume.
func (h *SnapshotHelper) Open(ctx context.Context, m *discovery.Member, dbSize int64) (io.ReadCloser, error) {
	pl, err := h.choose(ctx, m)
	if err != nil {
		return nil, err
	}
	spec, err := h.spec(m, pl, dbSize)
	if err != nil {
		return nil, err
	}
	// RouteLogs waits for etcdctl to start (it may even be done); RouteExec for the shell
	// container to run, since cat is exec'd in it.
	wait, mustRun := SnapshotContainer, false
	if pl.route == RouteExec {
		wait, mustRun = ShellContainer, true
	}
	pod, err := h.Runner.Start(ctx, spec, wait, mustRun)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	h.route, h.pod = pl.route, pod.String()
	h.mu.Unlock()
	why := h.Why
	if why != "" {
		why += ": "
	}
	h.notify("%snode %s takes the snapshot with helper pod %s (deleted on exit)", why, m.Node, pod)
	var rc io.ReadCloser
	switch pl.route {
	case RouteLogs:
		rc, err = h.openLogs(ctx, pod, pl.logs, dbSize)
	default:
		rc, err = h.openExec(ctx, pod, dbSize, containerSaveState(pod), false)
	}
	if err != nil {
		pod.deleteOrWarn(ctx)
		return nil, err
	}
	return rc, nil
}

// etcdctlFailed words a failed etcdctl snapshot save; no space is the usual cause on a node,
// and the hint depends on where the file was.
func etcdctlFailed(node string, t *corev1.ContainerStateTerminated, route Route) error {
	msg := strings.TrimSpace(t.Message)
	if msg == "" {
		msg = t.Reason
	}
	err := fmt.Errorf("etcdctl snapshot save on node %s failed (exit code %d): %s", node, t.ExitCode, lastLines(msg, 3))
	if strings.Contains(msg, "no space left on device") {
		where := "the node's /var/log (often a small partition)"
		alt := "free space there, or use --helper-route exec (an emptyDir on the kubelet's disk)"
		if route == RouteExec {
			where = "the kubelet's disk (the helper's emptyDir under /var/lib/kubelet)"
			alt = "free space there, or use --helper-route logs"
		}
		err = fmt.Errorf("%w: no room for the snapshot on %s; %s", err, where, alt)
	}
	return err
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// ---- RouteLogs ----

// maxCuts is how often a download may break and resume before it gives up.
const maxCuts = 5

// followReader reads the snapshot from the kubelet's log server while etcdctl writes it:
// ranged reads of snapshot.db.part from the offset reached, and once etcdctl renamed it, of
// snapshot.db to its end. It ends (io.EOF) only when etcdctl exited 0 and the final file has
// been read whole.
type followReader struct {
	ctx        context.Context
	h          *SnapshotHelper
	pod        *Pod
	logs       *NodeLogs
	dir        string
	off, total int64
	body       io.ReadCloser
	cuts       int
	done       bool
}

func (h *SnapshotHelper) openLogs(ctx context.Context, pod *Pod, logs *NodeLogs, dbSize int64) (io.ReadCloser, error) {
	f := &followReader{ctx: ctx, h: h, pod: pod, logs: logs, total: dbSize,
		dir: OwnLogDir(pod.Namespace, pod.Name, pod.UID, snapshotDir)}
	// Return once the stream has begun (bytes are there): the caller takes the member's lock
	// then, and a lock taken earlier would be inside the snapshot.
	if err := f.next(); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return f, nil
}

func (f *followReader) Read(p []byte) (int, error) {
	for {
		if f.body != nil {
			n, err := f.body.Read(p)
			f.off += int64(n)
			if n > 0 {
				f.cuts = 0 // maxCuts counts breaks in a row, without progress between them
			}
			if err != nil {
				_ = f.body.Close()
				f.body = nil
				if !errors.Is(err, io.EOF) {
					if f.cuts++; f.cuts > maxCuts || f.ctx.Err() != nil {
						return n, fmt.Errorf("download of the snapshot from node %s broke at byte %d: %w", f.pod.Node, f.off, err)
					}
				}
			}
			if n > 0 {
				return n, nil
			}
			continue
		}
		if err := f.next(); err != nil {
			return 0, err
		}
	}
}

// next opens the body at the offset reached, waiting (polling) until there are bytes to read;
// io.EOF when the snapshot has been read whole.
func (f *followReader) next() error {
	if f.done {
		return io.EOF
	}
	part := path.Join(f.dir, snapshotFile+".part")
	final := path.Join(f.dir, snapshotFile)
	for {
		body, _, err := f.logs.Open(f.ctx, part, f.off)
		if err == nil {
			f.body = body
			return nil
		}
		if errors.Is(err, errNoFile) {
			// not created yet, or renamed to its final name: etcdctl is done writing
			body, size, ferr := f.logs.Open(f.ctx, final, f.off)
			switch {
			case ferr == nil:
				f.body = body
				return nil
			case errors.Is(ferr, errNoNewData) && size == f.off:
				return f.finish()
			case errors.Is(ferr, errNoNewData):
				return fmt.Errorf("the snapshot on node %s has %d bytes, fewer than the %d read while it was written", f.pod.Node, size, f.off)
			case !errors.Is(ferr, errNoFile):
				err = ferr
			}
		}
		pause := 100 * time.Millisecond
		if err != nil && !errors.Is(err, errNoFile) && !errors.Is(err, errNoNewData) {
			if f.cuts++; f.cuts > maxCuts || f.ctx.Err() != nil {
				return fmt.Errorf("reading the snapshot from node %s: %w", f.pod.Node, err)
			}
			pause = time.Duration(f.cuts) * time.Second // the proxy or the kubelet hiccupped
		}
		// Nothing new: has etcdctl failed?
		t, terr := f.pod.Terminated(f.ctx, SnapshotContainer)
		if terr != nil {
			return terr
		}
		if t != nil && t.ExitCode != 0 {
			return etcdctlFailed(f.pod.Node, t, RouteLogs)
		}
		if t != nil && errors.Is(err, errNoFile) {
			// etcdctl renames the file before it exits 0: neither name being there is not a wait
			return fmt.Errorf("etcdctl on node %s exited 0, but neither %s nor %s is there (was the pod's log directory removed?)", f.pod.Node, final, part)
		}
		if err := sleep(f.ctx, pause); err != nil {
			return err
		}
	}
}

// finish checks, once the final file has been read to its end, that etcdctl exited 0.
func (f *followReader) finish() error {
	t, err := f.pod.WaitTerminated(f.ctx, SnapshotContainer)
	if err != nil {
		return err
	}
	if t.ExitCode != 0 {
		return etcdctlFailed(f.pod.Node, t, RouteLogs)
	}
	f.done = true
	return io.EOF
}

func (f *followReader) Close() error {
	if f.body != nil {
		_ = f.body.Close()
		f.body = nil
	}
	f.pod.deleteOrWarn(f.ctx)
	return nil
}

// ---- RouteExec ----

// openExec returns once etcdctl has begun to write into the emptyDir (etcd's snapshot stream is
// open, so the caller's member lock lands after the snapshot's point in time) or has ended. The
// reader then waits for etcdctl to finish and streams the file with cat exec'd in the shell
// container; a stream cut short is resumed once by a new cat whose first bytes, already
// received, are skipped.
func (h *SnapshotHelper) openExec(ctx context.Context, pod *Pod, dbSize int64, state saveState, keepPod bool) (io.ReadCloser, error) {
	r := &execReader{ctx: ctx, h: h, pod: pod, file: path.Join(outMount, snapshotFile), size: -1, dbSize: dbSize,
		state: state, keepPod: keepPod}
	for {
		t, err := state(ctx)
		if err != nil {
			return nil, err
		}
		if t != nil {
			if t.ExitCode != 0 {
				return nil, etcdctlFailed(pod.Node, t, RouteExec)
			}
			return r, nil
		}
		if n, err := h.fileSize(ctx, pod, r.file+".part"); err == nil && n > 0 {
			return r, nil
		}
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

// waitSaved waits until etcdctl has exited 0 (telling SaveProgress how far it got meanwhile)
// and reads the size of the finished file.
func (r *execReader) waitSaved() error {
	var last int64
	for {
		t, err := r.state(r.ctx)
		if err != nil {
			return err
		}
		if t != nil {
			if t.ExitCode != 0 {
				return etcdctlFailed(r.pod.Node, t, RouteExec)
			}
			break
		}
		if r.h.SaveProgress != nil {
			if n, err := r.h.fileSize(r.ctx, r.pod, r.file+".part"); err == nil && n > last {
				last = n
				r.h.SaveProgress(n, r.dbSize)
			}
		}
		if err := sleep(r.ctx, time.Second); err != nil {
			return err
		}
	}
	size, err := r.h.fileSize(r.ctx, r.pod, r.file)
	if err != nil {
		return fmt.Errorf("etcdctl reported the snapshot saved on node %s, but %s cannot be read: %w", r.pod.Node, r.file, err)
	}
	r.size = size
	return nil
}

// fileSize runs wc -c in the shell container.
func (h *SnapshotHelper) fileSize(ctx context.Context, pod *Pod, file string) (int64, error) {
	var out, errOut bytes.Buffer
	if err := h.Exec.Exec(ctx, pod.Namespace, pod.Name, ShellContainer, []string{"wc", "-c", file}, nil, &out, &errOut); err != nil {
		return 0, fmt.Errorf("%w: %s", err, strings.TrimSpace(errOut.String()))
	}
	f := strings.Fields(out.String())
	if len(f) == 0 {
		return 0, fmt.Errorf("wc printed nothing")
	}
	return strconv.ParseInt(f[0], 10, 64)
}

// saveState says how etcdctl snapshot save ended (nil while it runs).
type saveState func(ctx context.Context) (*corev1.ContainerStateTerminated, error)

// containerSaveState is the state of etcdctl run as the snapshot helper's container.
func containerSaveState(pod *Pod) saveState {
	return func(ctx context.Context) (*corev1.ContainerStateTerminated, error) {
		return pod.Terminated(ctx, SnapshotContainer)
	}
}

type execReader struct {
	ctx        context.Context
	h          *SnapshotHelper
	pod        *Pod
	state      saveState
	keepPod    bool // the pod outlives the stream (the external-etcd helper of the whole run)
	file       string
	size, off  int64 // size -1: etcdctl is still writing
	dbSize     int64
	body       io.ReadCloser
	stop       context.CancelFunc
	resumed    bool
	lastStderr *syncBuffer
}

// syncBuffer is a buffer that the exec goroutine writes while the reader may read it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// open starts cat and skips the first off bytes.
func (r *execReader) open() error {
	ctx, cancel := context.WithCancel(r.ctx)
	pr, pw := io.Pipe()
	errOut := &syncBuffer{}
	r.stop, r.body, r.lastStderr = cancel, pr, errOut
	go func() {
		err := r.h.Exec.Exec(ctx, r.pod.Namespace, r.pod.Name, ShellContainer, []string{"cat", r.file}, nil, pw, errOut)
		if err == nil {
			err = io.EOF
		}
		_ = pw.CloseWithError(err)
	}()
	if r.off > 0 {
		if _, err := io.CopyN(io.Discard, pr, r.off); err != nil {
			return err
		}
	}
	return nil
}

func (r *execReader) Read(p []byte) (int, error) {
	if r.size < 0 {
		if err := r.waitSaved(); err != nil {
			return 0, err
		}
	}
	for {
		if r.off >= r.size {
			return 0, io.EOF
		}
		if r.body == nil {
			if err := r.open(); err != nil {
				r.closeBody()
				return 0, fmt.Errorf("resuming the download from node %s at byte %d: %w", r.pod.Node, r.off, err)
			}
		}
		n, err := r.body.Read(p)
		r.off += int64(n)
		if err != nil && !(errors.Is(err, io.EOF) && r.off >= r.size) {
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("the stream ended at byte %d of %d", r.off, r.size)
			}
			r.closeBody()
			if r.resumed || r.ctx.Err() != nil {
				return n, fmt.Errorf("download of the snapshot from node %s broke: %w %s", r.pod.Node, err, strings.TrimSpace(r.lastStderr.String()))
			}
			r.resumed = true // one more cat, from the start, skipping what was received
		}
		if n > 0 {
			return n, nil
		}
	}
}

func (r *execReader) closeBody() {
	if r.stop != nil {
		r.stop()
	}
	if r.body != nil {
		_ = r.body.Close()
	}
	r.body, r.stop = nil, nil
}

func (r *execReader) Close() error {
	r.closeBody()
	if !r.keepPod {
		r.pod.deleteOrWarn(r.ctx)
	}
	return nil
}
