//go:build tools

// Package tools pins the release tooling that hack/dist.sh and hack/krew-install-test.sh build:
// goreleaser (archives and checksums), and krew plus its manifest validator (install test).
// sigs.k8s.io/krew cannot be installed with "go install ...@version" here because the module proxy
// does not list its versions, so all three are built from this module's go.mod and go.sum.
package tools

import (
	_ "github.com/goreleaser/goreleaser/v2"
	_ "sigs.k8s.io/krew/cmd/krew"
	_ "sigs.k8s.io/krew/cmd/validate-krew-manifest"
)
