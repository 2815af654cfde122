package nodehelper

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
)

// ErrNotStarted marks a helper pod that could not be created or did not start: RBAC, admission,
// an image that is not on the node, a node that is not ready.
var ErrNotStarted = errors.New("helper pod did not start")

// DefaultStartTimeout bounds the wait for a helper pod to start: the image is on the node
// already, so anything longer is a node or admission problem worth reporting.
const DefaultStartTimeout = 2 * time.Minute

// Runner creates, watches and deletes helper pods.
type Runner struct {
	Client kubernetes.Interface
	// StartTimeout bounds the wait for the pod to start (default DefaultStartTimeout).
	StartTimeout time.Duration
	// Poll is the interval of the status checks (default 250ms).
	Poll time.Duration
	// Notify, when set, is told what a user should know (a stale helper deleted).
	Notify func(string)
	// Now is the clock (tests).
	Now func() time.Time
}

func (r *Runner) poll() time.Duration {
	if r.Poll > 0 {
		return r.Poll
	}
	return 250 * time.Millisecond
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Runner) notify(format string, args ...any) {
	if r.Notify != nil {
		r.Notify(fmt.Sprintf(format, args...))
	}
}

// Pod is a running helper pod.
type Pod struct {
	r                     *Runner
	Namespace, Name, Node string
	UID                   string
	mu                    sync.Mutex
	deleted               bool
}

// String is namespace/name.
func (p *Pod) String() string { return p.Namespace + "/" + p.Name }

// live are the helper pods this process created and has not deleted yet.
var live sync.Map // *Pod -> struct{}

// Start sweeps helpers left behind, creates the pod of spec and waits until the container named
// wait runs — or, unless mustRun, has already ended (a short job). On any failure the pod is
// deleted again and the error wraps ErrNotStarted, naming the cause: the API's refusal (RBAC,
// admission) or the pod's own state and its events.
func (r *Runner) Start(ctx context.Context, spec Spec, wait string, mustRun bool) (*Pod, error) {
	r.Sweep(ctx, spec.Namespace)
	// The create is not cancelled half-way by Ctrl-C: the API server could store a pod whose
	// name (generated) this process would then never learn, and so never delete.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	created, err := r.Client.CoreV1().Pods(spec.Namespace).Create(cctx, spec.Pod(), metav1.CreateOptions{})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotStarted, createError(err, spec))
	}
	p := &Pod{r: r, Namespace: created.Namespace, Name: created.Name, Node: spec.Node, UID: string(created.UID)}
	live.Store(p, struct{}{})
	if err := ctx.Err(); err != nil {
		p.deleteOrWarn(ctx)
		return nil, context.Cause(ctx)
	}
	if err := p.waitStarted(ctx, wait, mustRun); err != nil {
		p.deleteOrWarn(ctx)
		return nil, err
	}
	return p, nil
}

// createError words a refused create: RBAC names the verb and resource, admission is quoted.
func createError(err error, spec Spec) error {
	msg := err.Error()
	switch {
	case apierrors.IsForbidden(err) && strings.Contains(msg, "cannot create resource"):
		return fmt.Errorf("RBAC denied create pods in namespace %q (the helper pod needs create, get and delete on pods there): %w", spec.Namespace, err)
	case apierrors.IsForbidden(err) || apierrors.IsInvalid(err) && strings.Contains(msg, "admission"):
		hint := "an admission policy refused it"
		if strings.Contains(msg, "PodSecurity") {
			hint = fmt.Sprintf("Pod Security Admission refused it: namespace %q carries a pod-security.kubernetes.io/enforce label stricter than privileged (the helper needs hostNetwork and hostPath)", spec.Namespace)
		}
		return fmt.Errorf("cannot create a helper pod in namespace %q on node %s: %s: %w", spec.Namespace, spec.Node, hint, err)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("the API server rejected the credentials while creating a helper pod: %w", err)
	}
	return fmt.Errorf("cannot create a helper pod in namespace %q on node %s: %w", spec.Namespace, spec.Node, err)
}

