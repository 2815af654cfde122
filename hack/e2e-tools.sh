#!/usr/bin/env bash
# Builds the binaries the e2e harness runs, from the Go module proxy, into a cache keyed by version:
#   $E2E_CACHE/etcd-<v>/{etcd,etcdctl,etcdutl}  $E2E_CACHE/k8s-<v>/{kube-apiserver,kubectl}  $E2E_CACHE/kwok-<v>/kwok
#   $E2E_CACHE/kubeadm-<k8s v>/{kubeadm,kubelet,kube-controller-manager,kube-scheduler,crictl,pause}
# A tool whose directory already holds a .complete marker is not rebuilt, so a warm run takes seconds.
# Usage: hack/e2e-tools.sh [etcd|k8s|kwok|kubeadm ...]   (default: etcd k8s kwok; the kubeadm
# group, for make test-kubeadm, is built only when named). Prints the cache directory last.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=$ROOT/hack/tools
CACHE=${E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-etcd/e2e}
ETCD_VERSIONS=${ETCD_VERSIONS:-"v3.6.16 v3.7.3"}
K8S_VERSION=${K8S_VERSION:-v1.37.2}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}
CRI_TOOLS_VERSION=${CRI_TOOLS_VERSION:-v1.37.0}
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

# k8s_ldflags stamps the version the way the Kubernetes release build does (kubeadm and the
# kubelet refuse or misreport an unstamped v0.0.0).
k8s_ldflags() {
  local v=$1 minor ld="" p
  minor=$(echo "$v" | cut -d. -f2)
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=$v -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  echo "-s -w$ld"
}

# build_k8s_cmds V OUT NAME...: builds k8s.io/kubernetes/cmd/NAME of the tools module k8s-V.
build_k8s_cmds() {
  local v=$1 out=$2 ld b; shift 2
  ld=$(k8s_ldflags "$v")
  ( cd "$TOOLS/k8s-$v"
    timed "k8s $v modules" go mod download
    for b in "$@"; do
      timed "build $b $v" go build -trimpath -ldflags="$ld" -o "$out/$b" "k8s.io/kubernetes/cmd/$b"
    done )
}

build_k8s() {
  local v=$1 out=$CACHE/k8s-$1
  [ -f "$out/.complete" ] && return 0
  mkdir -p "$out"
  build_k8s_cmds "$v" "$out" kube-apiserver kubectl
  touch "$out/.complete"
}

# The kubeadm cluster (make test-kubeadm) also needs kubeadm, the kubelet, the controller manager,
# the scheduler and kube-proxy (same tools module), crictl (kubeadm runs it; not packaged in Debian 12), and
# a static pause binary compiled from the pause.c that the k8s.io/kubernetes module ships.
# containerd and runc come from the distribution (make test-kubeadm installs them when missing).
build_kubeadm() {
  local v=$1 out=$CACHE/kubeadm-$1 src
  # kube-proxy joined the set later: a cache from before has everything else.
  if [ -f "$out/.complete" ] && [ ! -x "$out/kube-proxy" ]; then
    build_k8s_cmds "$v" "$out" kube-proxy
  fi
  [ -f "$out/.complete" ] && return 0
  mkdir -p "$out"
  build_k8s_cmds "$v" "$out" kubeadm kubelet kube-controller-manager kube-scheduler kube-proxy
  timed "build crictl $CRI_TOOLS_VERSION" env GOBIN="$out" GOFLAGS= go install -trimpath -ldflags='-s -w' \
    "sigs.k8s.io/cri-tools/cmd/crictl@$CRI_TOOLS_VERSION"
  src=$(cd "$TOOLS/k8s-$v" && go list -m -f '{{.Dir}}' k8s.io/kubernetes)/build/pause/linux/pause.c
  timed "build pause" gcc -Os -Wall -Werror -static -DVERSION="$(pause_version "$v")" -o "$out/pause" "$src"
  touch "$out/.complete"
}

# pause_version is the pause image tag kubeadm V expects (its constants.PauseVersion).
pause_version() {
  local dir
  dir=$(cd "$TOOLS/k8s-$1" && go list -m -f '{{.Dir}}' k8s.io/kubernetes)
  sed -n 's/^[[:space:]]*PauseVersion = "\(.*\)"$/\1/p' "$dir/cmd/kubeadm/app/constants/constants.go"
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
    kubeadm) build_kubeadm "$K8S_VERSION" ;;
    *) echo "unknown tool $w (want etcd, k8s, kwok or kubeadm)" >&2; exit 1 ;;
  esac
done
log "total: $SECONDS s ($what)"
echo "$CACHE"
