#!/usr/bin/env bash
# Captures real /metrics of a throwaway 3-member etcd cluster on 127.0.0.1, twice a few seconds
# apart with writes in between, for the unit tests of pkg/metrics and "kubectl etcd perf"
# (pkg/metrics/testdata/<version>/cp-N.{before,after}.txt). The data directories are removed.
set -euo pipefail
cache=${E2E_CACHE:-$HOME/.cache/kubectl-etcd/e2e}
out=$(cd "$(dirname "$0")/.." && pwd)/pkg/metrics/testdata
for v in ${ETCD_VERSIONS:-v3.6.16 v3.7.3}; do
  bin=$cache/etcd-$v
  tmp=$(mktemp -d)
  pids=()
  trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
  base=$((23000 + RANDOM % 2000 * 10))
  cluster=""
  for i in 1 2 3; do cluster+="${cluster:+,}cp-$i=http://127.0.0.1:$((base + i * 3 + 1))"; done
  for i in 1 2 3; do
    c=$((base + i * 3)) p=$((base + i * 3 + 1)) m=$((base + i * 3 + 2))
    "$bin/etcd" --name "cp-$i" --data-dir "$tmp/cp-$i" \
      --listen-client-urls "http://127.0.0.1:$c" --advertise-client-urls "http://127.0.0.1:$c" \
      --listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
      --listen-metrics-urls "http://127.0.0.1:$m" --initial-cluster "$cluster" \
      --initial-cluster-state new --initial-cluster-token perf-capture >"$tmp/cp-$i.log" 2>&1 &
    pids+=($!)
  done
  ep="http://127.0.0.1:$((base + 3))"
  for _ in $(seq 50); do "$bin/etcdctl" --endpoints "$ep" endpoint health >/dev/null 2>&1 && break; sleep 0.2; done
  for k in $(seq 20); do "$bin/etcdctl" --endpoints "$ep" put "/perf/a$k" "value-$k" >/dev/null; done
  # Peers measure round trips on their own schedule (3.7: after about 30 s): wait for a first
  # sample on every member so that the captures hold one series per peer.
  for _ in $(seq 120); do
    n=0
    for i in 1 2 3; do curl -fsS "http://127.0.0.1:$((base + i * 3 + 2))/metrics" | grep -c '^etcd_network_peer_round_trip_time_seconds_count' >/dev/null && n=$((n + 1)); done
    [ "$n" = 3 ] && break
    sleep 1
  done
  mkdir -p "$out/$v"
  for i in 1 2 3; do curl -fsS "http://127.0.0.1:$((base + i * 3 + 2))/metrics" >"$out/$v/cp-$i.before.txt"; done
  for k in $(seq 100); do "$bin/etcdctl" --endpoints "$ep" put "/perf/b$k" "value-$k" >/dev/null; done
  "$bin/etcdctl" --endpoints "$ep" get --prefix /perf/ --keys-only >/dev/null
  sleep 2
  for i in 1 2 3; do curl -fsS "http://127.0.0.1:$((base + i * 3 + 2))/metrics" >"$out/$v/cp-$i.after.txt"; done
  kill "${pids[@]}"; wait 2>/dev/null || true
  rm -rf "$tmp"
  trap - EXIT
  echo "captured $v into $out/$v"
done
