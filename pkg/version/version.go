// Package version carries the build's version, set by -ldflags at release time.
package version

import "runtime"

// Set with -ldflags "-X github.com/kubectl-etcd/kubectl-etcd/pkg/version.Version=v0.1.0 ...".
var (
	Version = "v0.0.0-dev"
	Commit  = "unknown"
	Date    = "unknown"
)

// Info is the version as printed by "kubectl etcd version".
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Date      string `json:"date"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Get returns the build's version information.
func Get() Info {
	return Info{Version: Version, Commit: Commit, Date: Date, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
}
