package cmdutil

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/printers"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
	transportexec "github.com/kubectl-etcd/kubectl-etcd/pkg/transport/exec"
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

	// Set by Complete.
	Namespace  string
	RESTConfig *rest.Config
	Client     kubernetes.Interface
	Format     printers.Format
	Mode       transport.Mode

	// NewConnector, when set, replaces the transport (tests).
	NewConnector func(mode transport.Mode) (transport.Connector, error)
}

// NewGlobalOptions returns the defaults.
func NewGlobalOptions() *GlobalOptions {
	return &GlobalOptions{
		ConfigFlags: genericclioptions.NewConfigFlags(true),
		Selector:    discovery.DefaultSelector,
		Output:      string(printers.Table),
		Transport:   string(transport.ModeAuto),
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
}

// Complete resolves the namespace, output format, transport mode and Kubernetes clients.
// cmdPath names the command for usage errors.
func (g *GlobalOptions) Complete(cmdPath string) error {
	format, err := printers.ParseFormat(g.Output)
	if err != nil {
		return &UsageError{Cmd: cmdPath, Err: err}
	}
	g.Format = format
	switch transport.Mode(g.Transport) {
	case transport.ModeAuto, transport.ModeExec:
		g.Mode = transport.ModeExec
	case transport.ModePortForward:
		return &UsageError{Cmd: cmdPath, Err: fmt.Errorf("--transport=port-forward is not available in this version; use exec or auto")}
	default:
		return Usagef(cmdPath, "invalid --transport %q: want auto, exec or port-forward", g.Transport)
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
	g.Client, err = kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("cannot create a Kubernetes client: %w", err)
	}
	return nil
}

// Timeout is the bound for one call to one member: --request-timeout when set, else 10s.
func (g *GlobalOptions) Timeout() time.Duration {
	if g.ConfigFlags.Timeout != nil {
		s := strings.TrimSpace(*g.ConfigFlags.Timeout)
		if s != "" && s != "0" {
			if d, err := time.ParseDuration(s); err == nil && d > 0 {
				return d
			}
			if d, err := time.ParseDuration(s + "s"); err == nil && d > 0 {
				return d
			}
		}
	}
	return DefaultTimeout
}

// Discover finds the etcd members.
func (g *GlobalOptions) Discover(ctx context.Context) ([]discovery.Member, error) {
	return discovery.Discover(ctx, g.Client, discovery.Options{Namespace: g.Namespace, Selector: g.Selector, Pods: g.Pods})
}

// Connector returns the transport chosen by --transport.
func (g *GlobalOptions) Connector() (transport.Connector, error) {
	if g.NewConnector != nil {
		return g.NewConnector(g.Mode)
	}
	switch g.Mode {
	case transport.ModeExec:
		return &transportexec.Connector{
			Executor: &transportexec.APIExecutor{Config: g.RESTConfig, Client: g.Client},
			Etcdctl:  g.Etcdctl,
		}, nil
	}
	return nil, fmt.Errorf("transport %s is not available", g.Mode)
}
