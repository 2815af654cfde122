package cmdutil

import (
	"fmt"
	"strings"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
)

// RouteKlog sends client-go's own log lines (klog) to the -v output: at -v 3 and above they are
// shown, otherwise dropped. Without this, client-go prints stream-teardown noise such as
// "Copying stdout failed: use of closed network connection" to stderr after a finished exec,
// which an operator would read as a failure.
func (g *GlobalOptions) RouteKlog() {
	klog.SetLogger(logr.New(&klogSink{g: g}))
}

type klogSink struct {
	g      *GlobalOptions
	name   string
	values []any
}

func (s *klogSink) Init(logr.RuntimeInfo) {}
func (s *klogSink) Enabled(level int) bool {
	return s.g.Verbosity >= 3+level
}
func (s *klogSink) Info(level int, msg string, kv ...any) {
	if s.Enabled(level) {
		s.g.Logf(0, "client-go: %s%s", msg, formatKV(append(append([]any{}, s.values...), kv...)))
	}
}
func (s *klogSink) Error(err error, msg string, kv ...any) {
	if s.g.Verbosity >= 3 {
		s.g.Logf(0, "client-go: %s: %v%s", msg, err, formatKV(append(append([]any{}, s.values...), kv...)))
	}
}
func (s *klogSink) WithValues(kv ...any) logr.LogSink {
	return &klogSink{g: s.g, name: s.name, values: append(append([]any{}, s.values...), kv...)}
}
func (s *klogSink) WithName(name string) logr.LogSink {
	return &klogSink{g: s.g, name: name, values: s.values}
}

func formatKV(kv []any) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, " %v=%v", kv[i], kv[i+1])
	}
	return b.String()
}
