package transport

import (
	"os"
	"strings"
)

// The variables kubectl reads to turn its WebSocket upgrades off (SPDY only), honoured the same way.
const (
	PortForwardWebsocketsEnv   = "KUBECTL_PORT_FORWARD_WEBSOCKETS"
	RemoteCommandWebsocketsEnv = "KUBECTL_REMOTE_COMMAND_WEBSOCKETS"
)

// WebsocketsDisabled reports whether the kubectl variable env is set to false (any case), as
// kubectl's FeatureGate.IsDisabled does. Read here rather than through k8s.io/kubectl's cmd/util,
// which would link (and initialise) most of kubectl into the plugin for one os.Getenv.
func WebsocketsDisabled(env string) bool {
	return strings.EqualFold(os.Getenv(env), "false")
}