// waitStarted polls the pod until container wait runs or ran, the pod failed, or the start
// timeout passed.
func (p *Pod) waitStarted(ctx context.Context, wait string, mustRun bool) error {
	timeout := p.r.StartTimeout
	if timeout <= 0 {
		timeout = DefaultStartTimeout
	}
	deadline := p.r.now().Add(timeout)
	for {
		pod, err := p.Get(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%w: interrupted (%v) while waiting for %s on node %s to start", ErrNotStarted, context.Cause(ctx), p, p.Node)
			}
			return fmt.Errorf("%w: %s: %w", ErrNotStarted, p, err)
		}
		if st := ContainerState(pod, wait); st != nil {
			switch {
			case st.Running != nil:
				return nil
			case st.Terminated != nil && !mustRun:
				return nil
			case st.Terminated != nil:
				return fmt.Errorf("%w: %s on node %s: container %s ended at once (exit code %d, %s): %s", ErrNotStarted, p, p.Node,
					wait, st.Terminated.ExitCode, st.Terminated.Reason, lastLines(st.Terminated.Message, 3))
			}
		}
		if reason := stuck(pod); reason != "" {
			return fmt.Errorf("%w: %s on node %s: %s%s", ErrNotStarted, p, p.Node, reason, p.events(ctx))
		}
		if p.r.now().After(deadline) {
			return fmt.Errorf("%w: %s on node %s did not start within %s (phase %s)%s", ErrNotStarted, p, p.Node, timeout, pod.Status.Phase, p.events(ctx))
		}
		if err := sleep(ctx, p.r.poll()); err != nil {
			return err
		}
	}
}

// stuck says why a pod that has not started never will: it failed, or a container waits for
// something that does not come by itself (an image that is not there and may not be pulled, a
// mount that does not exist).
func stuck(pod *corev1.Pod) string {
	if pod.Status.Phase == corev1.PodFailed {
		return fmt.Sprintf("the pod failed: %s %s", pod.Status.Reason, pod.Status.Message)
	}
	for _, cs := range slices.Concat(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses) {
		if w := cs.State.Waiting; w != nil {
			switch w.Reason {
			case "ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName":
				return fmt.Sprintf("image %s of container %s is not on the node and could not be pulled (%s: %s)", cs.Image, cs.Name, w.Reason, w.Message)
			case "CreateContainerConfigError", "CreateContainerError", "RunContainerError":
				return fmt.Sprintf("container %s cannot start (%s: %s)", cs.Name, w.Reason, w.Message)
			}
		}
	}
	return ""
}

// events renders the pod's warning events as "; events: ..." ("" when there are none).
func (p *Pod) events(ctx context.Context) string {
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	list, err := p.r.Client.CoreV1().Events(p.Namespace).List(ectx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("involvedObject.name", p.Name).String()})
	if err != nil || len(list.Items) == 0 {
		return ""
	}
	sort.SliceStable(list.Items, func(i, j int) bool { return list.Items[i].LastTimestamp.Before(&list.Items[j].LastTimestamp) })
	var out []string
	for _, e := range list.Items {
		if e.Type == corev1.EventTypeNormal && !strings.Contains(e.Reason, "Fail") {
			continue
		}
		out = append(out, fmt.Sprintf("%s: %s", e.Reason, strings.TrimSpace(e.Message)))
	}
	if len(out) == 0 {
		return ""
	}
	return "; events: " + strings.Join(out, "; ")
}

// Get reads the pod.
func (p *Pod) Get(ctx context.Context) (*corev1.Pod, error) {
	return p.r.Client.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
}

// ContainerState returns the state of container or init container name in pod (nil when
// unknown).
func ContainerState(pod *corev1.Pod, name string) *corev1.ContainerState {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for i := range list {
			if cs := &list[i]; cs.Name == name {
				return &cs.State
			}
		}
	}
	return nil
}

// Terminated returns the termination of container name, nil while it runs. A pod that is gone
// or failed before the container ended is an error.
func (p *Pod) Terminated(ctx context.Context, name string) (*corev1.ContainerStateTerminated, error) {
	pod, err := p.Get(ctx)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("helper pod %s was deleted while it worked", p)
		}
		return nil, err
	}
	st := ContainerState(pod, name)
	if st != nil && st.Terminated != nil {
		return st.Terminated, nil
	}
	if pod.Status.Phase == corev1.PodFailed {
		return nil, fmt.Errorf("helper pod %s failed: %s %s", p, pod.Status.Reason, pod.Status.Message)
	}
	// A container that waits for what does not come by itself (an image that cannot be
	// pulled) would leave the caller waiting until its deadline.
	if reason := stuck(pod); reason != "" {
		return nil, fmt.Errorf("helper pod %s on node %s: %s", p, p.Node, reason)
	}
	return nil, nil
}

