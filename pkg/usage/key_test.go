package usage

import "testing"

func TestParseKey(t *testing.T) {
	tests := []struct {
		key  string
		want Key
	}{
		// Core, namespaced and cluster-scoped.
		{"/registry/pods/default/web-0", Key{Kubernetes: true, Resource: "pods", Namespace: "default", Name: "web-0"}},
		{"/registry/configmaps/kube-system/kubeadm-config", Key{Kubernetes: true, Resource: "configmaps", Namespace: "kube-system", Name: "kubeadm-config"}},
		{"/registry/events/default/web-0.17a1b2c3d4", Key{Kubernetes: true, Resource: "events", Namespace: "default", Name: "web-0.17a1b2c3d4"}},
		{"/registry/namespaces/default", Key{Kubernetes: true, Resource: "namespaces", Name: "default"}},
		{"/registry/minions/cp-1", Key{Kubernetes: true, Resource: "nodes", Name: "cp-1"}},
		// Built-ins of other groups are stored without their group.
		{"/registry/leases/kube-node-lease/cp-1", Key{Kubernetes: true, Resource: "leases", Namespace: "kube-node-lease", Name: "cp-1"}},
		{"/registry/deployments/kube-system/coredns", Key{Kubernetes: true, Resource: "deployments", Namespace: "kube-system", Name: "coredns"}},
		{"/registry/clusterroles/admin", Key{Kubernetes: true, Resource: "clusterroles", Name: "admin"}},
		// services and endpoints share a dotless second level.
		{"/registry/services/specs/default/kubernetes", Key{Kubernetes: true, Resource: "services", Namespace: "default", Name: "kubernetes"}},
		{"/registry/services/endpoints/default/kubernetes", Key{Kubernetes: true, Resource: "endpoints", Namespace: "default", Name: "kubernetes"}},
		// Single keys.
		{"/registry/ranges/serviceips", Key{Kubernetes: true, Resource: "ranges", Name: "serviceips"}},
		{"/registry/masterleases", Key{Kubernetes: true, Resource: "masterleases"}},
		// Grouped paths: a first element with a dot is a group.
		{"/registry/apiregistration.k8s.io/apiservices/v1.apps", Key{Kubernetes: true, Group: "apiregistration.k8s.io", Resource: "apiservices", Name: "v1.apps"}},
		{"/registry/apiextensions.k8s.io/customresourcedefinitions/widgets.example.com", Key{Kubernetes: true, Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions", Name: "widgets.example.com"}},
		// Custom resources, namespaced and cluster-scoped.
		{"/registry/example.com/widgets/team-a/w1", Key{Kubernetes: true, Group: "example.com", Resource: "widgets", Namespace: "team-a", Name: "w1"}},
		{"/registry/example.com/clusterwidgets/cw1", Key{Kubernetes: true, Group: "example.com", Resource: "clusterwidgets", Name: "cw1"}},
		// A dotted first element without a resource is a resource, not a group.
		{"/registry/odd.name", Key{Kubernetes: true, Resource: "odd.name"}},
		// Deeper than a namespace and a name: the rest is the name.
		{"/registry/pods/default/a/b", Key{Kubernetes: true, Resource: "pods", Namespace: "default", Name: "a/b"}},
		{"/registry/", Key{Kubernetes: true, Resource: "(empty)"}},
		// Outside /registry/: the first path element.
		{"compact_rev_key", Key{Prefix: "compact_rev_key"}},
		{"/kubectl-etcd/lock/member-1", Key{Prefix: "/kubectl-etcd"}},
		{"/registryx/a", Key{Prefix: "/registryx"}},
		{"/registry", Key{Prefix: "/registry"}},
		{"foo/bar", Key{Prefix: "foo"}},
		{"/", Key{Prefix: "/"}},
		{"", Key{Prefix: "(empty key)"}},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := ParseKey([]byte(tt.key)); got != tt.want {
				t.Errorf("ParseKey(%q) = %+v, want %+v", tt.key, got, tt.want)
			}
		})
	}
}

func TestResourceName(t *testing.T) {
	for key, want := range map[string]string{
		"/registry/pods/default/p":                       "pods",
		"/registry/apiregistration.k8s.io/apiservices/x": "apiservices.apiregistration.k8s.io",
		"/registry/example.com/widgets/ns/w":             "widgets.example.com",
		"/foo/bar":                                       "/foo",
	} {
		if got := ParseKey([]byte(key)).ResourceName(); got != want {
			t.Errorf("ResourceName(%q) = %q, want %q", key, got, want)
		}
	}
}
