#!/usr/bin/env bash
# Snapshot benchmark: kubectl-etcd snapshot save (port-forward) vs etcdctl snapshot save (direct) on
# one e2e harness cluster, then plain vs zstd/gzip/age saves of Kubernetes objects (-compression-only for that alone).
# Usage: hack/bench.sh [-mib 500] [-rounds 3] [-member cp-1] [-diagnostics=false] [-objects-mib 100]
# Needs the harness tools (hack/e2e-tools.sh; warm run 0 s) and root for netns mode (else loopback).
# E2E_ETCD_VERSION picks etcd; KUBECTL_ETCD a prebuilt plugin (default: bin/kubectl-etcd via make build).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
"$ROOT/hack/e2e-tools.sh" >/dev/null
if [ -z "${KUBECTL_ETCD:-}" ]; then
  make -s build
  export KUBECTL_ETCD=$ROOT/bin/kubectl-etcd
fi
cd "$ROOT/test"
exec go run ./bench/snapshot "$@"