// WaitTerminated waits until container name has ended and returns how.
func (p *Pod) WaitTerminated(ctx context.Context, name string) (*corev1.ContainerStateTerminated, error) {
	for {
		t, err := p.Terminated(ctx, name)
		if err != nil || t != nil {
			return t, err
		}
		if err := sleep(ctx, p.r.poll()); err != nil {
			return nil, err
		}
	}
}

// Delete deletes the pod even when ctx is already cancelled (Ctrl-C): the deletion gets a
// context of its own, bounded by cleanupTimeout. A pod already gone is not an error; a failed
// deletion is tried again by the next call.
func (p *Pod) Delete(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.deleted {
		return nil
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := deletePod(dctx, p.r.Client, p.Namespace, p.Name); err != nil {
		return err
	}
	p.deleted = true
	live.Delete(p)
	return nil
}

// Release gives the pod up: this process no longer deletes it, not even when it quits at once
// (DeleteLive). For a helper that must finish its work on the node by itself; its deadline
// still bounds it.
func (p *Pod) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.deleted = true
	live.Delete(p)
}

// deleteOrWarn deletes the pod and, when that fails, says so with the command that deletes it:
// a helper left behind holds files (a snapshot) on its node.
func (p *Pod) deleteOrWarn(ctx context.Context) {
	if err := p.Delete(ctx); err != nil {
		p.r.notify("%v", err)
	}
}

// cleanupTimeout bounds a deletion that runs after the command's context ended.
const cleanupTimeout = 15 * time.Second

func deletePod(ctx context.Context, client kubernetes.Interface, ns, name string) error {
	err := client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr64(1)})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("could not delete helper pod %s/%s (delete it with: kubectl -n %s delete pod %s): %w", ns, name, ns, name, err)
	}
	return nil
}

func ptr64(v int64) *int64 { return &v }

// DeleteLive deletes, within timeout, every helper pod this process created and has not
// deleted yet. main calls it when a second Ctrl-C quits without waiting for the normal
// clean-up; it returns at the timeout whatever is still pending.
func DeleteLive(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := make(chan struct{})
	var wg sync.WaitGroup
	live.Range(func(k, _ any) bool {
		p := k.(*Pod)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if deletePod(ctx, p.r.Client, p.Namespace, p.Name) == nil {
				live.Delete(p)
			}
		}()
		return true
	})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// List returns the helper pods in namespace ns, oldest first.
func List(ctx context.Context, client kubernetes.Interface, ns string) ([]corev1.Pod, error) {
	list, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: Selector})
	if err != nil {
		return nil, err
	}
	sort.Slice(list.Items, func(i, j int) bool {
		return list.Items[i].CreationTimestamp.Before(&list.Items[j].CreationTimestamp)
	})
	return list.Items, nil
}

// Expired says whether a helper pod has outlived its deadline (with a minute's grace), so that
// no run can still be using it.
func Expired(pod *corev1.Pod, now time.Time) bool {
	if pod.Spec.ActiveDeadlineSeconds == nil {
		return false
	}
	start := pod.CreationTimestamp.Time
	return now.After(start.Add(time.Duration(*pod.Spec.ActiveDeadlineSeconds)*time.Second + time.Minute))
}

// Sweep deletes the helper pods in ns that are past their deadline: a run that was killed
// (SIGKILL, a lost laptop) could not delete its own, and an expired pod still holds its files
// on the node until it is deleted. Failures are not errors: the sweep is best effort.
func (r *Runner) Sweep(ctx context.Context, ns string) {
	pods, err := List(ctx, r.Client, ns)
	if err != nil {
		return
	}
	for i := range pods {
		if Expired(&pods[i], r.now()) {
			if err := deletePod(ctx, r.Client, ns, pods[i].Name); err == nil {
				r.notify("deleted helper pod %s/%s, left behind by an earlier run past its deadline", ns, pods[i].Name)
			}
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}
