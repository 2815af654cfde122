#!/usr/bin/env bash
# Builds release tools pinned by this module's go.mod/go.sum into bin/tools (TOOLS_BIN overrides):
#   goreleaser              release archives and checksums (hack/dist.sh)
#   render-krew-manifest    this module's .krew.yaml renderer (hack/dist.sh)
#   krew                    run as the kubectl plugin kubectl-krew (hack/krew-install-test.sh)
#   validate-krew-manifest  krew's manifest validation (hack/krew-install-test.sh)
# Usage: hack/tools/release/build.sh [TOOL ...]   (default: all). Prints the bin directory last.
# Each tool has a stamp holding the hash of go.mod, go.sum and the renderer's source; a tool whose
# stamp matches is not rebuilt, so a warm call takes well under a second.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
OUT=${TOOLS_BIN:-$ROOT/bin/tools}

log() { printf '[release-tools %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

cd "$HERE"
export CGO_ENABLED=0 GOFLAGS=-mod=readonly
want=$(cat go.mod go.sum render-krew-manifest/*.go | sha256sum | cut -d' ' -f1)
mkdir -p "$OUT"

build() {
  local tool=$1 v
  case $tool in
    goreleaser)
      v=$(go list -m -f '{{.Version}}' github.com/goreleaser/goreleaser/v2)
      go build -trimpath -ldflags="-s -w -X main.version=$v -X main.builtBy=kubectl-etcd-hack" \
        -o "$OUT/goreleaser" github.com/goreleaser/goreleaser/v2 ;;
    krew | validate-krew-manifest)
      v=$(go list -m -f '{{.Version}}' sigs.k8s.io/krew)
      go build -trimpath -ldflags="-s -w -X sigs.k8s.io/krew/internal/version.gitTag=$v" \
        -o "$OUT/$tool" "sigs.k8s.io/krew/cmd/$tool" ;;
    render-krew-manifest)
      v=local
      go build -trimpath -o "$OUT/$tool" ./render-krew-manifest ;;
    *)
      log "unknown tool $tool; known: goreleaser render-krew-manifest krew validate-krew-manifest"
      return 1 ;;
  esac
  log "built $tool $v"
}

[ $# -gt 0 ] || set -- goreleaser render-krew-manifest krew validate-krew-manifest
start=$SECONDS
for tool in "$@"; do
  stamp=$OUT/.$tool.stamp
  if [ -x "$OUT/$tool" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    continue
  fi
  rm -f "$stamp"
  build "$tool"
  echo "$want" >"$stamp"
done
[ $((SECONDS - start)) -lt 2 ] || log "release tools ready in $((SECONDS - start)) s in $OUT"
echo "$OUT"
