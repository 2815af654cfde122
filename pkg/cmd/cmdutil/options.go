package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/certs"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/metrics"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/printers"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
	transportexec "github.com/kubectl-etcd/kubectl-etcd/pkg/transport/exec"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport/portforward"
)

// DefaultTimeout bounds each call to a member when --request-timeout is not set.
const DefaultTimeout = 10 * time.Second

// GlobalOptions are the flags every command shares, bound on the root command.
type GlobalOptions struct {
	ConfigFlags *genericclioptions.ConfigFlags

	Selector  string
	Pods      []string
	Output    string
	Transport string
	Etcdctl   string
	Verbosity int

	// Client certificates for the port-forward transport.
	CACert, Cert, Key string
	CertSecret        string
	TLSServerName     string
	// KubeadmPKIDir is where kubeadm keeps the etcd PKI on a control-plane node.
	KubeadmPKIDir string
	// HelperEtcdImage is the image with etcdctl of the helper pod that reaches an external etcd
	// (default: kubeadm's etcd image for the cluster's version).
	HelperEtcdImage string

	// Set by commands before discovery, for an external etcd: NodeSide names a command that
	// works on the etcd nodes (it is refused there); ExternalSnapshots adds the shell container
	// (ExternalShellImage, default the node's kube-proxy image) that hands snapshots over.
	NodeSide           string
	ExternalSnapshots  bool
	ExternalShellImage string

	// LogOut receives -v messages (stderr).
	LogOut io.Writer

	// Set by Complete.
	Namespace  string
	RESTConfig *rest.Config
	Client     kubernetes.Interface
	Format     printers.Format
	Mode       transport.Mode

	// NewConnector, when set, replaces the transport (tests).
	NewConnector func(mode transport.Mode) (transport.Connector, error)

	// chosen by Connector, for -v and messages
	certs *certs.Bundle
	// external is the external etcd of this run, when discovery found no etcd pods.
	external *externalRun
}

// NewGlobalOptions returns the defaults.
func NewGlobalOptions() *GlobalOptions {
	cf := genericclioptions.NewConfigFlags(true)
	// --tls-server-name names the etcd server certificate here (etcdctl's meaning); the API
	// server's TLS server name still comes from the kubeconfig.
	cf.TLSServerName = nil
	return &GlobalOptions{
		ConfigFlags:   cf,
		KubeadmPKIDir: certs.DefaultKubeadmDir,
		LogOut:        io.Discard,
		Selector:      discovery.DefaultSelector,
		Output:        string(printers.Table),
		Transport:     string(transport.ModeAuto),
	}
}

// AddFlags binds the shared flags to the root command's persistent flags.
func (g *GlobalOptions) AddFlags(cmd *cobra.Command) {
	g.ConfigFlags.AddFlags(cmd.PersistentFlags())
	f := cmd.PersistentFlags()
	f.StringVarP(&g.Selector, "selector", "l", g.Selector, "Label selector of the etcd pods")
	f.StringSliceVar(&g.Pods, "pod", g.Pods, "Only these etcd pods (repeat or comma-separate)")
	f.StringVarP(&g.Output, "output", "o", g.Output, "Output format: "+printers.FormatNames())
	f.StringVar(&g.Transport, "transport", g.Transport, "How to reach the members: auto, exec or port-forward")
	f.StringVar(&g.Etcdctl, "etcdctl", transportexec.DefaultEtcdctl, "The etcdctl binary inside the etcd container (exec transport)")
	_ = f.MarkHidden("etcdctl")
	f.StringVar(&g.CACert, "cacert", "", "CA bundle that signed the etcd server certificates (port-forward transport)")
	f.StringVar(&g.Cert, "cert", "", "Client certificate for etcd (port-forward transport)")
	f.StringVar(&g.Key, "key", "", "Client key for etcd; must not be readable by group or others (port-forward transport)")
	f.StringVar(&g.CertSecret, "cert-secret", "", "NAMESPACE/NAME of a Secret with ca.crt, tls.crt and tls.key for etcd (port-forward transport)")
	f.StringVar(&g.TLSServerName, "tls-server-name", "", "Name to verify the etcd server certificate against (default: the forwarded address, 127.0.0.1)")
	f.StringVar(&g.KubeadmPKIDir, "kubeadm-pki-dir", g.KubeadmPKIDir, "Where to look for kubeadm's etcd certificates on this machine")
	f.StringVar(&g.HelperEtcdImage, "helper-etcd-image", "", "External etcd: image with etcdctl for the helper pod on a control-plane node (default: kubeadm's etcd image for the cluster's version)")
	_ = f.MarkHidden("kubeadm-pki-dir")
	f.IntVarP(&g.Verbosity, "v", "v", 0, "Verbosity: 1 says which transport and certificates are used")
}

