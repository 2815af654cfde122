package exec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/streaming/pkg/httpstream"
	utilexec "k8s.io/utils/exec"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
)

// Executor runs a command in a container and streams its output. It is the seam between the exec
// transport and the Kubernetes API; tests replace it with a recorder. A nil stdin means the
// command gets no standard input (the exec request does not ask for one).
type Executor interface {
	Exec(ctx context.Context, namespace, pod, container string, argv []string, stdin io.Reader, stdout, stderr io.Writer) error
}

// ExitError is a command that ran in the container and exited non-zero.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return fmt.Sprintf("exit code %d", e.Code) }
func (e *ExitError) Unwrap() error { return e.Err }

// ExitStatus is the command's exit code.
func (e *ExitError) ExitStatus() int { return e.Code }

// APIExecutor runs commands through the API server's pods/exec subresource, over WebSocket with a
// fallback to SPDY when the upgrade fails, the same way kubectl exec does. Setting
// KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false forces SPDY, as it does for kubectl.
type APIExecutor struct {
	Config *restclient.Config
	Client kubernetes.Interface
}

// Exec implements Executor.
func (e *APIExecutor) Exec(ctx context.Context, namespace, pod, container string, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
	req := e.Client.CoreV1().RESTClient().Post().
		Resource("pods").Namespace(namespace).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: container,
			Command:   argv,
			Stdin:     stdin != nil,
			Stdout:    true,
			Stderr:    true,
		}, scheme.ParameterCodec)
	executor, err := newExecutor(req.URL(), e.Config)
	if err != nil {
		return err
	}
	err = executor.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdin, Stdout: stdout, Stderr: stderr})
	return classifyExecError(err, namespace, pod)
}

func newExecutor(u *url.URL, config *restclient.Config) (remotecommand.Executor, error) {
	spdyExec, err := remotecommand.NewSPDYExecutor(config, "POST", u)
	if err != nil {
		return nil, err
	}
	if transport.WebsocketsDisabled(transport.RemoteCommandWebsocketsEnv) {
		return spdyExec, nil
	}
	// WebSocket upgrades are GET requests (RFC 6455); SPDY uses POST.
	wsExec, err := remotecommand.NewWebSocketExecutor(config, "GET", u.String())
	if err != nil {
		return nil, err
	}
	return remotecommand.NewFallbackExecutor(wsExec, spdyExec, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
}

func classifyExecError(err error, namespace, pod string) error {
	if err == nil {
		return nil
	}
	var codeErr utilexec.CodeExitError
	if errors.As(err, &codeErr) {
		return &ExitError{Code: codeErr.Code, Err: err}
	}
	var exitErr utilexec.ExitError
	if errors.As(err, &exitErr) {
		return &ExitError{Code: exitErr.ExitStatus(), Err: err}
	}
	if apierrors.IsForbidden(err) || strings.Contains(err.Error(), "is forbidden") {
		return fmt.Errorf("RBAC denied create pods/exec on pod %s in namespace %q (exec needs get and create on pods/exec): %w", pod, namespace, err)
	}
	return fmt.Errorf("exec into pod %s: %w", pod, err)
}
