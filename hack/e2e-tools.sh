#!/usr/bin/env bash
# Builds the binaries the e2e harness runs, from the Go module proxy, into a cache keyed by version:
#   $E2E_CACHE/etcd-<v>/{etcd,etcdctl,etcdutl}  $E2E_CACHE/k8s-<v>/{kube-apiserver,kubectl}  $E2E_CACHE/kwok-<v>/kwok
# A tool whose directory already holds a .complete marker is not rebuilt, so a warm run takes seconds.
# Usage: hack/e2e-tools.sh [etcd|k8s|kwok ...]   (default: all). Prints the cache directory last.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=$ROOT/hack/tools
CACHE=${E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-etcd/e2e}
ETCD_VERSIONS=${ETCD_VERSIONS:-"v3.6.16 v3.7.3"}
K8S_VERSION=${K8S_VERSION:-v1.37.2}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}
export CGO_ENABLED=0 GOFLAGS=-mod=mod
mkdir -p "$CACHE"

log() { printf '[e2e-tools %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
timed() { local what=$1 start=$SECONDS; shift; "$@"; log "$what: $((SECONDS - start)) s"; }

build_etcd() {
  local v=$1 out=$CACHE/etcd-$1
  [ -f "$out/.complete" ] && return 0
  mkdir -p "$out"
  ( cd "$TOOLS/etcd-$v"
    timed "etcd $v modules" go mod download
    for b in server:etcd etcdctl:etcdctl etcdutl:etcdutl; do
      timed "build ${b#*:} $v" go build -trimpath -ldflags='-s -w' -o "$out/${b#*:}" "go.etcd.io/etcd/${b%%:*}/v3"
    done )
  touch "$out/.complete"
}

build_k8s() {
  local v=$1 out=$CACHE/k8s-$1 minor ld=""
  [ -f "$out/.complete" ] && return 0
  mkdir -p "$out"; minor=$(echo "$v" | cut -d. -f2)
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=$v -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  ( cd "$TOOLS/k8s-$v"
    timed "k8s $v modules" go mod download
    for b in kube-apiserver kubectl; do
      timed "build $b $v" go build -trimpath -ldflags="-s -w $ld" -o "$out/$b" "k8s.io/kubernetes/cmd/$b"
    done )
  touch "$out/.complete"
}

# kwok is built from its module source with a small patch so that exec behaves like a kubelet's:
# the exit code of the command is reported (not an InternalError) and stdin EOF reaches the command.
build_kwok() {
  local v=$1 out=$CACHE/kwok-$1 src mod
  [ -f "$out/.complete" ] && return 0
  mkdir -p "$out"
  timed "kwok $v module" go mod download "sigs.k8s.io/kwok@$v"
  mod=$(go env GOMODCACHE)/sigs.k8s.io/kwok@$v
  src=$(mktemp -d); trap 'rm -rf "$src"' RETURN
  cp -r "$mod/." "$src"; chmod -R u+w "$src"
  (cd "$src" && patch -s -p1 < "$TOOLS/kwok-$v/harness.patch")
  (cd "$src" && timed "build kwok $v" go build -trimpath -ldflags='-s -w' -o "$out/kwok" ./cmd/kwok)
  # kwok has no built-in stages; keep the lifecycle stages its module ships next to the binary.
  local s=$mod/kustomize/stage f
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
           pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    echo ---; grep -v '^---$' "$s/$f"
  done > "$out/stages.yaml"
  touch "$out/.complete"
}

what=${*:-etcd k8s kwok}
for w in $what; do
  case $w in
    etcd) for v in $ETCD_VERSIONS; do build_etcd "$v"; done ;;
    k8s) build_k8s "$K8S_VERSION" ;;
    kwok) build_kwok "$KWOK_VERSION" ;;
    *) echo "unknown tool $w (want etcd, k8s or kwok)" >&2; exit 1 ;;
  esac
done
log "total: $SECONDS s ($what)"
echo "$CACHE"
