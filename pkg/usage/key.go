// Package usage measures what fills an etcd keyspace, grouped by the way kube-apiserver lays out
// its keys. It knows neither cobra nor a transport: callers feed it keys and sizes (from a live
// range walk or from a snapshot's bbolt file) and it aggregates them as they come, without holding
// every key.
package usage

import "strings"

// RegistryPrefix is the key prefix kube-apiserver stores its objects under (--etcd-prefix).
const RegistryPrefix = "/registry/"

// KubeCompactKey is the key kube-apiserver writes before each compaction it requests; its value
// is the revision it compacted to, in decimal.
const KubeCompactKey = "compact_rev_key"

// Key is what a key says about the object it holds.
type Key struct {
	// Kubernetes is set for keys under /registry/.
	Kubernetes bool
	// Group is the API group for grouped paths (/registry/<group>/<resource>/...), "" otherwise.
	Group string
	// Resource is the storage resource (pods, configmaps, apiservices, widgets).
	Resource string
	// Namespace is empty for cluster-scoped objects.
	Namespace string
	// Name is the object's name (for odd layouts, the rest of the key after the namespace).
	Name string
	// Prefix is the first path element of a key outside /registry/ ("/foo" for "/foo/bar",
	// "compact_rev_key" for itself).
	Prefix string
}

// ResourceName is "resource" for core and legacy paths and "resource.group" for grouped ones, as
// kubectl names them; for keys outside /registry/ it is the prefix.
func (k Key) ResourceName() string {
	if !k.Kubernetes {
		return k.Prefix
	}
	if k.Group == "" {
		return k.Resource
	}
	return k.Resource + "." + k.Group
}

// coreSubpaths are the dotless first path elements that hold a second level, not a namespace:
// kube-apiserver stores services under /registry/services/specs/ and endpoints under
// /registry/services/endpoints/.
var coreSubpaths = map[string]map[string]string{
	"services": {"specs": "services", "endpoints": "endpoints"},
}

// legacyNames maps storage path elements whose name differs from the resource's.
var legacyNames = map[string]string{"minions": "nodes"}

// ParseKey reads a key in kube-apiserver's layout.
//
// The rule that separates /registry/<group>/<resource>/<name> from
// /registry/<resource>/<namespace>/<name>, which look the same: the first element is a group when
// it contains a dot. Every grouped path kube-apiserver writes has one (apiregistration.k8s.io,
// apiextensions.k8s.io, and custom resources, whose group must be a DNS subdomain with a dot); the
// built-in resources of the other groups (deployments, leases, roles, ...) are stored without
// their group. The only dotless element with a second level is "services" (specs, endpoints).
// After the resource, one element is a cluster-scoped name and two or more are a namespace and a
// name.
func ParseKey(key []byte) Key {
	s := string(key)
	if !strings.HasPrefix(s, RegistryPrefix) {
		return Key{Prefix: firstElement(s)}
	}
	parts := strings.Split(s[len(RegistryPrefix):], "/")
	k := Key{Kubernetes: true}
	first := parts[0]
	rest := parts[1:]
	switch {
	case strings.Contains(first, ".") && len(rest) > 0:
		k.Group, k.Resource, rest = first, rest[0], rest[1:]
	case coreSubpaths[first] != nil && len(rest) > 0 && coreSubpaths[first][rest[0]] != "":
		k.Resource, rest = coreSubpaths[first][rest[0]], rest[1:]
	default:
		k.Resource = first
		if n, ok := legacyNames[first]; ok {
			k.Resource = n
		}
	}
	switch len(rest) {
	case 0:
	case 1:
		k.Name = rest[0]
	default:
		k.Namespace, k.Name = rest[0], strings.Join(rest[1:], "/")
	}
	if k.Resource == "" {
		k.Resource = "(empty)"
	}
	return k
}

// firstElement is "/a" for "/a/b", "a" for "a/b" and "a", and "/" for "/" or "//x".
func firstElement(s string) string {
	if s == "" {
		return "(empty key)"
	}
	lead := ""
	body := s
	if strings.HasPrefix(s, "/") {
		lead, body = "/", s[1:]
	}
	if i := strings.IndexByte(body, '/'); i >= 0 {
		body = body[:i]
	}
	return lead + body
}
