package discovery

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// etcdArgs holds the etcd command-line flags of a container, keyed by flag name without dashes.
// Later occurrences win, as they do for etcd's own flag parsing.
type etcdArgs map[string]string

// parseEtcdArgs reads the etcd flags from a container's command and args. Both "--flag=value" and
// "--flag value" are understood, as are single-dash flags (Go's flag package accepts both). Flags
// given through ETCD_* environment variables with literal values are used when the flag is absent
// from the command line, because etcd reads them the same way.
func parseEtcdArgs(c *corev1.Container) etcdArgs {
	out := etcdArgs{}
	argv := append(append([]string{}, c.Command...), c.Args...)
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		if !strings.HasPrefix(a, "-") || a == "-" || a == "--" {
			continue
		}
		a = strings.TrimLeft(a, "-")
		if k, v, ok := strings.Cut(a, "="); ok {
			out[k] = v
			continue
		}
		// "--flag value": take the next word as the value unless it is itself a flag. Boolean flags
		// written without a value (e.g. "--client-cert-auth") become "true".
		if i+1 < len(argv) && !strings.HasPrefix(argv[i+1], "-") && !isBoolFlag(a) {
			out[a] = argv[i+1]
			i++
			continue
		}
		out[a] = "true"
	}
	for _, e := range c.Env {
		if !strings.HasPrefix(e.Name, "ETCD_") || e.ValueFrom != nil {
			continue
		}
		k := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(e.Name, "ETCD_"), "_", "-"))
		if _, set := out[k]; !set {
			out[k] = e.Value
		}
	}
	return out
}

var boolFlags = map[string]bool{
	"client-cert-auth": true, "peer-client-cert-auth": true, "auto-tls": true, "peer-auto-tls": true,
	"strict-reconfig-check": true, "enable-pprof": true, "force-new-cluster": true, "debug": true,
	"enable-v2": true, "v2-deprecated": false, "experimental-initial-corrupt-check": true,
}

func isBoolFlag(name string) bool { return boolFlags[name] }

func (a etcdArgs) get(name string) string { return a[name] }

// list splits a comma-separated URL flag into its non-empty elements.
func (a etcdArgs) list(name string) []string {
	v := strings.TrimSpace(a[name])
	if v == "" {
		return nil
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (a etcdArgs) boolean(name string) bool {
	switch strings.ToLower(a[name]) {
	case "true", "1", "yes":
		return true
	}
	return false
}
