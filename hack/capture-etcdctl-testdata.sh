#!/usr/bin/env bash
# Produces pkg/transport/exec/testdata/<version>/*: the real output of etcdctl -w json against a real
# local etcd cluster (3 voters on 127.0.0.1 plain HTTP, one learner added but never started, a
# small quota so that a NOSPACE alarm can be raised), and the HTTP metrics listener's /health,
# /readyz, /livez and /metrics. Each capture is NAME.stdout, NAME.stderr and
# NAME.code (etcdctl's exit code). Needs the binaries from hack/e2e-tools.sh.
# Usage: hack/capture-etcdctl-testdata.sh [v3.6.16 v3.7.3]
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-etcd/e2e}
for V in ${*:-v3.6.16 v3.7.3}; do
  BIN=$CACHE/etcd-$V; OUT=$ROOT/pkg/transport/exec/testdata/$V; TMP=$(mktemp -d)
  mkdir -p "$OUT"; rm -f "$OUT"/*
  IC=m1=http://127.0.0.1:23801,m2=http://127.0.0.1:23802,m3=http://127.0.0.1:23803
  pids=()
  for i in 1 2 3; do
    "$BIN/etcd" --name=m$i --data-dir="$TMP/m$i" --listen-client-urls=http://127.0.0.1:2379$i \
      --advertise-client-urls=http://127.0.0.1:2379$i --listen-peer-urls=http://127.0.0.1:2380$i \
      --initial-advertise-peer-urls=http://127.0.0.1:2380$i --initial-cluster=$IC \
      --listen-metrics-urls=http://127.0.0.1:2381$i \
      --quota-backend-bytes=$((2*1024*1024)) >"$TMP/m$i.log" 2>&1 &
    pids+=($!)
  done
  E="$BIN/etcdctl --endpoints=http://127.0.0.1:23791"
  cap() { local name=$1; shift; "$@" >"$OUT/$name.stdout" 2>"$OUT/$name.stderr"; echo $? >"$OUT/$name.code"; }
  for _ in $(seq 50); do $E endpoint health >/dev/null 2>&1 && break; sleep 0.2; done
  sleep 6 # etcd refuses member changes for a few seconds after start
  cap member-add-learner $E -w json member add learner-1 --learner --peer-urls=http://127.0.0.1:23809
  cap member-add-too-many $E -w json member add learner-2 --learner --peer-urls=http://127.0.0.1:23808
  hexid() { python3 -c 'import json,sys; print([format(m["ID"],"x") for m in json.load(sys.stdin)["members"] if m.get("name","")==sys.argv[1]][0])' "$1"; }
  LID=$($E -w json member list | hexid "")
  VID=$($E -w json member list | hexid m2)
  cap member-promote-not-in-sync $E -w json member promote "$LID"
  cap member-promote-voter $E -w json member promote "$VID"
  cap member-remove-not-found $E -w json member remove deadbeef
  cap endpoint-status $E -w json endpoint status
  cap endpoint-health $E -w json endpoint health
  cap endpoint-status-cluster $E -w json endpoint status --cluster
  cap endpoint-health-cluster $E -w json endpoint health --cluster
  cap member-list $E -w json member list
  cap alarm-list-empty $E -w json alarm list
  # the member lock's transaction (exec TryLock: LockTxn on stdin), won and then held
  LEASE=$($E -w json lease grant 60 | python3 -c 'import json,sys; print(format(json.load(sys.stdin)["ID"],"x"))')
  locktxn() { printf 'create("/kubectl-etcd/lock/m1") = "0"\n\nput "/kubectl-etcd/lock/m1" "{\\"op\\":\\"defrag\\",\\"pid\\":42}" --lease=%s\n\nget "/kubectl-etcd/lock/m1"\n\n' "$LEASE"; }
  locktxn | cap txn-lock-won $E -w json txn
  locktxn | cap txn-lock-held $E -w json txn
  $E lease revoke "$LEASE" >/dev/null
  # the plain-HTTP metrics listener, as the metrics-only transport reads it
  for p in health readyz livez metrics; do cap http-$p curl -sS http://127.0.0.1:23811/$p; done
  # fill until NOSPACE
  v=$(head -c 60000 /dev/urandom | base64 -w0)
  for i in $(seq 200); do $E put /fill/$i "$v" >/dev/null 2>&1 || break; done
  cap alarm-list-nospace $E -w json alarm list
  cap endpoint-health-nospace $E -w json endpoint health
  cap endpoint-status-nospace $E -w json endpoint status
  cap endpoint-hashkv $E -w json endpoint hashkv --rev=5
  cap compaction $E -w json compaction 5 --physical
  cap defrag $E -w json defrag
  cap alarm-disarm $E -w json alarm disarm
  L2=$($E -w json member list | hexid m2)
  cap move-leader-not-leader $BIN/etcdctl --endpoints=http://127.0.0.1:23792 -w json move-leader "$VID"
  LEADER=$($E -w json endpoint status --cluster | python3 -c 'import json,sys; d=json.load(sys.stdin); print([e["Endpoint"] for e in d if e["Status"]["leader"]==e["Status"]["header"]["member_id"]][0])')
  TARGET=$($E -w json endpoint status --cluster | python3 -c 'import json,sys; d=json.load(sys.stdin); print([format(e["Status"]["header"]["member_id"],"x") for e in d if e["Status"]["leader"]!=e["Status"]["header"]["member_id"]][0])')
  cap move-leader $BIN/etcdctl --endpoints=$LEADER -w json move-leader "$TARGET"
  cap member-remove-learner $E -w json member remove "$LID"
  $E member add learner-1 --learner --peer-urls=http://127.0.0.1:23809 >/dev/null
  # the downgrade flow: one minor below the cluster's (3.6 -> 3.5, 3.7 -> 3.6), then cancelled
  PREV=$(echo "${V#v}" | awk -F. '{print $1"."$2-1}')
  cap downgrade-validate $E -w json downgrade validate "$PREV"
  cap downgrade-validate-invalid $E -w json downgrade validate 3.4
  cap downgrade-enable $E -w json downgrade enable "$PREV"
  cap endpoint-status-downgrade $E -w json endpoint status
  cap downgrade-cancel $E -w json downgrade cancel
  kill "${pids[2]}"; wait "${pids[2]}" 2>/dev/null
  cap endpoint-status-down $BIN/etcdctl --endpoints=http://127.0.0.1:23793 --dial-timeout=1s --command-timeout=2s -w json endpoint status
  cap endpoint-health-down $BIN/etcdctl --endpoints=http://127.0.0.1:23793 --dial-timeout=1s --command-timeout=2s -w json endpoint health
  cap endpoint-status-cluster-down $E --dial-timeout=1s --command-timeout=2s -w json endpoint status --cluster
  cap endpoint-health-cluster-down $E --dial-timeout=1s --command-timeout=2s -w json endpoint health --cluster
  kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null
  rm -rf "$TMP"
  echo "captured $V into $OUT"
done
