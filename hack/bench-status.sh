#!/usr/bin/env bash
# Times "kubectl etcd status --transport exec" against the one-liner it replaces, one kubectl
# exec of "etcdctl endpoint status --cluster -w json" in etcd-cp-1, on a running e2e harness
# cluster (make e2e-up, or go run ./e2e/harness/cmd/e2e-up --members 5 in test/), alternating,
# whole processes; prints each median and its ratio to the one-liner's.
#
#   hack/bench-status.sh ENV_FILE ROUNDS PLUGIN [PLUGIN...]
#
# ENV_FILE is the harness's <run dir>/env (KUBECONFIG and PATH with its kubectl). Several
# plugin binaries (an older build and the current one) are timed in the same rounds.
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 ENV_FILE ROUNDS PLUGIN [PLUGIN...]" >&2
  exit 1
fi
# shellcheck disable=SC1090
. "$1"
rounds=$2
shift 2
flags="--endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt --key=/etc/kubernetes/pki/etcd/healthcheck-client.key"
ms() {
  local start
  start=$(date +%s%N)
  "$@" >/dev/null 2>&1 || true
  echo $((($(date +%s%N) - start) / 1000000))
}
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A times
for _ in $(seq "$rounds"); do
  # shellcheck disable=SC2086
  times[oneliner]+="$(ms kubectl -n kube-system exec etcd-cp-1 -- etcdctl $flags endpoint status --cluster -w json) "
  i=0
  for p in "$@"; do
    times[p$i]+="$(ms "$p" status --transport exec) "
    i=$((i + 1))
  done
done
one=$(echo "${times[oneliner]}" | median)
echo "one-liner: median ${one} ms (${times[oneliner]% })"
i=0
for p in "$@"; do
  m=$(echo "${times[p$i]}" | median)
  echo "$p: median ${m} ms, $(awk "BEGIN {printf \"%.2f\", $m / $one}")x the one-liner (${times[p$i]% })"
  i=$((i + 1))
done
