#!/usr/bin/env bash
# Checks the krew manifest and archives that hack/dist.sh made, with krew itself, offline:
#   1. krew's validate-krew-manifest (structure, platforms, no overlapping selectors) on the manifest
#      and on plugins/etcd.yaml;
#   2. for every platform in the manifest, "kubectl krew install --manifest --archive" of the local
#      archive with KREW_OS/KREW_ARCH set, in a temporary KREW_ROOT: the sha256 matches, the bin is
#      in the archive and a LICENSE is extracted (what validate-krew-manifest's install step checks,
#      which needs the release to be downloadable);
#   3. on this machine's platform, "kubectl etcd version" through kubectl's plugin mechanism, with
#      only $KREW_ROOT/bin providing kubectl-etcd, names the manifest's version.
#
# Usage: hack/krew-install-test.sh [--validate-only] [MANIFEST]
#   MANIFEST defaults to dist/etcd.yaml (archives are read from dist/); --validate-only runs step 1
#   alone (default manifest plugins/etcd.yaml), which needs no archives, for "make verify".
# Env: KUBECTL (default: the e2e cache's kubectl, else kubectl on PATH).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

log() { printf '[krew-test %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

validate_only=false
if [ "${1:-}" = --validate-only ]; then validate_only=true; shift; fi
[ $# -le 1 ] || die "usage: hack/krew-install-test.sh [--validate-only] [MANIFEST]"
if $validate_only; then MANIFEST=${1:-plugins/etcd.yaml}; else MANIFEST=${1:-dist/etcd.yaml}; fi
DIST=$(dirname "$MANIFEST")
[ "$DIST" = plugins ] && DIST=dist
[ -f "$MANIFEST" ] || die "$MANIFEST not found; run hack/dist.sh (make dist) first"
[ "$(basename "$MANIFEST")" = etcd.yaml ] || die "$MANIFEST: krew requires the file to be named after the plugin, etcd.yaml"

start=$SECONDS
TOOLS=$(hack/tools/release/build.sh krew validate-krew-manifest) || die "building the release tools (hack/tools/release/build.sh)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/krew-install-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
# A PATH of our own: kubectl, kubectl-krew and system tools only, so no kubectl-etcd installed
# elsewhere (GOPATH/bin, /usr/local/bin) can answer in place of the krew-installed one.
mkdir -p "$TMP/path"
ln -s "$TOOLS/krew" "$TMP/path/kubectl-krew"
BASE_PATH=$TMP/path:/usr/bin:/bin
export KREW_NO_UPGRADE_CHECK=1

version=$(sed -n 's/^  version: *//p' "$MANIFEST" | tr -d '"' | head -n1)
[[ $version =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "$MANIFEST: spec.version \"$version\" is not vX.Y.Z"

# 1. krew's own validation. The install half of it downloads the release URLs, so it is skipped
# here and done below with the local archives.
manifests=("$MANIFEST")
if [ -f plugins/etcd.yaml ] && ! [ plugins/etcd.yaml -ef "$MANIFEST" ]; then manifests+=(plugins/etcd.yaml); fi
for m in "${manifests[@]}"; do
  out=$("$TOOLS/validate-krew-manifest" -manifest "$m" -skip-install 2>&1) || {
    printf '%s\n' "$out" >&2; die "validate-krew-manifest $m"; }
  log "validate-krew-manifest $m: ok"
done
if $validate_only; then
  log "ok: $MANIFEST ($version) validated in $((SECONDS - start)) s"
  exit 0
fi

KUBECTL=${KUBECTL:-}
if [ -z "$KUBECTL" ]; then
  cache=${E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-etcd/e2e}
  KUBECTL=$(find "$cache" -mindepth 2 -maxdepth 2 -path '*/k8s-*/kubectl' 2>/dev/null | sort -V | tail -n1 || true)
  [ -n "$KUBECTL" ] || KUBECTL=$(command -v kubectl || true)
fi
{ [ -n "$KUBECTL" ] && [ -x "$KUBECTL" ]; } || die "no kubectl: set KUBECTL, or run hack/e2e-tools.sh k8s (make e2e-tools)"
ln -s "$KUBECTL" "$TMP/path/kubectl"

# 2. Install every platform's archive, as that platform.
platforms=$(sed -n 's/^ *os: *//p' "$MANIFEST" | paste -d/ - <(sed -n 's/^ *arch: *//p' "$MANIFEST"))
[ -n "$platforms" ] || die "$MANIFEST lists no platforms"
for p in $platforms; do
  os=${p%/*} arch=${p#*/}
  uri=$(grep -o "https://[^ ]*_${os}_${arch}\.[a-z.]*" "$MANIFEST" | head -n1)
  [ -n "$uri" ] || die "$MANIFEST: no uri for $os/$arch"
  archive=$DIST/$(basename "$uri")
  [ -f "$archive" ] || die "$archive (named by the $os/$arch uri) not found; run hack/dist.sh $version"
  root=$TMP/root-$os-$arch
  out=$(PATH=$BASE_PATH KREW_ROOT=$root KREW_OS=$os KREW_ARCH=$arch \
    kubectl krew install --manifest="$MANIFEST" --archive="$archive" 2>&1) || {
    printf '%s\n' "$out" >&2; die "kubectl krew install of $archive as $os/$arch"; }
  bin=kubectl-etcd; [ "$os" = windows ] && bin=kubectl-etcd.exe
  [ -e "$root/bin/$bin" ] || die "$os/$arch: krew installed no $root/bin/$bin"
  find "$root/store/etcd" -maxdepth 2 -iname 'LICENSE*' | grep -q . ||
    die "$os/$arch: no LICENSE extracted from $archive"
  log "krew install $os/$arch from $(basename "$archive"): ok"
done

# 3. This machine's platform, through kubectl's plugin mechanism.
host_os=$(go env GOOS) host_arch=$(go env GOARCH)
root=$TMP/root-$host_os-$host_arch
[ -d "$root" ] || die "$MANIFEST has no platform for this machine ($host_os/$host_arch)"
export KREW_ROOT=$root PATH=$root/bin:$BASE_PATH
# (kubectl krew list needs the plugin index, which is a git clone; the receipt is what it lists)
grep -q "^  version: $version\$" "$root/receipts/etcd.yaml" 2>/dev/null ||
  die "krew wrote no receipt for etcd $version in $root/receipts/etcd.yaml"
out=$(kubectl plugin list 2>&1) || { printf '%s\n' "$out" >&2; die "kubectl plugin list"; }
grep -qx "$root/bin/kubectl-etcd" <<<"$out" || {
  printf '%s\n' "$out" >&2; die "kubectl plugin list does not show $root/bin/kubectl-etcd"; }
out=$(kubectl etcd version 2>&1) || { printf '%s\n' "$out" >&2; die "kubectl etcd version"; }
grep -q -- "$version" <<<"$out" || {
  printf '%s\n' "$out" >&2; die "kubectl etcd version does not name the manifest's version $version"; }
log "kubectl etcd version (krew-installed, $host_os/$host_arch): $(head -n1 <<<"$out")"

log "ok: $MANIFEST ($version) validated and installed on $(wc -w <<<"$platforms") platforms in $((SECONDS - start)) s"
