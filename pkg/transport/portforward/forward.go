// Package portforward reaches etcd members through the API server's pods/portforward subresource:
// one forward per member port on a random local port, and an etcd gRPC client (or a plain HTTP
// client for the metrics port) over it.
//
// forward.go opens the forwards; connector.go shares them across a command's sessions;
// session.go is the gRPC session; tls.go checks and names certificate problems; metrics.go
// reads the plain-HTTP metrics port.
package portforward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/klog/v2"
	streamhttp "k8s.io/streaming/pkg/httpstream"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
)

// Forward is one open port-forward. Done is closed when it ends for any reason; Err then says why.
type Forward struct {
	Pod        string
	RemotePort int
	LocalPort  int

	done   chan struct{}
	cancel context.CancelFunc

	mu       sync.Mutex
	err      error
	problems []string
}

// NewForward returns a Forward whose lifetime the caller manages (tests and other Forwarders).
func NewForward(pod string, remote, local int, cancel context.CancelFunc) *Forward {
	return &Forward{Pod: pod, RemotePort: remote, LocalPort: local, done: make(chan struct{}), cancel: cancel}
}

// Done is closed when the forward has ended.
func (f *Forward) Done() <-chan struct{} { return f.done }

// Alive reports whether the forward still runs.
func (f *Forward) Alive() bool {
	select {
	case <-f.done:
		return false
	default:
		return true
	}
}

// Err says why the forward ended, including the errors client-go only logs.
func (f *Forward) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	msg := "port-forward ended"
	if f.err != nil {
		msg = f.err.Error()
	}
	if len(f.problems) > 0 {
		msg += " (" + strings.Join(f.problems, "; ") + ")"
	}
	return fmt.Errorf("port-forward to pod %s port %d: %s", f.Pod, f.RemotePort, msg)
}

// Problems returns the copy errors seen so far.
func (f *Forward) Problems() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.problems...)
}

func (f *Forward) note(msg string) {
	f.mu.Lock()
	if len(f.problems) < 5 {
		f.problems = append(f.problems, msg)
	}
	f.mu.Unlock()
}

// Finish marks the forward as ended with err.
func (f *Forward) Finish(err error) {
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.mu.Unlock()
	select {
	case <-f.done:
	default:
		close(f.done)
	}
}

// Close stops the forward and waits for it to end.
func (f *Forward) Close() {
	if f.cancel != nil {
		f.cancel()
	}
	<-f.done
}

// Forwarder opens forwards; the seam for tests.
type Forwarder interface {
	Forward(ctx context.Context, namespace, pod string, port int) (*Forward, error)
}

// APIForwarder forwards through the API server, over WebSocket with a fallback to SPDY when the
// upgrade fails, as kubectl port-forward does (KUBECTL_PORT_FORWARD_WEBSOCKETS=false forces SPDY).
type APIForwarder struct {
	Config *restclient.Config
	Client kubernetes.Interface
}

// Forward opens a forward from a random port on 127.0.0.1 to the pod's port. ctx bounds only the
// opening — Forward returns when ctx ends even while client-go is still dialling; the forward
// lives until Close.
func (a *APIForwarder) Forward(ctx context.Context, namespace, pod string, port int) (*Forward, error) {
	req := a.Client.CoreV1().RESTClient().Post().Resource("pods").Namespace(namespace).Name(pod).SubResource("portforward")
	rt, upgrader, err := spdy.RoundTripperFor(a.Config)
	if err != nil {
		return nil, err
	}
	dialer := spdy.NewDialerForStreaming(upgrader, &http.Client{Transport: rt}, "POST", req.URL())
	if !transport.WebsocketsDisabled(transport.PortForwardWebsocketsEnv) {
		ws, err := portforward.NewSPDYOverWebsocketDialerForStreaming(req.URL(), a.Config)
		if err != nil {
			return nil, err
		}
		dialer = portforward.NewFallbackDialerForStreaming(ws, dialer, func(err error) bool {
			return streamhttp.IsUpgradeFailure(err) || streamhttp.IsHTTPSProxyError(err)
		})
	}

	life, cancel := context.WithCancel(context.Background())
	f := NewForward(pod, port, 0, cancel)
	// client-go reports copy and stream errors only through its logger: catch them there.
	life = klog.NewContext(life, logr.New(&errorSink{f: f}))
	ready := make(chan struct{})
	pf, err := portforward.NewOnAddressesForStreamingWithContext(life, dialer, []string{"127.0.0.1"},
		[]string{fmt.Sprintf("0:%d", port)}, ready, io.Discard, io.Discard)
	if err != nil {
		cancel()
		return nil, err
	}
	go func() { f.Finish(pf.ForwardPorts()) }()
	select {
	case <-ready:
	case <-f.done:
		return nil, describeForwardError(f.err, namespace, pod, port)
	case <-ctx.Done():
		// client-go's dial takes no context: a dead node can hold it for as long as the API
		// server waits for the kubelet. Give up now and let the forward end in the background.
		cancel()
		return nil, fmt.Errorf("port-forward to pod %s port %d: %w", pod, port, ctx.Err())
	}
	ports, err := pf.GetPorts()
	if err != nil || len(ports) == 0 {
		f.Close()
		return nil, fmt.Errorf("port-forward to pod %s port %d: no local port: %v", pod, port, err)
	}
	f.LocalPort = int(ports[0].Local)
	return f, nil
}

func describeForwardError(err error, namespace, pod string, port int) error {
	if err == nil {
		err = errors.New("ended before it was ready")
	}
	if apierrors.IsForbidden(err) || strings.Contains(err.Error(), "forbidden") {
		return fmt.Errorf("RBAC denied create pods/portforward on pod %s in namespace %q (port-forward needs get and create on pods/portforward): %w", pod, namespace, err)
	}
	return fmt.Errorf("port-forward to pod %s port %d: %w", pod, port, err)
}

// errorSink is a logr sink that records the errors client-go logs for a forward.
type errorSink struct{ f *Forward }

func (s *errorSink) Init(logr.RuntimeInfo)                 {}
func (s *errorSink) Enabled(int) bool                      { return false }
func (s *errorSink) Info(int, string, ...any)              {}
func (s *errorSink) WithValues(...any) logr.LogSink        { return s }
func (s *errorSink) WithName(string) logr.LogSink          { return s }
func (s *errorSink) Error(err error, msg string, _ ...any) { s.f.note(msg + ": " + oneLine(err)) }

func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }
