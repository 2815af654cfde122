#!/usr/bin/env bash
# Builds the release archives locally with the pinned goreleaser (nothing is published) and renders
# the krew manifest from .krew.yaml with the archives' sha256.
#
# Usage: hack/dist.sh [vX.Y.Z]
#
# Release mode, when a version is given or HEAD carries a vX.Y.Z tag:
#   dist/kubectl-etcd_<v>_<os>_<arch>.tar.gz|.zip, dist/kubectl-etcd_<v>_checksums.txt, and the manifest
#   in dist/etcd.yaml and plugins/etcd.yaml; the binaries report <v>.
# Snapshot mode, otherwise: <v> is the next patch version after the last vX.Y.Z tag (v0.0.0 when
#   there is none), since krew takes only a vX.Y.Z version; the binaries report
#   <v>-snapshot+<commit>[.dirty], and only dist/etcd.yaml is written.
# The manifest's URIs are the GitHub release URLs; only the sha256 come from the local archives.
# hack/krew-install-test.sh installs dist/etcd.yaml with krew.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

log() { printf '[dist %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
is_semver() { [[ $1 =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]]; }

[ $# -le 1 ] || die "usage: hack/dist.sh [vX.Y.Z]"
VERSION=${1:-}
mode=release
if [ -n "$VERSION" ]; then
  is_semver "$VERSION" || die "version \"$VERSION\" is not of the form vX.Y.Z that krew requires"
else
  exact=$(git tag --points-at HEAD --list 'v*' 2>/dev/null | grep -E '^v[0-9]+\.[0-9]+\.[0-9]+$' | sort -V | tail -n1 || true)
  if [ -n "$exact" ]; then
    VERSION=$exact
  else
    mode=snapshot
    last=$(git describe --tags --abbrev=0 --match 'v[0-9]*.[0-9]*.[0-9]*' 2>/dev/null || true)
    if is_semver "$last"; then
      IFS=. read -r major minor patch <<<"${last#v}"
      VERSION=v$major.$minor.$((patch + 1))
    else
      VERSION=v0.0.0
    fi
  fi
fi
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=""
git diff --quiet HEAD -- 2>/dev/null || dirty=.dirty
if [ "$mode" = release ]; then
  binary_version=$VERSION
  [ -z "$dirty" ] || log "warning: building release $VERSION from a work tree with uncommitted changes"
else
  binary_version=$VERSION-snapshot+$commit$dirty
fi

start=$SECONDS
TOOLS=$(hack/tools/release/build.sh goreleaser render-krew-manifest) || die "building the release tools (hack/tools/release/build.sh)"

log "goreleaser: $mode $VERSION (binaries report $binary_version)"
# goreleaser reads the commit, its date and the tag from git, but gives up on all of them (and
# stamps "none") when the clone has no remote; lend it the project's URL through git's environment.
if ! git ls-remote --get-url >/dev/null 2>&1; then
  export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=remote.origin.url
  export GIT_CONFIG_VALUE_0=https://github.com/kubectl-etcd/kubectl-etcd.git
fi
# GORELEASER_CURRENT_TAG names the archives; --snapshot keeps goreleaser from publishing and from
# requiring that the tag exists.
gr_log=$(mktemp)
trap 'rm -f "$gr_log"' EXIT
GORELEASER_CURRENT_TAG=$VERSION KUBECTL_ETCD_VERSION=$binary_version \
  "$TOOLS/goreleaser" release --snapshot --clean >"$gr_log" 2>&1 || {
  cat "$gr_log" >&2; die "goreleaser release --snapshot (its output is above)"; }
cp "$gr_log" dist/goreleaser.log

for os in linux darwin windows; do
  for arch in amd64 arm64; do
    ext=tar.gz; [ "$os" = windows ] && ext=zip
    f=dist/kubectl-etcd_${VERSION}_${os}_${arch}.$ext
    [ -f "$f" ] || die "goreleaser did not produce $f (see dist/goreleaser.log)"
  done
done
# The binary for this machine must report the version and commit (goreleaser stamps "none" when it
# could not read git).
host=$(find dist -mindepth 2 -maxdepth 2 -path "dist/kubectl-etcd_$(go env GOOS)_$(go env GOARCH)*/kubectl-etcd" | head -n1)
if [ -n "$host" ]; then
  out=$("$host" version) || die "$host version"
  { grep -qF -- "$binary_version" <<<"$out" && grep -qF -- "$commit" <<<"$out"; } ||
    die "$host version says \"$out\", expected version $binary_version and commit $commit"
  log "$out"
fi
(cd dist && sha256sum -c --quiet "kubectl-etcd_${VERSION}_checksums.txt") || die "dist/kubectl-etcd_${VERSION}_checksums.txt does not match the archives"

"$TOOLS/render-krew-manifest" -template .krew.yaml -tag "$VERSION" -dist dist -o dist/etcd.yaml ||
  die "rendering .krew.yaml into dist/etcd.yaml"
if [ "$mode" = release ]; then
  mkdir -p plugins
  cp dist/etcd.yaml plugins/etcd.yaml
  log "wrote plugins/etcd.yaml for $VERSION"
fi

ls -l dist/kubectl-etcd_"${VERSION}"_* >&2
log "done in $((SECONDS - start)) s: dist/etcd.yaml ($mode $VERSION); check it with hack/krew-install-test.sh"