// Complete resolves the namespace, output format, transport mode and Kubernetes clients.
// cmdPath names the command for usage errors.
func (g *GlobalOptions) Complete(cmdPath string) error {
	format, err := printers.ParseFormat(g.Output)
	if err != nil {
		return &UsageError{Cmd: cmdPath, Err: err}
	}
	g.Format = format
	switch m := transport.Mode(g.Transport); m {
	case transport.ModeAuto, transport.ModeExec, transport.ModePortForward, transport.ModeMetricsOnly:
		g.Mode = m
	default:
		return Usagef(cmdPath, "invalid --transport %q: want auto, exec, port-forward or metrics-only", g.Transport)
	}
	if _, err := g.requestTimeout(); err != nil {
		return &UsageError{Cmd: cmdPath, Err: err}
	}
	g.Namespace = discovery.DefaultNamespace
	if g.ConfigFlags.Namespace != nil && *g.ConfigFlags.Namespace != "" {
		g.Namespace = *g.ConfigFlags.Namespace
	}
	if g.Client != nil {
		return nil // injected (tests)
	}
	cfg, err := g.ConfigFlags.ToRESTConfig()
	if err != nil {
		return fmt.Errorf("cannot load kubeconfig: %w", err)
	}
	g.RESTConfig = cfg
	g.Client, err = newClientset(cfg)
	if err != nil {
		return fmt.Errorf("cannot create a Kubernetes client: %w", err)
	}
	return nil
}

// MinTimeout is the shortest --request-timeout taken: every call to a member goes through the
// API server (an exec or a port-forward) and a shorter bound fails them all, which would read
// as members that do not answer.
const MinTimeout = time.Second

// Timeout is the bound for one call to one member: --request-timeout when set, else 10s.
func (g *GlobalOptions) Timeout() time.Duration {
	if d, err := g.requestTimeout(); err == nil && d > 0 {
		return d
	}
	return DefaultTimeout
}

// requestTimeout reads --request-timeout as kubectl does (a duration, or whole seconds);
// 0 when unset or "0" (the default). Below MinTimeout, negative or unreadable is an error.
func (g *GlobalOptions) requestTimeout() (time.Duration, error) {
	if g.ConfigFlags == nil || g.ConfigFlags.Timeout == nil {
		return 0, nil
	}
	s := strings.TrimSpace(*g.ConfigFlags.Timeout)
	if s == "" || s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		if d, err = time.ParseDuration(s + "s"); err != nil {
			return 0, fmt.Errorf("invalid --request-timeout %q: want a duration such as 30s or 2m, or whole seconds", s)
		}
	}
	if d < MinTimeout {
		return 0, fmt.Errorf("--request-timeout %s is too short: each call to a member goes through the API server; give at least %s (0: the default, %s)", d, MinTimeout, DefaultTimeout)
	}
	return d, nil
}

// Discover finds the etcd members (only the --pod ones when --pod is given).
func (g *GlobalOptions) Discover(ctx context.Context) ([]discovery.Member, error) {
	return g.discover(ctx, false)
}

func (g *GlobalOptions) discover(ctx context.Context, wholeCluster bool) ([]discovery.Member, error) {
	if g.external != nil {
		return g.external.members, nil
	}
	members, err := discovery.Discover(ctx, g.Client, discovery.Options{Namespace: g.Namespace, Selector: g.Selector, Pods: g.Pods, WholeCluster: wholeCluster})
	var np *discovery.NoPodsError
	if err != nil && errors.As(err, &np) {
		return g.discoverExternal(ctx, err)
	}
	return members, err
}

// Selected reports whether --pod selects this pod (every pod when --pod is not given).
func (g *GlobalOptions) Selected(pod string) bool {
	if len(g.Pods) == 0 {
		return true
	}
	for _, p := range g.Pods {
		if p == pod {
			return true
		}
	}
	return false
}

// Logf prints a -v message of the given level on stderr.
func (g *GlobalOptions) Logf(level int, format string, args ...any) {
	if g.Verbosity >= level {
		fmt.Fprintf(g.LogOut, format+"\n", args...)
	}
}

