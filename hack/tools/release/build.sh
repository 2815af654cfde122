#!/usr/bin/env bash
# Builds the release tools pinned by this module's go.mod/go.sum into bin/tools:
#   goreleaser, krew (run as the kubectl plugin kubectl-krew), validate-krew-manifest,
#   render-krew-manifest (this module's .krew.yaml renderer).
# A stamp holding the hash of go.mod, go.sum and the renderer's source skips the build when nothing
# changed, so a warm call takes well under a second. Used by hack/dist.sh and
# hack/krew-install-test.sh; prints the bin directory last.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
OUT=${TOOLS_BIN:-$ROOT/bin/tools}
STAMP=$OUT/.release-tools.stamp

log() { printf '[release-tools %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

want=$(cd "$HERE" && cat go.mod go.sum render-krew-manifest/*.go | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] &&
  [ -x "$OUT/goreleaser" ] && [ -x "$OUT/krew" ] && [ -x "$OUT/validate-krew-manifest" ] &&
  [ -x "$OUT/render-krew-manifest" ]; then
  echo "$OUT"
  exit 0
fi

mkdir -p "$OUT"
rm -f "$STAMP"
cd "$HERE"
export CGO_ENABLED=0 GOFLAGS=-mod=readonly
gr=$(go list -m -f '{{.Version}}' github.com/goreleaser/goreleaser/v2)
kv=$(go list -m -f '{{.Version}}' sigs.k8s.io/krew)
start=$SECONDS
log "building goreleaser $gr"
go build -trimpath -ldflags="-s -w -X main.version=$gr -X main.builtBy=kubectl-etcd-hack" \
  -o "$OUT/goreleaser" github.com/goreleaser/goreleaser/v2
log "building krew $kv and validate-krew-manifest"
go build -trimpath -ldflags="-s -w -X sigs.k8s.io/krew/internal/version.gitTag=$kv" \
  -o "$OUT/" sigs.k8s.io/krew/cmd/krew sigs.k8s.io/krew/cmd/validate-krew-manifest
go build -trimpath -o "$OUT/render-krew-manifest" ./render-krew-manifest
echo "$want" >"$STAMP"
log "release tools built in $((SECONDS - start)) s into $OUT"
echo "$OUT"
