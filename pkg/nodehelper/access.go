package nodehelper

import (
	"context"
	"fmt"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Permission is one thing a route needs from RBAC.
type Permission struct {
	Verb, Resource, Subresource string
	// Namespace is empty for cluster-scoped resources (nodes).
	Namespace string
}

func (p Permission) String() string {
	r := p.Resource
	if p.Subresource != "" {
		r += "/" + p.Subresource
	}
	if p.Namespace == "" {
		return p.Verb + " " + r
	}
	return fmt.Sprintf("%s %s in namespace %q", p.Verb, r, p.Namespace)
}

// Allowed asks the API server (a SelfSubjectAccessReview) whether the user may do p. When the
// review itself fails the answer is "allowed", so that the real request gives the real error.
func Allowed(ctx context.Context, client kubernetes.Interface, p Permission) bool {
	review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: p.Namespace, Verb: p.Verb, Resource: p.Resource, Subresource: p.Subresource},
	}}
	res, err := client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		return true
	}
	return res.Status.Allowed
}

// Missing returns the permissions of ps that the user lacks.
func Missing(ctx context.Context, client kubernetes.Interface, ps ...Permission) []Permission {
	var out []Permission
	for _, p := range ps {
		if !Allowed(ctx, client, p) {
			out = append(out, p)
		}
	}
	return out
}

// KubeletSilence is how far the lease of node's kubelet lags behind the newest lease of any
// kubelet, and whether that could be read. A kubelet that has not renewed its lease for a while
// cannot see new pods either: a helper pod would never start there. (On kubeadm's control-plane
// nodes the kubelet talks to its own node's API server, which stops answering when the node's
// etcd member is down.) The kubelets' own renew times are compared, not this machine's clock.
func KubeletSilence(ctx context.Context, client kubernetes.Interface, node string) (time.Duration, bool) {
	list, err := client.CoordinationV1().Leases("kube-node-lease").List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, false
	}
	var newest, mine time.Time
	for _, l := range list.Items {
		if l.Spec.RenewTime == nil {
			continue
		}
		if t := l.Spec.RenewTime.Time; t.After(newest) {
			newest = t
		}
		if l.Name == node {
			mine = l.Spec.RenewTime.Time
		}
	}
	if mine.IsZero() {
		return 0, false
	}
	return newest.Sub(mine), true
}