// Connector returns the transport chosen by --transport. With auto: port-forward when client
// certificates are available, else exec when RBAC allows pods/exec, else metrics-only.
func (g *GlobalOptions) Connector(ctx context.Context) (transport.Connector, error) {
	if g.NewConnector != nil {
		return g.NewConnector(g.Mode)
	}
	if g.external != nil {
		g.Mode = transport.ModeExec
		g.Logf(1, "transport: exec in helper pod %s (etcdctl with the API server's etcd client certificate, on node %s)", g.external.helper.Pod, g.external.helper.Pod.Node)
		return g.external.conn, nil
	}
	mode := g.Mode
	var bundle *certs.Bundle
	if mode == transport.ModeAuto || mode == transport.ModePortForward {
		b, notes, err := certs.Find(ctx, certs.Options{CACert: g.CACert, Cert: g.Cert, Key: g.Key,
			KubeadmDir: g.KubeadmPKIDir, Secret: g.CertSecret, Client: g.Client})
		if err != nil {
			return nil, err
		}
		for _, n := range notes {
			g.Logf(2, "certificates: %s", n)
		}
		bundle = b
		if b == nil && mode == transport.ModePortForward {
			return nil, fmt.Errorf("--transport=port-forward needs etcd client certificates and none were found (%s); give --cacert/--cert/--key or --cert-secret",
				strings.Join(notes, "; "))
		}
	}
	if mode == transport.ModeAuto {
		switch {
		case bundle != nil:
			mode = transport.ModePortForward
		case g.canExec(ctx):
			mode = transport.ModeExec
		default:
			mode = transport.ModeMetricsOnly
		}
	}
	g.Mode = mode
	switch mode {
	case transport.ModeExec:
		g.Logf(1, "transport: exec (etcdctl in the etcd pods, with the pods' own certificates)")
		return &transportexec.Connector{
			Executor: &transportexec.APIExecutor{Config: g.RESTConfig, Client: g.Client},
			Etcdctl:  g.Etcdctl,
		}, nil
	case transport.ModePortForward:
		tlsCfg, err := bundle.TLSConfig(g.TLSServerName)
		if err != nil {
			return nil, err
		}
		g.certs = bundle
		g.Logf(1, "transport: port-forward (gRPC through pods/portforward; client certificates from %s)", bundle.Source)
		return &portforward.Connector{
			Forwarder:   &portforward.APIForwarder{Config: g.RESTConfig, Client: g.Client},
			TLS:         tlsCfg,
			DialTimeout: g.Timeout(),
			CertSource:  bundle.Source,
		}, nil
	case transport.ModeMetricsOnly:
		g.Logf(1, "transport: metrics-only (no client certificates and no pods/exec; reading the plain-HTTP metrics port)")
		return &portforward.MetricsConnector{Connector: portforward.Connector{
			Forwarder: &portforward.APIForwarder{Config: g.RESTConfig, Client: g.Client},
		}}, nil
	}
	return nil, fmt.Errorf("transport %s is not available", mode)
}

// canExec asks the API server whether the user may create pods/exec in the namespace.
func (g *GlobalOptions) canExec(ctx context.Context) bool {
	review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: g.Namespace, Verb: "create", Resource: "pods", Subresource: "exec"},
	}}
	res, err := g.Client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		g.Logf(1, "cannot check whether pods/exec is allowed (%v); trying exec", err)
		return true
	}
	if !res.Status.Allowed {
		g.Logf(1, "RBAC does not allow create pods/exec in namespace %q", g.Namespace)
	}
	return res.Status.Allowed
}

// ExecConnector returns the exec transport whatever --transport says (for work that only exec
// can do, such as saving a snapshot on the node).
func (g *GlobalOptions) ExecConnector() transport.Connector {
	if g.NewConnector != nil {
		if c, err := g.NewConnector(transport.ModeExec); err == nil {
			return c
		}
	}
	return &transportexec.Connector{
		Executor: &transportexec.APIExecutor{Config: g.RESTConfig, Client: g.Client},
		Etcdctl:  g.Etcdctl,
	}
}

// MetricsReader reads the members' /metrics; Close releases its forwards.
type MetricsReader interface {
	metrics.Scraper
	Close() error
}

// MetricsReader returns what reads the members' /metrics: a port-forward to each member's
// plain-HTTP metrics port, whatever --transport says. Exec cannot read it (the etcd image has
// no HTTP client) and the metrics port needs no certificates.
func (g *GlobalOptions) MetricsReader() (MetricsReader, error) {
	if g.NewConnector != nil {
		c, err := g.NewConnector(transport.ModeMetricsOnly)
		if err != nil {
			return nil, err
		}
		r, ok := c.(MetricsReader)
		if !ok {
			return nil, fmt.Errorf("transport %s cannot read /metrics", c.Mode())
		}
		return r, nil
	}
	return &portforward.MetricsConnector{Connector: portforward.Connector{
		Forwarder: &portforward.APIForwarder{Config: g.RESTConfig, Client: g.Client},
	}}, nil
}

// KubernetesVersion asks the API server for its version ("" when it cannot tell).
func (g *GlobalOptions) KubernetesVersion() string {
	if g.Client == nil {
		return ""
	}
	v, err := g.Client.Discovery().ServerVersion()
	if err != nil {
		return ""
	}
	return v.GitVersion
}

// Open discovers the etcd pods (only the --pod ones when --pod is given) and opens the
// transport: the start of every command that talks to the members. The caller closes the
// connector.
func (g *GlobalOptions) Open(ctx context.Context) ([]discovery.Member, transport.Connector, error) {
	return g.open(ctx, false)
}

// OpenCluster is Open for the commands that judge the whole cluster (status, doctor,
// upgrade-check, defrag, check consistency): it returns every etcd pod, --pod or not, after
// checking that the pods --pod names are etcd pods. A member outside --pod is still asked, so it
// never counts as down for not being selected; the command narrows what it shows or touches to
// the selection (Selected).
func (g *GlobalOptions) OpenCluster(ctx context.Context) ([]discovery.Member, transport.Connector, error) {
	return g.open(ctx, true)
}

func (g *GlobalOptions) open(ctx context.Context, wholeCluster bool) ([]discovery.Member, transport.Connector, error) {
	pods, err := g.discover(ctx, wholeCluster)
	if err != nil {
		return nil, nil, err
	}
	conn, err := g.Connector(ctx)
	if err != nil {
		return nil, nil, err
	}
	return pods, conn, nil
}
