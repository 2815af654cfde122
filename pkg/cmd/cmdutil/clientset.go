package cmdutil

import (
	"fmt"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	authorizationv1 "k8s.io/client-go/kubernetes/typed/authorization/v1"
	coordinationv1 "k8s.io/client-go/kubernetes/typed/coordination/v1"
	corev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
)

// clientset is the kubernetes.Interface of a run: only the API groups the plugin calls, built
// on one HTTP client. kubernetes.NewForConfig builds a client for each of the API server's
// ~60 group versions; each construction touches its own package's code, and those pages stay
// resident: 3 MiB of the peak RSS of a streamed snapshot (measured on the kubeadm cluster).
// Any other group panics on a nil interface; TestClientsetServesEveryGroupThePluginCalls keeps
// the list in step with the code.
type clientset struct {
	kubernetes.Interface // nil: the groups the plugin does not call

	core  *corev1.CoreV1Client
	coord *coordinationv1.CoordinationV1Client
	authz *authorizationv1.AuthorizationV1Client
	disc  *discovery.DiscoveryClient
}

func (c *clientset) CoreV1() corev1.CoreV1Interface                         { return c.core }
func (c *clientset) CoordinationV1() coordinationv1.CoordinationV1Interface { return c.coord }
func (c *clientset) AuthorizationV1() authorizationv1.AuthorizationV1Interface {
	return c.authz
}
func (c *clientset) Discovery() discovery.DiscoveryInterfaces { return c.disc }

// newClientset builds the groups of clientset for cfg as kubernetes.NewForConfig does: the
// default user agent, one HTTP client (and so one connection pool) and one rate limiter shared
// by every group.
func newClientset(in *rest.Config) (kubernetes.Interface, error) {
	cfg := rest.CopyConfig(in)
	if cfg.UserAgent == "" {
		cfg.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.RateLimiter == nil && cfg.QPS > 0 {
		if cfg.Burst <= 0 {
			return nil, fmt.Errorf("burst must be greater than 0 when QPS is set")
		}
		cfg.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(cfg.QPS, cfg.Burst)
	}
	c := &clientset{}
	if c.core, err = corev1.NewForConfigAndClient(cfg, hc); err != nil {
		return nil, err
	}
	if c.coord, err = coordinationv1.NewForConfigAndClient(cfg, hc); err != nil {
		return nil, err
	}
	if c.authz, err = authorizationv1.NewForConfigAndClient(cfg, hc); err != nil {
		return nil, err
	}
	if c.disc, err = discovery.NewDiscoveryClientForConfigAndClient(cfg, hc); err != nil {
		return nil, err
	}
	return c, nil
}
